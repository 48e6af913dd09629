#!/usr/bin/env bash
# Audits Cargo.lock and fuzz/Cargo.lock against the RustSec advisory database with
# cargo-audit (configuration and justified ignores: .cargo/audit.toml).
#
#   hack/audit.sh
#
# The database is a git repository on GitHub (github.com/rustsec/advisory-db). With
# ADVISORY_DB=<dir> a local checkout is used instead and nothing is fetched; without it,
# the snapshot in ../shared/advisory-db is used when present.
# Exit status: 0 no known vulnerability; 1 vulnerabilities found; 3 the database could not
# be reached (nothing was audited: the message says so; callers decide whether that fails).
# Installs cargo-audit from crates.io when missing. AUDIT_NICE (default "nice -n 15")
# prefixes the install.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a nice_cmd <<<"${AUDIT_NICE:-nice -n 15}"
db_url=https://github.com/rustsec/advisory-db

# The project's machines cannot reach GitHub; the shared folder beside the project holds a
# dated snapshot of the database (see its advisory-db.md). cargo-audit wants a git
# repository, so the snapshot is copied into one under the cache, once per snapshot.
snapshot=../shared/advisory-db
if [ -z "${ADVISORY_DB:-}" ] && [ -d "$snapshot/crates" ]; then
  stamp=$(grep -ohE '[0-9a-f]{40}, [0-9]{4}-[0-9]{2}-[0-9]{2}' "$snapshot/../advisory-db.md" 2>/dev/null | head -n1 | sed 's/, / of /')
  key=$(find "$snapshot" -type f -newer "$snapshot/README.md" 2>/dev/null | wc -l)-$(du -sk "$snapshot" | cut -f1)
  copy=${NETGPT_CACHE:-$HOME/.cache/netgpt}/advisory-db-$key
  if [ ! -d "$copy/.git" ]; then
    rm -rf "$copy.tmp"; mkdir -p "$copy.tmp"
    cp -r "$snapshot/." "$copy.tmp/"
    git -C "$copy.tmp" init -q
    git -C "$copy.tmp" add -A
    git -C "$copy.tmp" -c user.name=netgpt -c user.email=netgpt@localhost commit -qm "snapshot ${stamp:-of unknown date}"
    rm -rf "$copy"; mv "$copy.tmp" "$copy"
  fi
  ADVISORY_DB=$copy
  echo "advisory database snapshot: ${stamp:-date unknown} (from $snapshot)"
fi

args=()
if [ -n "${ADVISORY_DB:-}" ]; then
  if [ ! -d "$ADVISORY_DB/crates" ]; then
    echo "hack/audit.sh: ADVISORY_DB=$ADVISORY_DB is not an advisory-db checkout (no crates/ folder)" >&2
    exit 3
  fi
  args=(--db "$ADVISORY_DB" --no-fetch)
  echo "advisory database: $ADVISORY_DB (local, $(git -C "$ADVISORY_DB" log -1 --format='%h %cs' 2>/dev/null || echo 'not a git checkout'))"
elif ! timeout 30 git ls-remote --exit-code "$db_url" HEAD >/dev/null 2>&1; then
  echo "hack/audit.sh: NOT AUDITED: the RustSec advisory database ($db_url) cannot be reached" >&2
  echo "from this machine, and ADVISORY_DB is not set. Run where GitHub is reachable, or clone" >&2
  echo "the database elsewhere and pass ADVISORY_DB=<dir>." >&2
  exit 3
fi

# Installed only once there is a database to audit against (CI without GitHub access
# skips the several-minute build).
if ! cargo audit --version >/dev/null 2>&1; then
  "${nice_cmd[@]}" cargo install --locked cargo-audit
fi

status=0
for lock in Cargo.lock fuzz/Cargo.lock; do
  [ -f "$lock" ] || continue
  echo "== cargo audit --file $lock"
  cargo audit "${args[@]}" --file "$lock" || status=1
  # Only the first run needs to fetch.
  [ ${#args[@]} -gt 0 ] || args=(--no-fetch)
done
exit "$status"

#!/usr/bin/env bash
# Audits Cargo.lock and fuzz/Cargo.lock against the RustSec advisory database with
# cargo-audit (configuration and justified ignores: .cargo/audit.toml).
#
#   hack/audit.sh
#
# The database is a git repository on GitHub (github.com/rustsec/advisory-db). With
# ADVISORY_DB=<dir> a local checkout is used instead and nothing is fetched.
# Exit status: 0 no known vulnerability; 1 vulnerabilities found; 3 the database could not
# be reached (nothing was audited: the message says so; callers decide whether that fails).
# Installs cargo-audit from crates.io when missing. AUDIT_NICE (default "nice -n 15")
# prefixes the install.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a nice_cmd <<<"${AUDIT_NICE:-nice -n 15}"
db_url=https://github.com/rustsec/advisory-db

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

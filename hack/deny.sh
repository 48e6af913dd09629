#!/usr/bin/env bash
# Licences, bans (duplicate versions, wildcards) and sources of every dependency, with
# cargo-deny and ./deny.toml. Works offline (the crates' metadata is in Cargo.lock and the
# local registry cache). Installs cargo-deny from crates.io when missing; DENY_NICE
# (default "nice -n 15") prefixes the install.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a nice_cmd <<<"${DENY_NICE:-nice -n 15}"
if ! cargo deny --version >/dev/null 2>&1; then
  "${nice_cmd[@]}" cargo install --locked cargo-deny
fi
cargo deny --version
# cargo-deny reads the whole dependency graph (every target platform), and a build only
# downloads the host's crates: fetch the rest first (crates.io is reachable), then check
# without further network access.
cargo fetch --locked
cargo deny --offline check licenses bans sources

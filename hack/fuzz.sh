#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and prints what it did.
#
#   hack/fuzz.sh [seconds-per-target] [target...]     (default: 60 s, all four targets)
#
# Targets (fuzz/fuzz_targets/): chat_request, gguf_load, safetensors_adapter, pii_detect.
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz from
# crates.io when missing. Seeds are read from fuzz/corpus/<target>/ (committed, never
# written); inputs the fuzzer finds go to fuzz/target/corpus/<target>/ (kept between runs),
# crashes to fuzz/artifacts/<target>/. Every run uses AddressSanitizer, debug assertions
# (overflow checks), -rss_limit_mb=2048 and -malloc_limit_mb=2048 (one allocation above
# 2 GiB is a finding), and -timeout=10 (one input running 10 s is a finding).
# Exits 1 when any target crashed, 2 when the toolchain is missing.
# FUZZ_NICE (default "nice -n 15") prefixes every cargo command.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(chat_request gguf_load safetensors_adapter pii_detect)
read -r -a nice_cmd <<<"${FUZZ_NICE:-nice -n 15}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "hack/fuzz.sh: cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  "${nice_cmd[@]}" cargo install --locked cargo-fuzz
fi

for target in "${targets[@]}"; do
  "${nice_cmd[@]}" cargo +nightly fuzz build "$target"
done

failed=0
printf '%-20s %8s %12s %8s %8s %s\n' target seconds executions exec/s corpus result
for target in "${targets[@]}"; do
  work="target/corpus/$target"
  log="target/fuzz-$target.log"
  mkdir -p "$work" "artifacts/$target"
  status=0
  "${nice_cmd[@]}" cargo +nightly fuzz run "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  rm -rf "/dev/shm/netgpt-fuzz-"* 2>/dev/null || true
  # libFuzzer's own figures: fuzzing seconds (without the build), executions, exec/s.
  elapsed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # libFuzzer's own count of the inputs it keeps (seeds plus what it found).
  corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ "$status" = 0 ]; then
    result=ok
  else
    failed=1
    result="CRASH (exit $status): $(grep -o 'artifacts/[^ ]*' "$log" | tail -1) — see fuzz/$log"
  fi
  printf '%-20s %8s %12s %8s %8s %s\n' "$target" "${elapsed:-?}" "${execs:-?}" "${rate:-?}" "${corpus:-?}" "$result"
done
exit "$failed"

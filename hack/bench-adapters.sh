#!/usr/bin/env bash
# Trains the default example's per-site adapters end to end and prints the figures of
# docs/adapters.md: dataset generation, LoRA training of each site (wall time, peak
# memory, losses) and the template-vs-trained evaluation table.
#   hack/bench-adapters.sh [OUT_DIR]   (default target/adapters; extra train flags in TRAIN_FLAGS)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/adapters}
example=examples/netgpt-local.yaml
cargo build --release --quiet
bin=target/release/netgpt
mkdir -p "$out"
started=$(date +%s)
/usr/bin/time -f "dataset: %e s wall, %M KiB peak" "$bin" dataset generate -f "$example" --output "$out/data" \
  > "$out/dataset.json"
for site in pudong xuhui; do
  # shellcheck disable=SC2086
  /usr/bin/time -f "train $site: %e s wall, %M KiB peak" "$bin" train lora --data "$out/data/$site.jsonl" \
    --output "$out/$site" ${TRAIN_FLAGS:-} > "$out/train-$site.json"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('train', sys.argv[2]+':', r['train_examples'], 'pairs,', r['optimizer_steps'], 'steps, loss', round(r['first_loss'],3), '->', round(r['last_loss'],3), ', held-out loss', ' -> '.join(str(round(e['heldout_loss'],3)) for e in r['evaluations']), ',', round(r['tokens_per_second']), 'tokens/s')" "$out/train-$site.json" "$site"
done
echo "dataset + training: $(( $(date +%s) - started )) s"
"$bin" eval completion -f "$example" --data "$out/data" --adapter "pudong=$out/pudong" --adapter "xuhui=$out/xuhui" \
  --output "$out/evaluation.json"

#!/usr/bin/env bash
# `netgpt train lora` next to Hugging Face PEFT on the same machine (CPU or GPU): the same
# base (a GGUF each dequantizes, or safetensors; f32 on both sides), the same tokenized
# examples (exported by our trainer, read by the peer), the same hyper-parameters (both
# scripts' defaults: r 8, alpha 16, dropout 0.05, AdamW lr 1e-3, 4 warm-up steps, cosine,
# 4 examples a step, clip 1.0, 2 epochs) and target modules (ours' default for the base,
# passed to the peer). Three seeds each, alternating, then a table of medians.
#
#   train/bench/train_compare.sh cpu|cuda NETGPT BASE SITE.jsonl OUT_DIR [-- netgpt train flags]
#
# BASE is a GGUF file or a safetensors directory (LLaMA or GPT-2; make_random_gpt2.py
# makes a GPT-2 where none can be downloaded).
# e.g. `-- --limit 32` trains on the first 32 pairs (the CPU figures of docs/adapters.md).
# Needs python3 with torch, transformers, peft and gguf; on the CPU both use 2 threads
# (THREADS to change it). For cuda, NETGPT is a CUDA build (hack/build-cuda.sh).
set -euo pipefail
device=$1 netgpt=$2 gguf=$3 data=$4 out=$5
shift 5
[ "${1:-}" = "--" ] && shift
threads=${THREADS:-2}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for seed in 0 1 2; do
  RAYON_NUM_THREADS=$threads "$netgpt" train lora --base "$gguf" --data "$data" --output "$out/ours-$seed" \
    --device "$device" --seed "$seed" --export-examples "$out/examples.json" "$@" \
    >"$out/ours-$seed.json" 2>"$out/ours-$seed.log"
  # The peer adapts the modules ours did (its defaults otherwise: q/k/v/o).
  targets=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["target_modules"]))' \
    "$out/ours-$seed/adapter_config.json")
  if [ -d "$gguf" ]; then base=(--model-dir "$gguf"); else base=(--gguf "$gguf"); fi
  python3 "$here/peft_peer.py" "${base[@]}" --examples "$out/examples.json" --device "$device" \
    --targets "$targets" --threads "$threads" --seed "$seed" >"$out/peft-$seed.json" 2>"$out/peft-$seed.log"
done
python3 - "$out" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
def runs(name):
    return [json.load(open(f"{out}/{name}-{seed}.json")) for seed in range(3)]
rows = {"netgpt (candle)": runs("ours"), "transformers + PEFT": runs("peft")}
print(f"device: {rows['transformers + PEFT'][0]['device']}; {rows['transformers + PEFT'][0]['peer']}")
print("| | held-out loss before | held-out loss after (seeds 0/1/2) | median | loop (s) | tokens/s |")
print("|---|---:|---|---:|---:|---:|")
for name, rs in rows.items():
    after = [r["evaluations"][-1]["heldout_loss"] for r in rs]
    print(f"| {name} | {rs[0]['evaluations'][0]['heldout_loss']:.4f} | {' / '.join(f'{a:.3f}' for a in after)} "
          f"| {statistics.median(after):.3f} | {statistics.median(r['train_seconds'] for r in rs):.1f} "
          f"| {statistics.median(r['tokens_per_second'] for r in rs):.0f} |")
EOF

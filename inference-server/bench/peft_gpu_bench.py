#!/usr/bin/env python3
"""LoRA on the GPU: NetGPT's gathered low-rank kernel against HF PEFT, same model, same
adapters, same run.

Runs on a GPU node with PyTorch, transformers and peft (no network):

1. Builds (or reuses) hf_gpu_bench.py's LLaMA-7B-shaped model with random f16 weights.
2. Creates --adapters PEFT LoRA adapters on it (rank --rank, alpha 2·rank, all seven
   projections, A and B drawn from N(0, 0.02) so every adapter changes the logits) and
   saves each as a standard PEFT directory (adapter_config.json +
   adapter_model.safetensors, written by peft's own save functions).
3. Runs NetGPT's gpu_bench with --adapters: per batch, base runs and LoRA runs alternate;
   sequence b of a batch uses adapter b mod n, so batch 32 mixes all eight in every step.
4. Times HF PEFT's `generate` on the same prompts: the base (adapters disabled), one
   adapter at batch 1, and the mixed batch through PEFT's `adapter_names` (its mixed-batch
   inference), base and LoRA runs alternating as well.
5. Checks NetGPT's logits with adapters (after the prompt and after the eighth new token,
   first and last sequence of each batch) against PEFT's forward pass with the same
   adapter active: relative L2 error and top-1 agreement; base logits the same way.
6. Prints a Markdown table (overhead = base tokens/s over LoRA tokens/s, minus one) and
   writes it with the raw numbers to --out.

    python3 inference-server/bench/peft_gpu_bench.py --ours target/release/examples/gpu_bench.stripped
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_gpu_bench as hf  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_adapters(model, args):
    """Adds --adapters random adapters to `model` (a PeftModel afterwards) and saves each."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file

    config = LoraConfig(
        r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0, target_modules=TARGETS, bias="none"
    )
    names = [f"a{i}" for i in range(args.adapters)]
    peft_model = get_peft_model(model, config, adapter_name=names[0])
    for name in names[1:]:
        peft_model.add_adapter(name, config)
    directories = []
    for i, name in enumerate(names):
        generator = torch.Generator(device="cuda").manual_seed(1000 + i)
        with torch.no_grad():
            for param_name, param in peft_model.named_parameters():
                if f".{name}." in param_name and ("lora_A" in param_name or "lora_B" in param_name):
                    param.copy_(torch.randn(param.shape, generator=generator, device="cuda", dtype=torch.float32) * 0.02)
        directory = os.path.join(args.adapter_dir, name)
        os.makedirs(directory, exist_ok=True)
        state = get_peft_model_state_dict(peft_model, adapter_name=name)
        save_file({k: v.detach().contiguous() for k, v in state.items()}, os.path.join(directory, "adapter_model.safetensors"))
        peft_model.peft_config[name].save_pretrained(directory)
        directories.append(directory)
    return peft_model.eval(), names, directories


WARMED = set()


def time_peft(peft_model, batch, names, args, lora):
    vocab = peft_model.config.vocab_size
    ids = torch.tensor([hf.prompt(b, args.prompt, vocab) for b in range(batch)], device="cuda")
    kwargs = dict(
        attention_mask=torch.ones_like(ids),
        max_new_tokens=args.new,
        min_new_tokens=args.new,
        do_sample=False,
        pad_token_id=0,
        use_cache=True,
    )
    if lora:
        kwargs["adapter_names"] = [names[b % len(names)] for b in range(batch)]

    def run():
        if lora:
            return peft_model.generate(input_ids=ids, **kwargs)
        with peft_model.disable_adapter():
            return peft_model.generate(input_ids=ids, **kwargs)

    with torch.inference_mode():
        if (batch, lora) not in WARMED:
            run()  # warm-up, once per batch and mode
            WARMED.add((batch, lora))
        torch.cuda.synchronize()
        started = time.perf_counter()
        out = run()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    assert out.shape[1] == args.prompt + args.new, out.shape
    return batch * args.new / seconds


def check_logits(peft_model, dump_dir, names_by_path):
    """hf_gpu_bench's check, against PEFT with the adapter each dumped sequence used."""

    def reference(check, ids):
        adapter = check.get("adapter")
        if adapter is None:
            with peft_model.disable_adapter():
                return peft_model(input_ids=ids).logits[0, -1], {"adapter": None}
        peft_model.set_adapter(names_by_path[adapter])
        return peft_model(input_ids=ids).logits[0, -1], {"adapter": names_by_path[adapter]}

    return hf.check_logits(peft_model, dump_dir, reference)


def run_ours(args, directories):
    batches = [int(b) for b in args.batches.split(",")]
    results = hf.run_gpu_bench(args, batches, ["--adapters", ",".join(directories)])
    return {(result["batch"], result["adapters"] > 0): result for result in results}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/llama-7b-random")
    parser.add_argument("--adapter-dir", default="/tmp/llama-7b-adapters")
    parser.add_argument("--ours", required=True)
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=32)
    parser.add_argument("--adapters", type=int, default=8)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peft-repeats", type=int, default=3, help="0: skip timing PEFT (logits are still checked)")
    parser.add_argument("--dump", default="/tmp/netgpt-lora-bench-dump")
    parser.add_argument("--dtype", choices=["f16", "bf16"], default="f16", help="model, adapters and serving")
    parser.add_argument(
        "--max-error", type=float, default=2e-2,
        help="largest relative L2 error accepted (the base path measured 0.8-1.0e-2 against HF in f16)",
    )
    args = parser.parse_args()

    import peft
    import transformers

    if os.path.exists(os.path.join(args.dir, "model.safetensors")):
        model = hf.load(args.dir, args.dtype)
    else:
        model = hf.build_model(args)
        hf.save(model, args.dir)
    peft_model, names, directories = make_adapters(model, args)
    names_by_path = dict(zip(directories, names))
    torch.cuda.empty_cache()

    ours = run_ours(args, directories)
    batches = [int(b) for b in args.batches.split(",")]
    rows = []
    for batch in batches:
        base_rates, lora_rates = [], []
        for _ in range(args.peft_repeats):
            base_rates.append(time_peft(peft_model, batch, names, args, lora=False))
            lora_rates.append(time_peft(peft_model, batch, names, args, lora=True))
        peft_base = statistics.median(base_rates) if base_rates else float("nan")
        peft_lora = statistics.median(lora_rates) if lora_rates else float("nan")
        our_base = ours[(batch, False)]["tokens_per_second"]
        our_lora = ours[(batch, True)]["tokens_per_second"]
        rows.append(
            {
                "batch": batch,
                "adapters_mixed": min(batch, args.adapters),
                "ours_base": our_base,
                "ours_lora": our_lora,
                "ours_overhead": our_base / our_lora - 1,
                "ours_decode_base": ours[(batch, False)]["decode_tokens_per_second"],
                "ours_decode_lora": ours[(batch, True)]["decode_tokens_per_second"],
                "peft_base": peft_base,
                "peft_lora": peft_lora,
                "peft_overhead": peft_base / peft_lora - 1,
                "peft_base_all": base_rates,
                "peft_lora_all": lora_rates,
                "ours_base_all": ours[(batch, False)]["tokens_per_second_all"],
                "ours_lora_all": ours[(batch, True)]["tokens_per_second_all"],
            }
        )
    checks = check_logits(peft_model, args.dump, names_by_path) + check_logits(
        peft_model, os.path.join(args.dump, "lora"), names_by_path
    )

    gpu = torch.cuda.get_device_name()
    lines = [
        f"GPU: {gpu}; torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}",
        f"model: LLaMA-7B shapes ({args.layers} layers, {args.kv_heads} KV heads), {args.dtype}; {args.adapters} adapters, "
        f"rank {args.rank}, all 7 projections; prompt {args.prompt}, {args.new} new tokens, greedy; "
        f"medians of {args.repeats} (NetGPT) and {args.peft_repeats} (PEFT) runs",
        "",
        "| batch | adapters mixed | NetGPT base tok/s | NetGPT LoRA tok/s | NetGPT overhead | PEFT base tok/s | PEFT LoRA tok/s | PEFT overhead |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['adapters_mixed']} | {r['ours_base']:,.0f} | {r['ours_lora']:,.0f} | "
            f"{100 * r['ours_overhead']:+.1f} % | {r['peft_base']:,.1f} | {r['peft_lora']:,.1f} | "
            f"{100 * r['peft_overhead']:+.1f} % |"
        )
    lines += ["", "| logits | adapter | relative L2 error vs PEFT | same top-1 |", "|---|---|---:|---|"]
    for c in checks:
        lines.append(f"| {c['file']} | {c['adapter'] or 'base'} | {c['relative_error']:.2e} | {c['top1_agrees']} |")
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "peft_gpu_bench.json"), "w") as f:
        json.dump({"rows": rows, "checks": checks, "gpu": gpu}, f, indent=1)
    with open(os.path.join(args.out, "peft_gpu_bench.md"), "w") as f:
        f.write(table + "\n")
    bad = [c for c in checks if not c["top1_agrees"] or c["relative_error"] > args.max_error]
    if bad:
        raise SystemExit(f"{len(bad)} logits checks failed: {bad}")


if __name__ == "__main__":
    main()

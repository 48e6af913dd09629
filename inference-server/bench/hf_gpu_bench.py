#!/usr/bin/env python3
"""NetGPT vs Hugging Face transformers on one GPU, same model files, same run.

Runs on a GPU node that has PyTorch (CUDA 13 build) and transformers but no network:

1. Creates a LLaMA-7B-shaped LlamaForCausalLM with random f16 weights on the GPU (speed
   does not depend on the values) and saves config.json + model.safetensors to --dir
   (skipped when they exist).
2. Times HF `generate` (greedy, --prompt tokens, --new tokens, min_new_tokens = max so
   every run generates the same count) per batch: one warm-up, --repeats runs, medians.
3. Frees the GPU and runs NetGPT's gpu_bench binary on the same files and settings, with
   LD_LIBRARY_PATH pointing at the CUDA 13 libraries PyTorch ships.
4. Checks NetGPT's logits after the prompt and after the eighth new token against HF's
   forward pass over the same tokens (relative L2 error, top-1 agreement).
5. Prints a Markdown table (and writes it with the raw numbers to --out).

    python3 inference-server/bench/hf_gpu_bench.py --ours target/release/examples/gpu_bench.stripped
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

import torch


def prompt(b, length, vocab):
    # The same formula as examples/gpu_bench.rs.
    return [(17 + 31 * i + 1009 * b) % vocab for i in range(length)]


def llama_config(args):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=args.layers,
        num_attention_heads=32,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=2048,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
    )


DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16}


def build_model(args):
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    torch.set_default_dtype(DTYPES[getattr(args, "dtype", "f16")])
    with torch.device("cuda"):
        model = LlamaForCausalLM(llama_config(args))
    torch.set_default_dtype(torch.float32)
    return model.eval()


def save(model, directory):
    from safetensors.torch import save_file

    os.makedirs(directory, exist_ok=True)
    model.config.save_pretrained(directory)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})


def load(directory, dtype="f16"):
    from transformers import LlamaForCausalLM

    try:
        return LlamaForCausalLM.from_pretrained(directory, dtype=DTYPES[dtype], device_map="cuda").eval()
    except TypeError:  # transformers 4: torch_dtype
        return LlamaForCausalLM.from_pretrained(directory, torch_dtype=DTYPES[dtype], device_map="cuda").eval()


def time_hf(model, batch, args):
    vocab = model.config.vocab_size
    ids = torch.tensor([prompt(b, args.prompt, vocab) for b in range(batch)], device="cuda")
    mask = torch.ones_like(ids)
    kwargs = dict(
        attention_mask=mask,
        max_new_tokens=args.new,
        min_new_tokens=args.new,
        do_sample=False,
        pad_token_id=0,
        use_cache=True,
    )
    rates = []
    with torch.inference_mode():
        model.generate(ids, **kwargs)  # warm-up
        for _ in range(args.repeats):
            torch.cuda.synchronize()
            started = time.perf_counter()
            out = model.generate(ids, **kwargs)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            assert out.shape[1] == args.prompt + args.new, out.shape
            rates.append(batch * args.new / seconds)
    return rates


def copy_bandwidth():
    """Measured device-to-device copy rate (bytes read + written per second)."""
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        b.copy_(a)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    del a, b
    return 2 * n / statistics.median(times)


def check_logits(model, dump_dir, reference=None):
    """Relative L2 error and top-1 agreement of NetGPT's dumped logits against HF's.
    `reference(check, ids)`, when given, returns the reference logits row (and the label
    the result carries) instead of the plain forward pass of `model`."""
    import numpy as np

    results = []
    for path in sorted(glob.glob(os.path.join(dump_dir, "checks_b*.json"))):
        with open(path) as f:
            checks = json.load(f)
        for check in checks["checks"]:
            ours = np.fromfile(os.path.join(dump_dir, check["file"]), dtype="<f4")
            ids = torch.tensor([check["context"]], device="cuda")
            with torch.inference_mode():
                if reference is None:
                    ref, label = model(ids).logits[0, -1], {}
                else:
                    ref, label = reference(check, ids)
            ref = ref.float().cpu().numpy()
            error = float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
            results.append(
                {
                    "file": check["file"],
                    "relative_error": error,
                    "top1_agrees": int(ours.argmax()) == int(ref.argmax()),
                    **label,
                }
            )
    return results


def cuda_library_dir():
    import nvidia

    for base in nvidia.__path__:
        for candidate in ("cu13/lib", "cublas/lib"):
            path = os.path.join(base, candidate)
            if glob.glob(os.path.join(path, "libcublas.so*")):
                return path
    raise SystemExit("no CUDA libraries found under the nvidia package")


def run_gpu_bench(args, batches, extra=()):
    """Runs gpu_bench on the model in --dir with the CUDA libraries PyTorch ships; returns
    its RESULT lines as dicts. `extra`: more gpu_bench arguments."""
    # Checks left by an earlier run (other batches, another model) would be compared too.
    for stale in glob.glob(os.path.join(args.dump, "**", "checks_b*.json"), recursive=True):
        os.remove(stale)
    libs = cuda_library_dir()
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = libs + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    command = [
        args.ours,
        "--model", args.dir,
        "--batches", ",".join(map(str, batches)),
        "--prompt", str(args.prompt),
        "--new", str(args.new),
        "--repeats", str(args.repeats),
        "--dump", args.dump,
        "--dtype", getattr(args, "dtype", "f16"),
    ] + list(extra)
    print("running", " ".join(command), "with LD_LIBRARY_PATH", libs, flush=True)
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        print(proc.stdout)
        raise SystemExit(f"gpu_bench failed ({proc.returncode})")
    return [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


def run_ours(args, batches):
    results = run_gpu_bench(args, batches, ["--profile"] if args.profile else [])
    return {result["batch"]: result for result in results}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/llama-7b-random")
    parser.add_argument("--ours", required=True)
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=32, help="fewer than 32: grouped-query attention")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also print gpu_bench's step profile")
    parser.add_argument("--dump", default="/tmp/netgpt-gpu-bench-dump", help="logits for the checks")
    parser.add_argument("--hbm", type=float, default=3.35e12, help="nominal HBM bandwidth, bytes/s")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    os.makedirs(args.out, exist_ok=True)
    device = torch.cuda.get_device_name(0)
    print(f"{device}; torch {torch.__version__}", flush=True)
    import transformers

    started = time.perf_counter()
    if os.path.exists(os.path.join(args.dir, "model.safetensors")):
        model = load(args.dir)
    else:
        model = build_model(args)
        save(model, args.dir)
    print(f"model ready in {time.perf_counter() - started:.0f} s", flush=True)
    params = sum(p.numel() for p in model.parameters())
    embedding = model.model.embed_tokens.weight.numel()
    # Bytes a decode step must read: every weight except the embedding table (one row each).
    weight_bytes = 2 * (params - embedding)
    bound = args.hbm / weight_bytes
    copy_rate = copy_bandwidth()

    hf = {}
    for batch in batches:
        hf[batch] = time_hf(model, batch, args)
        print(f"HF batch {batch}: {statistics.median(hf[batch]):.1f} tok/s {hf[batch]}", flush=True)
    # HF's weights stay on the GPU for the logit checks (both models fit); its cached
    # generate buffers are released so NetGPT's caches have room.
    torch.cuda.empty_cache()
    ours = run_ours(args, batches)
    checks = check_logits(model, args.dump)
    del model
    torch.cuda.empty_cache()

    lines = [
        f"GPU: {device}; torch {torch.__version__}, transformers {transformers.__version__}; "
        f"LLaMA-7B shapes ({args.layers} layers, {args.kv_heads} KV heads), f16, random weights; prompt {args.prompt}, "
        f"{args.new} new tokens, greedy; medians of {args.repeats} runs after a warm-up.",
        f"Weights read per decode step: {weight_bytes / 1e9:.2f} GB; HBM bound at "
        f"{args.hbm / 1e12:.2f} TB/s: {bound:.0f} tok/s per stream; measured copy bandwidth "
        f"{copy_rate / 1e12:.2f} TB/s (bound at that rate {copy_rate / weight_bytes:.0f} tok/s).",
        "",
        "| batch | HF generate tok/s | NetGPT tok/s | ratio | NetGPT decode-only tok/s | decode per stream, % of HBM bound |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for batch in batches:
        h = statistics.median(hf[batch])
        o = ours.get(batch, {})
        t = o.get("tokens_per_second", float("nan"))
        d = o.get("decode_tokens_per_second", float("nan"))
        lines.append(
            f"| {batch} | {h:,.1f} | {t:,.1f} | {t / h:.2f}x | {d:,.1f} | {100 * d / batch / bound:.0f} % |"
        )
    lines.append("")
    lines.append("Logit checks against HF (same tokens, f16): ")
    for check in checks:
        lines.append(
            f"- {check['file']}: relative L2 error {check['relative_error']:.2e}, "
            f"top-1 {'agrees' if check['top1_agrees'] else 'DIFFERS'}"
        )
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.out, "gpu_bench.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "gpu_bench.json"), "w") as f:
        json.dump({"device": device, "hf": hf, "ours": ours, "checks": checks, "weight_bytes": weight_bytes,
                   "copy_bandwidth": copy_rate}, f, indent=1)


if __name__ == "__main__":
    main()

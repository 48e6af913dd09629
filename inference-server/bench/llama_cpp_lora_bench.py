"""llama.cpp's LoRA overhead on the same GGUF, measured the way `examples/lora_bench.rs`
measures NetGPT's: paired decode steps of the base and of the base with an adapter.

Needs `python3 -m pip install llama-cpp-python gguf numpy` (llama-cpp-python compiles
llama.cpp; several minutes). On a CPU with AMX, llama-cpp-python 0.3.36 built natively
crashed in its first multi-token decode (AMX buffer type, Q4_1 weights); build it without
AMX:

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
      -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF \
      -DGGML_AMX_INT8=OFF" pip install --force-reinstall --no-deps llama-cpp-python==0.3.36

    python3 bench/llama_cpp_lora_bench.py MODEL.gguf [--threads 2] [--repeats 5] [--dtype f16|f32]

The adapter is random and shaped like `lora_bench`'s: rank 8, alpha 16, on q/k/v/o of every
layer, values in [-0.05, 0.05), written as a llama.cpp LoRA GGUF (what
`convert_lora_to_gguf.py` writes: `general.type = adapter`, `adapter.lora.alpha`, and
`blk.N.attn_q.weight.lora_a` / `.lora_b` with PEFT's shapes; f16 as that converter writes
by default). Only speed is compared, so Q/K rows are not reordered to the GGUF's RoPE
layout (the converter does that for a real adapter; it does not change the arithmetic).

Two contexts, one with the adapter, decode in lockstep after a 32-token prompt: step i of
one, then step i of the other, the order swapped every step; the overhead is the median of
the per-step time ratios over all steps of all repeats (this host's speed drifts by tens
of per cent within seconds). llama.cpp applies an adapter to a whole context, so only
batch 1 is compared: it has no batch that mixes adapters per sequence.
Prints one JSON object.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
from gguf import GGUFReader, GGUFWriter
from llama_cpp import Llama

PROMPT_TOKENS = 32
DECODE_STEPS = 64
RANK = 8


def write_adapter(model_path: str, out: str, dtype: str) -> None:
    reader = GGUFReader(model_path)
    fields = reader.fields

    def scalar(name: str) -> int:
        field = fields[name]
        return int(field.parts[field.data[0]][0])

    arch = bytes(fields["general.architecture"].parts[-1]).decode()
    layers = scalar(f"{arch}.block_count")
    hidden = scalar(f"{arch}.embedding_length")
    heads = scalar(f"{arch}.attention.head_count")
    kv_heads = scalar(f"{arch}.attention.head_count_kv")
    kv = kv_heads * (hidden // heads)
    rng = np.random.default_rng(1)
    np_dtype = np.float16 if dtype == "f16" else np.float32
    writer = GGUFWriter(out, arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(2 * RANK))
    for layer in range(layers):
        for name, width in [("attn_q", hidden), ("attn_k", kv), ("attn_v", kv), ("attn_output", hidden)]:
            # PEFT's shapes: A [r, in], B [out, r] (ggml reads them as ne [in, r], [r, out]).
            a = rng.uniform(-0.05, 0.05, (RANK, hidden)).astype(np_dtype)
            b = rng.uniform(-0.05, 0.05, (width, RANK)).astype(np_dtype)
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_a", a)
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        adapter = os.path.join(scratch, "adapter.gguf")
        write_adapter(args.model, adapter, args.dtype)
        common = dict(model_path=args.model, n_ctx=256, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
        base = Llama(**common)
        lora = Llama(**common, lora_path=adapter)
        prompt = [1000 + (i * 7) % 500 for i in range(PROMPT_TOKENS)]
        ratios, base_times, lora_times = [], [], []
        for _ in range(args.repeats):
            for model in (base, lora):
                model.reset()
                model.eval(prompt)
            for i in range(DECODE_STEPS):
                token = [1000 + i % 500]
                step = {}
                for name in (("base", "lora") if i % 2 == 0 else ("lora", "base")):
                    model = base if name == "base" else lora
                    started = time.perf_counter()
                    model.eval(token)
                    step[name] = time.perf_counter() - started
                base_times.append(step["base"])
                lora_times.append(step["lora"])
                ratios.append(step["lora"] / step["base"])
    print(
        json.dumps(
            {
                "peer": "llama.cpp",
                "threads": args.threads,
                "adapter_dtype": args.dtype,
                "steps": len(ratios),
                "base_step_ms": statistics.median(base_times) * 1e3,
                "lora_step_ms": statistics.median(lora_times) * 1e3,
                "overhead_percent": (statistics.median(ratios) - 1) * 100,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

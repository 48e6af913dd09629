"""llama.cpp's speed on the same GGUF and settings as `examples/bench.rs`, for comparison.

Needs `python3 -m pip install llama-cpp-python` (compiles llama.cpp; several minutes).
Prints one JSON object: {"prompt_tokens_per_second": …, "decode_tokens_per_second": …}.

    python3 bench/llama_cpp_bench.py MODEL.gguf THREADS PROMPT_TOKENS DECODE_TOKENS
"""

import json
import sys
import time

from llama_cpp import Llama


def main() -> None:
    path, threads, prompt_tokens, decode_tokens = sys.argv[1], *map(int, sys.argv[2:5])
    model = Llama(
        model_path=path,
        n_ctx=max(1024, prompt_tokens + decode_tokens + 8),
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        verbose=False,
    )
    # The same synthetic ids as the Rust benchmark.
    prompt = [1000 + i % 500 for i in range(prompt_tokens)]
    model.reset()
    started = time.perf_counter()
    model.eval(prompt)
    prefill = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(decode_tokens):
        model.eval([1000 + i])
    decode = time.perf_counter() - started
    print(
        json.dumps(
            {
                "prompt_tokens_per_second": prompt_tokens / prefill,
                "decode_tokens_per_second": decode_tokens / decode,
            }
        )
    )


if __name__ == "__main__":
    main()

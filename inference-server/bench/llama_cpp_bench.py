"""llama.cpp's speed on the same GGUF and settings as `examples/bench.rs`, for comparison.

Needs `python3 -m pip install llama-cpp-python` (compiles llama.cpp; several minutes).
Prints one JSON object per repeat:
{"prompt_tokens_per_second": …, "decode_tokens_per_second": …, "first_token_seconds": …}

    python3 bench/llama_cpp_bench.py MODEL.gguf THREADS PROMPT_TOKENS DECODE_TOKENS SHORT_PROMPT_TOKENS [REPEATS]
"""

import json
import sys
import time

from llama_cpp import Llama


def main() -> None:
    path = sys.argv[1]
    threads, prompt_tokens, decode_tokens, short_tokens = map(int, sys.argv[2:6])
    repeats = int(sys.argv[6]) if len(sys.argv) > 6 else 1
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
    for _ in range(repeats):
        model.reset()
        started = time.perf_counter()
        model.eval(prompt[:short_tokens])
        first_token = time.perf_counter() - started
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
                    "first_token_seconds": first_token,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""LoRA served on CUDA, checked over HTTP on a GPU node (PyTorch, transformers, peft; no
network). Exits non-zero on the first failed check.

    python3 inference-server/bench/gpu_lora_serve_check.py NETGPT TOKENIZER_JSON [f16|bf16 ...]

Runs every check once per dtype named (default: f16 and bf16): model, adapters and serving
dtype all in that type.

1. Writes a small random LLaMA (head size 128, grouped-query attention) with the given
   tokenizer, and three PEFT adapters on it (rank 8, all seven projections, A and B drawn
   large enough that every adapter changes greedy answers), saved by peft's own functions.
2. Starts `netgpt serve` from a serving configuration with `limits.device: cuda`, two
   adapters declared there and an adapter directory for loading the third over the API.
3. Checks, with greedy decoding:
   - every adapter answers streamed and not, with the same text both ways, and its answer
     differs from the base model's (the adapter is applied on the GPU);
   - concurrent requests that mix the base and both adapters in the same decode steps get
     exactly the answer each gets alone (the gathered kernel picks each row's adapter);
   - an adapter loaded over the API (vLLM's route), then unloaded while four requests for
     it are decoding: those four finish with 200 and the answer they got before the
     unload, and a request after it gets 404 with an OpenAI-style error body;
   - the metrics count requests per adapter.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

PORT = 18081
ROOT_BASE = "/tmp/netgpt-lora-serve"
ROOT = ROOT_BASE
URL = f"http://127.0.0.1:{PORT}"
PROMPT = "hello there, where is the station"


def build(tokenizer, dtype):
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    model_dir = os.path.join(ROOT, "model")
    os.makedirs(model_dir, exist_ok=True)
    config = LlamaConfig(vocab_size=300, hidden_size=512, intermediate_size=1024, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=128, max_position_embeddings=1024,
                         tie_word_embeddings=False, bos_token_id=0, eos_token_id=299)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(dtype={"f16": torch.float16, "bf16": torch.bfloat16}[dtype]).cuda()
    model.config.save_pretrained(model_dir)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{model_dir}/model.safetensors")
    shutil.copy(tokenizer, f"{model_dir}/tokenizer.json")
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    names = ["a0", "a1", "a2"]
    peft_model = get_peft_model(model, lora, adapter_name=names[0])
    for name in names[1:]:
        peft_model.add_adapter(name, lora)
    for i, name in enumerate(names):
        generator = torch.Generator(device="cuda").manual_seed(7 + i)
        with torch.no_grad():
            for param_name, param in peft_model.named_parameters():
                if f".{name}." in param_name and "lora_" in param_name:
                    param.copy_(torch.randn(param.shape, generator=generator, device="cuda") * 0.1)
        directory = os.path.join(ROOT, "adapters", name)
        os.makedirs(directory, exist_ok=True)
        state = get_peft_model_state_dict(peft_model, adapter_name=name)
        save_file({k: v.detach().contiguous() for k, v in state.items()}, f"{directory}/adapter_model.safetensors")
        peft_model.peft_config[name].save_pretrained(directory)
    return model_dir


def post(path, body, timeout=120):
    request = urllib.request.Request(URL + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def ask(model, stream=False, max_tokens=32):
    body = {"model": model, "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0, "stream": stream}
    status, text = post("/v1/completions", body)
    if status != 200:
        return status, text
    if not stream:
        return status, json.loads(text)["choices"][0]["text"]
    pieces = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            pieces.append(json.loads(line[6:])["choices"][0].get("text", ""))
    return status, "".join(pieces)


failures = []


def check(ok, message):
    print(("ok   " if ok else "FAIL ") + message, flush=True)
    if not ok:
        failures.append(message)


def main():
    global ROOT
    netgpt, tokenizer = sys.argv[1], sys.argv[2]
    for dtype in sys.argv[3:] or ["f16", "bf16"]:
        ROOT = os.path.join(ROOT_BASE, dtype)
        print(f"--- {dtype}", flush=True)
        serve_and_check(netgpt, tokenizer, dtype)
    if failures:
        raise SystemExit(f"{len(failures)} check(s) failed")
    print("all LoRA serving checks passed")


def serve_and_check(netgpt, tokenizer, dtype):
    model_dir = build(tokenizer, dtype)
    config = os.path.join(ROOT, "serving.yaml")
    with open(config, "w") as f:
        f.write(f"""apiVersion: netgpt.io/v1alpha1
kind: ServingConfig
model: {{name: m, architecture: llama, format: safetensors, path: {model_dir}}}
adapters:
- {{name: a0, path: {ROOT}/adapters/a0}}
- {{name: a1, path: {ROOT}/adapters/a1}}
limits: {{device: cuda, dtype: {dtype}, contextLength: 1024}}
""")
    import nvidia

    libs = os.path.join(nvidia.__path__[0], "cu13", "lib")
    env = dict(os.environ, LD_LIBRARY_PATH=libs)
    log_path = os.path.join(ROOT, "serve.log")
    log = open(log_path, "w")
    server = subprocess.Popen([netgpt, "serve", "--config", config, "--adapter-dir", os.path.join(ROOT, "adapters"),
                               "--host", "127.0.0.1", "--port", str(PORT)], env=env, stdout=log, stderr=log)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(URL + "/ready", timeout=2)
                break
            except Exception:
                time.sleep(1)
        else:
            raise SystemExit("server never became ready: " + open(log_path).read()[-2000:])

        alone = {}
        for name in ["m", "a0", "a1"]:
            status, text = ask(name)
            check(status == 200, f"{name}: 200 ({status})")
            alone[name] = text
            status, streamed = ask(name, stream=True)
            check(status == 200 and streamed == text, f"{name}: streamed answer equals the non-streamed one")
        for name in ["a0", "a1"]:
            check(alone[name] != alone["m"], f"{name} changes the answer ({alone[name][:30]!r} vs base {alone['m'][:30]!r})")

        order = ["m", "a0", "a1", "a0", "m", "a1", "a1", "a0"]
        results = [None] * len(order)

        def worker(i, name):
            results[i] = ask(name)

        threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(order)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        same = all(r == (200, alone[n]) for r, n in zip(results, order))
        check(same, f"{len(order)} concurrent requests mixing base, a0 and a1 get their answers alone")

        status, text = post("/v1/load_lora_adapter", {"lora_name": "a2", "lora_path": "a2"})
        check(status == 200, f"a2 loaded over the API ({status} {text[:80]})")
        status, long_alone = ask("a2", max_tokens=400)
        check(status == 200 and long_alone != ask("m", max_tokens=400)[1], "a2 answers, differently from the base")
        inflight = [None] * 4

        def long_worker(i):
            inflight[i] = ask("a2", max_tokens=400)

        threads = [threading.Thread(target=long_worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.15)
        status, text = post("/v1/unload_lora_adapter", {"lora_name": "a2"})
        check(status == 200, f"a2 unloaded while requests decode ({status} {text[:80]})")
        for t in threads:
            t.join()
        check(all(r == (200, long_alone) for r in inflight),
              "the four requests in flight during the unload finished with their answer")
        status, text = ask("a2")
        error = json.loads(text).get("error", {}) if text.startswith("{") else {}
        check(status == 404 and "message" in error, f"a2 after the unload: {status} {text[:120]}")

        with urllib.request.urlopen(URL + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        lines = [l for l in metrics.splitlines() if "adapter" in l and not l.startswith("#")]
        check(any('"a0"' in l for l in lines), "metrics count requests per adapter")
        print("\n".join(lines[:12]))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print(open(log_path).read()[-1500:])


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Smoke test of CUDA serving on a GPU node: a small random LLaMA (head size 128,
# grouped-query attention) with the test fixture's tokenizer, one chat request and four
# concurrent ones (batched decode). Needs PyTorch + transformers there. The server is
# started the way the operator starts it for a GPU CloudLLM: no --device flag, a serving
# configuration whose `limits.device: cuda` and `limits.dtype: f16` the operator resolved
# from `spec.serving` (set NETGPT_SMOKE_FLAGS=1 to pass --device/--dtype instead).
#   inference-server/bench/gpu_serve_smoke.sh NETGPT_BINARY TOKENIZER_JSON
set -euo pipefail
netgpt=$1 tokenizer=$2 dir=/tmp/netgpt-serve-smoke port=18080
python3 - "$dir" "$tokenizer" <<'PY'
import shutil, sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
from safetensors.torch import save_file
directory, tokenizer = sys.argv[1], sys.argv[2]
config = LlamaConfig(vocab_size=300, hidden_size=512, intermediate_size=1024, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=128, max_position_embeddings=512,
                     tie_word_embeddings=False, bos_token_id=0, eos_token_id=0)
torch.manual_seed(0)
model = LlamaForCausalLM(config).half()
model.config.save_pretrained(directory)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{directory}/model.safetensors")
shutil.copy(tokenizer, f"{directory}/tokenizer.json")
PY
export LD_LIBRARY_PATH=$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))')
if [ "${NETGPT_SMOKE_FLAGS:-0}" = 1 ]; then
  "$netgpt" serve --model "$dir" --device cuda:0 --dtype f16 --served-model-name m --host 127.0.0.1 --port $port > /tmp/serve.log 2>&1 &
else
  cat > "$dir/serving.yaml" <<YAML
apiVersion: netgpt.io/v1alpha1
kind: ServingConfig
model: {name: m, architecture: llama, format: safetensors, path: $dir}
limits: {device: cuda, dtype: f16, contextLength: 512}
YAML
  "$netgpt" serve --config "$dir/serving.yaml" --host 127.0.0.1 --port $port > /tmp/serve.log 2>&1 &
fi
server=$!
trap 'kill $server' EXIT
for _ in $(seq 60); do curl -sf localhost:$port/ready > /dev/null && break; sleep 1; done
request='{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":24,"temperature":0}'
curl -sf localhost:$port/v1/chat/completions -H 'content-type: application/json' -d "$request"; echo
pids=()
for i in 1 2 3 4; do
  curl -sf localhost:$port/v1/chat/completions -H 'content-type: application/json' -d "$request" > /tmp/r$i.json &
  pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4; do python3 -c "import json,sys; r=json.load(open('/tmp/r$i.json')); print('concurrent', $i, r['usage'], repr(r['choices'][0]['message']['content'][:40]))"; done
curl -sf localhost:$port/metrics | grep -E '^netgpt_.*(tokens|requests)_total' | head -5 || true
tail -5 /tmp/serve.log

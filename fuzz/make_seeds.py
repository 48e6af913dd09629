#!/usr/bin/env python3
"""Writes the binary seed corpora of the fuzz targets (standard library only).

- corpus/gguf_load/: a complete, loadable LLaMA GGUF of ~4 KB (1 layer, hidden 8, FFN 32,
  a 15-token byte-level BPE vocabulary, F32/F16/Q8_0 tensors), plus a header-only variant;
- corpus/safetensors_adapter/: PEFT adapters (lora_A/lora_B for q_proj and v_proj) that
  fit the layout the target loads them onto (2 layers, hidden 8, intermediate 16, 2 heads
  of 4, 1 KV head).

Run from anywhere: python3 fuzz/make_seeds.py. Output is deterministic.
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# GGUF value types.
U32, I32, F32V, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
# GGML tensor types.
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(kind, value):
    if kind == U32:
        return struct.pack("<I", value)
    if kind == I32:
        return struct.pack("<i", value)
    if kind == F32V:
        return struct.pack("<f", value)
    if kind == BOOL:
        return struct.pack("<B", 1 if value else 0)
    if kind == STRING:
        return gguf_string(value)
    raise ValueError(kind)


def gguf_kv(key, kind, value):
    out = gguf_string(key)
    if isinstance(kind, tuple):  # (ARRAY, element kind)
        _, element = kind
        out += struct.pack("<I", ARRAY) + struct.pack("<I", element) + struct.pack("<Q", len(value))
        for v in value:
            out += gguf_value(element, v)
        return out
    return out + struct.pack("<I", kind) + gguf_value(kind, value)


def values(n, scale=0.05):
    # Deterministic small weights.
    return [((i * 37) % 17 - 8) * scale for i in range(n)]


def tensor_bytes(dtype, n):
    if dtype == GGML_F32:
        return struct.pack(f"<{n}f", *values(n))
    if dtype == GGML_F16:
        return struct.pack(f"<{n}e", *values(n))
    if dtype == GGML_Q8_0:
        assert n % 32 == 0
        out = b""
        for block in range(n // 32):
            out += struct.pack("<e", 0.01) + bytes(((block + i) * 7) % 256 for i in range(32))
        return out
    raise ValueError(dtype)


def gguf(metadata, tensors, alignment=32):
    """tensors: (name, candle shape [rows, cols] or [n], ggml dtype)."""
    header = b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", len(tensors), len(metadata))
    for kv in metadata:
        header += gguf_kv(*kv)
    data = b""
    infos = b""
    for name, shape, dtype in tensors:
        n = 1
        for d in shape:
            n *= d
        blob = tensor_bytes(dtype, n)
        padding = (-len(data)) % alignment
        data += b"\0" * padding
        infos += gguf_string(name) + struct.pack("<I", len(shape))
        for d in reversed(shape):  # GGUF lists the innermost dimension first
            infos += struct.pack("<Q", d)
        infos += struct.pack("<IQ", dtype, len(data))
        data += blob
    out = header + infos
    out += b"\0" * ((-len(out)) % alignment)
    return out + data


def tiny_llama():
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "e", "h", "l", "o", "Ġ", "Ċ",
              "he", "ll", "hell", "hello"]
    types = [3, 3, 3] + [1] * (len(tokens) - 3)
    merges = ["h e", "l l", "he ll", "hell o"]
    template = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                "{{ '<|im_start|>system\\nYou are tiny.<|im_end|>\\n' }}{% endif %}"
                "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                "{% endfor %}")
    hidden, heads, kv_heads, ffn, vocab = 8, 2, 1, 32, len(tokens)
    head_dim = hidden // heads
    metadata = [
        ("general.architecture", STRING, "llama"),
        ("general.alignment", U32, 32),
        ("llama.block_count", U32, 1),
        ("llama.context_length", U32, 64),
        ("llama.embedding_length", U32, hidden),
        ("llama.feed_forward_length", U32, ffn),
        ("llama.attention.head_count", U32, heads),
        ("llama.attention.head_count_kv", U32, kv_heads),
        ("llama.rope.dimension_count", U32, head_dim),
        ("llama.rope.freq_base", F32V, 10000.0),
        ("llama.attention.layer_norm_rms_epsilon", F32V, 1e-5),
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.pre", STRING, "smollm"),
        ("tokenizer.ggml.tokens", (ARRAY, STRING), tokens),
        ("tokenizer.ggml.token_type", (ARRAY, I32), types),
        ("tokenizer.ggml.merges", (ARRAY, STRING), merges),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.bos_token_id", U32, 0),
        ("tokenizer.ggml.add_bos_token", BOOL, False),
        ("tokenizer.chat_template", STRING, template),
    ]
    tensors = [
        ("token_embd.weight", [vocab, hidden], GGML_F32),
        ("output_norm.weight", [hidden], GGML_F32),
        ("blk.0.attn_norm.weight", [hidden], GGML_F32),
        ("blk.0.ffn_norm.weight", [hidden], GGML_F32),
        ("blk.0.attn_q.weight", [heads * head_dim, hidden], GGML_F16),
        ("blk.0.attn_k.weight", [kv_heads * head_dim, hidden], GGML_F16),
        ("blk.0.attn_v.weight", [kv_heads * head_dim, hidden], GGML_F32),
        ("blk.0.attn_output.weight", [hidden, heads * head_dim], GGML_F32),
        ("blk.0.ffn_gate.weight", [ffn, hidden], GGML_F16),
        ("blk.0.ffn_up.weight", [ffn, hidden], GGML_F32),
        # Q8_0 blocks run along the innermost (input) dimension: 32 inputs per block.
        ("blk.0.ffn_down.weight", [hidden, ffn], GGML_Q8_0),
    ]
    return metadata, tensors


def safetensors(tensors, metadata=None):
    """tensors: (name, shape, dtype "F32"/"F16"/"BF16")."""
    header = {}
    data = b""
    for name, shape, dtype in tensors:
        n = 1
        for d in shape:
            n *= d
        if dtype == "F32":
            blob = struct.pack(f"<{n}f", *values(n, 0.01))
        elif dtype == "F16":
            blob = struct.pack(f"<{n}e", *values(n, 0.01))
        elif dtype == "BF16":
            blob = b"".join(struct.pack("<f", v)[2:] for v in values(n, 0.01))
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(target, name, data):
    path = os.path.join(HERE, "corpus", target, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    print(f"{path}: {len(data)} bytes")


def main():
    metadata, tensors = tiny_llama()
    write("gguf_load", "tiny-llama", gguf(metadata, tensors))
    write("gguf_load", "header-only", gguf(metadata[:3], []))
    qwen = [(k.replace("llama.", "qwen2."), t, v) for k, t, v in metadata]
    qwen[0] = ("general.architecture", STRING, "qwen2")
    write("gguf_load", "tiny-qwen2", gguf(qwen, tensors))

    r, hidden, head_dim, heads, kv_heads = 2, 8, 4, 2, 1
    prefix = "base_model.model.model.layers"
    write("safetensors_adapter", "q-v-f32", safetensors([
        (f"{prefix}.0.self_attn.q_proj.lora_A.weight", [r, hidden], "F32"),
        (f"{prefix}.0.self_attn.q_proj.lora_B.weight", [heads * head_dim, r], "F32"),
        (f"{prefix}.1.self_attn.v_proj.lora_A.weight", [r, hidden], "F32"),
        (f"{prefix}.1.self_attn.v_proj.lora_B.weight", [kv_heads * head_dim, r], "F32"),
    ], {"format": "pt"}))
    write("safetensors_adapter", "k-f16", safetensors([
        (f"{prefix}.1.self_attn.k_proj.lora_A.default.weight", [r, hidden], "F16"),
        (f"{prefix}.1.self_attn.k_proj.lora_B.default.weight", [kv_heads * head_dim, r], "F16"),
    ]))
    write("safetensors_adapter", "mlp-bf16", safetensors([
        (f"{prefix}.0.mlp.down_proj.lora_A.weight", [r, 16], "BF16"),
        (f"{prefix}.0.mlp.down_proj.lora_B.weight", [hidden, r], "BF16"),
    ]))


if __name__ == "__main__":
    main()

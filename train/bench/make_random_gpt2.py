"""A GPT-2 with seeded random weights, saved as `netgpt serve` and `netgpt train lora`
read it (config.json, model.safetensors, tokenizer.json), for training comparisons on a
machine that cannot download GPT-2's weights.

    python train/bench/make_random_gpt2.py OUT_DIR TOKENIZER_JSON [--n-embd 256 --layers 4 --heads 4]
"""
import argparse
import json
import os
import shutil

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("tokenizer")
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--positions", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    vocab = len(json.load(open(args.tokenizer))["model"]["vocab"])
    torch.manual_seed(args.seed)
    config = GPT2Config(vocab_size=vocab, n_positions=args.positions, n_embd=args.n_embd, n_layer=args.layers,
                        n_head=args.heads, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(args.out, safe_serialization=True)
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    print(f"GPT-2 ({args.layers} layers, {args.n_embd} wide, vocabulary {vocab}) in {args.out}")


if __name__ == "__main__":
    main()

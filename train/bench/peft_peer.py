"""Hugging Face PEFT as the peer of `netgpt train lora`: the same base (the GGUF file,
dequantized by transformers), the same tokenized examples (exported by
`netgpt train lora --export-examples`), the same hyper-parameters, on the same machine.

    python train/bench/peft_peer.py --gguf MODEL.gguf --examples EXAMPLES.json \
        [--rank 8 --alpha 16 --dropout 0.05 --epochs 2 --lr 1e-3 --warmup 4 --accum 4 --threads 2] \
        [--device cuda]

Prints one JSON object: wall time of the training loop, tokens/s, the held-out loss before
training and after each epoch, first/last step losses (means of five steps), as
`netgpt train lora` reports them.
"""
import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, get_cosine_schedule_with_warmup


DEVICE = torch.device("cpu")


def loss_of(model, example):
    tokens = torch.tensor([example["tokens"]], device=DEVICE)
    logits = model(input_ids=tokens).logits[0]
    rows = logits[torch.tensor(example["positions"], device=DEVICE)]
    return F.cross_entropy(rows, torch.tensor(example["targets"], device=DEVICE))


def heldout_loss(model, examples):
    if not examples:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for e in examples:
            total += loss_of(model, e).item() * len(e["targets"])
            count += len(e["targets"])
    model.train()
    return total / count


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gguf", help="the GGUF base (transformers dequantizes it)")
    p.add_argument("--model-dir", help="or a safetensors base directory (LLaMA or GPT-2)")
    p.add_argument("--examples", required=True)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--accum", type=int, default=4)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda (f32 either way, as netgpt trains)")
    args = p.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    data = json.load(open(args.examples))
    train, heldout = data["train"], data["heldout"]
    if args.model_dir:
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, torch_dtype=torch.float32).to(DEVICE)
    else:
        model = AutoModelForCausalLM.from_pretrained(
            os.path.dirname(os.path.abspath(args.gguf)), gguf_file=os.path.basename(args.gguf),
            torch_dtype=torch.float32,
        ).to(DEVICE)
    config = LoraConfig(
        r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout,
        target_modules=args.targets.split(","), bias="none", task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train) / args.accum)
    total = steps_per_epoch * args.epochs
    schedule = get_cosine_schedule_with_warmup(optimizer, args.warmup, total)
    evaluations = [{"epoch": 0, "heldout_loss": heldout_loss(model, heldout)}]
    losses, tokens, evaluating = [], 0, 0.0
    synchronize = torch.cuda.synchronize if DEVICE.type == "cuda" else (lambda: None)
    synchronize()
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = list(range(len(train)))
        random.shuffle(order)
        for start in range(0, len(order), args.accum):
            batch = order[start:start + args.accum]
            step_loss = 0.0
            for i in batch:
                loss = loss_of(model, train[i])
                (loss / len(batch)).backward()
                step_loss += loss.item()
                tokens += len(train[i]["tokens"])
            torch.nn.utils.clip_grad_norm_(params, args.clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(step_loss / len(batch))
        synchronize()
        t = time.perf_counter()
        evaluations.append({"epoch": epoch, "heldout_loss": heldout_loss(model, heldout)})
        evaluating += time.perf_counter() - t
    seconds = time.perf_counter() - started
    train_seconds = seconds - evaluating
    window = max(1, min(5, len(losses)))
    print(json.dumps({
        "peer": "transformers+peft " + __import__("peft").__version__ + ", torch " + torch.__version__,
        "threads": args.threads,
        "train_examples": len(train),
        "optimizer_steps": len(losses),
        "first_loss": sum(losses[:window]) / window,
        "last_loss": sum(losses[-window:]) / window,
        "evaluations": evaluations,
        "device": str(DEVICE) + ("" if DEVICE.type != "cuda" else " " + torch.cuda.get_device_name()),
        "seconds": seconds,
        "train_seconds": train_seconds,
        "tokens_per_second": tokens / train_seconds,
    }, indent=2))


if __name__ == "__main__":
    main()

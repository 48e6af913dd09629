#!/usr/bin/env python3
"""Training sentences for a network-intent adapter: {"text", "expected"} per line.

A template generator of its own, with endpoint names, phrasings and value ranges chosen
apart from the hand-written evaluation set (gateway/tests/data/intent/), so the adapter is
measured on sentences it was not trained on. Usage:
    python3 gateway/bench/make_intent_training.py 160 > /tmp/intent_train.jsonl
"""
import json
import random
import sys

rng = random.Random(20261206)
SITES = ["Access {}", "BS-{}", "Cell-{}", "Tower {}", "RAN-{}", "Gateway {}"]
CLOUDS = ["Cloud {}", "DC-{}", "Region {}", "Datacenter {}", "POP-{}"]
LETTERS = ["A", "B", "C", "D", "Alpha", "Beta", "Blue", "Red", "Green", "Q"]


def endpoint(kinds):
    name = rng.choice(kinds)
    return name.format(rng.choice([str(rng.randint(1, 40)), rng.choice(LETTERS)]))


def bandwidth():
    if rng.random() < 0.5:
        g = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 16, 20, 25, 30, 40, 60, 80, 100])
        return g * 1000, rng.choice([f"{g} Gbps", f"{g}G", f"{g} gigabits per second", f"{g} Gb/s"])
    m = rng.choice([10, 20, 40, 64, 75, 100, 128, 150, 200, 256, 300, 450, 500, 800, 950])
    return m, rng.choice([f"{m} Mbps", f"{m}M", f"{m} megabits per second", f"{m} Mb/s"])


def hhmm():
    h = rng.randint(0, 22)
    m = rng.choice([0, 15, 30, 45])
    return f"{h:02d}:{m:02d}", f"{h + 1:02d}:{m:02d}"


def sentence():
    mbps, bw = bandwidth()
    src, dst = endpoint(SITES), endpoint(CLOUDS)
    expected = {"bandwidthMbps": mbps, "source": src, "destination": dst}
    protect = rng.random() < 0.5
    expected["protection"] = protect
    parts = []
    if protect:
        parts.append(rng.choice(["with protection", "protected", "with a protection path", "make it resilient with protection"]))
    elif rng.random() < 0.5:
        parts.append(rng.choice(["without protection", "unprotected", "protection not required"]))
    if rng.random() < 0.35:
        lat = rng.choice([1, 3, 5, 8, 10, 20, 35, 60, 100])
        expected["maxLatencyMs"] = lat
        parts.append(rng.choice([f"latency below {lat} ms", f"delay at most {lat} milliseconds", f"{lat} ms max latency"]))
    if rng.random() < 0.35:
        start, end = hhmm()
        expected["start"], expected["end"] = start, end
        parts.append(rng.choice([f"from {start} until {end}", f"during {start}-{end}", f"starting {start}, ending {end}"]))
    rng.shuffle(parts)
    extra = (", " + ", ".join(parts)) if parts else ""
    body = rng.choice([
        f"{bw} from {src} to {dst}{extra}",
        f"Provision {bw} between {src} and {dst}{extra}",
        f"{src} to {dst} needs {bw}{extra}",
        f"Please allocate a {bw} path from {src} towards {dst}{extra}",
        f"Request {bw} for traffic {src} -> {dst}{extra}",
    ])
    return {"text": body + rng.choice([".", "", " please.", "!"]), "expected": expected}


n = int(sys.argv[1]) if len(sys.argv) > 1 else 160
for _ in range(n):
    print(json.dumps(sentence()))

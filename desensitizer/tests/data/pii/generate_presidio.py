#!/usr/bin/env python3
"""Out-of-distribution check: sentences from presidio-evaluator's templates, filled by Faker.

The main corpus (generate.py) was written alongside the detector, so it measures what the
detector was designed for. This one uses someone else's phrasing and values: the 209
templates shipped in PyPI's `presidio-evaluator` wheel (presidio-research, MIT licence,
Copyright (c) Microsoft Corporation) and Faker's providers. Templates with placeholders
for things NetGPT does not treat as personal data (organizations, ages, jobs, years,
URLs, loose address parts…) are skipped; cities and countries count as `location`
wherever they appear, as Presidio counts them.

Outputs (later splits are listed in SPLITS below):

- no `--split` (the original run, kept byte for byte): every usable template twice,
  Faker en_US, seed 20261126 -> corpus_presidio.jsonl. The detector's first round of
  rules was written while reading its errors.
- `--split tune`: the usable templates whose SHA-256 is even, four fills each, Faker
  en_US, seed 20261127 -> corpus_presidio_tune.jsonl. Errors may be read here.
- `--split heldout`: the templates whose SHA-256 is odd (phrasings not looked at in this
  round), four fills each, Faker en_US + en_GB (one locale per placeholder type, see
  PER_VALUE below), seed 90210417 ->
  corpus_presidio_heldout.jsonl. Only scored, never read while tuning. SSNs stay en_US:
  the `nationalId` detector covers US SSNs and Chinese resident IDs, and a UK National
  Insurance number would test a type it does not claim, not generalisation.
- `--split tune-gb`, `--split heldout-au-ca` (round 2); `--split tune-au-ca` and, generated
  once tuning was over, `--split heldout2` (round 3: four locales mixed per value).

Needs Faker and the wheel (not the standard library, so the output is committed):
    pip download presidio-evaluator==0.3.2 --no-deps -d /tmp/pe
    unzip -q /tmp/pe/presidio_evaluator-0.3.2-py3-none-any.whl -d /tmp/pe/x
    pip install --target /tmp/fk faker==40.63.0
    T=/tmp/pe/x/presidio_evaluator/data_generator/raw_data/templates.txt
    PYTHONPATH=/tmp/fk python3 generate_presidio.py $T > corpus_presidio.jsonl
    PYTHONPATH=/tmp/fk python3 generate_presidio.py $T --split tune > corpus_presidio_tune.jsonl
    PYTHONPATH=/tmp/fk python3 generate_presidio.py $T --split heldout > corpus_presidio_heldout.jsonl
    PYTHONPATH=/tmp/fk python3 generate_presidio.py $T --split tune-gb > corpus_presidio_tune_gb.jsonl
    PYTHONPATH=/tmp/fk python3 generate_presidio.py $T --split heldout-au-ca > corpus_presidio_heldout_au_ca.jsonl
    PYTHONPATH=/tmp/fk python3 generate_presidio.py $T --split tune-au-ca > corpus_presidio_tune_au_ca.jsonl
    PYTHONPATH=/tmp/fk python3 generate_presidio.py $T --split heldout2 > corpus_presidio_heldout2.jsonl
"""

import hashlib
import json
import random
import re
import sys

from faker import Faker

SPLITS = {
    # name: (template parity or None for all, fills per template, locales, seed)
    None: (None, 2, ["en_US"], 20261126),
    "tune": (0, 4, ["en_US"], 20261127),
    "heldout": (1, 4, ["en_US", "en_GB"], 90210417),
    # Added after the first tuning round had been scored on `heldout`: British values on
    # the tuning templates (errors may be read), and a second held-out split whose
    # locales (Australian, Canadian) no round has tuned on.
    "tune-gb": (0, 4, ["en_GB"], 44020811),
    "heldout-au-ca": (1, 4, ["en_AU", "en_CA"], 61300422),
    # Round 3: Australian and Canadian values on the tuning templates (errors may be read),
    # then, once tuning was over, a fresh held-out split of all four locales, other seed,
    # scored once.
    "tune-au-ca": (0, 4, ["en_AU", "en_CA"], 73051129),
    "heldout2": (1, 4, ["en_US", "en_GB", "en_AU", "en_CA"], 28841163),
}


# Splits whose multi-locale values really mix per value. A multi-locale Faker picks the
# locale when a method is looked up (`fake.address`), not when it is called, so the older
# splits bound every placeholder to one locale for the whole file (in `heldout-au-ca`, for
# instance, all addresses come from one of the two locales); they are kept that way to stay
# reproducible byte for byte. Found in round 3, from the tuning split's output.
PER_VALUE = {"tune-au-ca", "heldout2"}


class PerValue:
    """Looks the method up on every call, so that each value gets its own locale."""

    def __init__(self, fake):
        self._fake = fake

    def __getattr__(self, name):
        return lambda *args, **kwargs: getattr(self._fake, name)(*args, **kwargs)


def providers(locales, seed, per_value=False):
    """Placeholder -> (entity type or None, value generator)."""
    # A multi-locale Faker picks a locale with the `random` module: seed it too.
    random.seed(seed)
    fake = Faker(locales[0] if len(locales) == 1 else locales)
    Faker.seed(seed)
    rng = random.Random(seed)
    if locales == ["en_US"]:
        us = fake
    elif "en_US" in locales:
        us = fake["en_US"]
    else:
        us = Faker("en_US")
        us.seed_instance(seed)
    if per_value:
        fake = PerValue(fake)
    person = {
        "person": fake.name, "name": fake.name, "first_name": fake.first_name,
        "last_name": fake.last_name, "name_male": fake.name_male, "name_female": fake.name_female,
        "first_name_male": fake.first_name_male, "first_name_female": fake.first_name_female,
        "first_name_nonbinary": fake.first_name_nonbinary, "last_name_male": fake.last_name_male,
        "last_name_female": fake.last_name_female,
    }
    typed = {
        "address": ("streetAddress", fake.address),
        "city": ("location", fake.city),
        "country": ("location", fake.country),
        "credit_card_number": ("creditCard", fake.credit_card_number),
        "phone_number": ("phone", fake.phone_number),
        "email": ("email", fake.email),
        "iban": ("iban", fake.iban),
        "ip_address": ("ipAddress", lambda: fake.ipv4() if rng.random() < 0.7 else fake.ipv6()),
        "ssn": ("nationalId", us.ssn),
        "date_of_birth": ("dateOfBirth", lambda: str(fake.date_of_birth())),
    }
    for key, gen in person.items():
        typed[key] = ("person", gen)
    for key in ("prefix_male", "prefix_female", "prefix"):
        typed[key] = (None, getattr(fake, key))
    return typed


PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


def render(template, typed):
    text, spans, last = "", [], 0
    for m in PLACEHOLDER.finditer(template):
        text += template[last:m.start()]
        kind, gen = typed[m.group(1)]
        value = gen()
        if kind is not None:
            spans.append({"start": len(text), "end": len(text) + len(value), "type": kind})
        text += value
        last = m.end()
    text += template[last:]
    return {"text": text, "spans": spans}


def main():
    split = None
    if len(sys.argv) == 4 and sys.argv[2] == "--split" and sys.argv[3] in SPLITS:
        split = sys.argv[3]
    elif len(sys.argv) != 2:
        sys.exit("usage: generate_presidio.py TEMPLATES [--split " + "|".join(s for s in SPLITS if s) + "]")
    parity, fills, locales, seed = SPLITS[split]
    typed = providers(locales, seed, split in PER_VALUE)
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        templates = [line.rstrip("\n").replace("\\n", "\n") for line in f if line.strip()]
    usable = [t for t in templates if all(k in typed for k in PLACEHOLDER.findall(t))]
    if parity is not None:
        usable = [t for t in usable if hashlib.sha256(t.encode()).digest()[-1] % 2 == parity]
    for template in usable:
        for _ in range(fills):
            print(json.dumps(render(template, typed), ensure_ascii=False))


if __name__ == "__main__":
    main()

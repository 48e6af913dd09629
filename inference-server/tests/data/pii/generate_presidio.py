#!/usr/bin/env python3
"""Out-of-distribution check: sentences from presidio-evaluator's templates, filled by Faker.

The main corpus (generate.py) was written alongside the detector, so it measures what the
detector was designed for. This one uses someone else's phrasing and values: the 209
templates shipped in PyPI's `presidio-evaluator` wheel (presidio-research, MIT licence,
Copyright (c) Microsoft Corporation) and Faker's en_US providers. Templates with
placeholders for things NetGPT does not treat as personal data (organizations, ages,
jobs, years, URLs, loose address parts…) are skipped; cities and countries count as
`location` wherever they appear, as Presidio counts them, although the detector only
looks for places named as where someone lives — so that row is expected to be poor.

Needs Faker and the wheel (not the standard library, so the output is committed):
    pip download presidio-evaluator==0.3.2 --no-deps -d /tmp/pe
    unzip -q /tmp/pe/presidio_evaluator-0.3.2-py3-none-any.whl -d /tmp/pe/x
    pip install --target /tmp/fk faker==40.63.0
    PYTHONPATH=/tmp/fk python3 generate_presidio.py \
        /tmp/pe/x/presidio_evaluator/data_generator/raw_data/templates.txt > corpus_presidio.jsonl
"""

import json
import random
import re
import sys

from faker import Faker

SEED = 20261126
fake = Faker("en_US")
Faker.seed(SEED)
rng = random.Random(SEED)

PERSON = {
    "person": fake.name, "name": fake.name, "first_name": fake.first_name,
    "last_name": fake.last_name, "name_male": fake.name_male, "name_female": fake.name_female,
    "first_name_male": fake.first_name_male, "first_name_female": fake.first_name_female,
    "first_name_nonbinary": fake.first_name_nonbinary, "last_name_male": fake.last_name_male,
    "last_name_female": fake.last_name_female,
}
TYPED = {
    "address": ("streetAddress", fake.address),
    "city": ("location", fake.city),
    "country": ("location", fake.country),
    "credit_card_number": ("creditCard", fake.credit_card_number),
    "phone_number": ("phone", fake.phone_number),
    "email": ("email", fake.email),
    "iban": ("iban", fake.iban),
    "ip_address": ("ipAddress", lambda: fake.ipv4() if rng.random() < 0.7 else fake.ipv6()),
    "ssn": ("nationalId", fake.ssn),
    "date_of_birth": ("dateOfBirth", lambda: str(fake.date_of_birth())),
}
UNTYPED = {"prefix_male": fake.prefix_male, "prefix_female": fake.prefix_female, "prefix": fake.prefix}
for key, gen in PERSON.items():
    TYPED[key] = ("person", gen)

PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


def render(template):
    text, spans, last = "", [], 0
    for m in PLACEHOLDER.finditer(template):
        text += template[last:m.start()]
        key = m.group(1)
        if key in UNTYPED:
            text += UNTYPED[key]()
        else:
            kind, gen = TYPED[key]
            value = gen()
            spans.append({"start": len(text), "end": len(text) + len(value), "type": kind})
            text += value
        last = m.end()
    text += template[last:]
    return {"text": text, "spans": spans}


def main():
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        templates = [line.rstrip("\n").replace("\\n", "\n") for line in f if line.strip()]
    usable = [t for t in templates
              if all(k in TYPED or k in UNTYPED for k in PLACEHOLDER.findall(t))]
    for template in usable:
        for _ in range(2):
            print(json.dumps(render(template), ensure_ascii=False))


if __name__ == "__main__":
    main()

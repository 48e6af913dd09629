#!/usr/bin/env python3
"""Values-only stress runs of Faker's generators, for tuning (round 3).

Each run puts N values of one Faker provider, for one locale, into a few neutral carrier
sentences written here (not presidio-research's templates), and labels the value. It shows
which formats a generator produces that a detector rule misses (Australian phone layouts,
US military addresses, Canadian test numbers that break NANP digit rules) without touching
any held-out split. Errors of these runs may be read; the output is not committed.

    PYTHONPATH=/tmp/fk python3 faker_values.py phone en_AU 300 777 > /tmp/phone_en_AU.jsonl
    cargo run -q -p netgpt-desensitizer --example pii_eval -- --errors /tmp/phone_en_AU.jsonl

Kinds: phone, address, city, name, country. Round 3 used 300 values per kind and locale
(en_US, en_GB, en_AU, en_CA), seed 777 (phone, address, city) and 778 (name, country).
"""

import json
import random
import sys

from faker import Faker

CARRIERS = {
    "phone": ("phone", "phone_number", ["Please ring {} tomorrow.", "Reach me on {} after six"]),
    "address": ("streetAddress", "address", ["Send it to {} please.", "New address:\n{}", "I moved to {} last week."]),
    "city": ("location", "city", ["I live in {}.", "We moved here from {}"]),
    "name": ("person", "name", ["I spoke with {} yesterday.", "Yesterday {} called about the refund.", "Please forward this to {}."]),
    "country": ("location", "country", ["We moved here from {}", "I live in {}."]),
}


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in CARRIERS:
        sys.exit(f"usage: faker_values.py {'|'.join(CARRIERS)} LOCALE COUNT SEED")
    kind, locale, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fake = Faker(locale)
    Faker.seed(seed)
    rng = random.Random(seed)
    entity, method, carriers = CARRIERS[kind]
    for _ in range(count):
        value = getattr(fake, method)()
        carrier = rng.choice(carriers)
        before = carrier.split("{}")[0]
        span = {"start": len(before), "end": len(before) + len(value), "type": entity}
        print(json.dumps({"text": carrier.format(value), "spans": [span]}, ensure_ascii=False))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build the hand-written held-out PII corpus from sentences.txt.

What this is
    sentences.txt holds English sentences written by hand (chat prompts to an
    assistant, support tickets, forwarded e-mails, CRM and meeting notes,
    shipping forms, log lines, config snippets, SMS-style chat, forms, and
    look-alike sentences without personal data).  Every personal value is
    marked inline as [[type|value]].  This script strips the markup and prints
    one JSON object per sentence to stdout:

        {"text": "...", "spans": [{"start": 3, "end": 9, "type": "person"}]}

    Offsets are Unicode code points (Python str indices) into the text with the
    markup removed; spans are in order and never overlap.

    The corpus was written by hand, without any fake-data library and without
    looking at the detector, for HELD-OUT SCORING ONLY: never tune on it and
    never read its per-sentence errors.

File format
    - One sentence per line.  Blank lines and lines starting with '#' are
      comments.
    - The two characters backslash + n inside a line stand for a newline; they
      are converted before offsets are computed.
    - Types (exact spelling): person, email, phone, creditCard, iban,
      ipAddress, streetAddress, nationalId, dateOfBirth, apiKey,
      urlCredentials, location.

Labelling conventions
    person         the name as written: given name, surname or both, nicknames,
                   lower-case or ALL-CAPS names, surname-first forms.  A title
                   (Mr, Mrs, Ms, Dr, Prof.) and a possessive 's are outside the
                   span.  Each mention is its own span.  Famous or historical
                   people named in general-knowledge questions are labelled too.
    streetAddress  the street line only: house/building number + street name
                   (+ flat/unit/apartment/suite/room when on the same line),
                   e.g. "221B Baker Street", "Flat 4, 12 Elm Road",
                   "No. 88 Century Avenue".  Town, city, region and postcode
                   after it are not part of the span; the town/city/district/
                   region/country is a separate location span; postcodes are
                   not labelled, nor are state/province abbreviations of two or
                   three capitals on a postal line (TX, NSW, ON): the markup
                   keeps them as [[location|TX]] but build.py drops those
                   labels (decided before the corpus was first scored).
    location       a city, town, district, region/state/province or country
                   that says where a specific person is, lives, was born or is
                   travelling, or where an address is.  Places in
                   general-knowledge questions that say nothing about a person
                   are not labelled.
    phone          the number as written, including '+', country code,
                   parentheses and extension words that are part of it
                   (e.g. "(021) 5555-0142 ext. 12").
    email, ipAddress (v4 and v6), creditCard (valid Luhn), iban (valid
                   mod-97), nationalId (US SSN, UK NI number, Chinese resident
                   ID with a valid ISO 7064 MOD 11-2 check character).
    dateOfBirth    only a date said to be someone's birth date.
    apiKey         API keys, tokens, passwords and secrets given as values:
                   the secret value itself only.
    urlCredentials marked as the whole URL that contains user:password@; build.py
                   labels only its userinfo (user:password), the convention of
                   the project's other corpora (aligned before the first score
                   was read per type).
    Everything else (order numbers, timestamps, other dates, prices, versions,
    postcodes, partial card numbers, expiry dates) is not labelled.

Checks (the build fails loudly on any of them)
    malformed or unbalanced markup, unknown types, empty values or values with
    surrounding whitespace, Luhn failure for every creditCard span, mod-97
    failure for every iban span, MOD 11-2 failure for every 18-character
    Chinese resident ID, malformed SSN / NI numbers, duplicate sentences.

Regenerate (standard-library Python 3)
    python3 build.py > ../corpus_handwritten_heldout.jsonl

Per-type counts and the number of sentences without personal data go to
stderr.
"""

import collections
import json
import os
import re
import sys

TYPES = (
    "person", "email", "phone", "creditCard", "iban", "ipAddress",
    "streetAddress", "nationalId", "dateOfBirth", "apiKey", "urlCredentials",
    "location",
)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "sentences.txt")


class CorpusError(Exception):
    pass


# ---------------------------------------------------------------- checksums

def luhn_ok(number):
    digits = re.sub(r"[ -]", "", number)
    if not digits.isdigit() or not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


IBAN_LENGTHS = {
    "BE": 16, "CH": 21, "DE": 22, "ES": 24, "FR": 27, "GB": 22, "IE": 22,
    "IT": 27, "NL": 18, "PL": 28, "PT": 25,
}


def iban_ok(value):
    iban = value.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CN_CHECK = "10X98765432"


def cn_id_ok(value):
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], CN_WEIGHTS))
    return CN_CHECK[total % 11] == value[17]


def ssn_ok(value):
    m = re.fullmatch(r"(\d{3})-(\d{2})-(\d{4})", value)
    if not m:
        return False
    area, group, serial = m.groups()
    return (area not in ("000", "666") and not area.startswith("9")
            and group != "00" and serial != "0000")


def uk_ni_ok(value):
    compact = value.replace(" ", "")
    m = re.fullmatch(r"([A-Z])([A-Z])\d{6}[A-D]", compact)
    if not m:
        return False
    a, b = m.groups()
    if a in "DFIQUV" or b in "DFIOQUV":
        return False
    return a + b not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")


def check_value(kind, value, where):
    if kind == "creditCard" and not luhn_ok(value):
        raise CorpusError(f"{where}: creditCard {value!r} fails the Luhn check")
    if kind == "iban" and not iban_ok(value):
        raise CorpusError(f"{where}: iban {value!r} fails the mod-97 check")
    if kind == "nationalId":
        if re.fullmatch(r"\d{17}[\dX]", value):
            if not cn_id_ok(value):
                raise CorpusError(f"{where}: Chinese ID {value!r} fails MOD 11-2")
        elif re.fullmatch(r"\d{3}-\d{2}-\d{4}", value):
            if not ssn_ok(value):
                raise CorpusError(f"{where}: SSN {value!r} is not a valid-looking SSN")
        elif not uk_ni_ok(value):
            raise CorpusError(f"{where}: nationalId {value!r} is not a known format")
    if kind == "urlCredentials" and not re.search(r"://[^/@\s]*:[^/@\s]+@", value):
        raise CorpusError(f"{where}: urlCredentials {value!r} has no user:password@")
    if kind == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", value):
        raise CorpusError(f"{where}: email {value!r} is malformed")


# ------------------------------------------------------------------ parsing

MARK = re.compile(r"\[\[([^\[\]|]*)\|([^\[\]|]*)\]\]")


POSTAL_CODE_LIKE = re.compile(r"[A-Z]{2,3}")


def parse_line(raw, where):
    line = raw.replace("\\n", "\n")
    out = []
    spans = []
    pos = 0
    length = 0
    for m in MARK.finditer(line):
        before = line[pos:m.start()]
        if "[[" in before or "]]" in before:
            raise CorpusError(f"{where}: malformed markup before {m.group(0)!r}")
        out.append(before)
        length += len(before)
        kind, value = m.group(1), m.group(2)
        if kind not in TYPES:
            raise CorpusError(f"{where}: unknown type {kind!r}")
        if not value or value != value.strip() or "\n" in value:
            raise CorpusError(f"{where}: bad value {value!r} for {kind}")
        check_value(kind, value, where)
        if kind == "location" and POSTAL_CODE_LIKE.fullmatch(value):
            # A state/province abbreviation on a postal line (TX, NSW, ON) is read
            # like the postcode beside it: not labelled (see the conventions).
            out.append(value)
            length += len(value)
            pos = m.end()
            continue
        if kind == "urlCredentials":
            # The span is the URL's userinfo (user:password), as in the project's
            # other corpora; the rest of the URL stays outside it.
            userinfo = value.split("://", 1)[-1].rsplit("@", 1)[0]
            first = value.index(userinfo, value.index("://") + 3 if "://" in value else 0)
            spans.append({"start": length + first, "end": length + first + len(userinfo), "type": kind})
            out.append(value)
            length += len(value)
            pos = m.end()
            continue
        spans.append({"start": length, "end": length + len(value), "type": kind})
        out.append(value)
        length += len(value)
        pos = m.end()
    rest = line[pos:]
    if "[[" in rest or "]]" in rest:
        raise CorpusError(f"{where}: malformed markup in {rest!r}")
    out.append(rest)
    text = "".join(out)
    for span in spans:  # self-check
        assert text[span["start"]:span["end"]].strip() == text[span["start"]:span["end"]]
    return text, spans


def build(path=SOURCE):
    records = []
    seen = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            raw = raw.rstrip("\n")
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            where = f"{os.path.basename(path)}:{lineno}"
            text, spans = parse_line(raw, where)
            if text in seen:
                raise CorpusError(f"{where}: duplicate of line {seen[text]}")
            seen[text] = lineno
            records.append({"text": text, "spans": spans})
    if not records:
        raise CorpusError("no sentences found")
    return records


def main():
    # An optional argument names another source file in the same markup
    # (tune.txt: the hand-written tuning split, whose errors may be read).
    source = os.path.join(HERE, sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    try:
        records = build(source)
    except CorpusError as exc:
        sys.exit(f"build.py: error: {exc}")
    for rec in records:
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
    counts = collections.Counter(s["type"] for r in records for s in r["spans"])
    empty = sum(1 for r in records if not r["spans"])
    print(f"sentences: {len(records)}", file=sys.stderr)
    print(f"spans: {sum(counts.values())}", file=sys.stderr)
    for kind in TYPES:
        print(f"  {kind:15s} {counts.get(kind, 0)}", file=sys.stderr)
    print(f"sentences without personal data: {empty}", file=sys.stderr)


if __name__ == "__main__":
    main()

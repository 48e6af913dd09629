#!/usr/bin/env python3
"""Held-out PII corpus from a third, independent generator: mimesis + templates of its own.

`corpus.jsonl` (generate.py) was written alongside the detector and the Presidio corpora
(generate_presidio.py) use presidio-research's templates with Faker's values; both have
been read while tuning. This file uses neither: values come from the PyPI package
`mimesis` (MIT licence) at an exact version, and the ~60 chat-prompt templates below were
written for this file only (bookings, deliveries, travel, support tickets, forms, e-mails
to colleagues, several entities per sentence, lower-case names, names at sentence start,
addresses with unit numbers, seven locales), plus ~15 % sentences without personal data
but with look-alikes (versions, ISBNs, EAN barcodes, prices, times, future dates, ports,
hardware names, stock tickers, capitalised technical terms).

Output: corpus_mimesis_heldout.jsonl -- HELD OUT: score it, never read its errors while
tuning, never tune on it. Reproduce byte for byte (Python 3.11, any PYTHONHASHSEED):

    python3 -m venv /tmp/mimesis-venv
    /tmp/mimesis-venv/bin/pip install mimesis==22.2.0
    /tmp/mimesis-venv/bin/python generate_mimesis.py > corpus_mimesis_heldout.jsonl
    /tmp/mimesis-venv/bin/python generate_mimesis.py --seed 90210 > corpus_mimesis_heldout2.jsonl

Standard library + mimesis only; one seed (SEED below) drives the template order, the
locale of each sentence and every mimesis provider. The script refuses other mimesis
versions (their datasets differ) and checks every span before writing.

Schema as in README.md: {"text", "spans": [{"start", "end", "type"}]}, offsets are Python
string indices, each span slices exactly to the inserted value.

Labelling conventions (those of generate.py and generate_presidio.py):
- `person`: a full name (given name + surname) is ONE span; a given name alone or a
  surname after a title is a span too; the title (Dr., Ms.) is not labelled.
- `streetAddress`: the postal address as written in one piece is ONE span: number, street,
  unit (Apt/Flat/Unit/Suite), and -- when the template writes the address on one line with
  them (the {address_full} placeholder) -- town, region and postcode as well, as in
  generate.py (`85 Oak Street, Apt 4B, Denver, CO 80203`) and Faker's `address()` in the
  Presidio corpora. The town inside such an address is not labelled again as `location`.
- `location`: a town, region/state or country named on its own.
- `dateOfBirth`: a full date (day, month, year) after a birth cue (born, DOB, date of
  birth). Other dates (meetings, expiry 08/29) are not labelled.
- `apiKey`: a password given after a password cue, as generate.py labels passwords.
- `email`, `phone`, `creditCard` (Luhn-valid, checked), `ipAddress` (IPv4 or IPv6).
No IBAN, national ID or URL-credential spans: mimesis 22.2.0 has no generator for them.

Sentence locales: en, en-gb, en-au, en-ca, de, fr, es (mimesis locales); one locale per
sentence for names, addresses, places and phone numbers. Notes on mimesis 22.2.0 data:
en-au and en-ca fall back to en for phone numbers and towns, so AU/CA phone numbers are
built with mimesis's `phone_number(mask=...)` from national formats written here; a few
entries of its lists are not what they claim (Spanish names "First names", "VICTOR",
"Name"; towns "Oviedo spain"; German allotment gardens "Kolonie Friedland 3 180") and are
redrawn (see clean_name, town, street_line); en-ca region abbreviations come as `CA-ON`
and are written `ON`.
"""

import ipaddress
import json
import random
import re
import sys
import unicodedata

import mimesis
from mimesis import Address, Code, Datetime, Development, Finance, Hardware, Internet, Payment, Person
from mimesis.enums import CardType, Locale

MIMESIS_VERSION = "22.2.0"
# `--seed N` makes a fresh split with the same templates (the committed file: the default).
SEED = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 51723
SENTENCES_WITH_PII = 340
SENTENCES_WITHOUT_PII = 60

if mimesis.__version__ != MIMESIS_VERSION:
    sys.exit(f"generate_mimesis.py needs mimesis=={MIMESIS_VERSION} (found {mimesis.__version__}): "
             "other versions ship other datasets, so the output would differ")

rng = random.Random(SEED)

LOCALES = ["en", "en-gb", "en-au", "en-ca", "de", "fr", "es"]
LOCALE_WEIGHTS = [3, 2, 2, 2, 1, 1, 1]
PERSON = {code: Person(Locale(code), seed=SEED + 1 + i) for i, code in enumerate(LOCALES)}
ADDRESS = {code: Address(Locale(code), seed=SEED + 101 + i) for i, code in enumerate(LOCALES)}
PAYMENT = Payment(seed=SEED + 201)
INTERNET = Internet(seed=SEED + 202)
DATES = Datetime(seed=SEED + 203)
CODE = Code(seed=SEED + 204)
DEV = Development(seed=SEED + 205)
FIN = Finance(seed=SEED + 206)
HW = Hardware(seed=SEED + 207)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


# ---------------------------------------------------------------- values (loc = sentence locale)

# A few entries of mimesis 22.2.0's name lists are not names ("First names", "Name",
# "VICTOR", "Jerónimo/Gerónimo", "adrian", "Irmalinda‘"): such draws are redrawn.
NAME_WORD = re.compile(r"(?:[A-ZÀ-Ý][a-zß-ÿ']+)+(?:-(?:[A-ZÀ-Ý][a-zß-ÿ']+)+)*")
NOT_NAMES = {"Name", "Names", "First", "Test"}


def clean_name(draw):
    while True:
        value = draw()
        words = value.split(" ")
        if all(NAME_WORD.fullmatch(w) and w not in NOT_NAMES for w in words):
            return value


def full_name(loc):
    return clean_name(PERSON[loc].full_name)


def given_name(loc):
    return clean_name(PERSON[loc].first_name)


def surname(loc):
    return clean_name(PERSON[loc].last_name)


def ascii_word(s):
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z]", "", s).lower()


def email(loc):
    p = PERSON[loc]
    generated = p.email()
    style = rng.random()
    if style < 0.5:
        return generated
    domain = generated.split("@", 1)[1]
    first, last = ascii_word(p.first_name()), ascii_word(p.last_name())
    if style < 0.8:
        return f"{first}.{last}@{domain}"
    if style < 0.9:
        return f"{first[0]}{last}{rng.randint(1, 99)}@{domain}"
    return f"{first.capitalize()}.{last.capitalize()}@{domain}"


# National formats (mask digits filled by mimesis), so that every locale shows several.
PHONE_MASKS = {
    "en": ["(@##) @##-####", "@##-@##-####", "@##.@##.####", "+1 @## @## ####", "1-@##-@##-####"],
    "en-gb": ["07### ######", "+44 7### ######", "+44 (0)20 #### ####", "01### ######"],
    "en-au": ["04## ### ###", "+61 4## ### ###", "(0@) #### ####", "+61 @ #### ####"],
    "en-ca": ["(416) @##-####", "604-@##-####", "+1 514 @## ####", "(613) @##-####", "+1-902-@##-####"],
    "de": ["+49 15# ########", "0151 ########", "030 ########", "+49 (0)89 #######"],
    "fr": ["06 ## ## ## ##", "+33 6 ## ## ## ##", "01 ## ## ## ##", "+33 (0)7 ## ## ## ##"],
    "es": ["6## ### ###", "+34 6## ## ## ##", "91# ## ## ##", "+34 93# ### ###"],
}


def phone(loc):
    p = PERSON[loc]
    # en-au / en-ca fall back to US numbers in mimesis 22.2.0: always use their masks.
    if loc in ("en", "en-gb", "de", "fr", "es") and rng.random() < 0.4:
        return p.phone_number()
    mask = rng.choice(PHONE_MASKS[loc])
    # '@' marks a digit that must not be 0 or 1 (area/exchange codes, AU area digit).
    mask = "".join(str(rng.randint(2, 9)) if c == "@" else c for c in mask)
    return p.phone_number(mask=mask)


def luhn_ok(number):
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card(loc):
    kind = rng.choice([CardType.VISA, CardType.VISA, CardType.MASTER_CARD, CardType.MASTER_CARD,
                       CardType.AMERICAN_EXPRESS])
    while True:
        number = PAYMENT.credit_card_number(kind)
        # mimesis 22.2.0 draws Mastercard 2-series numbers outside 2221-2720: redrawn.
        if kind != CardType.MASTER_CARD or 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
            break
    assert luhn_ok(number.replace(" ", "")), number
    style = rng.random()
    if style < 0.5:
        return number
    if style < 0.75:
        return number.replace(" ", "")
    return number.replace(" ", "-")


def ipv4(loc):
    # Host addresses only: 0/8, loopback and multicast/reserved (224+) draws are redrawn.
    while True:
        value = INTERNET.ip_v4()
        first = int(value.split(".")[0])
        if 0 < first < 224 and first != 127:
            return value


def ipv6(loc):
    value = INTERNET.ip_v6()
    return ipaddress.IPv6Address(value).compressed if rng.random() < 0.4 else value


def ip_any(loc):
    return ipv4(loc) if rng.random() < 0.65 else ipv6(loc)


PLACE_PARTICLES = {"de", "del", "la", "las", "los", "el", "y", "i"}


def town(loc):
    # Spanish entries such as "Oviedo spain", "Northern spain", "La manga" are redrawn.
    while True:
        value = ADDRESS[loc].city()
        if loc != "es" or all(w[0].isupper() or w in PLACE_PARTICLES for w in value.split(" ")):
            return value


def region(loc):
    return ADDRESS[loc].region()


def country(loc):
    return ADDRESS[loc].country()


def region_abbr(loc):
    return ADDRESS[loc].state(abbr=True).replace("CA-", "")


def unit(loc):
    n = rng.randint(1, 48)
    if loc == "en":
        return rng.choice([f"Apt {n}", f"Apt. {n}{rng.choice('ABCD')}", f"Suite {n * 10}", f"Unit {n}"])
    if loc == "en-gb":
        return rng.choice([f"Flat {n}", f"Flat {n}{rng.choice('ABC')}"])
    if loc == "en-au":
        return rng.choice([f"Unit {n}", f"Apartment {n}"])
    if loc == "en-ca":
        return rng.choice([f"Unit {n}", f"Apt {n * 10 + rng.randint(1, 9)}", f"Suite {n * 100}"])
    if loc == "de":
        return rng.choice([f"Wohnung {n}", f"{rng.randint(1, 5)}. OG"])
    if loc == "fr":
        return rng.choice([f"Appartement {n}", f"Bât. {rng.choice('ABC')}, appt {n}"])
    return rng.choice([f"{rng.randint(1, 9)}º {rng.choice('ABCD')}", f"piso {rng.randint(1, 9)}"])


def street_line(loc):
    # German allotment-garden entries ("Kolonie Friedland 3 180", "Platz 768 41") are redrawn.
    while True:
        line = ADDRESS[loc].address()
        if loc != "de" or not (line.startswith("Kolonie") or re.search(r"\d \d", line)):
            return line


def street(loc, with_unit=None):
    line = street_line(loc)
    if with_unit is None:
        with_unit = rng.random() < 0.3
    if not with_unit:
        return line
    u = unit(loc)
    if loc == "en-au" and u.startswith("Unit") and rng.random() < 0.5:
        return f"{u.split()[1]}/{line}"          # 4/12 Smith Street
    if loc in ("en-gb",) or (loc in ("en-au", "fr") and rng.random() < 0.5):
        return f"{u}, {line}"
    if loc == "en" and rng.random() < 0.3:
        return f"{line} {u}"
    return f"{line}, {u}"


def street_unit(loc):
    return street(loc, with_unit=True)


def address_full(loc):
    a = ADDRESS[loc]
    line = street(loc)
    t, pc = town(loc), a.postal_code()
    if loc == "en":
        return f"{line}, {t}, {region_abbr(loc)} {pc}"
    if loc == "en-gb":
        return f"{line}, {t} {pc}"
    if loc == "en-au":
        return f"{line}, {t} {region_abbr(loc)} {pc}"
    if loc == "en-ca":
        return f"{line}, {t}, {region_abbr(loc)} {pc}"
    if loc in ("de", "fr"):
        return f"{line}, {pc} {t}"
    return f"{line}, {pc} {t}"


def dob(loc):
    d = DATES.date(start=1942, end=2007)
    day, month, year = d.day, d.month, d.year
    if loc == "en":
        styles = [f"{MONTHS[month - 1]} {day}, {year}", f"{month:02d}/{day:02d}/{year}", f"{month}/{day}/{year}",
                  f"{year}-{month:02d}-{day:02d}"]
    elif loc == "de":
        styles = [f"{day:02d}.{month:02d}.{year}", f"{day}.{month}.{year}", f"{year}-{month:02d}-{day:02d}"]
    else:
        styles = [f"{day} {MONTHS[month - 1]} {year}", f"{day:02d}/{month:02d}/{year}", f"{year}-{month:02d}-{day:02d}",
                  f"{day} {MONTHS[month - 1][:3]} {year}"]
    return rng.choice(styles)


def password(loc):
    return PERSON[loc].password(length=rng.randint(9, 14))


# Look-alikes for the sentences without personal data (labelled None, never a span).
def version(loc):
    return DEV.version()


def isbn(loc):
    return CODE.isbn()


def ean(loc):
    return CODE.ean()


def price(loc):
    return f"{FIN.price(minimum=3, maximum=2500):.2f}"


def clock(loc):
    t = DATES.time()
    return f"{t.hour:02d}:{t.minute:02d}"


def future_date(loc):
    d = DATES.date(start=2026, end=2027)
    return rng.choice([f"{d.year}-{d.month:02d}-{d.day:02d}", f"{MONTHS[d.month - 1]} {d.day}"])


def ticker(loc):
    while True:
        value = FIN.stock_ticker()
        if value.isalpha():          # the list holds a few like "IRET^C"
            return value


def cpu(loc):
    return HW.cpu()


def ram(loc):
    return HW.ram_size()


def port(loc):
    return str(INTERNET.port())


def os_name(loc):
    return DEV.os()


def lang(loc):
    return DEV.programming_language()


def licence(loc):
    return DEV.software_license()


def phone_model(loc):
    return HW.phone_model()


def resolution(loc):
    return HW.resolution()


def count(loc):
    return str(rng.randint(2, 40))


def order_no(loc):
    return CODE.pin(mask="########")


PLACEHOLDERS = {
    # name: (entity type or None, generator)
    "name": ("person", full_name),
    "name2": ("person", full_name),
    "name_lower": ("person", lambda loc: full_name(loc).lower()),
    "given": ("person", given_name),
    "given2": ("person", given_name),
    "surname": ("person", surname),
    "email": ("email", email),
    "email2": ("email", email),
    "phone": ("phone", phone),
    "card": ("creditCard", card),
    "ipv4": ("ipAddress", ipv4),
    "ipv4b": ("ipAddress", ipv4),
    "ipv6": ("ipAddress", ipv6),
    "ip": ("ipAddress", ip_any),
    "street": ("streetAddress", street),
    "street_unit": ("streetAddress", street_unit),
    "address_full": ("streetAddress", address_full),
    "city": ("location", town),
    "city2": ("location", town),
    "region": ("location", region),
    "country": ("location", country),
    "dob": ("dateOfBirth", dob),
    "password": ("apiKey", password),
    "version": (None, version), "version2": (None, version), "isbn": (None, isbn), "ean": (None, ean),
    "price": (None, price), "time": (None, clock), "date": (None, future_date), "ticker": (None, ticker),
    "cpu": (None, cpu), "ram": (None, ram), "port": (None, port), "os": (None, os_name), "lang": (None, lang),
    "licence": (None, licence), "phone_model": (None, phone_model), "resolution": (None, resolution),
    "n": (None, count), "order": (None, order_no),
}

# ---------------------------------------------------------------- templates (written for this file)

TEMPLATES = [
    # bookings
    "Can you book a table for four under the name {name} at 7:30 tonight?",
    "Please reserve a double room for {name} from the 14th to the 17th; contact number {phone}.",
    "I need to change my flight booking. Passenger {name}, date of birth {dob}, and send the confirmation to {email}.",
    "book me a taxi from {street} to the airport at 5am, my mobile is {phone}",
    "Please confirm the dentist appointment for {name} next Thursday and text the reminder to {phone}.",
    # deliveries
    "My parcel was supposed to arrive at {address_full} yesterday but tracking still says in transit. What should I write to the courier?",
    "Write a polite note for the courier: if I'm not home, leave the package with my neighbour at {street_unit}.",
    "Change the delivery address on order 48213 to {address_full}, please.",
    "The furniture store needs a delivery address and a phone number: {street_unit}, {phone}. Can you put that in a short email?",
    # travel
    "I'm flying from {city} to {city2} next Tuesday, what should I pack?",
    "What are some good day trips from {city}? I'm staying near {street}.",
    "We're moving from {country} to {city} in the spring; help me make a checklist.",
    "Plan a three-day itinerary in {region} for me and {given}.",
    "What's the weather usually like in {city} in October?",
    "I grew up in {region}, {country}, and now live in {city}. Help me write a short bio.",
    "Find me a vet near {city}, ideally one that's open on Sundays.",
    # support
    "Hi, my account email is {email} and I can't reset my password. Can you draft a message to support?",
    "The charge on my card {card} looks wrong; help me write a dispute letter to the bank.",
    "Our server at {ipv4} keeps dropping SSH connections after 60 seconds, any idea why?",
    "Why does ping to {ipv6} work while curl times out?",
    "My router shows {ipv4} as the WAN address and {ipv4b} as the gateway; is that double NAT?",
    "Customer {name} ({email}) says the refund never arrived. Draft a reply that apologises.",
    "fail2ban banned {ip}, how do I unban it?",
    # forms and structured data
    "Fill in this form for me. Name: {name}; Phone: {phone}; Address: {address_full}",
    "Check this for typos: full name {name}, born {dob}, email {email}.",
    "Format this as JSON: name={name}, phone={phone}, city={city}",
    "Turn this into a vCard: {name}, {phone}, {email}, {address_full}",
    "New tenant: {name}, DOB {dob}, previous address {address_full}.",
    "Please update my billing details: card {card}, billing address {street_unit}.",
    # e-mails to colleagues
    "Write an email to {name} asking for the Q3 numbers by Friday.",
    "Draft a short email to {given} saying the standup moved to 10:15.",
    "Reply to {email} and say I'll send the slides tonight.",
    "Can you make this sound friendlier? \"{given}, you still owe me the report.\"",
    "cc {name_lower} on the thread and ask about the budget",
    "forward the minutes to {email} and {email2} with a one-line summary",
    "Tell {name} and {name2} that the offsite is cancelled, and keep it upbeat.",
    # several entities
    "{name} lives at {address_full} and can be reached on {phone}; summarise this for the HR file.",
    "Charge the deposit to {card} and send the confirmation to {name} at {email}.",
    "Server {ipv4} belongs to {name}; write a ticket asking {given} to rotate its certificates.",
    # names at sentence start
    "{name} asked whether the invoice can be split in two.",
    "{given} and {given2} are organising the offsite; what should they book?",
    "{name} called about the leaking roof. What do I reply?",
    # lower-case names
    "hey, i'm {name_lower}, can you help me write a cover letter?",
    "remind me to call {name_lower} tomorrow on {phone}",
    # titles
    "Please schedule a follow-up with Dr. {surname} for next week.",
    "Start the letter with \"Dear {name},\" and keep it under 200 words.",
    # phone numbers
    "Text me at {phone} when you land.",
    "The landlord's number is {phone}; can you write a message asking about the deposit?",
    "Is {phone} a mobile or a landline?",
    # e-mails
    "Is {email} a valid email address?",
    "Send the receipt to {email} rather than my work address.",
    # cards
    "I paid with {card} but the hotel charged me twice.",
    "Which bank issued the card {card}?",
    "Card {card}, exp 08/29. Why does the payment keep failing?",
    # IP addresses
    "Add {ipv4} to the allowlist for the staging database.",
    "Allow {ipv6} through the firewall on port 443.",
    # dates of birth
    "I was born on {dob}, how old will I be in 2030?",
    "My daughter's date of birth is {dob}; which school year does she start in?",
    "DOB {dob}. Please check that it matches the passport.",
    "{name} (born {dob}) is applying for the apartment; write a reference letter.",
    # addresses with units
    "Our new office is at {address_full}; please update the email signature.",
    "I'm renting a flat at {street_unit} and the heating is broken. Draft a message to the agency.",
    # passwords
    "My wifi password is {password}, can you lay it out nicely on a card for guests?",
    "Log into the router with admin and password {password}, then tell me which menu has port forwarding.",
]

NEGATIVE_TEMPLATES = [
    "What's the difference between version {version} and {version2} of the SDK?",
    "The ISBN {isbn} doesn't show up in the library catalogue; is the checksum wrong?",
    "Barcode {ean} scans as a different product. How do EAN check digits work?",
    "Convert {price} US dollars to euros at today's rate.",
    "Remind me at {time} to join the call.",
    "Is {ticker} a sensible long-term investment?",
    "My laptop has an {cpu} and {ram} of RAM; can it run the game?",
    "Order #{order} arrived with {n} items missing; how do I ask for the rest?",
    "Open port {port} on the load balancer and set the idle timeout to 30 seconds.",
    "Explain {licence} in plain English.",
    "How do I install {lang} on {os}?",
    "The release of v{version} is planned for {date} at {time}; write the announcement.",
    "The {phone_model} with a {resolution} screen costs {price}; is that a fair price?",
    "Summarise the changes between release {version} and {version2} in three bullet points.",
    "The Kubernetes pod restarted {n} times and the logs say Connection Refused from the Payment Service.",
]

PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)\}")


def render(template, loc):
    text, spans, last = "", [], 0
    for m in PLACEHOLDER.finditer(template):
        text += template[last:m.start()]
        kind, gen = PLACEHOLDERS[m.group(1)]
        value = gen(loc)
        if kind is not None:
            spans.append({"start": len(text), "end": len(text) + len(value), "type": kind, "_value": value})
        text += value
        last = m.end()
    text += template[last:]
    for span in spans:
        assert text[span["start"]:span["end"]] == span.pop("_value"), (template, text)
        assert text[span["start"]:span["end"]].strip() == text[span["start"]:span["end"]], text
    return {"text": text, "spans": spans}


def main():
    samples = []
    for i in range(SENTENCES_WITH_PII):
        loc = rng.choices(LOCALES, LOCALE_WEIGHTS)[0]
        samples.append(render(TEMPLATES[i % len(TEMPLATES)], loc))
    for i in range(SENTENCES_WITHOUT_PII):
        loc = rng.choices(LOCALES, LOCALE_WEIGHTS)[0]
        sample = render(NEGATIVE_TEMPLATES[i % len(NEGATIVE_TEMPLATES)], loc)
        assert not sample["spans"]
        samples.append(sample)
    rng.shuffle(samples)
    out = sys.stdout
    for sample in samples:
        out.write(json.dumps(sample, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

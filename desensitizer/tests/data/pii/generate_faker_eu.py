#!/usr/bin/env python3
"""Tuning corpus for continental-European values: Faker's de/fr/es/it/nl/pt locales in
chat-prompt templates written for this file.

Why: the held-out mimesis corpus (a different generator) has German, French and Spanish
values, and its leaks (phones in other countries' formats, street lines, names, places
named in passing, passwords) are kinds the English-only tuning splits never showed. This
file is where such errors may be read: **a tuning split**. Its templates are new (neither
generate.py's, presidio-research's nor generate_mimesis.py's, which was not read), its
values come from Faker, not mimesis.

Labelling conventions (as the other corpora): a whole postal address from `{{address}}`
(street line, postcode, town; Faker may break it over lines) is one `streetAddress`; a
street line alone (`{{street}}`) is a `streetAddress` and a town next to it a `location`;
towns and countries are `location` wherever they appear; passwords are `apiKey`; a
person's name is `person` without a leading title.

    pip install --target /tmp/fk faker==40.63.0
    PYTHONPATH=/tmp/fk python3 generate_faker_eu.py --split tune > corpus_faker_eu_tune.jsonl

`--split heldout` uses the other half of the templates (by SHA-256 parity), other seed;
written once tuning was over, scored only.
"""

import hashlib
import json
import random
import re
import sys

from faker import Faker

LOCALES = ["de_DE", "de_AT", "fr_FR", "fr_CH", "es_ES", "it_IT", "nl_NL", "pt_PT"]

SPLITS = {
    # name: (template parity, fills per template, seed)
    "tune": (0, 5, 51120601),
    "heldout": (1, 5, 82736455),
}

TEMPLATES = [
    # Phones, written the way people type them.
    "Call me at {{phone}} after six, I'm busy before.",
    "My number is {{phone}} if the delivery driver can't find the door.",
    "Can you text {{first_name}} at {{phone}} that I'll be late?",
    "Tel. {{phone}} – please confirm the booking for two.",
    "The hotel's front desk gave me {{phone}}; is that a local number?",
    "Reach me on {{phone}} or write to {{email}}.",
    "Write a short voicemail greeting for {{phone}}.",
    "Mobile: {{phone}}\nName: {{name}}\nCan you format this as a contact card?",
    "I missed a call from {{phone}} twice today, should I call back?",
    "Please add {{name}} ({{phone}}) to the guest list.",
    # Whole postal addresses and street lines.
    "Send the parcel to {{address}} please.",
    "My new address is:\n{{address}}\nCan you write a change-of-address letter?",
    "I live at {{street}} in {{city}}, which bus goes to the airport?",
    "Is there a pharmacy open near {{street}}?",
    "Shipping address: {{street}}, {{city}}",
    "We're meeting at {{street}} at 8 pm, how do I get there from the station?",
    "{{name}}\n{{address}}\nTranslate this address block into English conventions.",
    "Draft a complaint to my landlord about the heating at {{street}}.",
    "Could you check whether {{street}} is in a quiet neighbourhood?",
    "The party is at my place, {{street}}, bring something to drink!",
    # Places named in passing.
    "Is it going to rain in {{city}} this weekend?",
    "What's the fastest train from {{city}} to {{city}}?",
    "I grew up near {{city}} and I'm homesick, any recipes from the region?",
    "{{city}} or {{city}} for a long weekend in May?",
    "My sister just moved to {{city}}, what should she see first?",
    "Plan a three-day road trip starting in {{city}}.",
    "How far is {{city}} from the coast?",
    "We drove through {{city}} yesterday and the old town was lovely.",
    "Best time of year to visit {{country}}?",
    "I was born in {{city}}, {{country}}, on {{date_of_birth}}.",
    # People.
    "{{name}} asked me to book a table for four tonight.",
    "Dear {{name}},\nthank you for your letter. Please rewrite this more formally.",
    "Tell {{first_name}} that the meeting moved to Thursday.",
    "My colleague {{last_name}} keeps interrupting me, how do I handle it?",
    "Write a birthday message for {{first_name}} from me and {{first_name}}.",
    "Summarise this: {{name}} called about the invoice and wants a refund.",
    "Is {{name}} a common name where you are?",
    "Forward this to {{name}} and cc {{email}}.",
    # Passwords and secrets.
    "The wifi password is {{password}}, can you make a QR code text for it?",
    "my login is {{user_name}} and password {{password}}, why does it fail?",
    "I set {{password}} as my new password, is it strong enough?",
    "Password: {{password}}\nUser: {{email}}\nWhy can't I sign in?",
    "Remind me that the safe code for the office is {{password}}.",
    # Other identifiers, in local formats.
    "My IBAN is {{iban}}, can I receive a transfer from abroad?",
    "Pay with card {{credit_card_number}}, expiry next year.",
    "The router at {{ipv4}} stopped answering, what should I check?",
    "Date of birth {{date_of_birth}} – am I old enough for the senior ticket?",
    "I'm {{name}}, born {{date_of_birth}}, and I need a new passport appointment.",
    # No personal data, with look-alikes.
    "Version 12.4.1 broke the build on 3 of 8 machines, order 4471-2290 is delayed.",
    "The train leaves at 14:35 from platform 7 and costs 23,50 EUR.",
    "Convert 1 250 000 to words in French, and 0,75 into a fraction.",
    "Which is older, the Hauptbahnhof or the Rathaus?",
    "Recommend a vegetarian paella recipe for 6 people.",
    "Explain the difference between Gouda and Emmental.",
    "What does 'Straße' mean, and how is it abbreviated?",
    "Error code 0x80070005 appears when I update, ticket #55102.",
]

PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")


def providers(seed):
    random.seed(seed)
    fake = Faker(LOCALES)
    Faker.seed(seed)
    rng = random.Random(seed)

    def one(method):
        # A multi-locale Faker picks the locale when the method is looked up: look it up
        # on every call so that each value gets its own locale.
        return lambda: getattr(fake, method)()

    def street():
        for _ in range(20):
            value = fake.street_address()
            if "\n" not in value:
                return value
        return value

    def password():
        special = rng.random() < 0.6
        return fake.password(length=rng.randint(8, 14), special_chars=special)

    return {
        "phone": ("phone", one("phone_number")),
        "email": ("email", one("email")),
        "address": ("streetAddress", one("address")),
        "street": ("streetAddress", street),
        "city": ("location", one("city")),
        "country": ("location", one("country")),
        "name": ("person", one("name")),
        "first_name": ("person", one("first_name")),
        "last_name": ("person", one("last_name")),
        "password": ("apiKey", password),
        "user_name": (None, one("user_name")),
        "iban": ("iban", one("iban")),
        "credit_card_number": ("creditCard", lambda: fake.credit_card_number()),
        "ipv4": ("ipAddress", lambda: fake.ipv4_public()),
        "date_of_birth": ("dateOfBirth", lambda: fake.date_of_birth().strftime(rng.choice(["%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d"]))),
    }


def strip_title(value):
    """Faker's de/fr/it names may start with a title ("Dr. ", "Prof. ", "Mme "): outside the span."""
    m = re.match(r"^((?:Dr|Prof|Mag|Dipl\.-Ing|Ing|Univ\.Prof|Mme|Mlle|M|Sr|Sra|Dott|Dr\.ssa|Sig|Sig\.ra|Herr|Frau)\.?\s+)+", value)
    return (value[m.end():], value[: m.end()]) if m else (value, "")


def render(template, typed):
    text, spans, last = "", [], 0
    for m in PLACEHOLDER.finditer(template):
        text += template[last:m.start()]
        kind, gen = typed[m.group(1)]
        value = gen()
        if kind == "person":
            value, title = strip_title(value)
            text += title
        if kind is not None:
            spans.append({"start": len(text), "end": len(text) + len(value), "type": kind})
        text += value
        last = m.end()
    text += template[last:]
    return {"text": text, "spans": spans}


def main():
    split = sys.argv[sys.argv.index("--split") + 1] if "--split" in sys.argv else "tune"
    parity, fills, seed = SPLITS[split]
    typed = providers(seed)
    for template in TEMPLATES:
        if hashlib.sha256(template.encode()).digest()[0] % 2 != parity:
            continue
        for _ in range(fills):
            print(json.dumps(render(template, typed), ensure_ascii=False))


if __name__ == "__main__":
    main()

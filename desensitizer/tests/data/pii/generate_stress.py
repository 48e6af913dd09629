#!/usr/bin/env python3
"""Stress corpus for two entity types, `phone` and `apiKey`: **a tuning split**.

Why: the other corpora have few phones outside the US/UK/EU formats and few secrets beyond
one or two vendor shapes, so the detectors' misses on those two types are rarely seen.
This file is where such errors may be read (tuning, not scoring). Its sentence templates
were written for it (neither generate.py's, presidio-research's, generate_faker_eu.py's nor
generate_mimesis.py's, which was not read; nor the training generator's, not read either)
as people write to a chatbot: support requests, debugging help, `.env` lines, curl
commands, YAML/JSON pasted into a sentence, stack traces, phones in German, French and
Spanish sentences. About 15 % of the sentences have no personal value, only look-alikes
(order and tracking numbers, versions, commit hashes in a code review, image digests,
ISBNs, timestamps, amounts, request ids): they measure false alarms.

Values:

- `phone`: example numbers of PyPI `phonenumbers` (libphonenumber's metadata) for 43
  regions and several number types (mobile, fixed line, toll free, shared cost, VoIP,
  UAN), with the trailing subscriber digits randomised and kept only where
  `phonenumbers.is_valid_number` accepts them (and the number type is unchanged); rendered
  as people type them: NATIONAL, INTERNATIONAL, E164, RFC 3966 (bare in prose, after
  `tel:` in links), dots or hyphens for spaces, no separators, `+44 (0)20 …`, `0044 …`,
  `(020) …`, NANP `1-800-…` / `+1 (201) …`, and extensions (`ext. 12`, `x123`, German
  `-12` Durchwahl).
- `apiKey`: vendor-shaped keys drawn from `random.Random(seed)` (so the file is
  reproducible; none of them is a live key): OpenAI, Anthropic, GitHub, GitLab, AWS key id
  and secret, Slack, Stripe, Google, Hugging Face, Twilio, SendGrid, Mailgun, npm, Azure,
  Datadog, JWTs, UUID tokens, base64/base64url and hex tokens; and passwords in several
  shapes (leet words, passphrases, word+digits, season+year, random), which the project
  files under `apiKey` too.

Labelling conventions: a span covers the value only, not the quotes, brackets or
punctuation around it, nor a label or scheme before it (`Bearer `, `tel:`, `key=`,
`Authorization: `); a phone's own brackets (`(020) 7946 0958`, `+44 (0)20 …`) and a
written extension (`ext. 12`, `x123`, `-12`) are inside its span; a password is `apiKey`.
Templates contain no other personal data (no names, e-mails, addresses, places, IPs), so
any other prediction is a false alarm.

`corpus_stress_tune.jsonl` (the defaults): 600 sentences, 90 of them without a span;
568 spans: phone 277 (27 with an extension), apiKey 291 (215 keys, 76 passwords); 185
templates (70 phone, 57 key, 20 password, 8 mixed, 30 look-alike), each used 3-4 times.
Reproduce byte for byte (Python 3.11, phonenumbers 9.0.43, sha256
`dc21cc0b23ee3efbc7c17cc6f40944279592485bfc1098c4b5c0fe02bba10469`):

    python3 -m venv /tmp/stress-venv && /tmp/stress-venv/bin/pip install phonenumbers==9.0.43
    /tmp/stress-venv/bin/python generate_stress.py > corpus_stress_tune.jsonl

Options: `--seed N` (default 7), `--count N` sentences (default 600). Output is a function
of the seed, the count and the phonenumbers version only.

Licences: `phonenumbers` (python-phonenumbers, David Drysdale; a port of Google's
libphonenumber and its metadata) is Apache License 2.0; the example numbers it returns
come from that metadata. Templates, word lists and key shapes are this project's own.
"""

import argparse
import base64
import json
import random
import re
import string
import sys

import phonenumbers
from phonenumbers import PhoneNumberFormat as Fmt
from phonenumbers import PhoneNumberType as PT

# ---------------------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------------------

REGIONS = [
    "US", "CA", "GB", "AU", "NZ", "IE", "IN", "DE", "AT", "CH", "FR", "BE", "NL", "ES",
    "IT", "PT", "SE", "NO", "DK", "FI", "PL", "CZ", "GR", "HU", "BR", "MX", "AR", "JP",
    "KR", "CN", "HK", "SG", "ZA", "NG", "KE", "AE", "IL", "TR", "RU", "UA", "PH", "ID",
    "RO",
]

# Number types and how often each is drawn (where the region has an example).
NUMBER_TYPES = [
    (PT.MOBILE, 45),
    (PT.FIXED_LINE, 35),
    (PT.TOLL_FREE, 10),
    (PT.SHARED_COST, 3),
    (PT.VOIP, 3),
    (PT.UAN, 4),
]

# Regions where people write the trunk prefix as "(0)" after the country code.
PAREN_ZERO = {"GB", "IE", "DE", "AT", "CH", "NL", "BE", "FR", "AU", "NZ", "ZA", "SE", "FI"}
NANP = {"US", "CA"}

EXTENSION_STYLES = [" ext. {}", " ext {}", " x{}", " x {}", " ext.{}", " extension {}", "x{}"]


def example_numbers():
    """(region, type) -> example number, for every pair libphonenumber has one for."""
    table = {}
    for region in REGIONS:
        for kind, _ in NUMBER_TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                table[(region, kind)] = number
    return table


class Phones:
    def __init__(self, rng):
        self.rng = rng
        self.examples = example_numbers()

    def number(self, regions):
        rng = self.rng
        region = rng.choice(regions)
        kinds = [(k, w) for k, w in NUMBER_TYPES if (region, k) in self.examples]
        kind = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        example = self.examples[(region, kind)]
        nsn = phonenumbers.national_significant_number(example)
        cc = example.country_code
        # Randomise the subscriber digits, keeping a leading prefix (area / operator code):
        # two digits first, more when the region's patterns keep refusing.
        for tries in range(120):
            keep = min(len(nsn) - 2, 2 + tries // 20)
            candidate = nsn[:keep] + "".join(rng.choice(string.digits) for _ in nsn[keep:])
            try:
                parsed = phonenumbers.parse("+%d%s" % (cc, candidate), None)
            except phonenumbers.NumberParseException:
                continue
            if (phonenumbers.is_valid_number(parsed)
                    and phonenumbers.is_valid_number_for_region(parsed, region)
                    and phonenumbers.number_type(parsed) == phonenumbers.number_type(example)):
                return region, parsed
        return region, example

    def render(self, regions, style="any", extension=None):
        """A phone as text; `style`: any, intl (with country code), tel (for a tel: link)."""
        rng = self.rng
        region, number = self.number(regions)
        national = phonenumbers.format_number(number, Fmt.NATIONAL)
        intl = phonenumbers.format_number(number, Fmt.INTERNATIONAL)
        e164 = phonenumbers.format_number(number, Fmt.E164)
        rfc = phonenumbers.format_number(number, Fmt.RFC3966)[len("tel:"):]
        cc = "+%d" % number.country_code
        prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix

        if style == "tel":
            return rng.choice([e164, rfc])

        variants = []  # (weight, text)
        if style == "any":
            variants += [(24, national), (6, re.sub(r"\D", "", national))]
            if region in NANP:
                digits = re.sub(r"\D", "", national)
                variants += [
                    (6, "%s.%s.%s" % (digits[:3], digits[3:6], digits[6:])),
                    (5, "%s-%s-%s" % (digits[:3], digits[3:6], digits[6:])),
                    (4, "1-%s-%s-%s" % (digits[:3], digits[3:6], digits[6:])),
                    (3, "1 (%s) %s-%s" % (digits[:3], digits[3:6], digits[6:])),
                ]
            else:
                variants += [
                    (5, separators(national, ".")),
                    (5, separators(national, "-")),
                    (5, slash(national)) if region in {"DE", "AT", "CH"} and " " in national else (0, national),
                ]
                head, _, tail = national.partition(" ")
                if prefix == "0" and tail and re.fullmatch(r"0\d{1,4}", head):
                    variants.append((4, "(%s) %s" % (head, tail)))
        variants += [(20, intl), (9, e164), (5, rfc), (4, separators(intl, ".")),
                     (5, separators(intl, "-")), (7, "00" + intl[1:]), (3, "00" + e164[1:])]
        if region in NANP:
            digits = re.sub(r"\D", "", national)
            variants.append((5, "+1 (%s) %s-%s" % (digits[:3], digits[3:6], digits[6:])))
        if region in PAREN_ZERO and intl.startswith(cc + " "):
            rest = intl[len(cc) + 1:]
            variants += [(5, "%s (0)%s" % (cc, rest)), (3, "%s (0) %s" % (cc, rest)),
                         (2, "%s(0)%s" % (cc, rest))]
        if " " in intl:
            variants.append((2, intl.replace(" ", "", 1)))  # "+4930 123456"
        variants = [(w, t) for w, t in variants if w > 0]
        text = rng.choices([t for _, t in variants], weights=[w for w, _ in variants])[0]

        if extension is None:
            extension = rng.random() < 0.06
        if extension:
            ext = str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(rng.randint(0, 3)))
            if region in {"DE", "AT"} and rng.random() < 0.5 and not text.startswith("00"):
                text += "-" + ext  # Durchwahl
            else:
                text += rng.choice(EXTENSION_STYLES).format(ext)
        return text


def separators(text, sep):
    """'(11) 96123-4567' -> '11.96123.4567' for sep '.'; keeps a leading '+'."""
    text = re.sub(r"[()]", "", text)
    text = re.sub(r"[\s\-]+", sep, text.strip())
    return text


def slash(national):
    """German-speaking habit: '030 123456' -> '030/123456'."""
    head, tail = national.split(" ", 1)
    return head + "/" + tail.replace(" ", "")


# ---------------------------------------------------------------------------------------
# API keys and passwords
# ---------------------------------------------------------------------------------------

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"


class Keys:
    def __init__(self, rng):
        self.rng = rng
        self.vendors = {
            "openai": self.openai,
            "anthropic": lambda: "sk-ant-api03-" + self.s(URLSAFE, 93) + "AA",
            "github": self.github,
            "gitlab": lambda: "glpat-" + self.s(URLSAFE, 20),
            "aws_id": lambda: self.rng.choice(["AKIA", "AKIA", "AKIA", "ASIA"]) + self.s(B32, 16),
            "aws_secret": lambda: self.s(B64, 40),
            "slack": self.slack,
            "stripe": lambda: self.rng.choice(["sk_live_", "sk_live_", "rk_live_", "sk_test_"]) + self.s(ALNUM, self.rng.choice([24, 34, 99])),
            "google": lambda: "AIza" + self.s(URLSAFE, 35),
            "hf": lambda: "hf_" + self.s(string.ascii_letters, 34),
            "twilio": lambda: "SK" + self.s(HEX, 32),
            "sendgrid": lambda: "SG." + self.s(URLSAFE, 22) + "." + self.s(URLSAFE, 43),
            "mailgun": lambda: "key-" + self.s(HEX, 32),
            "npm": lambda: "npm_" + self.s(ALNUM, 36),
            "azure": self.azure,
            "datadog": lambda: self.s(HEX, 32),
            "jwt": self.jwt,
            "uuid": self.uuid,
            "base64": self.base64,
            "hex": lambda: self.s(HEX if self.rng.random() < 0.8 else HEX.upper(), self.rng.choice([32, 40, 64])),
        }

    def s(self, alphabet, n):
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def openai(self):
        r = self.rng.random()
        if r < 0.5:
            return "sk-proj-" + self.s(URLSAFE, self.rng.choice([48, 64, 74])) + "T3BlbkFJ" + self.s(URLSAFE, self.rng.choice([20, 48, 74]))
        if r < 0.8:
            return "sk-" + self.s(ALNUM, 20) + "T3BlbkFJ" + self.s(ALNUM, 20)
        if r < 0.9:
            return "sk-svcacct-" + self.s(URLSAFE, 64)
        return "sk-" + self.s(ALNUM, 48)

    def github(self):
        r = self.rng.random()
        if r < 0.55:
            return "ghp_" + self.s(ALNUM, 36)
        if r < 0.8:
            return "github_pat_11" + self.s(string.ascii_uppercase + string.digits, 20) + "_" + self.s(ALNUM, 59)
        return self.rng.choice(["gho_", "ghs_", "ghu_"]) + self.s(ALNUM, 36)

    def slack(self):
        kind = self.rng.choice(["xoxb", "xoxb", "xoxp", "xapp"])
        if kind == "xapp":
            return "xapp-1-A" + self.s(string.ascii_uppercase + string.digits, 10) + "-" + self.s(string.digits, 13) + "-" + self.s(HEX, 64)
        return "%s-%s-%s-%s" % (kind, self.s(string.digits, 12), self.s(string.digits, 13), self.s(ALNUM, 24))

    def azure(self):
        if self.rng.random() < 0.6:
            return self.s(HEX, 32)
        return self.s(B64, 86) + "=="  # storage account key

    def jwt(self):
        header = b64url(json.dumps({"alg": self.rng.choice(["HS256", "RS256"]), "typ": "JWT"}, separators=(",", ":")))
        claims = {"sub": self.uuid(), "iat": self.rng.randint(1_650_000_000, 1_730_000_000)}
        claims["exp"] = claims["iat"] + 3600
        if self.rng.random() < 0.5:
            claims["scope"] = self.rng.choice(["read", "read write", "admin"])
        payload = b64url(json.dumps(claims, separators=(",", ":")))
        signature = self.s(URLSAFE, 43 if header.startswith("eyJhbGciOiJIUzI1NiI") else 342)
        return "%s.%s.%s" % (header, payload, signature)

    def uuid(self):
        h = self.s(HEX, 32)
        h = h[:12] + "4" + h[13:16] + self.rng.choice("89ab") + h[17:]
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def base64(self):
        n = self.rng.randint(20, 64)
        if self.rng.random() < 0.5:
            return self.s(URLSAFE, n)
        raw = bytes(self.rng.randrange(256) for _ in range(n * 3 // 4))
        return base64.b64encode(raw).decode()

    def key(self, vendors=None):
        names = vendors or sorted(self.vendors)
        return self.vendors[self.rng.choice(names)]()


def b64url(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


WORDS = [
    "apple", "anchor", "autumn", "badger", "banana", "battery", "beacon", "biscuit", "blanket",
    "blue", "bottle", "breeze", "bridge", "bucket", "butter", "cactus", "candle", "canyon",
    "carrot", "castle", "cement", "cherry", "cinnamon", "clover", "cobalt", "coffee", "copper",
    "correct", "cotton", "crystal", "dolphin", "dragon", "eagle", "ember", "falcon", "feather",
    "forest", "garden", "ginger", "glacier", "goblin", "granite", "guitar", "hammer", "harbor",
    "horse", "hunter", "island", "jigsaw", "kettle", "ladder", "lantern", "lemon", "marble",
    "meadow", "monkey", "noodle", "ocean", "orange", "oyster", "panda", "pencil", "pepper",
    "pickle", "pillow", "planet", "pocket", "puzzle", "rabbit", "rocket", "saddle", "shadow",
    "silver", "spider", "staple", "sunset", "teapot", "thunder", "tiger", "toaster", "tomato",
    "troubador", "tulip", "turtle", "velvet", "violet", "walnut", "whisper", "window", "winter",
    "yellow", "zebra",
]
SEASONS = ["Spring", "Summer", "Autumn", "Winter", "Welcome", "Password", "Letmein", "Monday",
           "January", "October", "Qwerty", "Dragon", "Football", "Sunshine"]
SYMBOLS = "!@#$%^&*-_+=?"
LEET = {"o": "0", "a": "4", "e": "3", "i": "1", "s": "5", "t": "7"}


class Passwords:
    def __init__(self, rng):
        self.rng = rng

    def __call__(self):
        rng = self.rng
        shape = rng.choices(["leet", "phrase", "word_digits", "season", "random", "two_words"],
                            weights=[18, 16, 14, 14, 22, 16])[0]
        if shape == "leet":  # Tr0ub4dor&3
            word = rng.choice(WORDS).capitalize()
            word = "".join(LEET[c] if c in LEET and rng.random() < 0.5 else c for c in word)
            return word + rng.choice(SYMBOLS) + str(rng.randint(0, 99))
        if shape == "phrase":  # correct-horse-battery
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 4))]
            sep = rng.choice(["-", "-", "_", ".", ""])
            if sep == "" or rng.random() < 0.3:
                words = [w.capitalize() for w in words]
            return sep.join(words) + (str(rng.randint(1, 99)) if rng.random() < 0.3 else "")
        if shape == "word_digits":  # hunter22
            return rng.choice(WORDS) + str(rng.randint(1, 9999))
        if shape == "season":  # Summer2024!
            return rng.choice(SEASONS) + str(rng.randint(2015, 2025)) + rng.choice(["!", "!", "#", "$", "", "!!"])
        if shape == "two_words":  # Blue$Kettle42
            return (rng.choice(WORDS).capitalize() + rng.choice(SYMBOLS) + rng.choice(WORDS).capitalize()
                    + str(rng.randint(1, 99)))
        n = rng.randint(10, 18)
        chars = [rng.choice(string.ascii_lowercase), rng.choice(string.ascii_uppercase),
                 rng.choice(string.digits), rng.choice(SYMBOLS)]
        chars += [rng.choice(ALNUM + SYMBOLS) for _ in range(n - 4)]
        rng.shuffle(chars)
        return "".join(chars)


# ---------------------------------------------------------------------------------------
# Look-alikes (no span)
# ---------------------------------------------------------------------------------------


class LookAlikes:
    def __init__(self, rng, keys):
        self.rng = rng
        self.keys = keys

    def d(self, n):
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def order(self):
        rng = self.rng
        return rng.choice([
            "%s-%s-%s" % (self.d(3), self.d(7), self.d(7)),
            "ORD-%d-%s" % (rng.randint(2019, 2025), self.d(6)),
            self.d(9),
            "W" + self.d(9),
            "#" + self.d(5),
        ])

    def version(self):
        rng = self.rng
        v = "%d.%d.%d" % (rng.randint(0, 24), rng.randint(0, 40), rng.randint(0, 30))
        return rng.choice([v, "v" + v, v + "-rc.%d" % rng.randint(1, 5), v + "+build.%s" % self.d(4)])

    def sha(self):
        return self.keys.s(HEX, self.rng.choice([7, 8, 12, 40, 40]))

    def digest(self):
        return "sha256:" + self.keys.s(HEX, 64)

    def integrity(self):
        raw = bytes(self.rng.randrange(256) for _ in range(64))
        return "sha512-" + base64.b64encode(raw).decode()

    def isbn(self):
        body = "978" + self.d(9)
        check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body)) % 10) % 10
        full = body + str(check)
        if self.rng.random() < 0.5:
            return full
        return "%s-%s-%s-%s-%s" % (full[:3], full[3], full[4:8], full[8:12], full[12])

    def timestamp(self):
        rng = self.rng
        y, mo, da = rng.randint(2021, 2025), rng.randint(1, 12), rng.randint(1, 28)
        h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        return rng.choice([
            "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, da, h, mi, s),
            "%04d-%02d-%02d %02d:%02d:%02d,%s" % (y, mo, da, h, mi, s, self.d(3)),
            str(rng.randint(1_650_000_000, 1_730_000_000)),
            str(rng.randint(1_650_000_000_000, 1_730_000_000_000)),
        ])

    def amount(self):
        rng = self.rng
        n = rng.randint(5, 250000)
        return rng.choice([
            "$%s.%02d" % (format(n, ","), rng.randint(0, 99)),
            "€ %s,%02d" % (format(n, ",").replace(",", "."), rng.randint(0, 99)),
            "%s.%02d USD" % (n, rng.randint(0, 99)),
            "£%d" % n,
        ])

    def tracking(self):
        rng = self.rng
        return rng.choice([
            "1Z" + self.keys.s(string.ascii_uppercase + string.digits, 6) + self.d(10),
            " ".join(self.d(4) for _ in range(5)) + " " + self.d(2),
            self.d(12),
            "JD" + self.d(18),
            "LX" + self.d(9) + "CN",
        ])

    def request_id(self):
        return self.keys.uuid()

    def ticket(self):
        rng = self.rng
        return rng.choice(["INC%s" % self.d(7), "CS%s" % self.d(8), "JIRA-%d" % rng.randint(100, 9999),
                           "#%d" % rng.randint(1000, 99999)])

    def part(self):
        rng = self.rng
        return "%s-%s-%s" % (self.keys.s(string.ascii_uppercase, 2), self.d(4), rng.choice(["BK", "WH", "SL", "01"]))


# ---------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------

GERMANIC = ["DE", "AT", "CH"]
FRENCH = ["FR", "BE", "CH"]
SPANISH = ["ES", "MX", "AR"]

# Placeholders: {{phone}}, {{phone@GB,IE}} (regions), {{phone_ext}} (with an extension),
# {{phone_intl}} (with the country code), {{phone_tel}} (E164/RFC 3966, after "tel:");
# {{key}}, {{key@github,gitlab}} (vendors); {{password}}; look-alikes without a span:
# {{order}}, {{version}}, {{sha}}, {{digest}}, {{integrity}}, {{isbn}}, {{timestamp}},
# {{amount}}, {{tracking}}, {{request_id}}, {{ticket}}, {{part}}.

PHONE_TEMPLATES = [
    "Call me on {{phone}} when you land.",
    "my number is {{phone}}",
    "My number is {{phone}}.",
    "You can reach the office at {{phone}} or {{phone}}.",
    "Can you write a polite text to send to {{phone}} saying I'll be ten minutes late?",
    "Is {{phone}} a mobile or a landline?",
    "I keep getting missed calls from {{phone}} — is this a known scam number?",
    "Please update my contact number to {{phone}} (the old one no longer works).",
    "Mobile: {{phone}}, landline: {{phone}} — which one should I put on the form?",
    "Format this number for a business card: {{phone}}",
    "The plumber's number is {{phone}}, can you draft a message asking for a quote?",
    "how do i dial {{phone}} from abroad??",
    "Our support hotline ({{phone}}) is down, write an apology banner for the website.",
    "For urgent issues call {{phone_ext}}.",
    "Reception is {{phone_ext}}, please add it to the email signature.",
    "Write an email signature with: Head of Sales | T {{phone}} | M {{phone}}",
    "Text me at {{phone}}!",
    "Does this look like a valid number to you? {{phone}}",
    "I need a WhatsApp message template for customers; our business number is {{phone_intl}}.",
    "Add this to my contacts: {{phone}} (work)",
    "The booking confirmation says to call {{phone}} to cancel. What should I say?",
    "Emergency contact for the school trip: {{phone}}.",
    "Why does my phone show {{phone}} as 'Unknown caller'?",
    "{{phone}} called me three times yesterday and hung up, should I block it?",
    "We moved! New office line: {{phone}}. Please rewrite the announcement to sound friendlier.",
    "call back pls on {{phone}} thx",
    "Fax: {{phone}} – do people still use fax for insurance claims?",
    "Validate this with a regex in Python: {{phone_intl}}",
    "Write a voicemail greeting that says 'you've reached {{phone}}, leave a message'.",
    "Is it cheaper to call {{phone_intl}} with roaming or over the hotel wifi?",
    "The landlord gave me {{phone}} but it goes straight to voicemail.",
    "Spreadsheet cell A2 contains {{phone}} and Excel turns it into a number, how do I keep the formatting?",
    "Our toll-free line {{phone}} should appear in the footer, can you write the HTML?",
    '<a href="tel:{{phone_tel}}">Call us</a> — why doesn\'t this link work on desktop?',
    "In the CSV the column 'phone' has values like {{phone}} and {{phone}}; write a normaliser.",
    "Please SMS the verification code to {{phone}} instead of e-mail.",
    "I'm abroad next week, forward my calls to {{phone_intl}}, how do I set that up on Android?",
    "Twilio says 'invalid To number' for {{phone}}, what's wrong with it?",
    "Is there a typo in this number: {{phone}}?",
    "Contact (after 6pm): {{phone}}",
    "Phone {{phone}}",
    "vCard line: TEL;TYPE=cell:{{phone}} — how do I add a second number?",
    "Summarise: customer rang from {{phone}}, wants a refund, call back before Friday.",
    "Reach the front desk on {{phone_ext}} or the night porter on {{phone}}.",
    "Can you turn {{phone}} into E.164 format?",
    "The delivery driver should ring {{phone}} (not the doorbell, the baby is sleeping).",
    "phone: '{{phone}}' in my YAML fails validation, why?",
    '{"name": "front desk", "phone": "{{phone}}"} — how do I read this in JavaScript?',
    "If nobody answers, try my partner's phone, {{phone}}.",
    "Rewrite more formally: ring me on {{phone}} whenever, cheers.",
    "Support ticket {{ticket}}: customer callback number {{phone}}.",
    "Order {{order}} hasn't arrived; the courier's hotline is {{phone}}, can you write what to say?",
    "Does the number {{phone_intl}} belong to a mobile network or a landline?",
    "my new mobile: {{phone}}. old one: {{phone}}. please update both forms",
    "Customer service ({{phone}}) told me the parcel is lost, what are my rights?",
    "Translate into Japanese: 'Please call {{phone}} to confirm your appointment.'",
    "Dial {{phone_intl}}, then press 2 for billing.",
    "Generate a QR code payload for calling {{phone_tel}}.",
    # German, French, Spanish sentences
    "Ruf mich bitte unter {{phone@DE,AT,CH}} an, ich bin ab 18 Uhr erreichbar.",
    "Meine Handynummer ist {{phone@DE,AT,CH}}.",
    "Die Praxis erreichen Sie unter {{phone@DE,AT,CH}} oder {{phone@DE,AT,CH}}.",
    "Tel.: {{phone@DE,AT}} – bitte formuliere daraus eine Abwesenheitsnotiz.",
    "Kannst du mir helfen, eine SMS an {{phone@DE,AT,CH}} zu schreiben?",
    "Appelle-moi au {{phone@FR,BE,CH}} demain matin.",
    "Mon numéro de portable est le {{phone@FR,BE,CH}}, peux-tu l'ajouter au formulaire ?",
    "Le cabinet est joignable au {{phone@FR,BE}} (standard) ou au {{phone@FR,BE}}.",
    "Llámame al {{phone@ES,MX,AR}} cuando llegues.",
    "Mi número es {{phone@ES,MX,AR}}, ¿puedes redactar un mensaje para la inmobiliaria?",
    "El teléfono de la oficina es {{phone@ES,MX,AR}}; atendemos de 9 a 14 h.",
    "¿Es correcto este número de WhatsApp: {{phone@ES,MX,AR}}?",
]

KEY_TEMPLATES = [
    "here's my key {{key}}, why do I get 401?",
    "Here is my API key: {{key}}. Can you check what's wrong with the request?",
    "export OPENAI_API_KEY={{key@openai}}",
    "OPENAI_API_KEY={{key@openai}} in my .env but python-dotenv doesn't load it, why?",
    "My .env:\nANTHROPIC_API_KEY={{key@anthropic}}\nDEBUG=true\nWhy does the SDK still say the key is missing?",
    'curl https://api.openai.com/v1/models -H "Authorization: Bearer {{key@openai}}" returns 401, help',
    "curl -H 'Authorization: Bearer {{key}}' https://api.example.com/v2/items gives me 403.",
    "curl https://api.stripe.com/v1/charges -u {{key@stripe}}: — what does the colon at the end do?",
    "client = Anthropic(api_key=\"{{key@anthropic}}\")  # is hardcoding this ok for a quick test?",
    "openai.api_key = '{{key@openai}}' stopped working after I upgraded the library.",
    "I accidentally committed {{key@github}} to a public repo, what do I do now?",
    "git push fails with my token {{key@github}}, it says 'Permission denied'.",
    "GITLAB_TOKEN={{key@gitlab}} — which scopes does it need to push to the registry?",
    "Is {{key@gitlab}} a project token or a personal one?",
    "AWS_ACCESS_KEY_ID={{key@aws_id}}\nAWS_SECRET_ACCESS_KEY={{key@aws_secret}}\nwhy does boto3 say SignatureDoesNotMatch?",
    "My access key is {{key@aws_id}} and the secret is {{key@aws_secret}}, can you write the ~/.aws/credentials file?",
    "aws_secret_access_key = {{key@aws_secret}}",
    "Slack bot token {{key@slack}} gets 'not_in_channel', what's missing?",
    "SLACK_BOT_TOKEN: {{key@slack}} — where do I put this in the Helm values?",
    "Stripe secret key {{key@stripe}} works in test but not in prod, why?",
    "STRIPE_SECRET_KEY={{key@stripe}} is set but webhook signature verification fails.",
    "https://maps.googleapis.com/maps/api/js?key={{key@google}}&libraries=places returns RefererNotAllowedMapError",
    "fetch(`https://www.googleapis.com/youtube/v3/search?part=snippet&key={{key@google}}`) is blocked by CORS",
    "huggingface-cli login --token {{key@hf}} says invalid token",
    "HF_TOKEN={{key@hf}} but the gated model still returns 401.",
    "Twilio API key SID {{key@twilio}} — is it safe to put in the frontend?",
    "SENDGRID_API_KEY={{key@sendgrid}} and emails are not sent, no error either.",
    "Mailgun api key {{key@mailgun}} gives 'Forbidden' on the EU region",
    "npm publish fails with //registry.npmjs.org/:_authToken={{key@npm}} in .npmrc",
    "Azure subscription key: {{key@azure}} — the Translator endpoint says 401.",
    "Ocp-Apim-Subscription-Key: {{key@azure}}",
    "DD_API_KEY={{key@datadog}} in the agent config, but no metrics show up.",
    "Decode this JWT for me: {{key@jwt}}",
    "Authorization: Bearer {{key@jwt}}\nThe server says the token expired, but I just got it?",
    "The backend logs show token={{key}} on every request, should I be worried?",
    "api_key: {{key}}",
    'config.json has {"api_key": "{{key}}", "timeout": 30} and the client ignores it',
    "settings.yaml:\n  provider: openai\n  api_key: \"{{key@openai}}\"\n  model: gpt-4o\nWhat's wrong with the indentation?",
    "[default]\ntoken = {{key}}\n— is this TOML valid?",
    "docker run -e API_TOKEN={{key}} myimage:latest exits immediately",
    "Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\nopenai.AuthenticationError: Error code: 401 - Incorrect API key provided: {{key@openai}}",
    "GET /v1/reports?access_token={{key}}&format=csv HTTP/1.1 returns 400",
    "webhook URL is https://hooks.example.com/ingest?token={{key}} — can I rotate it without downtime?",
    "requests.get(url, headers={'X-API-Key': '{{key}}'}) -> 403",
    "headers: { 'x-api-key': '{{key@anthropic}}', 'anthropic-version': '2023-06-01' }",
    "I generated a new token ({{key}}) but the old one still works, is that normal?",
    "Rotate these two: {{key@github}} and {{key@gitlab}}.",
    "kubectl create secret generic api --from-literal=token={{key}}",
    "Can you check if {{key}} looks like a valid token format?",
    "ERROR 2024 auth failed for key {{key}} (expired)",
    "The integration keeps failing with {{key}} — pasted straight from the dashboard.",
    "{{key@uuid}} is our tenant's integration token, how do I pass it to the SDK?",
    "Bearer {{key@base64}}",
    "This shared secret {{key@hex}} is used for HMAC, is 64 hex characters enough?",
    "Authorization: Basic {{key@base64}} — is base64 enough protection?",
    "Mein API-Schlüssel {{key}} funktioniert nicht mehr, was kann ich tun?",
    "Ma clé d'API ({{key}}) est refusée depuis ce matin.",
]

PASSWORD_TEMPLATES = [
    "The wifi password is {{password}}, can you make a sign for the guests?",
    "my password is {{password}} and it keeps saying incorrect",
    "pw: {{password}}",
    "Is {{password}} a strong password?",
    "passcode {{password}} for the conference bridge, please add it to the invite.",
    "I changed my password from {{password}} to {{password}}, but the app still uses the old one.",
    "DB_PASSWORD={{password}}",
    "mysql -u root -p{{password}} gives access denied",
    "database:\n  user: admin\n  password: {{password}}\nWhy does the migration fail?",
    '{"username": "admin", "password": "{{password}}"} returns 401 from the login endpoint.',
    "Password: {{password}}\nWhy can't I log in to the router page?",
    "Remember for me: the alarm code passcode is {{password}}.",
    "My Netflix password is {{password}}, can my kid guess it?",
    "Passwort: {{password}} – ist das sicher genug?",
    "Le mot de passe du wifi est {{password}}.",
    "La contraseña es {{password}}, ¿es segura?",
    "pwd={{password}} in the connection string, do I need to escape it?",
    "SMTP login works with password {{password}} in Thunderbird but not in my script.",
    "Generate a stronger version of {{password}}.",
    "admin / {{password}} — those are the default credentials on my NAS, how do I change them?",
]

MIXED_TEMPLATES = [
    "My number is {{phone}} and the account password is {{password}}, please reset it.",
    "Call {{phone}} if the deploy breaks; the API key is {{key}}.",
    "Staging uses {{key}}, prod uses {{key}} — how do I keep them apart in CI?",
    "Support asked for my phone ({{phone}}) and my API key {{key}}, is that normal?",
    "WIFI: {{password}} / Hotline: {{phone}}",
    "Release {{version}} needs the new key {{key}}; ping me on {{phone}} when done.",
    "Order {{order}} is fine, but the courier keeps calling {{phone}} at night.",
    "Build {{sha}} deployed; rotate {{key@github}} afterwards please.",
]

LOOKALIKE_TEMPLATES = [
    "My order {{order}} hasn't shipped yet, the total was {{amount}}.",
    "Upgrading from {{version}} to {{version}} broke the build, what changed?",
    "Reviewing the pull request: commit {{sha}} reverts the cache change, and {{sha}} reintroduces it. Which one should I keep?",
    "git cherry-pick {{sha}} fails with a conflict in src/main.rs",
    "The docker image digest is {{digest}}, how do I pin it in the compose file?",
    "package-lock.json shows integrity {{integrity}} but npm ci says EINTEGRITY.",
    "Can you find the book with ISBN {{isbn}}?",
    "Log line: {{timestamp}} INFO request {{request_id}} completed in 231 ms",
    "Convert the Unix timestamp {{timestamp}} to a readable date.",
    "Tracking number {{tracking}} has been 'in transit' for two weeks.",
    "Invoice total {{amount}}, due in 30 days — can you write a payment reminder?",
    "Ticket {{ticket}} was closed without a fix, how do I escalate?",
    "What's the difference between {{version}} and {{version}} of the library?",
    "Part number {{part}} is out of stock, suggest an alternative.",
    "The request id {{request_id}} appears in both error logs, what does it mean?",
    "Compute 15 % of {{amount}}.",
    "Sort these order numbers: {{order}}, {{order}}, {{order}}.",
    "Between {{timestamp}} and {{timestamp}} the CPU stayed at 100 %.",
    "Is ISBN {{isbn}} the hardcover or the paperback?",
    "In code review: `git show {{sha}}` shows the migration, but `git log` on main doesn't include {{sha}}.",
    "My parcel {{tracking}} shows 'held at customs', what fees should I expect?",
    "The build artifact checksum {{digest}} doesn't match the release notes.",
    "Pin requests to {{version}} in requirements.txt?",
    "Explain what this means: HTTP 429, retry after 3600 seconds, job {{order}}.",
    "The invoice number is {{order}} and the amount {{amount}}; write the accounting entry.",
    "Refund for order {{order}} ({{amount}}) still hasn't arrived.",
    "Why does `npm audit` flag {{version}} but not {{version}}?",
    "The meeting moved from 14:30 to 16:00, room 4.12, ticket {{ticket}}.",
    "How many seconds between epoch {{timestamp}} and now?",
    "Our CI prints 'built {{sha}} in 4m12s' — can I shorten the hash to 7 characters safely?",
]


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{([a-z_]+)(?:@([A-Za-z0-9_,]+))?\}\}")


class Filler:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.phones = Phones(self.rng)
        self.keys = Keys(self.rng)
        self.password = Passwords(self.rng)
        self.look = LookAlikes(self.rng, self.keys)

    def value(self, name, arg):
        """(text, span type or None) for one placeholder."""
        if name.startswith("phone"):
            regions = arg.split(",") if arg else REGIONS
            if name == "phone":
                return self.phones.render(regions), "phone"
            if name == "phone_ext":
                return self.phones.render(regions, extension=True), "phone"
            if name == "phone_intl":
                return self.phones.render(regions, style="intl"), "phone"
            if name == "phone_tel":
                return self.phones.render(regions, style="tel"), "phone"
        if name == "key":
            return self.keys.key(arg.split(",") if arg else None), "apiKey"
        if name == "password":
            return self.password(), "apiKey"
        if hasattr(self.look, name):
            return getattr(self.look, name)(), None
        raise KeyError(name)

    def render(self, template):
        text, spans, last = "", [], 0
        for m in PLACEHOLDER.finditer(template):
            text += template[last:m.start()]
            value, kind = self.value(m.group(1), m.group(2))
            if kind is not None:
                spans.append({"start": len(text), "end": len(text) + len(value), "type": kind})
            text += value
            last = m.end()
        text += template[last:]
        ends = [0]
        for span in spans:  # self-check: in order, not overlapping, no padding
            value = text[span["start"]:span["end"]]
            assert span["start"] >= ends[-1] and value and value == value.strip(), (template, value)
            ends.append(span["end"])
        return {"text": text, "spans": spans}


def schedule(rng, count, negative_share=0.15):
    """Templates for `count` sentences: every template used about equally often."""
    positive = PHONE_TEMPLATES + KEY_TEMPLATES + PASSWORD_TEMPLATES + MIXED_TEMPLATES
    n_negative = round(count * negative_share)
    chosen = []
    for pool, n in ((positive, count - n_negative), (LOOKALIKE_TEMPLATES, n_negative)):
        picked = []
        while len(picked) < n:
            batch = list(pool)
            rng.shuffle(batch)
            picked += batch[: n - len(picked)]
        chosen += picked
    rng.shuffle(chosen)
    return chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--count", type=int, default=600)
    args = parser.parse_args()
    filler = Filler(args.seed)
    order = schedule(random.Random(args.seed + 1), args.count)
    out = sys.stdout
    for template in order:
        out.write(json.dumps(filler.render(template), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

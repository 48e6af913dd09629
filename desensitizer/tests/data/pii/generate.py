#!/usr/bin/env python3
"""Generates the labelled PII corpus scored by `netgpt desensitize eval`.

Standard library only, fixed seed: `python3 generate.py > corpus.jsonl` reproduces the
committed file byte for byte. Each line is {"text", "spans": [{"start", "end", "type"}]}
with offsets in code points (Python string indices) and types in the CRD's camelCase names.

Values are fake but valid where a checksum exists (Luhn cards, mod-97 IBANs, ISO 7064
Chinese resident IDs, SSA-rule SSNs). The name lists here are written independently of
the detector's and deliberately include names it does not list, so that heuristic recall
is measured rather than assumed. Negative sentences carry look-alikes (dates, versions,
order numbers, non-Luhn card-shaped numbers) to measure precision.
"""

import json
import random
import string
import sys
import uuid

rng = random.Random(20261126)

# ---------------------------------------------------------------- values

FIRST = ["James", "Maria", "Wei", "Priya", "Thomas", "Sofia", "Ahmed", "Emma", "Lucas",
         "Olivia", "Daniel", "Chloe", "Kevin", "Fatima", "Peter", "Hannah", "Carlos",
         "Laura", "Michael", "Elena", "Zelda", "Thiago", "Ingrid", "Kwame", "Anneliese",
         "Bartholomew", "Saoirse", "Oluwaseun", "Mateo", "Nadia"]
LAST = ["Smith", "Gonzalez", "Chen", "Patel", "Müller", "Rossi", "Nguyen", "Johnson",
        "Kowalski", "Okafor", "Brown", "Tanaka", "Silva", "Dubois", "Andersson", "Murphy",
        "Haddad", "Ivanova", "Quist", "Adebayo"]
HONORIFICS = ["Mr.", "Mrs.", "Ms.", "Dr.", "Prof."]
CN_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭林何高罗"
CN_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "小明", "建华", "秀英",
            "志强", "海燕", "晓东", "雨桐", "子涵", "梓萱", "浩然"]
CITIES = ["Springfield", "Portland", "Austin", "Denver", "Boston", "Seattle", "Leeds",
          "Manchester", "Hangzhou", "Shenzhen", "Chengdu", "Lyon", "Munich", "Rotterdam"]
STATES = ["OR", "TX", "CO", "MA", "WA", "CA", "NY", "IL"]
STREETS = ["Oak", "Maple", "Evergreen", "Cedar", "Park", "Washington", "Lake", "Hill",
           "Sunset", "Elm", "Willow", "Baker", "Church", "Highland"]
SUFFIXES = ["Street", "Avenue", "Road", "Lane", "Drive", "Boulevard", "Court", "Way",
            "Terrace", "Place", "St", "Ave", "Rd"]
CN_CITIES = [("北京市", ["朝阳区", "海淀区", "东城区"]), ("上海市", ["浦东新区", "徐汇区", "静安区"]),
             ("杭州市", ["西湖区", "滨江区"]), ("深圳市", ["南山区", "福田区"]), ("成都市", ["武侯区", "锦江区"])]
CN_ROADS = ["建国路", "中山路", "人民路", "文三路", "科技园南路", "解放大道", "长安街", "世纪大道"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "corp.example.co.uk", "163.com",
           "qq.com", "outlook.example.com"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def digits(n):
    return "".join(rng.choice(string.digits) for _ in range(n))


def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def luhn_ok(number):
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card():
    kind = rng.choice(["visa", "mc", "amex", "disc"])
    if kind == "amex":
        n = luhn_complete(rng.choice(["34", "37"]), 15)
        groups = [n[:4], n[4:10], n[10:]]
    else:
        prefix = {"visa": "4", "mc": rng.choice(["51", "52", "53", "54", "55"]), "disc": "6011"}[kind]
        n = luhn_complete(prefix, 16)
        groups = [n[i:i + 4] for i in range(0, 16, 4)]
    sep = rng.choice(["", " ", "-"])
    return sep.join(groups)


IBAN_FORMATS = {"DE": "n18", "GB": "a4n14", "FR": "n10c11n2", "NL": "a4n10", "ES": "n20", "IT": "a1n10c12"}


def iban():
    country = rng.choice(list(IBAN_FORMATS))
    spec = IBAN_FORMATS[country]
    bban = ""
    i = 0
    while i < len(spec):
        kind = spec[i]
        j = i + 1
        while j < len(spec) and spec[j].isdigit():
            j += 1
        count = int(spec[i + 1:j])
        pool = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}[kind]
        bban += "".join(rng.choice(pool) for _ in range(count))
        i = j
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    compact = f"{country}{check:02d}{bban}"
    if rng.random() < 0.6:
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    return compact


def ipv4():
    return f"{rng.choice([23, 45, 81, 103, 151, 185, 198, 203, 10, 172, 192])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def ipv6():
    groups = [f"{rng.randint(0, 0xffff):x}" for _ in range(8)]
    groups[0] = rng.choice(["2001", "2a02", "fe80", "2600"])
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[5:])
    return ":".join(groups)


PROVINCES = ["11", "12", "31", "32", "33", "37", "44", "51", "61", "65"]
CN_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def cn_id():
    body = (rng.choice(PROVINCES) + digits(4) + f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + digits(3))
    check = (12 - sum(int(c) * w for c, w in zip(body, CN_WEIGHTS)) % 11) % 11
    return body + ("X" if check == 10 else str(check))


def ssn():
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def phone():
    style = rng.choice(["cn_intl", "cn_mobile", "cn_land", "us", "us_intl", "uk", "uk_mobile", "fr", "de"])
    if style == "cn_intl":
        m = "1" + rng.choice("3456789") + digits(9)
        return rng.choice([f"+86 {m[:3]} {m[3:7]} {m[7:]}", f"+86-{m}", f"+86{m}"])
    if style == "cn_mobile":
        m = "1" + rng.choice("3456789") + digits(9)
        return rng.choice([m, f"{m[:3]}-{m[3:7]}-{m[7:]}", f"{m[:3]} {m[3:7]} {m[7:]}"])
    if style == "cn_land":
        return f"0{rng.choice(['10', '21', '755', '571'])}-{rng.choice('2345678')}{digits(7)}"
    area = f"{rng.randint(2, 9)}{digits(2)}"
    exch = f"{rng.randint(2, 9)}{digits(2)}"
    line = digits(4)
    if style == "us":
        return rng.choice([f"({area}) {exch}-{line}", f"{area}-{exch}-{line}", f"{area}.{exch}.{line}"])
    if style == "us_intl":
        return f"+1 {area}-{exch}-{line}"
    if style == "uk":
        return rng.choice([f"+44 20 {digits(4)} {digits(4)}", f"020 {digits(4)} {digits(4)}"])
    if style == "uk_mobile":
        return f"07{digits(3)} {digits(6)}"
    if style == "fr":
        return f"+33 6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}"
    return f"+49 30 {digits(8)}"


def token(n, pool=string.ascii_letters + string.digits):
    return "".join(rng.choice(pool) for _ in range(n))


def api_key():
    style = rng.choice(["openai", "github", "aws", "slack", "jwt", "google"])
    if style == "openai":
        return "sk-proj-" + token(32)
    if style == "github":
        return "ghp_" + token(36)
    if style == "aws":
        return "AKIA" + token(16, string.ascii_uppercase + string.digits)
    if style == "slack":
        return f"xoxb-{digits(12)}-{digits(12)}-{token(24)}"
    if style == "google":
        return "AIza" + token(35)
    b64 = string.ascii_letters + string.digits + "-_"
    return "eyJ" + token(20, b64) + ".eyJ" + token(30, b64) + "." + token(43, b64)


def password():
    return token(rng.randint(8, 14), string.ascii_letters + string.digits + "!#$%&*")


def person():
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def cn_name():
    return rng.choice(CN_SURNAMES) + rng.choice(CN_GIVEN)


def address():
    style = rng.choice(["us", "us", "uk", "de", "cn", "cn"])
    if style == "us":
        base = f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
        if rng.random() < 0.3:
            base += f", Apt {rng.randint(1, 40)}{rng.choice('ABCD')}"
        if rng.random() < 0.6:
            base += f", {rng.choice(CITIES[:6])}, {rng.choice(STATES)} {digits(5)}"
        return base
    if style == "uk":
        return f"{rng.randint(1, 300)} {rng.choice(STREETS)} Road, London SW1A {rng.randint(1, 9)}AA"
    if style == "de":
        return f"{rng.choice(['Haupt', 'Linden', 'Berg', 'Schiller'])}straße {rng.randint(1, 120)}, {digits(5)} {rng.choice(['Berlin', 'Hamburg', 'Köln'])}"
    city, districts = rng.choice(CN_CITIES)
    return f"{city}{rng.choice(districts)}{rng.choice(CN_ROADS)}{rng.randint(1, 999)}号"


def dob():
    y, m, d = rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{MONTHS[m - 1]} {d}, {y}", f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {MONTHS[m - 1]} {y}"])


# ---------------------------------------------------------------- templates
# Each template is a list of pieces: plain text, or (type, generator).

E = lambda gen, kind: (kind, gen)  # noqa: E731

TEMPLATES = {
    "email": [
        ["Please send the invoice to ", E(lambda: f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower().replace('ü', 'u')}@{rng.choice(DOMAINS)}", "email"), " by Friday."],
        ["My email is ", E(lambda: f"{rng.choice(FIRST).lower()}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}", "email"), "."],
        ["请把报告发到", E(lambda: f"{token(6, string.ascii_lowercase)}@{rng.choice(DOMAINS)}", "email"), "，谢谢。"],
        ["cc ", E(lambda: f"{token(5, string.ascii_lowercase)}_{rng.randint(1, 9)}@{rng.choice(DOMAINS)}", "email"), " and keep it short"],
    ],
    "phone": [
        ["Call me at ", E(phone, "phone"), " after six."],
        ["我的电话是", E(phone, "phone"), "，有事联系。"],
        ["You can reach the office on ", E(phone, "phone"), "."],
        ["Phone: ", E(phone, "phone")],
        ["If the line drops, dial ", E(phone, "phone"), " again."],
    ],
    "creditCard": [
        ["Charge my card ", E(card, "creditCard"), " for the renewal."],
        ["卡号是", E(card, "creditCard"), "，请帮我查一下。"],
        ["The card number is ", E(card, "creditCard"), ", expiry 09/27."],
        ["Why was ", E(card, "creditCard"), " declined?"],
    ],
    "iban": [
        ["Please wire the deposit to ", E(iban, "iban"), "."],
        ["My IBAN is ", E(iban, "iban"), " (personal account)."],
        ["收款账户 IBAN：", E(iban, "iban")],
    ],
    "ipAddress": [
        ["The VPN gives me ", E(ipv4, "ipAddress"), " but I cannot reach the router."],
        ["Block requests from ", E(ipv6, "ipAddress"), " please."],
        ["我家的公网IP是", E(ipv4, "ipAddress"), "。"],
        ["ssh into ", E(ipv4, "ipAddress"), " failed with a timeout"],
        ["My IPv6 is ", E(ipv6, "ipAddress"), "."],
    ],
    "nationalId": [
        ["我的身份证号是", E(cn_id, "nationalId"), "，请核实。"],
        ["ID number ", E(cn_id, "nationalId"), " was rejected by the form."],
        ["My SSN is ", E(ssn, "nationalId"), "."],
        ["Social security number ", E(ssn, "nationalId"), ", date of filing pending."],
    ],
    "apiKey": [
        ["Here is my key ", E(api_key, "apiKey"), ", why does it fail?"],
        ["export OPENAI_API_KEY=", E(lambda: "sk-proj-" + token(32), "apiKey")],
        ["My password is ", E(password, "apiKey"), " and I forgot the username."],
        ["Authorization: Bearer ", E(api_key, "apiKey")],
        ["密码：", E(password, "apiKey"), "，别告诉别人"],
    ],
    "urlCredentials": [
        ["Connect using postgres://", E(lambda: f"{rng.choice(['admin', 'app', 'root', 'svc'])}:{password().replace('@', 'a').replace('#', 'h')}", "urlCredentials"), "@db.internal:5432/prod"],
        ["The mirror is https://", E(lambda: f"{rng.choice(FIRST).lower()}:{token(10)}", "urlCredentials"), "@mirror.example.com/repo"],
    ],
    "person": [
        ["Hello, my name is ", E(person, "person"), " and I need help with my order."],
        [E(lambda: rng.choice(HONORIFICS), None), " ", E(lambda: rng.choice(LAST), "person"), " will join the call."],
        ["Please forward this to ", E(lambda: rng.choice(HONORIFICS), None), " ", E(person, "person"), "."],
        ["Yesterday ", E(person, "person"), " asked about the refund."],
        ["Dear ", E(person, "person"), ", thanks for your patience."],
        ["你好，我叫", E(cn_name, "person"), "，想咨询一下。"],
        ["请联系", E(cn_name, "person"), "先生处理。"],
        ["姓名：", E(cn_name, "person")],
    ],
    "streetAddress": [
        ["Ship it to ", E(address, "streetAddress"), " please."],
        ["I moved to ", E(address, "streetAddress"), " last month."],
        ["收货地址：", E(lambda: (lambda c: f"{c[0]}{rng.choice(c[1])}{rng.choice(CN_ROADS)}{rng.randint(1, 999)}号")(rng.choice(CN_CITIES)), "streetAddress"), "。"],
    ],
    "location": [
        ["I live in ", E(lambda: rng.choice(CITIES), "location"), " and work remotely."],
        ["I'm from ", E(lambda: rng.choice(CITIES), "location"), ", so the time zone differs."],
        ["我住在", E(lambda: (lambda c: f"{c[0]}{rng.choice(c[1])}")(rng.choice(CN_CITIES)), "location"), "，附近有什么好吃的？"],
    ],
    "dateOfBirth": [
        ["I was born on ", E(dob, "dateOfBirth"), "."],
        ["DOB: ", E(dob, "dateOfBirth"), ", please update my profile."],
        ["出生日期：", E(lambda: f"{rng.randint(1950, 2005)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日", "dateOfBirth")],
    ],
}

MIXED = [
    ["Hi, I'm ", E(person, "person"), ", email ", E(lambda: f"{token(6, string.ascii_lowercase)}@{rng.choice(DOMAINS)}", "email"), ", phone ", E(phone, "phone"), "."],
    ["Refund to card ", E(card, "creditCard"), " or IBAN ", E(iban, "iban"), ", whichever is faster."],
    ["我叫", E(cn_name, "person"), "，手机", E(lambda: "1" + rng.choice("3456789") + digits(9), "phone"), "，身份证", E(cn_id, "nationalId"), "。"],
    ["Server ", E(ipv4, "ipAddress"), " uses key ", E(api_key, "apiKey"), " for uploads."],
]


# Phrasings written without looking at the detector's cue lists: names in neutral
# positions (some given names it does not list), lower-case names, CIDR suffixes,
# upper-case e-mails, space-separated numbers, hex tokens after a label.
HARD = [
    ["Can you check whether ", E(person, "person"), " has paid the deposit?"],
    ["The ticket was opened by ", E(person, "person"), " on Monday."],
    [E(lambda: rng.choice(FIRST), "person"), " called twice this morning about the delay."],
    ["my name is ", E(lambda: f"{rng.choice(FIRST).lower()} {rng.choice(LAST).lower()}", "person"), ", sorry for the typo"],
    ["Allow ", E(lambda: ipv4() + "/24", "ipAddress"), " in the firewall."],
    ["Write to ", E(lambda: f"{rng.choice(FIRST).upper()}.{rng.choice(LAST).upper().replace('Ü', 'U')}@EXAMPLE.COM", "email"), " for access."],
    ["ring ", E(lambda: f"{rng.randint(2, 9)}{digits(2)} {rng.randint(2, 9)}{digits(2)} {digits(4)}", "phone"), " if nobody answers"],
    ["token = ", E(lambda: token(32, "0123456789abcdef"), "apiKey")],
    ["Deliver to ", E(lambda: f"{rng.randint(1, 99)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}", "streetAddress"), " before noon; ", E(person, "person"), " will sign."],
    ["他的手机号码是", E(lambda: "1" + rng.choice("3456789") + digits(9), "phone"), "，身份证后四位不用给。"],
]


def bad_card():
    while True:
        n = rng.choice("456") + digits(15)
        if not luhn_ok(n):
            return " ".join(n[i:i + 4] for i in range(0, 16, 4))


NEGATIVES = [
    lambda: f"The meeting moved to {rng.randint(2024, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} at {rng.randint(8, 18)}:{rng.choice(['00', '30'])}.",
    lambda: f"Order #{digits(9)} shipped in {rng.randint(2, 9)} boxes.",
    lambda: f"Version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)} fixes the crash.",
    lambda: f"Reference {bad_card()} did not match any invoice.",
    lambda: f"The total came to {rng.randint(100, 9999)} dollars and {rng.randint(1, 99)} cents.",
    lambda: f"Set the timeout to {rng.randint(1, 120)} seconds and retry {rng.randint(2, 9)} times.",
    lambda: f"Room {rng.randint(100, 999)}, building {rng.randint(1, 9)}, floor {rng.randint(1, 30)}.",
    lambda: "Can you summarize the quarterly report in three bullet points?",
    lambda: "What is the capital of France and how big is it?",
    lambda: "I live in a small apartment with two cats.",
    lambda: "Will the new policy apply from May onwards?",
    lambda: "Mark the task as done when the build passes.",
    lambda: "今天天气很好，我们下午去公园散步吧。",
    lambda: f"订单号{digits(12)}已经发货了。",
    lambda: "请帮我写一封关于项目延期的邮件。",
    lambda: f"The ratio was {rng.randint(1, 9)}:{rng.randint(1, 9)}:{rng.randint(1, 9)} in the last test.",
    lambda: "Use std::collections::HashMap for the cache.",
    lambda: f"Our API returns at most {rng.randint(10, 500)} tokens per call.",
    lambda: "The Main Street bakery opens at nine.",
    lambda: "Grace and Hope are virtues, says the essay.",
    # Technical prompts full of capitalized terms, the sidecar's everyday traffic.
    lambda: "Explain how Kubernetes Operators work and compare them with Helm Charts.",
    lambda: "How do I configure Nginx Ingress with Cert Manager on Azure Kubernetes Service?",
    lambda: "The log says Permission Denied when the Deployment mounts the ConfigMap.",
    lambda: "Is Machine Learning different from Deep Learning in Computer Vision?",
    lambda: "I use Visual Studio Code on Ubuntu Linux with Rust Analyzer.",
    lambda: f"Retry the Pull Request checks on port {rng.randint(1024, 65535)} after {rng.randint(2, 9)} minutes.",
    lambda: "The Chief Executive approved the budget for Project Phoenix.",
    lambda: "We visited the Eiffel Tower and the Louvre Museum on the same day.",
    lambda: f"Request {uuid.UUID(int=rng.getrandbits(128))} failed with status {rng.choice([500, 502, 503])}.",
    lambda: f"The commit {token(40, '0123456789abcdef')} broke the build.",
]


def render(pieces):
    text, spans = "", []
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
            continue
        kind, gen = piece
        value = gen()
        if kind is not None:
            spans.append({"start": len(text), "end": len(text) + len(value), "type": kind})
        text += value
    return {"text": text, "spans": spans}


def main():
    samples = []
    for kind, templates in TEMPLATES.items():
        for i in range(30):
            samples.append(render(templates[i % len(templates)]))
    for i in range(40):
        samples.append(render(MIXED[i % len(MIXED)]))
    for i in range(60):
        samples.append(render(HARD[i % len(HARD)]))
    for i in range(120):
        samples.append({"text": NEGATIVES[i % len(NEGATIVES)](), "spans": []})
    rng.shuffle(samples)
    out = sys.stdout
    for sample in samples:
        out.write(json.dumps(sample, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

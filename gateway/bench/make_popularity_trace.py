#!/usr/bin/env python3
"""Synthetic per-site request traces for evaluating popularity prediction (docs/workflows.md).

Two generators that share nothing but the topic names, so that what is designed against one
can be checked on the other:

* ``diurnal`` (the one the prediction prompt was designed against): each topic's request
  rate follows a daily curve (a sum of Gaussian bumps around fixed hours: coffee at 8 and 15,
  food at 12 and 19, nightlife at 22, ...) scaled by a per-site mix (a business district, a
  tourist area); counts are Poisson per minute; prompts come from one set of templates.
* ``regime`` (held out): no clock at all. Each site walks a Markov chain of regimes
  (commute, office, lunch rush, leisure, night, event) with geometric dwell times; every
  regime has its own topic mix drawn per site from a Dirichlet; on top, random bursts (a
  concert letting out, a storm) multiply two or three topics for a few intervals. Prompts
  come from a second, terser set of templates written separately.

Each line is ``{"t": seconds since start, "site": ..., "topic": the generating topic or
"other", "prompt": ...}``, sorted by time. Deterministic for a given seed.

    python3 gateway/bench/make_popularity_trace.py --generator diurnal --seed 1 > diurnal.jsonl
    python3 gateway/bench/make_popularity_trace.py --generator regime --seed 2 > regime.jsonl
"""

import argparse
import json
import math
import random

TOPICS = [
    "food", "coffee", "nightlife", "transport", "parking", "sights", "shopping",
    "events", "weather", "health", "lodging", "services", "fitness", "family",
]

# --- diurnal ---------------------------------------------------------------------------

PEAKS = {  # topic: [(hour, width in hours, height)]
    "food": [(12.3, 1.0, 1.0), (19.0, 1.5, 1.2)],
    "coffee": [(8.2, 1.0, 1.0), (15.0, 1.2, 0.6)],
    "nightlife": [(22.5, 1.5, 1.0)],
    "transport": [(8.0, 0.8, 1.1), (18.0, 1.0, 1.2)],
    "parking": [(9.0, 1.0, 0.5), (19.0, 1.0, 0.4)],
    "sights": [(14.0, 2.5, 0.9)],
    "shopping": [(16.5, 2.0, 0.8)],
    "events": [(20.0, 1.2, 0.7)],
    "weather": [(7.0, 1.0, 0.5)],
    "health": [(11.0, 4.0, 0.15)],
    "lodging": [(21.0, 2.0, 0.4)],
    "services": [(11.0, 2.0, 0.4)],
    "fitness": [(7.0, 0.8, 0.4), (19.5, 1.0, 0.4)],
    "family": [(10.5, 1.5, 0.4), (15.5, 1.5, 0.5)],
}

SITE_MIX = {
    "lujiazui": {"coffee": 1.6, "transport": 1.5, "food": 1.2, "services": 1.5, "sights": 0.6, "family": 0.4},
    "yuyuan": {"sights": 2.0, "shopping": 1.6, "food": 1.3, "family": 1.5, "coffee": 0.6, "services": 0.5},
}

DIURNAL_TEMPLATES = {
    "food": ["Where can I get a good dinner tonight?", "Any restaurant with local food nearby?",
             "Best place for lunch around here?", "I want dumplings for lunch", "cheap noodle place near me"],
    "coffee": ["Where is the nearest coffee shop?", "A cafe with wifi to work from?",
               "I need a latte before my meeting", "Is there a quiet cafe around?"],
    "nightlife": ["Good bars open late?", "Where can I get a cocktail with a view?", "Any pub with live music tonight?"],
    "transport": ["How do I get to the airport by metro?", "When is the next bus downtown?",
                  "Where can I find a taxi?", "Which metro line goes to the station?"],
    "parking": ["Where can I find parking nearby?", "Is there an EV charger around here?"],
    "sights": ["What museum should I visit today?", "Best attraction to see this afternoon?",
               "Is the old town worth a tour?"],
    "shopping": ["Where is the nearest shopping mall?", "I want to buy souvenirs", "Any market open now?"],
    "events": ["Any concert tonight?", "Which exhibition is on this week?", "Can I still get tickets for the show?"],
    "weather": ["Will it rain today?", "What's the weather this morning?", "Do I need an umbrella?"],
    "health": ["Where is the nearest pharmacy?", "I need a doctor, which clinic is open?"],
    "lodging": ["Any hotel with rooms tonight?", "Cheap hostel nearby?"],
    "services": ["Where is an ATM?", "Is the bank open today?", "Where can I buy a SIM card?"],
    "fitness": ["Is there a gym nearby?", "Good place for running in the morning?", "Any yoga class today?"],
    "family": ["Things to do with kids?", "Where is a playground?", "Is the aquarium good for children?"],
    "other": ["Tell me a joke", "What is the capital of France?", "Translate hello into Chinese",
              "How old is the universe?"],
}


def diurnal(rng, days, sites, scale):
    out = []
    for site in sites:
        mix = SITE_MIX.get(site, {})
        for minute in range(days * 24 * 60):
            hour = (minute / 60.0) % 24
            for topic in TOPICS:
                rate = sum(h * math.exp(-0.5 * (min(abs(hour - c), 24 - abs(hour - c)) / w) ** 2)
                           for c, w, h in PEAKS[topic])
                rate = (0.03 + rate) * mix.get(topic, 1.0) * scale
                for _ in range(poisson(rng, rate)):
                    out.append((minute * 60 + rng.random() * 60, site, topic))
            for _ in range(poisson(rng, 0.05 * scale)):
                out.append((minute * 60 + rng.random() * 60, site, "other"))
    return [(t, s, k, rng.choice(DIURNAL_TEMPLATES[k])) for t, s, k in out]


# --- regime ----------------------------------------------------------------------------

REGIMES = ["commute", "office", "lunch", "leisure", "night", "event"]
# Topics each regime favours (the Dirichlet's concentrated components).
FAVOURS = {
    "commute": ["transport", "coffee", "parking", "weather"],
    "office": ["coffee", "services", "food", "health"],
    "lunch": ["food", "coffee", "shopping"],
    "leisure": ["sights", "shopping", "family", "fitness", "food"],
    "night": ["nightlife", "food", "transport", "lodging"],
    "event": ["events", "transport", "nightlife", "food"],
}

REGIME_TEMPLATES = {
    "food": ["cheap eats?", "hotpot open now", "vegetarian restaurants pls", "somewhere to eat seafood",
             "breakfast spots", "pizza delivery around"],
    "coffee": ["coffee?", "espresso bar", "bubble tea near me", "bakery + cafe"],
    "nightlife": ["karaoke tonight", "rooftop bar", "craft beer"],
    "transport": ["subway map", "taxi to hongqiao", "ferry times", "bike rental", "train tickets to hangzhou"],
    "parking": ["car park rates", "garage with space", "charging station"],
    "sights": ["landmark photos spot", "temple opening hours", "gallery tickets", "skyline viewpoint"],
    "shopping": ["mall hours", "supermarket", "boutique shops", "buy a charger cable"],
    "events": ["festival this weekend", "movie times", "theatre tonight", "football match"],
    "weather": ["typhoon warning?", "temperature now", "snow tomorrow?"],
    "health": ["dentist", "pharmacy 24h", "fever what to do", "hospital english speaking"],
    "lodging": ["hostel beds", "hotel check-in time", "accommodation tonight"],
    "services": ["atm", "post office", "currency exchange", "laundry service", "phone repair"],
    "fitness": ["gym day pass", "swimming pool", "tennis court", "jogging route"],
    "family": ["zoo tickets", "stroller friendly", "baby changing room", "kids museum"],
    "other": ["who won yesterday", "write a poem", "convert 5 miles to km", "good night"],
}


def regime(rng, days, sites, scale, interval):
    out = []
    steps = days * 24 * 3600 // interval
    for site in sites:
        mixes = {}
        for r in REGIMES:
            alpha = [4.0 if t in FAVOURS[r] else 0.3 for t in TOPICS]
            g = [rng.gammavariate(a, 1.0) for a in alpha]
            total = sum(g)
            mixes[r] = [x / total for x in g]
        current, bursts = rng.choice(REGIMES), []
        volume = 2.0 + 2.0 * rng.random()
        for step in range(steps):
            if rng.random() < 0.25:  # mean dwell: 4 intervals
                current = rng.choice([r for r in REGIMES if r != current])
                volume = 2.0 + 2.0 * rng.random()
            if rng.random() < 0.04:
                bursts.append((step + rng.randint(2, 6), rng.sample(TOPICS, rng.randint(2, 3)), 2 + 3 * rng.random()))
            bursts = [b for b in bursts if b[0] > step]
            minutes = interval / 60
            for i, topic in enumerate(TOPICS):
                rate = volume * mixes[current][i] * scale * minutes
                for end, topics, factor in bursts:
                    if topic in topics:
                        rate *= factor
                for _ in range(poisson(rng, rate)):
                    out.append((step * interval + rng.random() * interval, site, topic))
            for _ in range(poisson(rng, 0.1 * scale * minutes)):
                out.append((step * interval + rng.random() * interval, site, "other"))
    return [(t, s, k, rng.choice(REGIME_TEMPLATES[k])) for t, s, k in out]


def poisson(rng, lam):
    # Knuth's method is fine for the small rates here; large ones use a normal approximation.
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", choices=["diurnal", "regime"], required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--sites", default="lujiazui,yuyuan")
    ap.add_argument("--scale", type=float, default=1.0, help="request volume multiplier")
    ap.add_argument("--interval", type=int, default=900, help="regime step in seconds")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sites = args.sites.split(",")
    if args.generator == "diurnal":
        rows = diurnal(rng, args.days, sites, args.scale)
    else:
        rows = regime(rng, args.days, sites, args.scale, args.interval)
    rows.sort(key=lambda r: (r[0], r[1]))
    for t, site, topic, prompt in rows:
        print(json.dumps({"t": round(t, 1), "site": site, "topic": topic, "prompt": prompt}, ensure_ascii=False))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tuning corpus for the context-dependent types: `person`, `location`, `streetAddress`.

Purpose: **a tuning split**. Its per-sentence errors may be read and a detection threshold
tuned on it. Chat prompts as people type them to an assistant on a mobile network (travel,
letters, deliveries, bookings, complaints, meeting notes, introductions, neighbours,
forwarded messages, attendee lists, signatures), with values from Faker in 14 locales
(en_US, en_GB, en_AU, en_CA, en_IE, en_NZ, de_DE, fr_FR, es_ES, it_IT, nl_NL, pt_BR,
pl_PL, sv_SE). About 20 % of the sentences hold no personal value but capitalised
look-alikes (products, apps, brands, cars, weekdays, months, programming languages,
holidays, sports teams, book titles, street-like titles such as "Route 66" the song or
"21 Jump Street") and have empty `spans`: they measure false alarms.

The templates were written for this file only: not taken from generate.py,
presidio-research, generate_faker_eu.py or generate_mimesis.py (which was not read), nor
from the held-out corpora or the adapter's training generator (neither was read).

Output: JSON Lines on stdout, `{"text": ..., "spans": [{"start", "end", "type"}]}`,
offsets in Unicode code points (Python string indices), spans sorted, never overlapping.

Labelling conventions:
- `person`: the name as written: given + family name (with a middle initial or a second
  family name when present), a given name alone, or a family name alone after a title.
  The title (Mr, Dr, Frau, M., Sra., ...) is not in the span; the possessive `'s` is not in
  the span (`Maria's flat` -> `Maria`). Lower-case names (`can you email john smith`) are
  labelled like the others.
- `streetAddress`: the street line only: building number, street name and type, and a
  unit (`12 Baker Street, Apt 4`, `Flat 3, 9 Mill Lane`, `Skolgatan 4, lgh 1102`). When
  the unit sits on its own line above the street (`Flat 5\\nVictoria Drive`, as Faker's
  en_GB/en_NZ write it), the one span covers both lines. The town, postcode and state
  after the street line are not in the street span.
- `location`: a city/town, region/state/county, or country named as where someone lives,
  works, travels or is (the town and the state in an address block included, the country
  line too). Postcodes are not labelled. Company, product, team and holiday names are
  never labelled, even when they contain a place name (`Real Madrid`, `Canada Day`).

Reproduce byte for byte (Python 3.11, Faker 40.63.0):

    python3 -m venv /tmp/pp-venv && /tmp/pp-venv/bin/pip install faker==40.63.0
    /tmp/pp-venv/bin/python generate_people_places.py > corpus_people_places_tune.jsonl

Defaults `--seed 11 --count 700`; output sha256
`aba525c8a0671d98d1ada4aaff12b8371e7fd7bad6c06bb1ca78f516955d0e35`.
`--with-values` adds a `values` list (the inserted value of each span) for checking that
each span's text is exactly the value that was inserted.

Licences: Faker is MIT-licensed (Copyright (c) 2012 Daniele Faraglia); only its generated
values are used. The templates and word lists here are original to this project.
"""

import argparse
import json
import random
import re
import sys

import faker
from faker import Faker
from faker.providers.address.it_IT import Provider as _ItalianAddress

# Faker builds it_IT's town list from a set, so its order (and the towns drawn) would
# follow PYTHONHASHSEED; sort it so that the output depends on --seed only.
_ItalianAddress.cities = sorted(_ItalianAddress.cities)

LOCALES = [
    "en_US", "en_GB", "en_AU", "en_CA", "en_IE", "en_NZ", "de_DE",
    "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE",
]
ENGLISH = ["en_US", "en_GB", "en_AU", "en_CA", "en_IE", "en_NZ"]
NEGATIVE_SHARE = 0.20

# ---------------------------------------------------------------------------------------
# Templates with personal values. Slots:
#   {name} {name2} ...   full name                                  -> person
#   {first} {first2} ... given name alone                           -> person
#   {lname} {lfirst}     the same in lower case                     -> person
#   {poss} {fposs} {lfposs}  name / given name + "'s" (not in span) -> person
#   {sur} {sur2}         title + family name (title not in span)    -> person
#   {city} {city2} {lcity}  town                                    -> location
#   {state}              state / region / county / province         -> location
#   {country} {country2} {lcountry}  any country                    -> location
#   {home}               the country of the address locale          -> location
#   {st} {st2} {lst}     street line on one line                    -> streetAddress
#   {stu}                street line with a unit                    -> streetAddress
#   {addr}               street line, may be two lines (unit above) -> streetAddress
#   {cityline}           postcode + town (+ state), locale order    -> town/state location
# Unlabelled fillers (look-alikes): {weekday} {month} {holiday} {product} {app} {wallet}
#   {lang} {langname} {brand} {company} {plan} {device} {car} {team} {book} {num}
# ---------------------------------------------------------------------------------------
POSITIVE = [
    # travel
    "I'm flying from {city} to {city2} on {weekday}, what should I pack?",
    "Can you plan a three-day trip to {country} for me and {name}?",
    "We moved to {city} last year and my phone still shows roaming in {country}, why?",
    "My kid {first} is studying in {city}, which plan lets them call home cheaply?",
    "Does my {plan} bundle work in {country}? I'll be there with {name} in {month}.",
    "Book a hotel near {st}, {city} for two nights please.",
    "What's the fastest way to get from {city} to {state} by train?",
    "i'm in {lcity} till friday, any good restaurants near the station",
    "{name} and I are driving through {state} next week. Where should we stop?",
    "Remind me that {first} lands in {city} at 6:40 tomorrow.",
    "Is it safe to drink tap water in {country}? My colleague {name} says no.",
    "Help me write a packing list for {fposs} ski trip to {country}.",
    "My phone stopped working the moment I crossed into {country}. I'm staying at {st} in {city}.",
    "Translate 'where is the nearest pharmacy' for my trip to {city}, {home}.",
    "We're visiting {sur} in {city} over {holiday}; suggest a small gift.",
    "Find flights to {country} for {name} and me around {holiday}.",
    "Recommend a day trip from {city} for {first} and me, we like hiking.",
    "Compare prices for moving a two-bedroom flat from {city} to {city2}.",
    "Roaming in {country} and {country2}: is it included in my {plan} plan?",
    "Which time zone is {country} in? I have a call with {name} there on {weekday}.",
    # letters
    "Write a formal letter to {sur} at {st}, {city}, asking for my deposit back.",
    "Draft a thank-you note to {name} for hosting us in {city}.",
    "Dear {sur},\nI am writing regarding the flat at {addr}.\nPlease help me finish this letter.",
    "Please address the envelope to:\n{name}\n{addr}\n{cityline}",
    "Start a cover letter for {name}, who lives in {city} and wants a job in {country}.",
    "Make this more polite: '{sur}, your rent for {st} is late again.'",
    "Write a condolence card to {name} from the whole team in {city}.",
    "Can you proofread my letter to the council of {city} about the potholes outside {st}?",
    "Write a reference letter for {name}, who worked with me in {city} for four years.",
    "Write a short letter to my landlord {name} saying I leave {stu} at the end of {month}.",
    # deliveries
    "My parcel was delivered to {st} instead of my address, who do I contact?",
    "The courier left my new phone with {name} next door at {st}.",
    "Change the delivery address for my new SIM to {st}, {city}.",
    "The SIM card never arrived at {stu}. Can you chase it?",
    "Tracking says it was signed for by {first} in {city}, but nobody here has that name.",
    "Please send the replacement router to:\n{addr}\n{cityline}\n{home}",
    "The delivery driver keeps going to {st} but I live at {st2}.",
    "my package for {lname} is stuck at the depot, address is {lst}",
    "Can the phone be delivered to my office at {st} in {city} instead?",
    "Who is {name}? A parcel for them was left at my door on {weekday}.",
    "The box for {sur} came to {stu} by mistake, how do I send it back?",
    # bookings
    "Book a table for four under the name {name} for {weekday} at 8.",
    "Reserve a taxi from {st} to the airport for {sur} at 5 am.",
    "Can you find a dentist near {st}, {city} that is open on Saturdays?",
    "I need a hotel in {city} for {name} and {name2}, two single rooms.",
    "Book me a haircut with {first} at the salon on {weekday}.",
    "Please cancel {fposs} appointment and rebook it for early {month}.",
    "Find a meeting room in {city} for me and {sur} on {weekday} morning.",
    "We need a hire car from {city} to {city2}; the driver will be {name}.",
    "Book two tickets for {name} and me to the {holiday} concert in {city}.",
    # complaints
    "I'm writing to complain: your engineer {name} never showed up at {st}.",
    "There has been no signal at {st} for three days. I live in {city}.",
    "Your shop assistant {first} in {city} sold me the wrong charger for my {device}.",
    "My bill shows calls from {country} but I haven't left {city} all month.",
    "Write a complaint about the noise from the phone mast behind {st}, {city}.",
    "The technician, {sur}, said the fibre box at {stu} was faulty. Still no internet.",
    "Help me escalate: I called about my account four times and {first} promised a callback.",
    "Coverage in {state} is terrible, I work in {city} and calls drop every few minutes.",
    "{company} charged me twice for the {plan} add-on. The account is in the name of {name}.",
    "Your store on {st} refused my return even though {first} at the till approved it.",
    # meeting notes
    "Summarise these notes: {name} will send the budget, {name2} owns the rollout in {city}.",
    "Meeting notes {weekday}: attendees {name}, {name2}, {name3}. Action: book a venue in {city}.",
    "Turn this into bullet points: {first} handles billing, {first2} handles {product} support.",
    "{sur} asked us to move the workshop from {city} to {city2}; update the agenda.",
    "Action items from the call with {name} ({company}): send contract, visit the site at {st}.",
    "Minutes: {name} chaired. {name2} reported that the {country} launch slips to {month}.",
    "Write a follow-up email to {name} and {name2} about what we agreed in {city}.",
    "Notes from {weekday}'s stand-up: {first} is off sick, {first2} covers the {state} region.",
    # introductions
    "Hi, I'm {name} from {city}. Can you help me switch to an eSIM?",
    "My name is {name} and I live at {st}. How do I transfer my number?",
    "Introduce {name} to {name2}: both work on network planning in {state}.",
    "Write a short bio: {name}, born in {city}, now based in {country}.",
    "this is {lname}, my account got locked after i moved to {lcity}",
    "I'm {first}, I'm new in {city} and need a SIM for my tablet.",
    "Hello! {name} here, writing on behalf of my mother {name2}.",
    "Write a LinkedIn summary for {name}, a {lang} developer living in {city}.",
    # neighbours
    "My neighbour {name} at {st} keeps parking in front of my garage.",
    "My neighbour {first} from number {num} has a parcel of mine, how do I ask politely?",
    "Write a note for {sur} downstairs at {stu} about the leaking pipe.",
    "Our neighbours, {name} and {name2}, are moving to {country}; suggest a farewell gift.",
    "my neighbour {lfirst} said the wifi at {lst} is faster with your router, is that true",
    "Can I share my data plan with {name}, who lives next door at {st}?",
    "The neighbour at {st2}, {sur}, says my {device} hotspot interferes with theirs.",
    # forwarding
    "Forward this to {name}: 'The invoice for {st} is attached.'",
    "Message from {name}: 'I'm stuck in {city}, can you call the hotel?' What should I reply?",
    "Please forward my calls to {first} while I'm in {country}.",
    "----- Forwarded message -----\nFrom: {name}\nTo: {name2}\nSubject: Keys for {st}\nSummarise this.",
    "Can you rewrite this message before I send it to {sur}: 'the boiler at {st} is broken again'",
    "Forward {fposs} number to my new phone; we both moved to {city}.",
    "Hi {first}, see below from {name2}. Could you check the {month} invoice?\nWhat does this mean?",
    # attendee lists
    "Attendees:\n- {name}\n- {name2}\n- {name3}\nPlease make name badges.",
    "Guest list for {holiday}: {name}, {name2}, {first}, and {name3}. Sort it alphabetically.",
    "Seat {name} next to {name2} but far from {name3}.",
    "Who is missing? Confirmed: {name}, {name2}. Invited: {name3}, {name4}.",
    "Speakers at the {city} meetup: {name} ({lang}), {name2} ({product}). Write an intro.",
    "Put these in a table: {name} - {city}; {name2} - {city2}.",
    "Team offsite in {country}: {first}, {first2}, {first3} and me. Plan the first day.",
    # signatures
    "Kind regards,\n{name}\n{addr}\n{cityline}\n\nIs this signature too long?",
    "Make my email signature look professional:\n{name} | Sales | {city}, {home}",
    "Best,\n{first}\n\n(sent from my phone in {city})\nFix the typos above.",
    "Cheers, {name}\n{st}, {city}\nCan you shorten my signature?",
    "--\n{name}\nField Engineer, {state}\nAdd a confidentiality disclaimer under this.",
    "Thanks,\n{sur}\nHead of Facilities, {city}\nWhy does Outlook cut my signature?",
    # possessives
    "{poss} flat on {st} has mould, who should we call?",
    "I'm picking up {poss} kids after school, set a reminder for 3 pm.",
    "What's a good present for {poss} 40th birthday?",
    "Can I add {poss} phone to my family plan?",
    "We're staying at {poss} place in {city} over {holiday}.",
    "I'm using {fposs} charger and my {device} charges really slowly.",
    "my sim is in {lfposs} old phone now, will it still work",
    "Write an invitation for {poss} retirement party at {st}.",
    "i left my charger at {lfposs} house in {lcity}, can i order a new one",
    # titles
    "{sur} from accounts asked for my IBAN. Is that normal?",
    "Remind me to call {sur} about the lease on {weekday}.",
    "Write a polite reply to {sur}, who wants to reschedule to {month}.",
    "Our GP, {sur}, moved the practice to {st}.",
    "Ask {sur} whether the meeting in {city} is still on.",
    "Please thank {sur} and {sur2} for the quick repair.",
    # lower-case chat
    "can you email {lname} and tell them im running late",
    "whats the weather like in {lcity} tomorrow",
    "text {lfirst} that i'll be at {lst} in 10 min",
    "how do i block {lname} on whatsapp",
    "pls remind me to call {lfirst} when i land in {lcity}",
    "moving to {lcountry} next month, can i keep my number",
    "{lfirst} says hi from {lcity} lol",
    "my cousin {lname} cant log in to their account",
    "is there a shop near {lst} that fixes screens",
    # addresses and places
    "Update my billing address to:\n{addr}\n{cityline}",
    "Is this address formatted correctly?\n{name}\n{stu}\n{city}\n{state}",
    "Ship to {stu}, {city}, {state}.",
    "My address is {st}, {cityline}. Why does your site say it's invalid?",
    "What is the postcode for {st} in {city}?",
    "Is {st} in {city} covered by your 5G network?",
    "Check the fibre availability for {stu}, please.",
    "Our office moved from {st} to {st2}; update the contract.",
    "I rent a room at {st}, {city}, {home}; the landlord is {name}.",
    "Shipping label:\n{name}\n{addr}\n{cityline}\n{home}",
    "I grew up in {state} but now I work in {city}.",
    "My flatmate {first} lives in {city}; can I pay their bill from my account?",
    "I'm based in {city}, {state}. Do you have a store nearby?",
    "How far is {st} from the main station in {city}?",
    "Register the router at {stu} under {name}, please.",
    # accounts and misc
    "Please call {name} back on {weekday} about the contract.",
    "Add {name} as an authorised user on my account.",
    "Tell {first} I'll be home late tonight.",
    "The phone is registered to {name}, but {first2} uses it every day.",
    "My grandparent {name} passed away; how do I close their account?",
    "Write a birthday message for {first} in {langname}.",
    "Is {name} one of your employees? Someone by that name called me about my {device}.",
    "Please change the account holder from {name} to {name2}.",
    "{name} wants to port a number from {company}. What do they need?",
    "Draft a lease renewal for {name}, tenant at {stu}.",
    "Start a group chat in {app} with {first}, {first2} and {first3}.",
    "Split the {month} bill between {name} and {name2} equally.",
]

# ---------------------------------------------------------------------------------------
# Templates without personal values: capitalised look-alikes only; empty spans.
# ---------------------------------------------------------------------------------------
NEGATIVE = [
    "How do I install {product} on my new laptop?",
    "Does {app} work offline when I'm roaming?",
    "Is {lang} or {lang2} better for writing a small web server?",
    "Remind me on {weekday} to renew my {plan} bundle.",
    "What's the difference between {product} and {product2}?",
    "Set up {wallet} on my {device}, my bank supports it.",
    "Can you explain the lyrics of Route 66 the song? I heard it on {weekday}.",
    "Why do Main Street banks charge such high overdraft fees in {month}?",
    "Summarise the plot of {book} in five bullet points.",
    "Who won the match between {team} and {team2}?",
    "Plan a {holiday} dinner menu for eight people.",
    "My {device} won't charge since the {month} update.",
    "Is {brand} or {brand2} cheaper for prepaid data?",
    "Write a haiku about {month} rain and {weekday} mornings.",
    "Does the {plan} plan include {app} streaming without using data?",
    "Is 21 Jump Street worth watching on {app}?",
    "Recommend films like Miracle on 34th Street for {holiday}.",
    "How did Wall Street react to the {month} chip shortage?",
    "Is Sesame Street still on TV on {weekday}s?",
    "Convert this {lang} snippet to {lang2}: print('hello')",
    "Does Dr Pepper taste like anything sold by {brand}?",
    "Compare the running costs of a {car} and a {car2}.",
    "Can I pay my bill with {wallet} on the first {weekday} of {month}?",
    "Open {app} and show me directions to the nearest petrol station.",
    "Why is {product} so slow after the {month} patch?",
    "List the main features of {product} for a beginner.",
    "my {ldevice} keeps restarting after i installed {lapp}",
    "what time does the {lholiday} sale start",
    "Is it worth switching from {brand} to {brand2} for 5G?",
    "Who is the best goalkeeper in {team} history?",
    "Write a review of {book} in three sentences.",
    "Is {lang} still used in banking systems in {month}?",
    "How do I export contacts from {app} to {app2}?",
    "Describe the cover of the Abbey Road album for a {lang} quiz app.",
    "Play Penny Lane and then something from my {month} playlist.",
    "Does the Nightmare on Elm Street remake hold up next to {book}?",
    "What time is Coronation Street on this {weekday}?",
    "Which is healthier for {holiday}, Ben & Jerry's or a {brand} smoothie?",
    "Translate 'Happy {holiday}' into {langname}.",
    "Schedule a {app} call every {weekday} at 9.",
    "My {plan} contract ends in {month}; what are my options?",
    "Is {product} compatible with {product2}?",
    "When does {team} play next, {weekday} or the weekend?",
    "How much data does an hour of {app} use on the {plan} plan?",
    "Give me a {lang} regex that matches an email address.",
    "Is Jack Daniel's a whiskey or a bourbon? Asking for a {holiday} quiz.",
    "Tell me a joke about {lang} developers.",
    "Explain what 'Easy Street' means as an idiom, with a {langname} equivalent.",
    "Does {company} sell the {device} without a contract?",
    "Compare {company} and {company2} roaming prices for {month}.",
    "Why does {product} ask for my {wallet} PIN every {weekday}?",
    "Is the {car} or the {car2} better for a family of five?",
    "Set my {device} to silent every {weekday} from 10 pm.",
    "Suggest a reading list: {book}, {book2} and something similar.",
    "Is the Silk Road chapter in {book} historically accurate?",
    "Write a {langname} poem for {holiday} about the sea.",
]

# ---------------------------------------------------------------------------------------
# Look-alike word lists (unlabelled everywhere).
# ---------------------------------------------------------------------------------------
FILL = {
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "month": ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"],
    "holiday": ["Christmas", "Easter", "Easter Monday", "Thanksgiving", "Halloween",
                "New Year's Eve", "St Patrick's Day", "Boxing Day", "Black Friday",
                "Valentine's Day", "Midsummer", "Whit Monday", "All Saints' Day",
                "Labor Day", "Canada Day", "Anzac Day", "Diwali", "Hanukkah", "Eid",
                "Mother's Day", "Carnival"],
    "product": ["Ubuntu Linux", "Windows 11", "macOS Sonoma", "Google Maps", "Microsoft Teams",
                "Adobe Acrobat", "Visual Studio Code", "Android Auto", "Apple CarPlay",
                "Google Chrome", "Mozilla Firefox", "LibreOffice", "Microsoft Excel",
                "Amazon Alexa", "Google Assistant", "Fire TV Stick", "Kindle Paperwhite",
                "Raspberry Pi", "Nintendo Switch", "PlayStation 5", "Xbox Series X",
                "Arch Linux", "Debian", "Jenkins", "Kubernetes", "Docker Desktop",
                "Home Assistant", "Philips Hue", "Apple Watch", "AirPods Pro"],
    "app": ["WhatsApp", "Signal", "Telegram", "Spotify", "Netflix", "YouTube", "Google Maps",
            "Waze", "Uber", "Zoom", "Slack", "Microsoft Teams", "FaceTime", "Instagram",
            "Duolingo", "Strava", "Revolut", "Monzo", "PayPal", "Booking.com", "Airbnb",
            "Skype", "Outlook", "Gmail", "Disney Plus", "Apple Music"],
    "wallet": ["Apple Pay", "Google Pay", "Google Wallet", "Samsung Pay", "PayPal", "Klarna"],
    "lang": ["Python", "Rust", "Go", "Java", "JavaScript", "TypeScript", "Ruby", "Julia",
             "Haskell", "Pascal", "Ada", "Kotlin", "Swift", "Scala", "Elixir", "Erlang",
             "Perl", "COBOL", "Fortran", "Dart", "Lua", "Clojure"],
    "langname": ["German", "French", "Spanish", "Italian", "Dutch", "Polish", "Swedish",
                 "Portuguese", "Irish", "Welsh"],
    "brand": ["Vodafone", "Orange", "T-Mobile", "Telefónica", "EE", "O2", "Three",
              "Virgin Media", "Lidl", "Aldi", "IKEA", "Zara", "H&M", "Nike", "Adidas",
              "Marks & Spencer", "Tim Hortons", "McDonald's", "Wendy's", "Starbucks",
              "Costa Coffee", "Tesco", "Carrefour", "Mercedes-Benz", "Louis Vuitton",
              "Calvin Klein", "Hugo Boss", "Ralph Lauren", "Johnson & Johnson",
              "Procter & Gamble"],
    "company": ["Vodafone", "Orange", "T-Mobile", "Telefónica", "EE", "O2", "Three",
                "Virgin Media", "Telia", "Tele2", "KPN", "Play", "Proximus", "Swisscom",
                "Telstra", "Rogers", "Verizon", "Movistar", "TIM", "Free Mobile"],
    "plan": ["Unlimited Max", "Travel Pass", "Family Share", "Roam Like Home", "Data Plus",
             "Red Essential", "Go Large", "World Saver", "EU Roam", "Night Owl", "Smart 5G"],
    "device": ["Samsung Galaxy S24", "iPhone 15", "Google Pixel 8", "OnePlus 12", "Nokia G42",
               "Xiaomi Redmi Note 13", "Motorola Edge", "Sony Xperia 10", "Fairphone 5",
               "iPad Air", "Apple Watch", "Galaxy Tab"],
    "car": ["Ford Focus", "Tesla Model 3", "Toyota Corolla", "Volkswagen Golf", "Renault Clio",
            "Fiat Panda", "Skoda Octavia", "Volvo XC60", "Honda Jazz", "Kia Niro",
            "Mini Cooper", "Nissan Leaf"],
    "team": ["Real Madrid", "Manchester United", "Bayern Munich", "Juventus", "Ajax",
             "the Chicago Bulls", "the New York Yankees", "the Green Bay Packers",
             "the All Blacks", "the Wallabies", "Borussia Dortmund", "Paris Saint-Germain",
             "the Toronto Maple Leafs", "Celtic", "Liverpool FC", "Inter Milan",
             "Legia Warsaw", "AIK", "Benfica", "Flamengo"],
    "book": ["Pride and Prejudice", "War and Peace", "The Hobbit", "Dune", "Brave New World",
             "Great Expectations", "The Grapes of Wrath", "Of Mice and Men", "Little Women",
             "Wuthering Heights", "The Name of the Rose", "One Hundred Years of Solitude",
             "The Old Man and the Sea", "Gone with the Wind", "The Catcher in the Rye",
             "Animal Farm", "Nineteen Eighty-Four", "The Road", "Middlemarch",
             "Station Eleven"],
}

TITLES = {
    "en": ["Mr", "Mrs", "Ms", "Dr", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof."],
    "de_DE": ["Herr", "Frau", "Dr.", "Prof."],
    "fr_FR": ["M.", "Mme", "Dr"],
    "es_ES": ["Sr.", "Sra.", "Dr."],
    "it_IT": ["Sig.", "Sig.ra", "Dott."],
    "nl_NL": ["Dhr.", "Mevr.", "Dr."],
    "pt_BR": ["Sr.", "Sra.", "Dr."],
    "pl_PL": ["Pan", "Pani", "Dr"],
    "sv_SE": ["Dr", "Mr", "Ms"],
}

HOME = {
    "en_US": ["United States", "USA", "US"],
    "en_GB": ["United Kingdom", "UK", "England", "Scotland", "Wales"],
    "en_AU": ["Australia"],
    "en_CA": ["Canada"],
    "en_IE": ["Ireland"],
    "en_NZ": ["New Zealand"],
    "de_DE": ["Germany", "Deutschland"],
    "fr_FR": ["France"],
    "es_ES": ["Spain", "España"],
    "it_IT": ["Italy", "Italia"],
    "nl_NL": ["Netherlands", "Nederland"],
    "pt_BR": ["Brazil", "Brasil"],
    "pl_PL": ["Poland", "Polska"],
    "sv_SE": ["Sweden", "Sverige"],
}

SLOT = re.compile(r"\{([a-z]+?)(\d*)\}")


class Sentence:
    """Generates the values of one sentence; every slot key gets one value."""

    def __init__(self, fk, rng, template):
        self.fk = fk
        self.rng = rng
        # address locale: streets, towns, states (en_NZ has no state provider in Faker)
        self.aloc = rng.choice([l for l in LOCALES if l != "en_NZ" or "{state}" not in template])
        self.cache = {}
        self.people = set()
        self.places = set()

    # -- people --------------------------------------------------------------------------
    def _name_locale(self):
        return self.aloc if self.rng.random() < 0.4 else self.rng.choice(LOCALES)

    def _unique(self, make, seen):
        for _ in range(50):
            v = make()
            if v.lower() not in seen:
                seen.add(v.lower())
                return v
        raise RuntimeError("could not draw a distinct value")

    def full_name(self):
        def make():
            loc = self._name_locale()
            g = self.fk[loc]
            first, last = g.first_name().strip(), g.last_name().strip()
            if loc in ("es_ES", "pt_BR") and self.rng.random() < 0.35:
                last = f"{last} {g.last_name().strip()}"
            elif loc in ENGLISH and self.rng.random() < 0.06:
                first = f"{first} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}."
            return f"{first} {last}"
        return self._unique(make, self.people)

    def first_name(self):
        return self._unique(lambda: self.fk[self._name_locale()].first_name().strip(), self.people)

    def titled(self):
        loc = self._name_locale()
        last = self._unique(lambda: self.fk[loc].last_name().strip(), self.people)
        title = self.rng.choice(TITLES.get(loc, TITLES["en"]))
        return [(title + " ", None), (last, "person")]

    # -- places --------------------------------------------------------------------------
    def city(self):
        return self._unique(lambda: self.fk[self.aloc].city().strip(), self.places)

    def state(self):
        loc = self.aloc
        g = self.fk[loc]
        for m in ("state", "administrative_unit", "county", "province"):
            if hasattr(g, m):
                return getattr(g, m)().strip()
        raise KeyError(f"no state provider for {loc}")

    def country(self):
        def make():
            while True:
                c = self.fk[self.rng.choice(ENGLISH)].country().strip()
                if "(" not in c and "," not in c and len(c) <= 30:
                    return c
        return self._unique(make, self.places)

    def home(self):
        return self.rng.choice(HOME[self.aloc])

    def _number(self):
        bn = self.fk[self.aloc].building_number().strip()
        if bn.isdigit():
            bn = str(int(bn) or 1)
        return bn

    def _compose_street(self):
        loc, g = self.aloc, self.fk[self.aloc]
        bn, sn = self._number(), g.street_name().strip()
        if loc in ENGLISH:
            return f"{bn} {sn}"
        if loc in ("de_DE", "nl_NL", "sv_SE", "es_ES"):
            return f"{sn} {bn}"
        if loc == "fr_FR":
            return f"{bn}{self.rng.choice([', ', ' '])}{sn}"
        if loc in ("it_IT", "pt_BR"):
            return f"{sn}, {bn}"
        if loc == "pl_PL":
            return f"{self.rng.choice(['ul. ', 'ul. ', ''])}{sn} {bn}"
        raise KeyError(loc)

    def street(self, multiline):
        def make():
            if self.rng.random() < 0.55:
                s = self.fk[self.aloc].street_address().strip()
            else:
                s = self._compose_street()
            s = re.sub(r"[ \t]+", " ", s)
            s = re.sub(r" *\n *", "\n", s)
            return s if multiline else s.replace("\n", ", ")
        return self._unique(make, self.places)

    def street_unit(self):
        loc, r = self.aloc, self.rng
        base = self._compose_street()
        k = r.randint(1, 24)
        if loc in ("en_GB", "en_IE", "en_NZ") and r.random() < 0.5:
            return f"{r.choice(['Flat', 'Apartment', 'Unit'])} {k}, {base}"
        if loc in ENGLISH:
            return f"{base}, {r.choice(['Apt', 'Apt.', 'Unit', 'Suite', 'Flat', '#'])} {k}"
        if loc == "de_DE":
            return f"{base}, {r.choice([f'Wohnung {k}', f'{k % 5 + 1}. OG', 'Hinterhaus'])}"
        if loc == "fr_FR":
            return f"{base}, {r.choice([f'appartement {k}', f'bât. {chr(65 + k % 4)}', f'{k % 6 + 1}e étage'])}"
        if loc == "es_ES":
            return f"{base}, {k % 8 + 1}º {chr(65 + k % 4)}"
        if loc == "it_IT":
            return f"{base}, {r.choice([f'interno {k}', f'scala {chr(65 + k % 3)}'])}"
        if loc == "nl_NL":
            return f"{base}-{k % 4 + 1}"
        if loc == "pt_BR":
            return f"{base}, {r.choice([f'apto {k * 10 + 1}', f'casa {k % 5 + 1}', f'bloco {chr(65 + k % 3)}'])}"
        if loc == "pl_PL":
            return f"{base}/{k}"
        if loc == "sv_SE":
            return f"{base}, lgh {1000 + k * 101}"
        raise KeyError(loc)

    def address_block(self):
        """A street line that may take two lines (a unit line above the street)."""
        r = self.rng
        if self.aloc in ("en_GB", "en_IE", "en_NZ", "en_AU") and r.random() < 0.35:
            unit = f"{r.choice(['Flat', 'Apartment', 'Unit', 'Level'])} {r.randint(1, 30)}"
            return f"{unit}\n{self._compose_street()}"
        return self.street(multiline=True)

    def cityline(self):
        loc, g, r = self.aloc, self.fk[self.aloc], self.rng
        city, pc = self.city(), g.postcode().strip()
        if loc in ("en_US", "en_AU", "en_CA"):
            if r.random() < 0.5:
                return [(city, "location"), (", ", None), (self.state(), "location"), (" " + pc, None)]
            return [(city, "location"), (" " + pc, None)]
        if loc == "en_GB":
            return [(city, "location"), (r.choice(["\n", " "]) + pc, None)]
        if loc in ("en_IE", "en_NZ"):
            return [(city, "location"), (" " + pc, None)] if r.random() < 0.6 else [(city, "location")]
        if loc == "es_ES" and r.random() < 0.4:
            return [(pc + " ", None), (city, "location"), (" (", None), (self.state(), "location"), (")", None)]
        return [(pc + " ", None), (city, "location")]

    # -- slots ---------------------------------------------------------------------------
    def render(self, kind):
        r = self.rng
        if kind == "name":
            return [(self.full_name(), "person")]
        if kind == "first":
            return [(self.first_name(), "person")]
        if kind == "lname":
            return [(self.full_name().lower(), "person")]
        if kind == "lfirst":
            return [(self.first_name().lower(), "person")]
        if kind == "poss":
            return [(self.full_name(), "person"), ("'s", None)]
        if kind == "fposs":
            return [(self.first_name(), "person"), ("'s", None)]
        if kind == "lfposs":
            return [(self.first_name().lower(), "person"), ("'s", None)]
        if kind == "sur":
            return self.titled()
        if kind == "city":
            return [(self.city(), "location")]
        if kind == "lcity":
            return [(self.city().lower(), "location")]
        if kind == "state":
            return [(self.state(), "location")]
        if kind == "country":
            return [(self.country(), "location")]
        if kind == "lcountry":
            return [(self.country().lower(), "location")]
        if kind == "home":
            return [(self.home(), "location")]
        if kind == "st":
            return [(self.street(multiline=False), "streetAddress")]
        if kind == "lst":
            return [(self.street(multiline=False).lower(), "streetAddress")]
        if kind == "stu":
            return [(self.street_unit(), "streetAddress")]
        if kind == "addr":
            return [(self.address_block(), "streetAddress")]
        if kind == "cityline":
            return self.cityline()
        if kind == "num":
            return [(str(r.randint(2, 120)), None)]
        if kind.startswith("l") and kind[1:] in FILL:
            return [(self._fill(kind[1:]).lower(), None)]
        if kind in FILL:
            return [(self._fill(kind), None)]
        raise KeyError(kind)

    def _fill(self, kind):
        used = self.cache.setdefault(("fill", kind), set())
        choices = [v for v in FILL[kind] if v not in used] or FILL[kind]
        v = self.rng.choice(choices)
        used.add(v)
        return v

    def fill(self, template):
        text, spans, values, pos = [], [], [], 0
        out_len = 0
        for m in SLOT.finditer(template):
            lit = template[pos:m.start()]
            text.append(lit)
            out_len += len(lit)
            key = m.group(0)
            if key not in self.cache:
                self.cache[key] = self.render(m.group(1))
            for piece, typ in self.cache[key]:
                if typ is not None:
                    spans.append({"start": out_len, "end": out_len + len(piece), "type": typ})
                    values.append(piece)
                text.append(piece)
                out_len += len(piece)
            pos = m.end()
        text.append(template[pos:])
        return "".join(text), spans, values


def check_templates():
    for name, group in (("POSITIVE", POSITIVE), ("NEGATIVE", NEGATIVE)):
        if len(set(group)) != len(group):
            raise SystemExit(f"duplicate template in {name}")
    labelled = {"name", "first", "lname", "lfirst", "poss", "fposs", "lfposs", "sur", "city",
                "lcity", "state", "country", "lcountry", "home", "st", "lst", "stu", "addr",
                "cityline"}
    for t in POSITIVE:
        if not any(m.group(1) in labelled for m in SLOT.finditer(t)):
            raise SystemExit(f"positive template without a labelled slot: {t!r}")
    for t in NEGATIVE:
        if any(m.group(1) in labelled for m in SLOT.finditer(t)):
            raise SystemExit(f"negative template with a labelled slot: {t!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--count", type=int, default=700)
    ap.add_argument("--with-values", action="store_true",
                    help="add the inserted value of each span (for checking)")
    args = ap.parse_args()
    check_templates()

    rng = random.Random(args.seed)
    Faker.seed(args.seed)
    fk = Faker(LOCALES)

    n_neg = round(args.count * NEGATIVE_SHARE)
    kinds = [True] * n_neg + [False] * (args.count - n_neg)
    rng.shuffle(kinds)
    queues = {True: [], False: []}
    seen = set()
    out = sys.stdout
    for negative in kinds:
        q = queues[negative]
        if not q:
            q.extend(NEGATIVE if negative else POSITIVE)
            rng.shuffle(q)
        template = q.pop()
        for _ in range(20):
            text, spans, values = Sentence(fk, rng, template).fill(template)
            if text not in seen:
                break
        seen.add(text)
        rec = {"text": text, "spans": spans}
        if args.with_values:
            rec["values"] = values
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if faker.VERSION != "40.63.0":
        print(f"warning: Faker {faker.VERSION}, the committed corpus used 40.63.0",
              file=sys.stderr)
    main()

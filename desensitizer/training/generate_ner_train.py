#!/usr/bin/env python3
"""Training sentences for the learned PII stage's LoRA adapter (the BERT token classifier
with labels GIVEN_NAME, SURNAME, BUILDING_NUMBER, STREET_NAME, SECONDARY_ADDRESS, CITY,
STATE, ZIP_CODE).

Purpose: fine-tuning data aimed at the tagger's known weaknesses: towns named in passing
("the fastest train from X to Y", "I grew up in X"), names in unusual frames (questions,
sentence start, lists, possessives, lower case, after a title) and from continental
European locales, street lines in their local formats (`Calle Mayor 12, Piso 4`,
`Rua X, 35`, `Hauptstraße 12a`, `12 rue de la Paix`, `Kerkstraat 7`), street lines broken
over two lines with the postcode and town below, and capitalised words that are not
personal data (software, products, companies, landmarks, weekdays, months, languages ...).
About a tenth of the sentences are Simplified Chinese (locale zh_CN): the uncased BERT
tokenizer makes every CJK character a word, and without Chinese examples the tagger took
ordinary characters (你, 好, 处理, 在) for names and places; almost half of them hold no
person, address or place, the rest teach where a name or place stops (titles such as
先生/女士/老师/经理 after a name and 在/去/到/从/住在 before a place stay outside).

Values come from the PyPI package Faker, exactly version 40.54.0 (other versions are
refused, since their data and random draws differ), plus a few short hand-written lists
in this file (well-known towns, common street names, regions Faker lacks for en_NZ and
no_NO, titles, look-alike words; for zh_CN, whose Faker address data is thin, real cities
with their districts and provinces, street names, residential compounds, units, titles,
apps, companies and dishes). Locales: en_US, en_GB (weight 1.5 each), en_AU, en_CA, en_IE,
en_NZ, de_DE, de_AT, de_CH, fr_FR, fr_CH, fr_CA, es_ES, es_MX, it_IT, nl_NL, nl_BE, pt_PT,
pt_BR, pl_PL, sv_SE, da_DK, no_NO, fi_FI, cs_CZ (1 each) and zh_CN (3, about 10 %). One
Faker locale per sentence supplies its personal values; country names follow the
sentence's language.

Reproduce (standard library + Faker; same arguments give the same bytes, whatever the
date or time zone; the script re-runs itself with PYTHONHASHSEED=0, because Faker's
it_IT town list and any other set-ordered data follow string hashing):

    python3 -m venv /tmp/faker-venv && /tmp/faker-venv/bin/pip install Faker==40.54.0
    /tmp/faker-venv/bin/python generate_ner_train.py --seed 1 --count 6000 > ner_train.jsonl

Output: JSON Lines, one sentence a line:

    {"text": ..., "spans": [{"start", "end", "type"}], "parts": [{"start", "end", "label"}]}

Offsets are Python string indices (code points). Labelling conventions:
- spans use the evaluation corpora's types (see tests/data/pii/README.md): `person` (a
  full name, a given name alone, or a surname after a title; the title - Dr., Mrs.,
  Herr, Mme, Sig.ra ... - and a possessive 's stay outside), `streetAddress` (a street
  line: number, street, unit; when written in one piece with it, also the postcode, town,
  region and country, across commas and line breaks), `location` (a town, region or
  country named on its own; "Lyon, France" is two spans), and `email`, `phone`,
  `creditCard`, `ipAddress`, `dateOfBirth`, `apiKey` (a password), `nationalId` (zh_CN
  resident ID) for realism.
- parts give the fine labels inside person/streetAddress/location spans only, never
  overlapping: GIVEN_NAME (first and middle names), SURNAME (every surname word,
  particles such as "van der", "de la", "dos" included, hyphenated surnames whole),
  BUILDING_NUMBER (with its letter or range: `12a`, `35-37`, `S/N`), STREET_NAME (with
  its type word: `Calle Mayor`, `rue de la Paix`, `Hauptstraße`, `ul. Miodowa`),
  SECONDARY_ADDRESS (the unit: `Apt 4B`, `Flat 3`, `Piso 4`, `2º Dto`, `Top 7`), CITY,
  STATE (region, state, province, county, and countries), ZIP_CODE. Neighbouring words
  of one label joined by a space or hyphen are one part ("Ana Beatriz", "García López").
  Unit words like "n.º", "Co." and separators may stand unlabelled inside a span.
- about a quarter of the sentences hold no person, address or place but capitalised
  look-alikes; they have empty spans or only non-place spans. Countries never appear in
  them, since a country named on its own is a `location`.
- Chinese (see the zh_CN section below for details): a name is SURNAME then GIVEN_NAME
  (罗 / 敏), with no separator; a title after it (先生, 女士, 老师, 经理, 总 ...) or 小/老
  before a surname stays outside the `person` span. A place keeps its suffix (市, 区, 省)
  and is one `location` however many levels it names (`成都市锦江区`, `浙江省杭州市`):
  province STATE, city and district CITY. A street address runs from the province or city
  to the unit: `上海市徐汇区漕溪北路88号3栋2单元501室` is CITY (上海市徐汇区), STREET_NAME,
  BUILDING_NUMBER (with 号, `120弄7号`), SECONDARY_ADDRESS; a postcode after a space is
  ZIP_CODE. Prepositions, verbs and particles next to a span (在, 去, 到, 从, 住在, 的,
  附近, 门口) stay outside. About 47 % of the Chinese sentences hold no person, address
  or place: everyday prompts (weather, food, travel advice, tech questions with Latin
  product names, greetings, politeness words) and ones with only a phone, e-mail, ID
  number, password, card or IP address.

The sentence templates were written for this training set only, not copied from the
evaluation generators (tests/data/pii/generate*.py) or from presidio-research: of those,
only generate.py, corpus.jsonl and the README were read, for the labelling conventions
(the Chinese ones included); the other generators and the held-out corpora were not
opened. One frame is shared nonetheless: "the fastest train from X to Y" was named in
the brief for this file, quoted from docs/benchmarks.md's description of the European
held-out split (generate_faker_eu.py --split heldout), so that split is not unseen for it.

Output of `--seed 1 --count 6000` (summary printed on stderr): 6000 sentences, 638 of
them zh_CN (299, 47 %, without person, address or place); spans person 2328, location
1713, streetAddress 1587, phone 242, email 174, dateOfBirth 125, ipAddress 49, apiKey 49,
creditCard 38, nationalId 10; 846 hand-written templates (327 of them Chinese).
"""

import argparse
import datetime
import json
import os
import random
import re
import sys
from collections import Counter

FAKER_VERSION = "40.54.0"

try:
    import faker
except ImportError:  # pragma: no cover - environment problem
    sys.exit(f"needs Faker=={FAKER_VERSION}: pip install Faker=={FAKER_VERSION}")
if faker.VERSION != FAKER_VERSION:
    sys.exit(f"needs Faker=={FAKER_VERSION} exactly (found {faker.VERSION}); other versions draw other values")
from faker import Faker  # noqa: E402
from faker.providers.geo import Provider as GeoProvider  # noqa: E402

# ---------------------------------------------------------------- locales

# locale -> (template language, ISO country, locale weight)
LOCALES = {
    "en_US": ("en", "US", 1.5), "en_GB": ("en", "GB", 1.5), "en_AU": ("en", "AU", 1.0),
    "en_CA": ("en", "CA", 1.0), "en_IE": ("en", "IE", 1.0), "en_NZ": ("en", "NZ", 1.0),
    "de_DE": ("de", "DE", 1.0), "de_AT": ("de", "AT", 1.0), "de_CH": ("de", "CH", 1.0),
    "fr_FR": ("fr", "FR", 1.0), "fr_CH": ("fr", "CH", 1.0), "fr_CA": ("fr", "CA", 1.0),
    "es_ES": ("es", "ES", 1.0), "es_MX": ("es", "MX", 1.0), "it_IT": ("it", "IT", 1.0),
    "nl_NL": ("nl", "NL", 1.0), "nl_BE": ("nl", "BE", 1.0), "pt_PT": ("pt", "PT", 1.0),
    "pt_BR": ("pt", "BR", 1.0), "pl_PL": ("pl", "PL", 1.0), "sv_SE": ("sv", "SE", 1.0),
    "da_DK": ("da", "DK", 1.0), "no_NO": ("no", "NO", 1.0), "fi_FI": ("fi", "FI", 1.0),
    "cs_CZ": ("cs", "CZ", 1.0),
    "zh_CN": ("zh", "CN", 3.0),  # about 10 % of the sentences; its own templates and values (see below)
}
# Probability that a sentence of a non-English locale is written in the locale's language
# (fewer templates for the smaller languages, so less often).
LOCAL_SHARE = {"de": 0.45, "fr": 0.45, "es": 0.45, "it": 0.45, "nl": 0.45, "pt": 0.45,
               "pl": 0.15, "sv": 0.15, "da": 0.15, "no": 0.15, "fi": 0.15, "cs": 0.15}

# Locales whose Faker city() makes up names from person names, with the share of towns
# still taken from it; the rest are real towns (Faker's geo list, or the list below).
FAKE_CITY_SHARE = {"en_US": 0.35, "en_GB": 0.35, "en_AU": 0.35, "en_CA": 0.35, "en_IE": 0.15, "en_NZ": 0.3,
                   "fr_FR": 0.3, "fr_CH": 0.15, "fr_CA": 0.3, "es_MX": 0.1, "pt_BR": 0.3, "no_NO": 0.25}

MAJOR_CITIES = {
    "en_US": "New York|Chicago|Houston|Phoenix|Philadelphia|San Antonio|San Diego|Dallas|Austin|Seattle|Denver|Boston|Nashville|Portland|Atlanta|Miami|Minneapolis|Pittsburgh|Sacramento|Baltimore",
    "en_GB": "London|Manchester|Birmingham|Leeds|Glasgow|Edinburgh|Liverpool|Bristol|Cardiff|Belfast|Sheffield|Nottingham|Brighton|Oxford|Cambridge|York|Newcastle upon Tyne|Norwich|Exeter|Aberdeen",
    "en_AU": "Sydney|Melbourne|Brisbane|Perth|Adelaide|Hobart|Darwin|Canberra|Gold Coast|Wollongong|Geelong|Cairns|Townsville|Ballarat|Bendigo",
    "en_CA": "Toronto|Montreal|Vancouver|Calgary|Ottawa|Edmonton|Winnipeg|Halifax|Victoria|Quebec City|Saskatoon|Regina|Kingston|Hamilton|Kelowna",
    "en_IE": "Dublin|Cork|Galway|Limerick|Waterford|Kilkenny|Sligo|Athlone|Drogheda|Dundalk|Tralee|Ennis|Wexford|Navan|Killarney|Letterkenny|Carlow|Mullingar|Bray|Westport",
    "en_NZ": "Auckland|Wellington|Christchurch|Dunedin|Hamilton|Tauranga|Napier|Nelson|Rotorua|Whangārei|Invercargill|Palmerston North|Queenstown|Timaru|Gisborne|Whanganui|New Plymouth",
    "de_DE": "Berlin|Hamburg|München|Köln|Frankfurt am Main|Stuttgart|Düsseldorf|Leipzig|Dresden|Hannover|Nürnberg|Bremen|Freiburg im Breisgau|Heidelberg|Münster|Regensburg|Rostock|Kiel",
    "de_AT": "Wien|Graz|Linz|Salzburg|Innsbruck|Klagenfurt|Villach|Wels|Sankt Pölten|Dornbirn|Bregenz|Steyr|Leoben|Krems an der Donau",
    "de_CH": "Zürich|Basel|Bern|Luzern|Winterthur|St. Gallen|Zug|Chur|Thun|Schaffhausen|Aarau|Olten|Baden|Solothurn",
    "fr_FR": "Paris|Lyon|Marseille|Toulouse|Nice|Nantes|Strasbourg|Montpellier|Bordeaux|Lille|Rennes|Reims|Grenoble|Dijon|Angers|Annecy|Brest|Tours|Rouen|Avignon|Aix-en-Provence|La Rochelle",
    "fr_CH": "Genève|Lausanne|Neuchâtel|Fribourg|Sion|Montreux|Yverdon-les-Bains|Nyon|Vevey|Delémont|La Chaux-de-Fonds|Morges|Martigny|Bulle",
    "fr_CA": "Montréal|Québec|Laval|Gatineau|Sherbrooke|Trois-Rivières|Saguenay|Lévis|Rimouski|Drummondville|Granby|Saint-Jérôme|Longueuil|Moncton",
    "es_ES": "Madrid|Barcelona|Valencia|Sevilla|Zaragoza|Málaga|Murcia|Palma|Bilbao|Alicante|Córdoba|Valladolid|Vigo|Gijón|Granada|Salamanca|San Sebastián|Pamplona|Toledo|Cádiz",
    "es_MX": "Ciudad de México|Guadalajara|Monterrey|Puebla|Tijuana|León|Mérida|Querétaro|Oaxaca|Morelia|Cancún|Chihuahua|Toluca|Veracruz|Aguascalientes|San Luis Potosí|Hermosillo|Saltillo",
    "it_IT": "Roma|Milano|Napoli|Torino|Palermo|Genova|Bologna|Firenze|Bari|Catania|Venezia|Verona|Padova|Trieste|Parma|Perugia|Lecce|Bergamo|Pisa|Modena",
    "nl_NL": "Amsterdam|Rotterdam|Den Haag|Utrecht|Eindhoven|Groningen|Tilburg|Almere|Breda|Nijmegen|Haarlem|Arnhem|Zwolle|Leiden|Maastricht|Delft|Amersfoort|Leeuwarden|'s-Hertogenbosch",
    "nl_BE": "Antwerpen|Gent|Brugge|Leuven|Mechelen|Hasselt|Kortrijk|Oostende|Aalst|Genk|Brussel|Sint-Niklaas|Roeselare|Turnhout|Lier",
    "pt_PT": "Lisboa|Porto|Braga|Coimbra|Faro|Aveiro|Évora|Funchal|Setúbal|Viseu|Guimarães|Leiria|Viana do Castelo|Cascais|Sintra|Lagos|Tavira",
    "pt_BR": "São Paulo|Rio de Janeiro|Belo Horizonte|Salvador|Fortaleza|Curitiba|Recife|Porto Alegre|Manaus|Belém|Goiânia|Florianópolis|Campinas|Natal|Brasília|Vitória|João Pessoa|Maceió",
    "pl_PL": "Warszawa|Kraków|Łódź|Wrocław|Poznań|Gdańsk|Szczecin|Lublin|Katowice|Białystok|Gdynia|Toruń|Rzeszów|Olsztyn|Opole|Zakopane|Sopot",
    "sv_SE": "Stockholm|Göteborg|Malmö|Uppsala|Västerås|Örebro|Linköping|Helsingborg|Jönköping|Norrköping|Lund|Umeå|Gävle|Luleå|Kiruna|Visby",
    "da_DK": "København|Aarhus|Odense|Aalborg|Esbjerg|Randers|Kolding|Horsens|Vejle|Roskilde|Herning|Silkeborg|Helsingør|Svendborg|Ribe|Skagen",
    "no_NO": "Oslo|Bergen|Trondheim|Stavanger|Tromsø|Drammen|Kristiansand|Fredrikstad|Bodø|Ålesund|Harstad|Lillehammer|Molde|Hamar|Larvik|Sandnes|Haugesund|Alta",
    "fi_FI": "Helsinki|Espoo|Tampere|Vantaa|Oulu|Turku|Jyväskylä|Lahti|Kuopio|Pori|Joensuu|Lappeenranta|Vaasa|Rovaniemi|Porvoo|Hämeenlinna",
    "cs_CZ": "Praha|Brno|Ostrava|Plzeň|Liberec|Olomouc|České Budějovice|Hradec Králové|Pardubice|Zlín|Jihlava|Karlovy Vary|Kutná Hora|Český Krumlov|Opava|Tábor",
}
MAJOR_CITIES = {k: v.split("|") for k, v in MAJOR_CITIES.items()}

EXTRA_REGIONS = {
    "en_NZ": "Canterbury|Otago|Waikato|Northland|Southland|Taranaki|Hawke's Bay|Marlborough|Tasman|Bay of Plenty|West Coast|Manawatū-Whanganui|Auckland Region|Wellington Region".split("|"),
    "no_NO": "Rogaland|Møre og Romsdal|Nordland|Østfold|Akershus|Buskerud|Innlandet|Vestfold|Telemark|Agder|Vestland|Trøndelag|Troms|Finnmark".split("|"),
}

# home country of each locale: (English names, local names)
HOME_COUNTRY = {
    "US": (["USA", "America"], []), "GB": (["England", "Scotland", "Wales", "Britain", "UK"], []),
    "AU": (["Australia"], []), "CA": (["Canada"], ["Canada"]), "IE": (["Ireland"], []),
    "NZ": (["New Zealand"], []), "DE": (["Germany"], ["Deutschland"]),
    "AT": (["Austria"], ["Österreich"]), "CH": (["Switzerland"], ["Schweiz", "Suisse"]),
    "FR": (["France"], ["France"]), "ES": (["Spain"], ["España"]), "MX": (["Mexico"], ["México"]),
    "IT": (["Italy"], ["Italia"]), "NL": (["Netherlands", "Holland"], ["Nederland"]),
    "BE": (["Belgium"], ["België"]), "PT": (["Portugal"], ["Portugal"]), "BR": (["Brazil"], ["Brasil"]),
    "PL": (["Poland"], ["Polska"]), "SE": (["Sweden"], ["Sverige"]), "DK": (["Denmark"], ["Danmark"]),
    "NO": (["Norway"], ["Norge"]), "FI": (["Finland"], ["Suomi"]), "CZ": (["Czechia", "Czech Republic"], ["Česko"]),
}

COMMON_STREETS = {
    "en_US": "Main Street|Oak Street|Maple Avenue|Park Avenue|Elm Street|Washington Street|Broadway|Pine Street|Cedar Lane|Lake Drive|2nd Avenue|5th Street",
    "en_GB": "High Street|Station Road|Church Lane|Victoria Road|Green Lane|Manor Road|Park Road|Mill Lane|Queen Street|King's Road|The Crescent|London Road",
    "en_AU": "George Street|Pitt Street|Bourke Street|Collins Street|Beach Road|Queen Street|Anzac Parade|Victoria Street",
    "en_CA": "Yonge Street|King Street West|Queen Street East|Dundas Street|Main Street|Portage Avenue|Jasper Avenue|Granville Street",
    "en_IE": "Main Street|Church Street|O'Connell Street|Patrick Street|Bridge Street|Shop Street|Grafton Street|Strand Road",
    "en_NZ": "Queen Street|Lambton Quay|Cuba Street|Colombo Street|George Street|Ponsonby Road|Victoria Avenue",
    "de_DE": "Hauptstraße|Bahnhofstraße|Schulstraße|Gartenweg|Lindenallee|Am Markt|Kirchgasse|Goethestraße|Friedrichstraße|Mühlenweg|Schillerplatz",
    "de_AT": "Hauptstraße|Mariahilfer Straße|Landstraßer Hauptstraße|Kirchengasse|Bahnhofstraße|Hauptplatz|Linzer Gasse|Herrengasse",
    "de_CH": "Bahnhofstrasse|Dorfstrasse|Seestrasse|Hauptstrasse|Kirchweg|Schulhausstrasse|Rosenweg|Marktgasse",
    "fr_FR": "rue de la Paix|avenue Victor Hugo|place de la République|rue du Moulin|boulevard Voltaire|impasse des Lilas|allée des Tilleuls|rue Nationale|Grande Rue|quai des Chartrons",
    "fr_CH": "rue du Lac|avenue de la Gare|chemin des Vignes|rue du Marché|route de Genève|place du Tilleul|avenue de Rumine",
    "fr_CA": "rue Saint-Denis|boulevard René-Lévesque|chemin du Lac|rue Principale|avenue du Parc|rue Sherbrooke Ouest",
    "es_ES": "Calle Mayor|Calle Real|Avenida de la Constitución|Plaza de España|Gran Vía|Calle del Sol|C/ Mayor|Calle San Juan|Paseo de Gracia|Calle de Alcalá",
    "es_MX": "Avenida Insurgentes Sur|Calle Morelos|Av. Juárez|Calle Hidalgo|Paseo de la Reforma|Calle 5 de Mayo|Avenida Revolución",
    "it_IT": "Via Roma|Via Garibaldi|Corso Vittorio Emanuele II|Piazza Duomo|Via Dante|Via Mazzini|Viale dei Mille|Via XX Settembre|Via Cavour|Corso Italia",
    "nl_NL": "Kerkstraat|Dorpsstraat|Molenweg|Lucasboulevard|Stationsplein|Prinsengracht|Keizersgracht|Nieuwstraat|Hoofdstraat|Julianalaan",
    "nl_BE": "Kerkstraat|Stationsstraat|Grote Markt|Meir|Nieuwstraat|Dorpsstraat|Kapelstraat|Leopoldlaan",
    "pt_PT": "Rua Augusta|Avenida da Liberdade|Rua de Santa Catarina|Rua do Carmo|Avenida da República|Rua Direita|Largo do Rato",
    "pt_BR": "Rua das Flores|Avenida Paulista|Rua XV de Novembro|Avenida Atlântica|Rua da Consolação|Avenida Brasil|Rua Oscar Freire",
    "pl_PL": "ul. Marszałkowska|ul. Długa|ul. Piotrkowska|al. Jerozolimskie|ul. Floriańska|ul. Mickiewicza|pl. Wolności",
    "sv_SE": "Storgatan|Drottninggatan|Kungsgatan|Järnvägsgatan|Skolvägen|Vasagatan",
    "da_DK": "Nørregade|Østergade|Vesterbrogade|Strøget|Algade|Jernbanegade",
    "no_NO": "Storgata|Kirkegata|Karl Johans gate|Bygdøy allé|Kongens gate|Strandgata",
    "fi_FI": "Mannerheimintie|Hämeenkatu|Aleksanterinkatu|Kauppakatu|Rantatie|Koulukatu",
    "cs_CZ": "Václavské náměstí|Národní|Vinohradská|Masarykova|Nádražní|Husova",
}
COMMON_STREETS = {k: v.split("|") for k, v in COMMON_STREETS.items()}
EN_STREET_TYPES = ["Street", "Street", "Avenue", "Road", "Road", "Drive", "Lane", "Way", "Court", "Place",
                   "Boulevard", "Close", "Crescent", "Terrace", "St", "Ave", "Rd", "Dr"]

TITLES = {  # (male, female)
    "en": (["Mr.", "Mr.", "Dr.", "Prof."], ["Mrs.", "Ms.", "Ms.", "Dr.", "Miss"]),
    "en_GB": (["Mr", "Mr", "Dr", "Prof"], ["Mrs", "Ms", "Dr", "Miss"]),
    "de": (["Herr", "Herr", "Dr.", "Prof."], ["Frau", "Frau", "Dr.", "Prof."]),
    "fr": (["M.", "Monsieur", "Dr"], ["Mme", "Madame", "Dr", "Me"]),
    "es": (["Sr.", "Don", "Dr."], ["Sra.", "Doña", "Dra."]),
    "it": (["Sig.", "Dott.", "Avv.", "Ing."], ["Sig.ra", "Dott.ssa", "Avv."]),
    "nl": (["dhr.", "meneer", "de heer"], ["mevr.", "mevrouw"]),
    "pt": (["Sr.", "Dr."], ["Sra.", "Dra.", "D."]),
    "pl": (["pan", "dr"], ["pani", "dr"]),
    "sv": (["herr", "dr"], ["fru", "dr"]),
    "da": (["hr.", "dr."], ["fru", "dr."]),
    "no": (["herr", "dr."], ["fru", "dr."]),
    "fi": (["herra", "tri"], ["rouva", "tri"]),
    "cs": (["pan", "Ing.", "MUDr."], ["paní", "Ing.", "MUDr."]),
}
AND = {"en": "and", "de": "und", "fr": "et", "es": "y", "it": "e", "nl": "en", "pt": "e",
       "pl": "i", "sv": "och", "da": "og", "no": "og", "fi": "ja", "cs": "a"}

MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
    "pl": "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia",
    "sv": "januari februari mars april maj juni juli augusti september oktober november december",
    "da": "januar februar marts april maj juni juli august september oktober november december",
    "no": "januar februar mars april mai juni juli august september oktober november desember",
    "fi": "tammikuu helmikuu maaliskuu huhtikuu toukokuu kesäkuu heinäkuu elokuu syyskuu lokakuu marraskuu joulukuu",
    "cs": "ledna února března dubna května června července srpna září října listopadu prosince",
}
MONTHS = {k: v.split() for k, v in MONTHS.items()}
DAYS = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "es": "lunes martes miércoles jueves viernes sábado domingo",
    "it": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "nl": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
    "pt": "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
    "pl": "poniedziałek wtorek środa czwartek piątek sobota niedziela",
    "sv": "måndag tisdag onsdag torsdag fredag lördag söndag",
    "da": "mandag tirsdag onsdag torsdag fredag lørdag søndag",
    "no": "mandag tirsdag onsdag torsdag fredag lørdag søndag",
    "fi": "maanantai tiistai keskiviikko torstai perjantai lauantai sunnuntai",
    "cs": "pondělí úterý středa čtvrtek pátek sobota neděle",
}
DAYS = {k: v.split() for k, v in DAYS.items()}

# ---------------------------------------------------------------- look-alikes (not personal data)

SOFTWARE = ("Ubuntu Linux|Helm|Kubernetes|PostgreSQL|Docker|Terraform|Ansible|Jenkins|Grafana|Prometheus|Kafka|"
            "Redis|Nginx|Excel|PowerPoint|Outlook|Slack|Zoom|Jira|Confluence|Figma|Photoshop|Visual Studio Code|"
            "IntelliJ IDEA|Android Studio|Windows 11|macOS Sonoma|Debian|Fedora|Arch Linux|Vim|Emacs|Git|"
            "GitHub Actions|GitLab|Django|Flask|React|Angular|Vue|Svelte|Spring Boot|Rails|Laravel|TensorFlow|"
            "PyTorch|Pandas|NumPy|Airflow|Spark|Elasticsearch|Kibana|Argo CD|Istio|Envoy|Traefik|Vault|Consul|"
            "OpenShift|Rancher|Minikube|SAP|Salesforce|HubSpot|WordPress|Magento|Notion|Trello|Asana|"
            "Microsoft Teams|Thunderbird|Firefox|Chrome|Safari|LibreOffice|Blender|Unity|Unreal Engine|"
            "Home Assistant|Nextcloud|Keycloak|RabbitMQ|MongoDB|SQLite|MariaDB|ClickHouse|Snowflake|Databricks").split("|")
PLANGS = "Rust|Go|Python|Java|Kotlin|Swift|TypeScript|JavaScript|Haskell|Elixir|Scala|Ruby|C++|C#|PHP|Perl|Lua|Dart|Zig|OCaml|Clojure|Fortran|COBOL".split("|")
PRODUCTS = ("iPhone 15|Xbox Series X|PlayStation 5|Galaxy S24|MacBook Air|Kindle Paperwhite|ThinkPad X1 Carbon|"
            "Surface Pro|AirPods Pro|Nintendo Switch|Apple Watch|Pixel 8|Dyson V15|Thermomix|Nespresso Vertuo|"
            "Tesla Model 3|Volkswagen Golf|Fiat Panda|Renault Clio|Toyota Corolla|Steam Deck|GoPro Hero 12|"
            "Kobo Clara|Fairphone 5|Raspberry Pi 5|Roomba|Sonos Era 100|Vespa Primavera|Brompton|Instant Pot").split("|")
COMPANIES = ("Siemens|Airbus|Shopify|Bosch|Philips|Nestlé|Zalando|Spotify|Ikea|Lidl|Aldi|Volvo|Heineken|Unilever|"
             "Carrefour|Decathlon|Mercadona|Inditex|Telefónica|Vodafone|Deutsche Telekom|Allianz|ING|Rabobank|"
             "BNP Paribas|Michelin|Danone|L'Oréal|Adidas|Ericsson|Nokia|Lego|Maersk|Novo Nordisk|Ryanair|"
             "Lufthansa|KLM|DHL|UPS|FedEx|PostNL|Microsoft|Google|Apple|Netflix|Uber|Airbnb|Booking.com|"
             "Revolut|N26|Klarna|Stripe|PayPal|Atlassian|Oracle|Intel|Nvidia|Accenture|Deloitte|Capgemini|"
             "SNCF|Deutsche Bahn|Renfe|Trenitalia|Orange|Ferrero|Barilla|Ahold Delhaize|Zara|Primark").split("|")
LANDMARKS = [("the Louvre", "Louvre"), ("the Sagrada Família", "Sagrada Família"), ("the Colosseum", "Colosseo"),
             ("the Rijksmuseum", "Rijksmuseum"), ("the Prado", "Prado"), ("Big Ben", "Big Ben"),
             ("the Eiffel Tower", "Tour Eiffel"), ("Neuschwanstein Castle", "Schloss Neuschwanstein"),
             ("the Alhambra", "Alhambra"), ("the Acropolis", "Akropolis"), ("Tower Bridge", "Tower Bridge"),
             ("the Brandenburg Gate", "Brandenburger Tor"), ("the Uffizi", "Uffizi"), ("the Vatican Museums", "Musei Vaticani"),
             ("the Atomium", "Atomium"), ("the Little Mermaid", "Den Lille Havfrue"), ("the Guggenheim", "Guggenheim"),
             ("the Natural History Museum", "Naturkundemuseum"), ("the Anne Frank House", "Anne Frank Huis"),
             ("the Belém Tower", "Torre de Belém"), ("the Charles Bridge", "Karlův most"), ("the Vasa Museum", "Vasamuseet"),
             ("the Leaning Tower", "Torre Pendente"), ("Notre-Dame", "Notre-Dame"), ("the Matterhorn", "Matterhorn")]
INSTITUTIONS = ("the Red Cross|the European Commission|the United Nations|UNESCO|the World Health Organization|"
                "Doctors Without Borders|the Bundesbank|Greenpeace|Amnesty International|the Salvation Army|"
                "the European Central Bank|Oxfam|WWF|the Open University|the Royal Society").split("|")
HOLIDAYS = ("Christmas|Easter|Thanksgiving|New Year's Eve|Black Friday|Ramadan|Diwali|Pentecost|Boxing Day|"
            "Halloween|Carnival|Whit Monday|Hanukkah|Valentine's Day|St. Patrick's Day|Mother's Day|Ascension Day|"
            "Epiphany|Midsummer|King's Day|Labour Day|All Saints' Day").split("|")
LANGUAGES = "English|German|French|Spanish|Italian|Dutch|Portuguese|Polish|Swedish|Danish|Finnish|Czech|Japanese|Mandarin|Norwegian|Greek|Turkish|Arabic".split("|")
JOBS = ("Senior Software Engineer|Head of Marketing|Product Manager|Chief Financial Officer|Data Scientist|"
        "Office Manager|Site Reliability Engineer|Nurse Practitioner|Sales Director|UX Designer|Account Executive|"
        "Project Coordinator|Scrum Master|Team Lead|Legal Counsel|Customer Success Manager|HR Business Partner|"
        "Lab Technician|Chief Technology Officer|Junior Developer").split("|")
FOODS = ("Coca-Cola|Red Bull|Nutella|Aperol Spritz|Guinness|Pepsi|Fanta|Haribo|Milka|Oreo|Pringles|Nescafé|"
         "Lipton Ice Tea|Kinder Bueno|Toblerone|Snickers|Sprite|Corona|Heineken|Club-Mate|Oatly|Activia|"
         "Pad Thai|Tiramisu|Carbonara|Paella|Schnitzel|Croissant|Pastel de Nata|Ramen|Gazpacho|Stroopwafel").split("|")
CODE = ("UserService|getCustomerById|MAX_RETRIES|HttpClient|OrderController|parse_config|AuthMiddleware|"
        "PaymentGateway|useEffect|OrderRepository|AppDelegate|SessionManager|fetchInvoices|KafkaConsumer|"
        "MainActivity|calculate_total|RetryPolicy|EventBus|LoginForm|ReportBuilder").split("|")

# ---------------------------------------------------------------- templates
# Slots: {P} full name, {G} given name, {TS} title + surname, {TP} title + full name, with an
# optional F/M gender letter ({GF}, {PM}); {PLIST} 2-3 given names; {C} town, {W} town
# anywhere, {R} region, {N} country; {A} street line, {AU} with unit, {AF} with postcode and
# town, {AB} broken over lines; {E} {PH} {CC} {IP} {DOB} {PW}; look-alike fillers {DAY}
# {MON} {TIME} {NUM} {ORD} {PRICE} {VER} {SW} {PLANG} {PROD} {CO} {LM} {INST} {HOL} {LANG}
# {JOB} {FOOD} {CODE}. A trailing digit makes a second slot of the same kind ({C2}).

T = {}

T[("en", "person")] = """
Is {P} coming too?
Can you draft a short thank-you note to {P} for hosting us last {DAY}?
{P} will take over the account from {DAY}, please update the contact list.
remind me to call {G} tomorrow at {TIME}
{G} and I are planning a surprise party for {G2}. Any ideas for games?
Write a birthday message for my niece {GF}, she turns seven.
How do I politely tell {G} that I can't make it on {DAY}?
Please add {P} and {P2} to the guest list for the {MON} gala.
{TS} asked me to resend the signed contract. Can you write a short cover email?
Translate this for {TS}: the appointment has been moved to {DAY}.
Who else should I cc besides {P}?
My daughter {GF} has had a fever since last night. Should she stay home from school?
My son's teacher, {TS}, wants to meet next week. What should I ask?
Write a reference letter for {P}, who worked with us as a {JOB} for three years.
{PLIST} are coming over for dinner on {DAY}. What can I cook that's vegetarian?
Schedule a call with {P} at {TIME} and send the invite.
Did {G}'s flight land on time?
I'm {P}, the new {JOB}. How do I request access to the shared drive?
Hi, this is {G} from the accounting team.
Sign the letter with my name, {P}.
The invoice should be addressed to {TP}.
Tell {G} I said happy birthday!
What's a good retirement gift for my father-in-law, {PM}?
{G}, {G2} and {G3} need seats in the same row.
Could {P} pick up the keys instead of me?
Has anyone heard from {P} since {DAY}?
Write a short speaker bio for {P}, our keynote at the {MON} conference.
Start the letter with "Dear {TS}," and keep it formal.
Please confirm that {P} is registered for the first-aid course in {MON}.
My grandmother {PF} turns ninety next week; help me write a toast.
List three questions I could ask {TS} at the parent-teacher evening.
Let {G} know the match starts at {TIME}.
{G} says the printer on the second floor is broken again.
Do you think {G} would like a {PROD} for {HOL}?
Book a dentist appointment for {P} next {DAY} morning.
The patient, {P}, reports mild headaches after the new medication.
I need to cancel {G}'s swimming lessons for the rest of the term.
Please register {P} for the under-12 football team.
{P} here, my parcel still hasn't arrived.
Meeting notes: {P} presented the budget and {P2} raised concerns about hiring.
Add a line thanking {TS} for the quick reply.
How should I address an envelope to {TP}?
rewrite this so it sounds nicer: hey {G}, running late, sorry
I'm writing on behalf of my mother, {PF}, who cannot use a computer.
Can {G} join the call, or is it invite-only?
Assign the ticket to {P} and set the priority to high.
Why hasn't {P} answered my last three emails?
{TS} is my landlord. How do I ask for the deposit back?
Congratulate {P} on the promotion to {JOB}.
Write a limerick about {G} and the broken coffee machine.
Is it rude to ask {G} to split the bill?
My wife {GF} and I want to renew our vows. Any venue ideas?
Pick a secret Santa partner for each of {PLIST}.
Summarise the feedback {P} gave on my draft.
Make a weekly chore chart for {PLIST}.
{GF} forgot her gym bag at the club again.
The new trainee is called {P}. Write a welcome message for the team channel.
Draft an out-of-office reply that refers people to {P}.
The wedding of {G} and {G2} is in {MON}; suggest a card message.
Our babysitter {GF} can only come on {DAY}s.
please invite {P} to the planning meeting
{TS} from the bank called about my mortgage.
I'd like to nominate {P} for volunteer of the year.
Send {P} a reminder that the rent is due on the first.
How do you pronounce {P}?
Was it {G} or {G2} who booked the meeting room?
Write a short condolence note for {P}'s family.
My coach, {P}, suggested interval training. Is that safe at fifty?
{TS} will chair the session on {DAY}.
Does {P} still work in the legal department?
{G} can't find the charger for the {PROD}, any idea where it went?
Both {P} and {G2} asked for {DAY} off.
Write a message to my neighbour {P} asking to borrow a ladder.
Help me plan {G}'s first week: desk, laptop, badge, intro meetings.
The referee, {P}, gave our striker a red card. How do I appeal?
What should I write in a card for {TS}, who is retiring?
{PF}? Never heard of her, is she on the committee?
Could you ask {TSM} whether he received my documents?
Our son {GM} got into the school orchestra!
"""

T[("en", "location")] = """
What's the fastest train from {C} to {C2}?
I grew up in {C} and moved away when I was eighteen.
What will the weather be like in {C} tomorrow?
We're moving to {C} in {MON}. Any tips for finding a school?
How far is {C} from {C2} by car?
Find me a cheap flight from {W} to {W2} on {DAY}.
Is it worth visiting {C}'s old town in winter?
Suggest a weekend itinerary for {R}.
I live near {C}. Are there good hiking trails around?
Which airport is closest to {C}?
My parents retired to {R} last year.
Is {N} expensive to travel around in {MON}?
Do I need a work permit to take a job in {N}?
How long does the ferry from {C} to {C2} take?
We stopped in {C} on the way to {W}.
Any good family restaurants around {C}?
What's the time difference between {W} and {C}?
I was born in {C}, {N}.
Book a hotel in {C} for two nights from {DAY}.
The conference is in {W} this year.
Compare rent prices in {C} and {C2}.
She commutes from {C} every day by train.
Plan a road trip through {R} and {R2}.
Is there a direct bus between {C} and the airport?
{C} or {C2} for a family holiday with toddlers?
{C} is where my grandparents lived.
weather in {C} this weekend?
How do I get from {C} to {C2} without a car?
I'm flying into {W} at {TIME}. Is public transport still running then?
My cousin studies in {C}; what's a good gift to send there?
Is {R} nice in {MON}?
Driving from {C} to {C2} tomorrow, where should I stop for lunch?
We met on holiday in {W}.
Our team is split between {C}, {C2} and {W}. Find a meeting time that works.
Write a postcard from {C} to my grandma.
Are the trains between {C} and {C2} running on {DAY}?
I'll be in {C} from {DAY} to {DAY2}. Any concerts?
How cold does it get in {R} in {MON}?
My brother lives just outside {C}.
Relocating from {N} to {N2} with a dog, what paperwork do I need?
near {C}, what's a good campsite?
Recommend a day trip from {C}.
Where in {R} can I go skiing?
Is the tap water safe to drink in {C}?
I spent my childhood between {C} and {W}.
Last summer we cycled from {C} to {C2}.
The job is based in {C} but allows remote work from anywhere in {N}.
Which is bigger, {C} or {C2}?
My flight to {W} got cancelled, what are my rights?
Help me write a review of a small hotel in {C}.
My sister just moved to {C}, {R}.
Cheapest way to send a parcel to {N}?
Is there a night train from {C} to {W}?
How many hours is the drive from {R} to {C}?
Our family reunion will be in {C} this year.
Is {C} a good place to retire?
i live in {C}, which internet provider do you recommend?
Tips for a first visit to {N} with kids?
Traffic on the motorway near {C} is terrible, any alternative route?
Grew up in {C}, studied in {C2}, now working in {W}. Write that as a LinkedIn summary.
Is the {MON} market in {C} worth the trip?
Does the bus from {C} stop in {C2}?
Summer camp options around {C} for a ten-year-old?
"""

T[("en", "address")] = """
Please ship the order to {A}.
My new address is {AF}.
Can you update my delivery address to:¶{AB}
Deliver the parcel to {AU} and leave it with the neighbour if I'm out.
We moved from {A} to {A2} last month; which accounts should I update?
Format this address for an envelope: {AF}
The party is at {AF} and starts at {TIME}.
Send the invoice to {TP}, {AF}.
Return address:¶{P}¶{AB}
I need a taxi from {A} to the central station at {TIME}.
Write a complaint to my landlord about the heating at {AU}.
Our new office is at {AF}, on the second floor.
Change the billing address to {AF}, please.
How much does it cost to post a parcel from {A} to {C}?
Registered address: {AF}
pickup at {A}, drop-off at {A2}
Is there parking near {A}?
The keys are with the caretaker at {AU}.
My grandmother lives at {AF}; find a florist that delivers there.
Ship to:¶{P}¶{AB}
Can you check whether {A} is in the catchment area for the primary school?
The car was parked outside {A} when it was scratched.
Forward my mail from {A} to {AF}.
Invoice recipient: {P}, {AF}
I live at {A}. Where is the nearest recycling centre?
Please collect the old sofa from {AU} on {DAY}.
Address for the wedding invitations: {AF}
Our holiday flat is at {AF}; write check-in instructions for guests.
The meeting point is {A}, in front of the bakery.
Write a letter of complaint about the noise coming from {A}.
Send the replacement card to¶{AB}
My address changed to {AU}, the postcode is the same.
Is {A} within walking distance of the station?
Can a courier pick up from {AF} before noon?
Rewrite this address in the local format: {AF}
The lease for {AU} ends in {MON}.
The dentist's practice moved to {AF}.
Add {AF} to my saved addresses.
The school still sends letters to {A} even though we moved.
{A} - is that the house with the blue door?
Deliver to: {AB}
Our club meets at {AF} every {DAY}.
Our rental at {AU} has a leaking tap, draft a repair request.
"""

T[("en", "mixed")] = """
Hi, I'm {P}, you can reach me at {E} or {PH}.
Update my profile: name {P}, date of birth {DOB}, address {AF}.
Name: {P}¶Address: {AF}¶Phone: {PH}¶Email: {E}
Fill in this form for me. Name: {P}. Born: {DOB}. Lives in: {C}.
Card {CC} was charged twice for the hotel in {C}.
Our office server in {C} has the address {IP} and keeps rebooting.
my login is {E} and the password is {PW}, why can't I sign in?
Please call {G} on {PH} when the delivery reaches {A}.
Patient {P}, born {DOB}, transferred from {C}.
Send the tickets to {E}; the billing address is {AF}.
{P} ({E}) will be our contact in {C}.
New member: {P}, {AF}, tel. {PH}
The booking is under {TS}, arriving from {W} on {DAY}.
Reservation for {P}, party of four, {DAY} at {TIME}. Contact: {PH}.
Write an email to {E} telling {G} the package will go to {AU} instead.
I'm {G}, born {DOB} in {C}. Help me fill in the passport renewal.
Our Wi-Fi at {A} shows public IP {IP}, is that normal?
Emergency contact for {P}: {P2}, {PH}.
Pay with card {CC}, name on card {P}.
Driver {P} will collect you from {A} at {TIME}.
Sports club sign-up: {P}, born {DOB}, {AF}, parent's phone {PH}.
Forward this to {P} in our {C} office and cc {E}.
"""

T[("de", "person")] = """
Kannst du eine kurze Nachricht an {P} schreiben, dass das Treffen am {DAY} ausfällt?
Kommt {P} auch mit?
{TS} hat angerufen und bittet um Rückruf.
Schreib eine Einladung zum Geburtstag von {G} am {DAY}.
{PLIST} kommen am Wochenende zu Besuch. Was soll ich kochen?
Formuliere eine höfliche Absage an {TS}.
Mein Sohn {GM} ist krank, bitte entschuldige ihn beim Fußballtraining.
Erinnere mich daran, {G} am {DAY} um {TIME} anzurufen.
{G} und {G2} heiraten im {MON}. Hilf mir bei einem Kartentext.
Ist {P} noch in der Buchhaltung?
Bitte leite die Mail an {P} weiter.
Wie schreibe ich ein Arbeitszeugnis für {P}?
"""
T[("de", "location")] = """
Wie komme ich am schnellsten mit dem Zug von {C} nach {C2}?
Ich bin in {C} aufgewachsen und wohne jetzt in {C2}.
Wie wird das Wetter morgen in {C}?
Wir ziehen im {MON} nach {C}. Worauf muss ich bei der Ummeldung achten?
Wie weit ist es von {C} bis {W}?
Ich wohne bei {C} in {R}. Gibt es hier gute Wanderwege?
Wir machen Urlaub in {R}, hast du Tipps für Ausflüge?
Lohnt sich ein Tagesausflug von {C} nach {C2}?
"""
T[("de", "address")] = """
Bitte schick das Paket an {AF}.
Meine neue Adresse lautet:¶{AB}
Lieferadresse: {AU}
Die Rechnung bitte an {TP}, {AF}.
Bitte hol {G} um {TIME} ab, Adresse: {A}.
Wir sind von {A} nach {A2} umgezogen. Wen muss ich informieren?
Die Wohnung in der {AU} hat Schimmel, schreib bitte eine Mängelanzeige.
"""
T[("de", "mixed")] = """
Name: {P}, geboren am {DOB}, wohnhaft {AF}.
Ist {G} schon in {C} angekommen? Ihre Nummer ist {PH}.
Mein Passwort für das Elternportal ist {PW}, warum klappt die Anmeldung für {G} nicht?
Anmeldung Sportverein: {P}, {AF}, Telefon {PH}, E-Mail {E}.
"""

T[("fr", "person")] = """
Peux-tu écrire un petit mot de remerciement à {P} ?
Est-ce que {P} vient aussi ?
{TS} m'a demandé de renvoyer le contrat signé.
Rédige une invitation pour l'anniversaire de {G}, {DAY} prochain.
{PLIST} viennent dîner samedi. Une idée de menu ?
Mon fils {GM} est malade, peux-tu prévenir son entraîneur ?
Rappelle-moi d'appeler {G} {DAY} à {TIME}.
Écris une réponse polie à {TS} pour décliner l'invitation.
{P} prend la relève à partir de {DAY}.
Comment féliciter {P} pour sa promotion ?
"""
T[("fr", "location")] = """
Quel est le train le plus rapide de {C} à {C2} ?
J'ai grandi à {C}, puis j'ai déménagé à {C2}.
Quel temps fera-t-il demain à {C} ?
Nous déménageons à {C} en {MON}. Quelles démarches faut-il faire ?
Combien de temps faut-il pour aller de {C} à {W} en voiture ?
On passe nos vacances en {R} cette année, des conseils ?
Je cherche un gîte près de {C} pour le week-end.
"""
T[("fr", "address")] = """
Merci d'envoyer le colis à {AF}.
Ma nouvelle adresse :¶{AB}
Adresse de livraison : {AU}
Facture à l'attention de {TP}, {AF}.
Écris une lettre à mon propriétaire au sujet du chauffage, adresse : {AU}.
Nous avons quitté le {A} pour nous installer à {AF}.
"""
T[("fr", "mixed")] = """
Nom : {P}, né le {DOB}, domicilié {AF}.
Est-ce que {G} est bien arrivée à {C} ? Son numéro : {PH}.
Inscription au club : {P}, {AF}, tél. {PH}, courriel {E}.
"""

T[("es", "person")] = """
¿Puedes escribir una nota de agradecimiento para {P}?
¿Viene también {P}?
{TS} me pidió que le reenviara el contrato firmado.
Escribe una invitación para el cumpleaños de {G} el {DAY}.
{PLIST} vienen a cenar el sábado. ¿Qué preparo?
Mi hija {GF} está enferma, avisa a su profesora por favor.
Recuérdame llamar a {G} el {DAY} a las {TIME}.
¿Cómo le digo a {G} que no puedo ir?
{P} se encarga del proyecto a partir del {DAY}.
"""
T[("es", "location")] = """
¿Cuál es el tren más rápido de {C} a {C2}?
Me crie en {C} y ahora vivo en {C2}.
¿Qué tiempo hará mañana en {C}?
Nos mudamos a {C} en {MON}. ¿Qué trámites tengo que hacer?
¿Cuánto se tarda en coche de {C} a {W}?
Este verano vamos a {R}, ¿qué nos recomiendas?
Busco una casa rural cerca de {C}.
"""
T[("es", "address")] = """
Envía el paquete a {AF}, por favor.
Mi nueva dirección es:¶{AB}
Dirección de entrega: {AU}
Factura a nombre de {TP}, {AF}.
Quedamos en {A} a las {TIME}.
Nos mudamos de {A} a {AF} el mes pasado.
"""
T[("es", "mixed")] = """
Nombre: {P}, fecha de nacimiento {DOB}, domicilio en {AF}.
¿Ya llegó {G} a {C}? Su móvil es {PH}.
Alta en el club: {P}, {AF}, teléfono {PH}, correo {E}.
"""

T[("it", "person")] = """
Puoi scrivere un biglietto di ringraziamento per {P}?
Viene anche {P}?
{TS} mi ha chiesto di rimandare il contratto firmato.
Scrivi un invito per il compleanno di {G}.
{PLIST} vengono a cena sabato. Cosa posso cucinare?
Mio figlio {GM} ha la febbre, avvisa l'allenatore per favore.
Ricordami di chiamare {G} {DAY} alle {TIME}.
Come rispondo a {TS} senza sembrare scortese?
Da {DAY} il progetto passa a {P}.
"""
T[("it", "location")] = """
Qual è il treno più veloce da {C} a {C2}?
Sono cresciuto a {C}, ma adesso vivo a {C2}.
Che tempo fa domani a {C}?
Ci trasferiamo a {C} a {MON}. Quali documenti servono?
Quanto ci vuole in macchina da {C} a {W}?
Quest'estate andiamo in {R}, cosa ci consigli?
Cerco un agriturismo vicino a {C}.
"""
T[("it", "address")] = """
Spedisci il pacco a {AF}, per favore.
Il mio nuovo indirizzo è:¶{AB}
Indirizzo di consegna: {AU}
Fattura intestata a {TP}, {AF}.
Ci vediamo in {A} alle {TIME}.
Abbiamo traslocato da {A} a {AF}.
"""
T[("it", "mixed")] = """
Nome: {P}, nato il {DOB}, residente in {AF}.
{G} è già arrivata a {C}? Il suo numero è {PH}.
Iscrizione alla palestra: {P}, {AF}, tel. {PH}, email {E}.
"""

T[("nl", "person")] = """
Kun je een kort bedankje schrijven voor {P}?
Komt {P} ook?
{TS} vroeg of ik het getekende contract opnieuw wil sturen.
Schrijf een uitnodiging voor het verjaardagsfeest van {G} op {DAY}.
{PLIST} komen zaterdag eten. Wat zal ik koken?
Mijn zoon {GM} is ziek, kun je de trainer laten weten dat hij niet komt?
Herinner me eraan om {G} op {DAY} om {TIME} te bellen.
Hoe zeg ik tegen {G} dat ik niet kan komen?
Vanaf {DAY} neemt {P} het project over.
"""
T[("nl", "location")] = """
Wat is de snelste trein van {C} naar {C2}?
Ik ben opgegroeid in {C} en woon nu in {C2}.
Wat voor weer wordt het morgen in {C}?
We verhuizen in {MON} naar {C}. Wat moet ik regelen bij de gemeente?
Hoe lang rijd je van {C} naar {W}?
Deze zomer gaan we naar {R}, heb je tips?
Ik zoek een vakantiehuisje in de buurt van {C}.
"""
T[("nl", "address")] = """
Stuur het pakket naar {AF}, alsjeblieft.
Mijn nieuwe adres is:¶{AB}
Afleveradres: {AU}
Factuur ter attentie van {TP}, {AF}.
We spreken af bij {A} om {TIME}.
We zijn verhuisd van {A} naar {AF}.
"""
T[("nl", "mixed")] = """
Naam: {P}, geboren op {DOB}, woonachtig {AF}.
Is {G} al in {C} aangekomen? Haar nummer is {PH}.
Inschrijving sportclub: {P}, {AF}, tel. {PH}, e-mail {E}.
"""

T[("pt", "person")] = """
Podes escrever uma mensagem de agradecimento para {P}?
{P} também vem?
{TS} pediu-me para reenviar o contrato assinado.
Escreve um convite para o aniversário de {G}.
{PLIST} vêm jantar no sábado. O que devo cozinhar?
A minha filha {GF} está doente, avisa a professora por favor.
Lembra-me de ligar para {G} às {TIME}.
Como digo a {G} que não posso ir?
"""
T[("pt", "location")] = """
Qual é a forma mais rápida de ir de {C} para {C2}?
Cresci em {C} e agora moro em {C2}.
Como vai estar o tempo amanhã em {C}?
Vamos mudar-nos para {C} em {MON}. Que documentos preciso?
Quanto tempo demora de carro de {C} a {W}?
Este verão vamos para {R}, o que recomendas?
"""
T[("pt", "address")] = """
Envie a encomenda para {AF}, por favor.
Novo endereço:¶{AB}
Endereço de entrega: {AU}
Fatura em nome de {TP}, {AF}.
Encontramo-nos em {A} às {TIME}.
"""
T[("pt", "mixed")] = """
Nome: {P}, data de nascimento {DOB}, residente em {AF}.
{G} já chegou a {C}? O número dela é {PH}.
"""

T[("pl", "person")] = """
Czy {P} też przyjdzie?
Kontakt: {TS}, tel. {PH}.
{PLIST} przyjdą w sobotę na kolację. Co ugotować?
"""
T[("pl", "location")] = """
Mieszkam w miejscowości {C}. Jaka będzie jutro pogoda?
Trasa {C} – {C2}: jaki jest najszybszy pociąg?
"""
T[("pl", "address")] = """
Adres dostawy: {AF}
Mój nowy adres:¶{AB}
"""
T[("pl", "mixed")] = """
Imię i nazwisko: {P}, data urodzenia: {DOB}, adres: {AF}.
"""

T[("sv", "person")] = """
Kommer {P} också?
{PLIST} kommer på middag på lördag. Vad ska jag laga?
Påminn mig om att ringa {G} klockan {TIME}.
"""
T[("sv", "location")] = """
Vilket är det snabbaste tåget från {C} till {C2}?
Jag växte upp i {C} men bor nu i {C2}.
Hur blir vädret i {C} i morgon?
"""
T[("sv", "address")] = """
Skicka paketet till {AF}, tack.
Min nya adress är:¶{AB}
"""
T[("sv", "mixed")] = """
Namn: {P}, född {DOB}, adress {AF}.
"""

T[("da", "person")] = """
Kommer {P} også?
{PLIST} kommer til middag på lørdag. Hvad skal jeg lave?
Husk mig på at ringe til {G} klokken {TIME}.
"""
T[("da", "location")] = """
Hvad er det hurtigste tog fra {C} til {C2}?
Jeg voksede op i {C}, men bor nu i {C2}.
Hvordan bliver vejret i {C} i morgen?
"""
T[("da", "address")] = """
Send pakken til {AF}, tak.
Min nye adresse er:¶{AB}
"""
T[("da", "mixed")] = """
Navn: {P}, født {DOB}, adresse {AF}.
"""

T[("no", "person")] = """
Kommer {P} også?
{PLIST} kommer på middag på lørdag. Hva skal jeg lage?
Minn meg på å ringe {G} klokka {TIME}.
"""
T[("no", "location")] = """
Hva er det raskeste toget fra {C} til {C2}?
Jeg vokste opp i {C}, men bor nå i {C2}.
Hvordan blir været i {C} i morgen?
"""
T[("no", "address")] = """
Send pakken til {AF}, takk.
Min nye adresse er:¶{AB}
"""
T[("no", "mixed")] = """
Navn: {P}, født {DOB}, adresse {AF}.
"""

T[("fi", "person")] = """
Tuleeko {P} myös?
{PLIST} tulevat lauantaina syömään. Mitä kokkaisin?
"""
T[("fi", "location")] = """
Mikä on nopein junayhteys? Lähtö: {C}, määränpää: {C2}.
Millainen sää on huomenna? Paikkakunta: {C}.
"""
T[("fi", "address")] = """
Toimitusosoite: {AF}
Uusi osoitteeni on:¶{AB}
"""
T[("fi", "mixed")] = """
Nimi: {P}, syntynyt {DOB}, osoite {AF}.
"""

T[("cs", "person")] = """
Přijde i {P}?
{PLIST} přijdou v sobotu na večeři. Co uvařit?
"""
T[("cs", "location")] = """
Vyrostl jsem v obci {C}, teď bydlím v obci {C2}.
Spojení vlakem {C} – {C2}: co je nejrychlejší?
"""
T[("cs", "address")] = """
Adresa doručení: {AF}
Moje nová adresa je:¶{AB}
"""
T[("cs", "mixed")] = """
Jméno: {P}, datum narození: {DOB}, adresa: {AF}.
"""

T[("en", "negative")] = """
How do I install {SW} on Ubuntu Linux?
Explain the difference between {SW} and {SW2} in simple terms.
Our {SW} cluster crashed after the upgrade to {VER}.
Is the {PROD} worth it, or should I wait for the next model?
Write a short post announcing that {CO} is our new partner.
Compare {CO} and {CO2} as employers for a {JOB}.
We visited {LM} and {LM2} on the same day. Which one is better with kids?
What time does {LM} open on {DAY}s?
Translate "good morning" into {LANG}.
Is {LANG} harder to learn than {LANG2}?
Plan a {HOL} menu for eight people.
Order {ORD} was shipped on {DAY} and should arrive by {TIME}.
The refund of {PRICE} for order {ORD} is still pending.
Refactor {CODE} so it doesn't block the event loop.
Why does {CODE} return null after the {VER} update?
Our {JOB} wants a summary of the {MON} report by {DAY}.
Is {FOOD} OK after a workout?
Write a haiku about {FOOD} and rainy {DAY}s.
Is {FOOD} gluten-free?
Set up {SW} with {SW2} for a small team.
Good morning! Can you check the grammar in this paragraph?
Honestly, the {PROD} battery lasts only a day.
Every {DAY} at {TIME} the backup job fails.
Please summarise the {CO} annual report in five bullet points.
Write a job ad for a {JOB} who knows {SW} and {PLANG}.
The {HOL} sale starts on {DAY} at {TIME}.
Which is faster for data analysis, {PLANG} or {PLANG2}?
Convert this {PLANG} function to {PLANG2}: {CODE}
Thanks! Also, what does error code {NUM} mean in {SW}?
Help me write a toast for the {HOL} party at work.
My {PROD} won't connect to the Wi-Fi since {DAY}.
Is {MON} a good month to buy a {PROD}?
The {JOB} role at {CO} pays {PRICE} a year, is that fair?
Can you explain {SW} Operators to a beginner?
Our Helm chart fails with ImagePullBackOff on Kubernetes {VER}.
Draft a memo: the office closes early on {HOL}.
Tickets for {LM} cost {PRICE}; is a family pass cheaper?
Write alt text for a photo of {LM} at sunset.
New Year's resolutions for a busy {JOB}?
{DAY} standup: fixed the {SW} dashboard, reviewed PR {NUM}.
Version {VER} of {SW} drops support for {PLANG} 2.
Please Reply All with the minutes from {DAY}.
Quick question: does {CO} still make the {PROD}?
Donate to {INST} or {INST2}? Which is more efficient?
Volunteers from {INST} meet every {DAY} at {TIME}.
Write a cover letter for a {JOB} position at {CO}.
Update the README: {SW} now requires {PLANG} {VER}.
Generate SQL that selects the top 10 customers by revenue from the Orders table.
Does {FOOD} go well with {FOOD2}?
Best {PROD} accessories under {PRICE}?
Happy {HOL}! Write a short greeting for our customers.
Is it true that {CO} bought {CO2}?
Maybe we should move the sprint review to {DAY}?
Sorry, could you make the summary shorter and use bullet points?
Yesterday the {SW} upgrade broke our {CODE} tests.
Tomorrow is the deadline for the {MON} newsletter.
Please rename {CODE} to something clearer.
Still getting error {NUM} when I open {SW} on my {PROD}.
Recommend three board games for {HOL} evening.
Add a {FOOD} line to the shopping list, quantity {NUM}.
Which {CO} stock did best in {MON}?
Can {SW} run on a {PROD}?
"""

T[("de", "negative")] = """
Wie installiere ich {SW} unter Windows?
Die Rechnung für den neuen Drucker ist noch nicht bezahlt.
Kannst du mir den Unterschied zwischen {SW} und {SW2} erklären?
Am {DAY} um {TIME} fällt der Unterricht aus.
Bestellung {ORD} wurde am {DAY} verschickt.
Lohnt sich das {PROD} oder soll ich auf das nächste Modell warten?
Unsere Abteilung plant die Weihnachtsfeier im {MON}.
Die Besprechung mit dem Vertrieb verschiebt sich auf {DAY}.
Schreib eine Stellenanzeige für einen {JOB} mit Erfahrung in {SW}.
"""
T[("fr", "negative")] = """
Comment installer {SW} sur mon ordinateur portable ?
La commande {ORD} a été expédiée {DAY}.
Quelle est la différence entre {SW} et {SW2} ?
Le {PROD} vaut-il vraiment son prix ?
Réunion d'équipe {DAY} à {TIME}, n'oubliez pas le rapport de {MON}.
Nous avons visité {LM} avec les enfants, c'était génial.
"""
T[("es", "negative")] = """
¿Cómo instalo {SW} en mi portátil?
El pedido {ORD} salió el {DAY}.
¿Qué diferencia hay entre {SW} y {SW2}?
¿Merece la pena el {PROD}?
La reunión del equipo es el {DAY} a las {TIME}.
Visitamos {LM} con los niños y nos encantó.
"""
T[("it", "negative")] = """
Come installo {SW} sul portatile?
L'ordine {ORD} è partito {DAY}.
Che differenza c'è tra {SW} e {SW2}?
Vale la pena comprare il {PROD}?
La riunione del team è {DAY} alle {TIME}.
"""
T[("nl", "negative")] = """
Hoe installeer ik {SW} op mijn laptop?
Bestelling {ORD} is op {DAY} verzonden.
Wat is het verschil tussen {SW} en {SW2}?
Is de {PROD} de moeite waard?
Het teamoverleg is op {DAY} om {TIME}.
"""
T[("pt", "negative")] = """
Como instalo o {SW} no portátil?
A encomenda {ORD} já foi enviada.
Qual é a diferença entre {SW} e {SW2}?
Vale a pena comprar o {PROD}?
A reunião da equipa é às {TIME}.
"""
T[("pl", "negative")] = """
Jak zainstalować {SW} na laptopie?
Zamówienie {ORD} zostało wysłane.
"""
T[("sv", "negative")] = """
Hur installerar jag {SW} på datorn?
Beställning {ORD} skickades i {DAY}s.
"""
T[("da", "negative")] = """
Hvordan installerer jeg {SW} på min computer?
Ordre {ORD} blev sendt i går.
"""
T[("no", "negative")] = """
Hvordan installerer jeg {SW} på PC-en?
Ordre {ORD} ble sendt i går.
"""
T[("fi", "negative")] = """
Miten asennan {SW}-ohjelman läppäriin?
Tilaus {ORD} lähti eilen.
"""
T[("cs", "negative")] = """
Jak nainstaluji {SW} na notebook?
Objednávka {ORD} byla odeslána včera.
"""

# Combinatorial frames for English: a request head (with its end mark) around one slot
# phrase, and a tail before the end mark.
FRAMES = {
    "person": (
        ["Can you write a short note to {X}?", "Please remind me to thank {X}.", "Set up a meeting with {X}.",
         "Send the draft to {X}.", "Find a time to talk to {X}.", "I still owe {X} a reply.", "Book a table for me and {X}.",
         "Add {X} to the project channel.", "Write a polite reminder to {X}.", "Has anyone checked whether {X} replied?"],
        ["{P}", "{G}", "{TS}", "{TP}", "{P} and {P2}", "{G} from the sales team", "my colleague {P}", "our neighbour {G}"],
        ["", " about the {MON} report", " before {DAY}", " at {TIME}", " about the {PROD} order", " for {DAY}"],
    ),
    "location": (
        ["What's the best way to get to {X}?", "How expensive are hotels in {X}?", "Is it going to rain in {X}?",
         "I'm thinking about moving to {X}.", "We're driving to {X}.", "Are there museums worth seeing in {X}?",
         "Find me a dentist in {X}.", "How long is the train ride to {X}?", "Remind me that I land in {X}.",
         "Write a short poem about {X}."],
        ["{C}", "{C}", "{W}", "{R}", "{N}", "{C}, {N}", "{C} or {C2}", "the old town of {C}"],
        ["", " this weekend", " in {MON}", " on {DAY}", " next summer"],
    ),
    "address": (
        ["Please send it to {X}.", "The appointment is at {X}.", "Can you find a pharmacy near {X}?",
         "My parents live at {X}.", "Order a taxi to {X}.", "The package went to {X} by mistake.",
         "Change my address to {X}.", "Can you meet me at {X}?"],
        ["{A}", "{AU}", "{AF}", "{AB}"],
        ["", " at {TIME}", " on {DAY}", " before {TIME}"],
    ),
}

# Optional English wrappers around any English sentence (more contexts, same labels).
EN_PREFIXES = ["Hi! ", "Hello. ", "Quick question. ", "Sorry to bother you. ", "Thanks in advance. ", "Hey there! ",
               "Good morning. ", "One more thing. "]
EN_SUFFIXES = [" Thanks!", " Thank you.", " Keep it brief.", " Please answer in {LANG}.", " Use a friendly tone.",
               " No rush.", " Bullet points please."]

PERSON_SLOTS = re.compile(r"^(P|G|TS|TP)(F|M)?\d?$")
PLACE_OR_PERSON = re.compile(r"\{(P|G|TS|TP|PLIST|C|W|R|N|A|AU|AF|AB)[FM]?\d?\}")


def load_templates():
    """One template a line; "¶" stands for a line break inside a template."""
    return {key: [line.replace("¶", "\n") for line in block.strip("\n").split("\n") if line.strip()]
            for key, block in T.items()}


# ---------------------------------------------------------------- entities

class Ent:
    """A value to insert: a span type and labelled segments [(text, label or None)]."""

    __slots__ = ("type", "segs")

    def __init__(self, type_, segs):
        self.type = type_
        self.segs = [(t, l) for t, l in segs if t]

    @property
    def text(self):
        return "".join(t for t, _ in self.segs)


LATIN_OK = re.compile(r"^[A-Za-z0-9À-ɏḀ-ỿ'’\-\. /()ºª,&]+$")


def latin(s):
    return bool(LATIN_OK.match(s))


class Ctx:
    def __init__(self, gen, loc):
        self.g = gen
        self.rng = gen.rng
        self.loc = loc
        self.lang, self.cc, _ = LOCALES[loc]
        self.fk = gen.fakers[loc]
        self.tlang = self.lang  # language of the template (set by the caller)
        self.used = set()

    # -- helpers
    def pick(self, seq):
        return self.rng.choice(seq)

    def fresh(self, fn, tries=8):
        v = None
        for _ in range(tries):
            v = fn()
            key = v.text if isinstance(v, Ent) else v
            if key not in self.used:
                self.used.add(key)
                return v
        return v

    # -- names
    def given(self, gender):
        fk = self.fk
        f = fk.first_name_female if gender == "F" else fk.first_name_male
        for _ in range(20):
            v = f().strip()
            if v and latin(v) and "." not in v:  # not abbreviated ("Klaus-D.")
                return v
        return v

    def surname(self, gender):
        fk = self.fk
        f = getattr(fk, "last_name_female" if gender == "F" else "last_name_male", fk.last_name)
        for _ in range(20):
            v = f().strip()
            if v and latin(v) and "." not in v:
                return v
        return v

    def full_surname(self, gender):
        r, rng, lang = self.rng.random(), self.rng, self.lang
        s = self.surname(gender)
        if lang == "es" and r < 0.55:
            s2 = self.surname(gender)
            s = f"{s} {s2}" if rng.random() < 0.9 else f"{s} de {s2}"
        elif lang == "pt" and r < 0.4:
            s = f"{s} {rng.choice(['', '', 'da ', 'dos ', 'de '])}{self.surname(gender)}"
        elif lang in ("en", "de", "fr", "nl", "sv", "da", "no", "pl", "cs") and r < 0.07:
            s = f"{s}-{self.surname(gender)}"
        elif lang == "de" and r < 0.10:
            s = f"von {s}"
        elif lang == "fr" and r < 0.11:
            s = f"{rng.choice(['de ', 'de la ', 'Le ', 'Du '])}{s}"
        elif lang == "it" and r < 0.07:
            s = f"{rng.choice(['De ', 'Di ', 'Lo ', 'Della '])}{s}"
        return s

    def person(self, gender=None, kind="full"):
        g = gender or self.pick("FM")
        rng = self.rng
        if kind == "given":
            return Ent("person", [(self.given(g), "GIVEN_NAME")]), g
        if kind == "surname":
            s = self.full_surname(g)
            if self.lang == "nl" and s[0].islower():
                s = s[0].upper() + s[1:]  # "meneer Van der Berg": particle capitalised without a given name
            return Ent("person", [(s, "SURNAME")]), g
        segs = [(self.given(g), "GIVEN_NAME")]
        r = rng.random()
        if r < 0.10 and self.lang in ("en", "de", "pt", "es", "fr", "it", "nl", "sv", "fi"):
            segs += [(" ", None), (self.given(g), "GIVEN_NAME")]
        elif r < 0.14 and self.lang == "en":
            segs += [(" ", None), (self.given(g)[0], "GIVEN_NAME"), (".", None)]
        segs += [(" ", None), (self.full_surname(g), "SURNAME")]
        return Ent("person", segs), g

    def title(self, gender):
        key = "en_GB" if self.loc in ("en_GB", "en_IE", "en_NZ", "en_AU") and self.rng.random() < 0.7 else self.tlang
        m, f = TITLES.get(key, TITLES["en"])
        return self.pick(f if gender == "F" else m)

    # -- places
    def city(self):
        rng, loc = self.rng, self.loc
        r = rng.random()
        if r < 0.25:
            return self.pick(MAJOR_CITIES[loc])
        if loc in FAKE_CITY_SHARE:
            geo = self.g.geo.get(self.cc, [])
            if r < 0.5 and len(geo) >= 5:
                return self.pick(geo)
            if r < 1 - FAKE_CITY_SHARE[loc]:
                return self.pick(MAJOR_CITIES[loc])
        for _ in range(10):
            v = self.fk.city().strip()
            v = re.sub(r"\s*\([A-Z]{2}\)$", "", v)
            v = re.sub(r"\s*-\s*", "-", v) if loc == "fr_CA" else v
            if v and latin(v) and not v.endswith("."):
                return v
        return self.pick(MAJOR_CITIES[loc])

    def world_city(self):
        if self.rng.random() < 0.35:
            return self.city()
        return self.pick(self.g.world)

    def region(self):
        loc, fk = self.loc, self.fk
        if loc in EXTRA_REGIONS:
            return self.pick(EXTRA_REGIONS[loc])
        for attr in ("administrative_unit", "state", "province", "region", "county"):
            f = getattr(fk, attr, None)
            if f:
                v = re.sub(r"\s+-\s+", "-", f().strip())
                if latin(v):
                    return v
        return self.pick(EXTRA_REGIONS["en_NZ"])

    def country(self, home_only=False):
        en, local = HOME_COUNTRY[self.cc]
        english = self.tlang == "en"
        home = en if english else local
        if home and (home_only or self.rng.random() < 0.4):
            return self.pick(home)
        fk = self.g.en_faker if english else self.fk
        for _ in range(20):
            v = fk.country().strip()
            if latin(v) and "(" not in v and "," not in v and "Ocean" not in v and len(v) < 26 and v[0].isupper():
                return v
        return self.pick(en)

    # -- street lines
    def number(self):
        if self.loc in ("es_MX", "en_CA", "fr_CA") and self.rng.random() < 0.7:
            return str(self.rng.randint(1, 2500))
        for _ in range(10):
            v = self.fk.building_number().strip()
            if v and not v.startswith("0"):
                return v
        return str(self.rng.randint(1, 99))

    def small(self, a=1, b=30):
        return str(self.rng.randint(a, b))

    def street(self):
        loc, rng, fk = self.loc, self.rng, self.fk
        r = rng.random()
        if r < 0.2:
            return self.pick(COMMON_STREETS[loc])
        if loc.startswith("en_") and r < 0.6:
            base = fk.last_name() if rng.random() < 0.7 else fk.first_name()
            return f"{base} {self.pick(EN_STREET_TYPES)}"
        if loc == "pl_PL":
            return f"{self.pick(['ul.', 'ul.', 'ul.', 'al.', 'pl.', 'os.'])} {fk.street_name().strip()}"
        if loc in ("fr_FR", "fr_CH", "fr_CA") and r < 0.35:
            v = fk.street_name().strip()
            return v[0].upper() + v[1:]
        if loc == "es_ES" and r < 0.3:
            kind = self.pick(['Calle', 'Calle', 'C/', 'Avenida', 'Plaza', 'Paseo'])
            return f"{kind} {'' if kind == 'C/' else self.pick(['de ', ''])}{fk.last_name()}"
        if loc == "it_IT" and r < 0.45:
            return f"{self.pick(['Via', 'Via', 'Via', 'Viale', 'Piazza', 'Corso'])} {fk.first_name() + ' ' + fk.last_name() if rng.random() < 0.4 else fk.last_name()}"
        if loc == "es_MX" and r < 0.5:
            name = fk.last_name() if rng.random() < 0.6 else f"{fk.first_name()} {fk.last_name()}"
            return f"{self.pick(['Calle', 'Calle', 'Avenida', 'Av.', 'Privada', 'Callejón', 'Calzada'])} {name}"
        if loc == "pt_PT" and r < 0.4:
            return f"{self.pick(['Rua', 'Rua', 'Avenida', 'Travessa', 'Largo'])} {self.pick(['de ', 'do ', 'da ', ''])}{fk.last_name()}"
        for _ in range(10):
            v = fk.street_name().strip()
            if latin(v):
                return v
        return self.pick(COMMON_STREETS[loc])

    def unit(self):
        loc, rng, n, L = self.loc, self.rng, self.small(1, 40), self.pick("ABCDEF")
        if loc in ("en_US", "en_CA"):
            return self.pick([f"Apt {n}", f"Apt {n}{L}", f"Suite {rng.randint(100, 999)}", f"Unit {n}", f"#{n}",
                              f"Apartment {n}", f"Apt. {n}{L}"])
        if loc in ("en_GB", "en_IE", "en_NZ", "en_AU"):
            return self.pick([f"Flat {n}", f"Flat {n}{L}", f"Apartment {n}", f"Unit {n}"])
        if loc == "de_DE":
            return self.pick([f"Whg. {n}", f"{rng.randint(1, 6)}. OG", f"Wohnung {n}", f"App. {n}", "Hinterhaus", "Dachgeschoss"])
        if loc == "de_AT":
            return self.pick([f"Top {n}", f"Stiege {rng.randint(1, 4)}/Top {n}", f"Tür {n}"])
        if loc == "de_CH":
            return self.pick([f"{rng.randint(1, 6)}. Stock", f"Wohnung {n}"])
        if loc in ("fr_FR", "fr_CH"):
            return self.pick([f"Appt {n}", f"Bât. {L}", f"{rng.randint(1, 8)}e étage", f"Esc. {L}", f"appartement {n}"])
        if loc == "fr_CA":
            return self.pick([f"app. {n}", f"bureau {rng.randint(100, 999)}", f"unité {n}"])
        if loc == "es_ES":
            return self.pick([f"Piso {rng.randint(1, 9)}", f"{rng.randint(1, 9)}º {L}", f"{rng.randint(1, 9)}º izda",
                              f"{rng.randint(1, 9)}º dcha", f"Puerta {n}", f"Bajo {L}", "Ático", f"Esc. {L}, {rng.randint(1, 9)}º"])
        if loc == "es_MX":
            return self.pick([f"Int. {n}", f"Depto. {n}", f"Depto {rng.randint(101, 905)}", f"Piso {rng.randint(1, 12)}"])
        if loc == "it_IT":
            return self.pick([f"int. {n}", f"scala {L}", f"piano {rng.randint(1, 8)}", f"Interno {n}", f"Appartamento {n}"])
        if loc == "nl_NL":
            return self.pick([f"{rng.randint(1, 4)} hoog", f"app. {n}", "bovenwoning"])
        if loc == "nl_BE":
            return self.pick([f"bus {n}", f"bus {rng.randint(101, 305)}", f"app. {n}"])
        if loc == "pt_PT":
            return self.pick([f"{rng.randint(1, 9)}º Dto", f"{rng.randint(1, 9)}º Esq", "R/C Esq", "R/C Dto",
                              f"{rng.randint(1, 9)}º andar", f"{rng.randint(1, 9)}º {L}"])
        if loc == "pt_BR":
            return self.pick([f"apto {rng.randint(11, 1204)}", f"ap. {rng.randint(11, 904)}", f"Bloco {L}, apto {rng.randint(11, 904)}",
                              f"casa {rng.randint(1, 9)}", f"sala {rng.randint(101, 2010)}"])
        if loc == "pl_PL":
            return self.pick([f"m. {n}", f"lok. {n}"])
        if loc == "sv_SE":
            return self.pick([f"lgh {rng.randint(1001, 1704)}", f"{rng.randint(1, 6)} tr"])
        if loc == "da_DK":
            return self.pick([f"{rng.randint(1, 5)}. tv", f"{rng.randint(1, 5)}. th", "st. tv", "st. th", f"{rng.randint(1, 5)}. sal"])
        if loc == "no_NO":
            return f"H0{rng.randint(1, 6)}0{rng.randint(1, 9)}"
        if loc == "fi_FI":
            return f"{L} {n}"
        if loc == "cs_CZ":
            return self.pick([f"byt {n}", f"{rng.randint(1, 8)}. patro"])
        return f"Apt {n}"

    def street_line(self, unit=False):
        """Number, street and (optionally) unit in the locale's order, as segments."""
        loc, rng = self.loc, self.rng
        num, st = self.number(), self.street()
        N, S = (num, "BUILDING_NUMBER"), (st, "STREET_NAME")
        U = (self.unit(), "SECONDARY_ADDRESS") if unit else None
        sp = (" ", None)
        if loc in ("en_US", "en_CA"):
            segs = [N, sp, S]
            if U:
                segs += [(self.pick([", ", " "]), None), U]
            return segs
        if loc in ("en_GB", "en_IE", "en_NZ", "en_AU"):
            if U and loc in ("en_AU", "en_NZ") and rng.random() < 0.5:
                return [(self.small(1, 30), "SECONDARY_ADDRESS"), ("/", None), (str(rng.randint(1, 250)), "BUILDING_NUMBER"), sp, S]
            if rng.random() < 0.08:
                N = (num + self.pick("abc"), "BUILDING_NUMBER")
            segs = [N, sp, S]
            if U:
                segs = [U, (", ", None)] + segs
            return segs
        if loc in ("de_DE", "de_AT", "de_CH", "nl_NL", "nl_BE", "sv_SE", "da_DK", "no_NO", "cs_CZ", "fi_FI", "es_MX", "fr_CH"):
            r = rng.random()
            if loc in ("de_DE", "de_AT", "de_CH", "sv_SE", "da_DK", "no_NO") and r < 0.15 and num.isdigit():
                num += self.pick("abc") if loc.startswith("de") else self.pick("ABC")
            elif loc in ("nl_NL", "nl_BE") and r < 0.25 and num.isdigit():
                num += self.pick(["A", "B", "-2", "-1", " bis", "a", " A", "hs"])
            elif loc == "cs_CZ" and r < 0.4:
                num = f"{rng.randint(100, 2999)}/{rng.randint(1, 60)}"
            elif loc.startswith("de") and r < 0.2 and num.isdigit():
                num = f"{num}-{int(num) + 2}"
            segs = [S, sp, (num, "BUILDING_NUMBER")]
            if U:
                if loc == "fi_FI" or (loc == "nl_BE" and rng.random() < 0.5) or (loc == "es_MX" and rng.random() < 0.5):
                    segs += [sp, U]
                else:
                    segs += [(", ", None), U]
            return segs
        if loc == "fr_FR":
            if rng.random() < 0.1:
                num += self.pick([" bis", " ter", "bis"])
            segs = [(num, "BUILDING_NUMBER"), (self.pick([" ", " ", ", "]), None), S]
            if U:
                if rng.random() < 0.5:
                    segs = [U, (", ", None)] + segs
                else:
                    segs += [(", ", None), U]
            return segs
        if loc == "fr_CA":
            segs = [N, sp, S]
            if U:
                segs += [(", ", None), U]
            return segs
        if loc == "es_ES":
            if rng.random() < 0.05:
                N = (self.pick(["s/n", "S/N"]), "BUILDING_NUMBER")
            segs = [S, (self.pick([" ", ", ", ", nº "]), None), N]
            if U:
                segs += [(self.pick([", ", " "]), None), U]
            return segs
        if loc == "it_IT":
            if rng.random() < 0.06:
                N = (f"{num}/{self.pick('ABC')}", "BUILDING_NUMBER")
            segs = [S, (self.pick([" ", ", "]), None), N]
            if U:
                segs += [(", ", None), U]
            return segs
        if loc in ("pt_PT", "pt_BR"):
            segs = [S, (self.pick([", ", ", ", " ", ", n.º "]), None), N]
            if U:
                segs += [(self.pick([", ", " - "]), None), U]
            return segs
        if loc == "pl_PL":
            segs = [S, sp, (str(rng.randint(1, 180)), "BUILDING_NUMBER")]
            if U:
                if rng.random() < 0.6:
                    segs += [("/", None), (self.small(1, 80), "SECONDARY_ADDRESS")]
                else:
                    segs += [sp, U]
            return segs
        return [N, sp, S]

    def postcode(self):
        loc, p = self.loc, self.fk.postcode().strip()
        if loc == "en_IE" and len(p) == 7:
            p = p[:3] + " " + p[3:]
        if loc == "sv_SE" and len(p) == 5 and self.rng.random() < 0.6:
            p = p[:3] + " " + p[3:]
        if loc == "en_US" and self.rng.random() < 0.1:
            p = self.fk.zipcode_plus4()
        if loc == "es_MX":
            p = p.split("-")[0]
        return p

    def postal_line(self, broken=False):
        """Postcode, town and region in the locale's order, as segments. `broken` allows line
        breaks inside (en_GB: town and postcode on separate lines)."""
        loc, rng = self.loc, self.rng
        city = (self.city(), "CITY")
        if rng.random() < 0.08 and loc not in ("en_US", "en_CA"):
            city = (city[0].upper(), "CITY")
        zp = (self.postcode(), "ZIP_CODE")
        sp = (" ", None)
        if loc == "en_US":
            st = self.fk.state_abbr() if rng.random() < 0.8 else self.fk.state()
            return [city, (", ", None), (st, "STATE"), sp, zp]
        if loc in ("en_CA", "fr_CA"):
            pr = self.fk.province_abbr()
            if loc == "fr_CA" and rng.random() < 0.4:
                return [city, (" (", None), ("Québec", "STATE"), (") ", None), zp]
            return [city, (self.pick([", ", " "]), None), (pr, "STATE"), (self.pick([" ", "  "]), None), zp]
        if loc == "en_GB":
            if broken and rng.random() < 0.5:
                return [city, ("\n", None), zp]
            if rng.random() < 0.25:
                return [city, (", ", None), (self.fk.county(), "STATE"), (", ", None), zp]
            return [city, (self.pick([" ", ", "]), None), zp]
        if loc == "en_AU":
            return [city, sp, (self.fk.state_abbr(), "STATE"), sp, zp]
        if loc == "en_IE":
            segs = [city, (", Co. ", None), (self.fk.county(), "STATE")]
            if rng.random() < 0.6:
                segs += [(self.pick([", ", " "]), None), zp]
            return segs
        if loc == "en_NZ":
            return [city, sp, zp]
        if loc == "it_IT":
            segs = [zp, sp, city]
            if rng.random() < 0.7:
                segs += [(" (", None), (self.fk.state_abbr(), "STATE"), (")", None)]
            return segs
        if loc == "es_MX":
            st = self.fk.state_abbr() if rng.random() < 0.5 else self.fk.state()
            if rng.random() < 0.5:
                return [("C.P. ", None), zp, (", ", None), city, (", ", None), (st, "STATE")]
            return [zp, sp, city, (", ", None), (st, "STATE")]
        if loc == "pt_BR":
            uf = (self.fk.estado_sigla(), "STATE")
            if rng.random() < 0.5:
                return [zp, sp, city, (" - ", None), uf]
            return [city, (self.pick([" - ", "/"]), None), uf, (", ", None), zp]
        if loc == "es_ES" and rng.random() < 0.3:
            return [zp, sp, city, (" (", None), (self.region(), "STATE"), (")", None)]
        if loc in ("nl_NL",) and rng.random() < 0.3:
            return [zp, ("  ", None), (city[0].upper(), "CITY")]
        if loc == "de_CH" and rng.random() < 0.3:
            return [("CH-", None), zp, sp, city]
        return [zp, sp, city]

    def address(self, form):
        unit = form == "AU" or (form in ("AF", "AB") and self.rng.random() < 0.3)
        segs = self.street_line(unit=unit)
        if form in ("A", "AU"):
            return Ent("streetAddress", segs)
        if form == "AF":
            segs += [(", ", None)] + self.postal_line()
            if self.rng.random() < 0.08:
                segs += [(", ", None), (self.country(home_only=True), "STATE")]
            return Ent("streetAddress", segs)
        segs += [("\n", None)] + self.postal_line(broken=True)
        if self.rng.random() < 0.15:
            segs += [("\n", None), (self.country(home_only=True), "STATE")]
        return Ent("streetAddress", segs)

    # -- other personal data
    def dob(self):
        # drawn here: Faker's date_of_birth() counts from today (and its date ranges pass
        # through local time), which would make the output depend on the day and time zone
        first, last = datetime.date(1935, 1, 1).toordinal(), datetime.date(2020, 12, 31).toordinal()
        d = datetime.date.fromordinal(self.rng.randint(first, last))
        lang, rng = self.tlang, self.rng
        mn = MONTHS.get(lang, MONTHS["en"])[d.month - 1]
        if lang == "en":
            opts = [f"{d.month:02d}/{d.day:02d}/{d.year}", f"{MONTHS['en'][d.month - 1]} {d.day}, {d.year}"] if self.loc in ("en_US", "en_CA") \
                else [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day} {MONTHS['en'][d.month - 1]} {d.year}"]
            opts.append(d.isoformat())
        elif lang in ("de", "pl", "da", "no"):
            opts = [f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day}. {mn} {d.year}" if lang != "pl" else f"{d.day} {mn} {d.year}"]
        elif lang in ("es", "pt"):
            opts = [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day} de {mn} de {d.year}"]
        elif lang in ("fr", "it"):
            opts = [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day} {mn} {d.year}"]
        elif lang == "nl":
            opts = [f"{d.day:02d}-{d.month:02d}-{d.year}", f"{d.day} {mn} {d.year}"]
        elif lang == "fi":
            opts = [f"{d.day}.{d.month}.{d.year}"]
        elif lang == "cs":
            opts = [f"{d.day}. {d.month}. {d.year}", f"{d.day}. {mn} {d.year}"]
        else:
            opts = [d.isoformat(), f"{d.day} {mn} {d.year}"]
        return rng.choice(opts)

    def phone(self):
        v = re.sub(r"\s*(x|ext\.?)\s*\d+$", "", self.fk.phone_number().strip())
        return v

    # -- look-alikes
    def time(self):
        rng, lang = self.rng, self.tlang
        h, m = rng.randint(7, 21), rng.choice([0, 0, 15, 30, 45])
        if lang == "en":
            if self.loc in ("en_US", "en_CA", "en_AU", "en_NZ") or rng.random() < 0.4:
                hh = h % 12 or 12
                return f"{hh}:{m:02d} {'am' if h < 12 else 'pm'}" if m else f"{hh} {'am' if h < 12 else 'pm'}"
            return f"{h}:{m:02d}"
        if lang == "fr" and rng.random() < 0.6:
            return f"{h}h{m:02d}" if m else f"{h}h"
        if lang == "de" and rng.random() < 0.4:
            return f"{h}:{m:02d} Uhr"
        return f"{h}:{m:02d}" if (m or rng.random() < 0.5) else f"{h}.00"


# ---------------------------------------------------------------- slots

def slot_pieces(ctx, name, shared=False):
    """The pieces (str or Ent) that one slot inserts (`shared`: a zh_CN sentence's Latin look-alike)."""
    if ctx.loc == "zh_CN" and not shared:
        return zh_slot_pieces(ctx, name)
    base = re.sub(r"\d$", "", name)
    rng = ctx.rng
    m = PERSON_SLOTS.match(name)
    if m:
        kind, gender = m.group(1), m.group(2)
        if kind == "P":
            return [ctx.fresh(lambda: ctx.person(gender)[0])]
        if kind == "G":
            return [ctx.fresh(lambda: ctx.person(gender, "given")[0])]
        g = gender or ctx.pick("FM")
        t = ctx.title(g)
        ent = ctx.fresh(lambda: ctx.person(g, "surname" if kind == "TS" else "full")[0])
        return [t + " ", ent]
    if base == "PLIST":
        n = rng.choice([2, 2, 3, 3, 4])
        names = [ctx.fresh(lambda: ctx.person(None, "given")[0]) for _ in range(n)]
        out = []
        for i, e in enumerate(names):
            if i:
                out.append(f" {AND[ctx.tlang]} " if i == n - 1 else ", ")
            out.append(e)
        return out
    if base == "C":
        return [ctx.fresh(lambda: Ent("location", [(ctx.city(), "CITY")]))]
    if base == "W":
        return [ctx.fresh(lambda: Ent("location", [(ctx.world_city(), "CITY")]))]
    if base == "R":
        return [ctx.fresh(lambda: Ent("location", [(ctx.region(), "STATE")]))]
    if base == "N":
        return [ctx.fresh(lambda: Ent("location", [(ctx.country(), "STATE")]))]
    if base in ("A", "AU", "AF", "AB"):
        return [ctx.fresh(lambda: ctx.address(base))]
    if base == "E":
        return [Ent("email", [(ctx.fk.email(safe=rng.random() < 0.3), None)])]
    if base == "PH":
        return [Ent("phone", [(ctx.phone(), None)])]
    if base == "CC":
        return [Ent("creditCard", [(ctx.fk.credit_card_number(), None)])]
    if base == "IP":
        return [Ent("ipAddress", [(ctx.fk.ipv4_public() if rng.random() < 0.8 else ctx.fk.ipv6(), None)])]
    if base == "DOB":
        return [Ent("dateOfBirth", [(ctx.dob(), None)])]
    if base == "PW":
        return [Ent("apiKey", [(ctx.fk.password(length=rng.randint(9, 14)), None)])]
    # look-alikes
    lang = ctx.tlang
    if base == "DAY":
        return [ctx.fresh(lambda: ctx.pick(DAYS[lang]))]
    if base == "MON":
        return [ctx.pick(MONTHS[lang])]
    if base == "TIME":
        return [ctx.time()]
    if base == "NUM":
        return [str(rng.randint(2, 9999))]
    if base == "ORD":
        return [rng.choice([f"#{rng.randint(10**6, 10**9)}", f"A-{rng.randint(10000, 99999)}", f"{rng.randint(10**9, 10**10)}",
                            f"ORD-{rng.randint(1000, 9999)}-{rng.choice('ABCDEFGHJK')}{rng.randint(10, 99)}"])]
    if base == "PRICE":
        amount = rng.choice([f"{rng.randint(5, 999)}", f"{rng.randint(5, 499)}.{rng.randint(0, 99):02d}", f"{rng.randint(1, 120)},000"])
        return [rng.choice([f"€{amount}", f"${amount}", f"£{amount}", f"{amount} EUR"])]
    if base == "VER":
        return [rng.choice([f"{rng.randint(1, 20)}.{rng.randint(0, 30)}", f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 40)}",
                            f"v{rng.randint(1, 5)}.{rng.randint(0, 12)}"])]
    pools = {"SW": SOFTWARE, "PLANG": PLANGS, "PROD": PRODUCTS, "CO": COMPANIES, "INST": INSTITUTIONS, "HOL": HOLIDAYS,
             "LANG": LANGUAGES, "JOB": JOBS, "FOOD": FOODS, "CODE": CODE}
    if base == "LM":
        en, bare = ctx.fresh(lambda: ctx.pick(LANDMARKS))
        return [en if lang == "en" else bare]
    if base in pools:
        return [ctx.fresh(lambda: ctx.pick(pools[base]))]
    raise KeyError(f"unknown slot {{{name}}}")


SLOT_RE = re.compile(r"\{([A-Z]+\d?)\}")


def expand(ctx, template):
    pieces = []
    pos = 0
    for m in SLOT_RE.finditer(template):
        if m.start() > pos:
            pieces.append(template[pos:m.start()])
        new = slot_pieces(ctx, m.group(1))
        if m.start() == 0 and isinstance(new[0], str) and ctx.loc != "zh_CN":
            new[0] = new[0][0].upper() + new[0][1:]  # a title opening the sentence: "Dhr. Jansen", "Pani Nowak"
        pieces.extend(new)
        pos = m.end()
    if pos < len(template):
        pieces.append(template[pos:])
    return pieces


# ---------------------------------------------------------------- rendering

def transform(pieces, mode):
    """Casing variants, applied piece by piece so offsets are computed afterwards."""
    def seg_map(ent, fn, labels=None):
        return Ent(ent.type, [(fn(t) if (labels is None or l in labels) else t, l) for t, l in ent.segs])

    out = []
    for p in pieces:
        if mode == "lower_all":
            out.append(p.lower() if isinstance(p, str) else seg_map(p, str.lower))
        elif mode == "lower_names" and isinstance(p, Ent) and p.type == "person":
            out.append(seg_map(p, str.lower))
        elif mode == "upper_surname" and isinstance(p, Ent) and p.type == "person":
            out.append(seg_map(p, str.upper, {"SURNAME"}))
        elif mode == "upper_place" and isinstance(p, Ent) and p.type == "location":
            out.append(seg_map(p, str.upper))
        else:
            out.append(p)
    return out


def render(pieces):
    text, spans, parts = "", [], []
    for i, p in enumerate(pieces):
        if isinstance(p, str):
            text += p
            continue
        start = len(text)
        cur = None  # merging neighbouring segments of one label
        for t, label in p.segs:
            s = len(text)
            text += t
            if label is None:
                continue
            if cur and cur["label"] == label and text[cur["end"]:s] in ("", " ", "-"):
                cur["end"] = len(text)
            else:
                cur = {"start": s, "end": len(text), "label": label}
                parts.append(cur)
        spans.append({"start": start, "end": len(text), "type": p.type})
    return text, spans, parts


TRAILING_BAD = re.compile(r"[\s,;:!?]$|^[\s,;:!?.]")


def check(text, spans, parts, ents):
    for s, e in zip(spans, ents):
        v = text[s["start"]:s["end"]]
        assert v == e.text, (v, e.text)
        assert v and v == v.strip(), f"span edge: {v!r}"
        if s["type"] in ("person", "location", "streetAddress"):
            assert not TRAILING_BAD.search(v), f"span edge: {v!r}"
            assert not v.endswith("."), f"span ends with a dot: {v!r}"
    prev_end = -1
    for s in sorted(spans, key=lambda s: s["start"]):
        assert s["start"] >= prev_end, "overlapping spans"
        prev_end = s["end"]
    prev_end = -1
    for p in sorted(parts, key=lambda p: p["start"]):
        assert p["start"] >= prev_end, "overlapping parts"
        prev_end = p["end"]
        host = [s for s in spans if s["start"] <= p["start"] and p["end"] <= s["end"]]
        assert host and host[0]["type"] in ("person", "location", "streetAddress"), f"part outside a span: {p}"
        v = text[p["start"]:p["end"]]
        assert v == v.strip() and v, f"part edge: {v!r}"
        if host[0]["type"] == "location":
            assert p["label"] in ("CITY", "STATE"), p
        if host[0]["type"] == "person":
            assert p["label"] in ("GIVEN_NAME", "SURNAME"), p


# ---------------------------------------------------------------- Simplified Chinese (zh_CN)
# The tokenizer (BERT, uncased) makes every CJK character a word of its own, so these
# sentences teach the model where a Chinese name or place stops: a title after a name
# (先生, 女士, 老师, 经理 ...) and a preposition or verb before a place (在, 去, 到, 从,
# 住在 ...) stay outside the span, and about half of the sentences hold no person, address
# or place at all (everyday prompts full of 你好, 谢谢, 处理, 告诉, 咨询, 联系 ...).
#
# Labels: a name is SURNAME then GIVEN_NAME (罗 / 敏, 欧阳 / 娜娜); a title after it, or
# 小/老 before a surname, is outside the `person` span. A place keeps its suffix (杭州市,
# 西湖区, 浙江省) and is one `location` span however many levels it names (成都市锦江区,
# 浙江省杭州市): province STATE, city and district CITY (a city and its district, both
# CITY and written together, make one part). A street address is one `streetAddress` span
# from the province or city to the unit: STATE, CITY, STREET_NAME (中山北路), BUILDING_NUMBER
# with 号 (88号, 120弄7号), SECONDARY_ADDRESS (3栋2单元501室, 12楼, 阳光花园5号楼1203), and a
# six-digit postcode after a space as ZIP_CODE. Countries are `location` / STATE.

# city (without 市) -> (province without 省, or None for the four municipalities; districts without 区)
ZH_GEO = {
    "上海": (None, "黄浦 徐汇 长宁 静安 普陀 虹口 杨浦 闵行 宝山 嘉定 浦东新 松江 青浦 奉贤"),
    "北京": (None, "东城 西城 朝阳 海淀 丰台 石景山 通州 昌平 大兴 顺义"),
    "天津": (None, "和平 河西 南开 河东 河北 滨海新"),
    "重庆": (None, "渝中 江北 南岸 沙坪坝 九龙坡 渝北"),
    "广州": ("广东", "天河 越秀 海珠 荔湾 白云 番禺 黄埔"),
    "深圳": ("广东", "福田 罗湖 南山 宝安 龙岗 龙华"),
    "佛山": ("广东", "禅城 南海 顺德"),
    "杭州": ("浙江", "上城 拱墅 西湖 滨江 萧山 余杭"),
    "宁波": ("浙江", "海曙 江北 鄞州 北仑"),
    "南京": ("江苏", "玄武 秦淮 建邺 鼓楼 栖霞 江宁"),
    "苏州": ("江苏", "姑苏 吴中 相城 虎丘"),
    "无锡": ("江苏", "梁溪 滨湖 新吴"),
    "成都": ("四川", "锦江 青羊 金牛 武侯 成华 双流"),
    "武汉": ("湖北", "江岸 江汉 武昌 洪山 汉阳"),
    "西安": ("陕西", "碑林 雁塔 莲湖 新城 未央"),
    "长沙": ("湖南", "芙蓉 天心 岳麓 开福 雨花"),
    "厦门": ("福建", "思明 湖里 集美 海沧"),
    "福州": ("福建", "鼓楼 台江 仓山"),
    "青岛": ("山东", "市南 市北 崂山 李沧 黄岛"),
    "济南": ("山东", "历下 市中 槐荫 天桥"),
    "郑州": ("河南", "金水 二七 中原 管城"),
    "合肥": ("安徽", "蜀山 包河 庐阳 瑶海"),
    "昆明": ("云南", "五华 盘龙 官渡 西山"),
    "沈阳": ("辽宁", "和平 沈河 皇姑 铁西"),
    "大连": ("辽宁", "中山 西岗 沙河口 甘井子"),
    "哈尔滨": ("黑龙江", "道里 南岗 香坊"),
    "贵阳": ("贵州", "南明 云岩 观山湖"),
    "南昌": ("江西", "东湖 西湖 青山湖"),
    "南宁": ("广西", "青秀 兴宁 西乡塘"),
    "石家庄": ("河北", "长安 桥西 裕华"),
    "太原": ("山西", "小店 迎泽 杏花岭"),
    "兰州": ("甘肃", "城关 七里河 安宁"),
}
ZH_GEO = {k: (p, d.split()) for k, (p, d) in ZH_GEO.items()}
ZH_CITY_WEIGHTS = [4 if c == "上海" else 2 if c in ("北京", "深圳", "广州", "杭州", "成都") else 1 for c in ZH_GEO]
ZH_REGION_FULL = {"广西": "广西壮族自治区", "内蒙古": "内蒙古自治区", "宁夏": "宁夏回族自治区",
                  "新疆": "新疆维吾尔自治区", "西藏": "西藏自治区"}
ZH_REGION_SHORT = {v: k for k, v in ZH_REGION_FULL.items()}
ZH_NOT_A_CITY = {"北京", "上海", "天津", "重庆", "香港", "澳门", "台北"}  # Faker city names not to suffix with 市

ZH_STREETS = ("中山北路|南京西路|淮海中路|漕溪北路|延安西路|四川北路|肇嘉浜路|衡山路|长乐路|虹桥路|张江路|"
              "天目山路|文一西路|学院路|中关村大街|建国门外大街|三里屯路|望京街|深南大道|科苑路|华强北路|"
              "天府大道|人民南路|春熙路|解放路|建设路|和平路|人民路|幸福路|光明路|胜利街|新华路|文化路|"
              "长江路|黄河路|珠江路|滨江大道|环城北路|东风路|工业大道|学府路|创业路|青年路|育才路|"
              "枫林路|梧桐街|银杏路|体育西路|花园路|湖滨路|江滨路|北京东路|广州路|汉口路|昆明路").split("|")
ZH_STREET_WORDS = "建设 解放 人民 和平 友谊 幸福 光明 胜利 新华 文化 工业 学府 科技 创业 长江 黄河 珠江 迎宾 朝阳 滨河 东风 金桥 紫荆 桂花".split()
ZH_STREET_TYPES = ["路", "路", "路", "街", "大道", "东路", "西路", "南路", "北路", "中路", "大街"]
ZH_COMPOUNDS = ("阳光花园|锦绣苑|翠湖天地|万科城|碧桂园|金色家园|幸福里小区|南苑新村|世纪华庭|保利花园|"
                "绿城桂花园|华润城|中海国际社区|龙湖春江郦城|紫薇公寓|枫丹白露|东方名苑|康乐新村|梅园小区").split("|")
ZH_TOWERS = "国贸大厦|环球中心|金融中心|科技大厦|创新大厦|时代广场|国际商务中心|万达广场|软件园|华润大厦|嘉里中心".split("|")
ZH_WORLD = ("东京|大阪|首尔|新加坡|曼谷|吉隆坡|巴黎|伦敦|纽约|洛杉矶|旧金山|悉尼|墨尔本|温哥华|多伦多|柏林|"
            "慕尼黑|米兰|罗马|迪拜|清迈|香港|澳门|台北|巴塞罗那|阿姆斯特丹|苏黎世|奥克兰").split("|")
ZH_COUNTRIES = "日本|美国|英国|法国|德国|加拿大|澳大利亚|新加坡|泰国|韩国|意大利|西班牙|新西兰|马来西亚|越南|瑞士|荷兰".split("|")
ZH_TITLE_M = ["先生"] * 6 + ["老师", "老师", "经理", "经理", "医生", "主任", "律师", "教授", "同学", "总监"]
ZH_TITLE_F = ["女士"] * 6 + ["老师", "老师", "经理", "经理", "医生", "主任", "律师", "教授", "同学", "总监", "小姐"]
ZH_STITLE_M = ["先生"] * 4 + ["老师", "老师", "经理", "经理", "总", "医生", "主任", "师傅", "工", "律师", "教授", "叔叔", "老板"]
ZH_STITLE_F = ["女士"] * 4 + ["老师", "老师", "经理", "经理", "总", "医生", "主任", "律师", "教授", "阿姨", "老板", "小姐"]
ZH_APPS = "微信|支付宝|淘宝|京东|美团|抖音|小红书|钉钉|飞书|高德地图|百度地图|12306|滴滴出行|哔哩哔哩|知乎|企业微信|拼多多|饿了么|WPS|QQ音乐|网易云音乐".split("|")
ZH_COMPANIES = "华为|小米|腾讯|阿里巴巴|字节跳动|百度|比亚迪|联想|大疆|海尔|格力|美的|网易|蔚来|理想汽车|京东方|顺丰|携程".split("|")
ZH_FOODS = ("火锅|小笼包|饺子|麻辣烫|宫保鸡丁|红烧肉|糖醋排骨|番茄炒蛋|酸菜鱼|担担面|煎饼果子|肉夹馍|"
            "麻婆豆腐|可乐鸡翅|水煮鱼|蛋炒饭|酸辣粉|月饼|粽子|汤圆|凉皮|馄饨|烧卖|鱼香肉丝").split("|")
ZH_JOBS = "产品经理|前端工程师|后端开发|会计|销售代表|数据分析师|平面设计师|运维工程师|人力资源专员|小学老师|护士|测试工程师|客服专员".split("|")
ZH_DAYS = ("周一|周二|周三|周四|周五|周六|周日|星期一|星期二|星期三|星期四|星期五|星期六|星期天|"
           "明天|后天|下周二|下周四|这周五|下个周末").split("|")
ZH_NUM = "一二三四五六七八九十"
ZH_AREA = ["021", "021", "010", "0571", "0755", "028", "020", "025", "027", "029", "0532"]
ZH_LEAD = ["你好，", "您好，", "你好！", "请问，", "麻烦问一下，", "打扰一下，", "嗨，"]
ZH_TAIL = ["谢谢！", "谢谢。", "多谢。", "辛苦了。", "麻烦了。", "先谢谢你啦。"]
ZH_FOCUS = {"negative": 0.36, "other": 0.12, "person": 0.20, "location": 0.14, "address": 0.11,
            "mixed": 0.05, "zh_in_en": 0.02}

# Slots: {P} full name ({PF}, {PM} by gender), {PT} full name + title, {ST} surname + title,
# {S} surname alone (the template writes the title), {XS} 小/老 + surname, {G} two-character
# given name alone, {PLIST} 2-3 names joined by 、 and 和; {C} city,
# {D} city + district or a district, {R} province, {RC} province + city (+ district),
# {N} country, {W} city abroad; {A} city + district + street + number, {AU} with a unit,
# {AF} with province and/or unit and/or postcode, {AS} street + number (+ unit); {E} {PH}
# {ID} {PW} {CC} {IP} {DOB}; look-alikes {SW} {SW2} {PLANG} {PROD} {VER} {CODE} {APP}
# {ZCO} {FOOD} {JOBZ} {DAY} {TIME} {MON} {NUM} {ORD} {PRICE}. A trailing digit is a second slot.
ZT = {}

ZT["negative"] = """
今天降温了，出门要不要穿羽绒服？
明天会下雨吗？我想把阳台上的衣服收回来。
这个周末天气不错，适合带孩子去爬山吗？
空气质量指数超过两百的时候还能跑步吗？
帮我推荐几道适合夏天吃的凉菜。
{FOOD}怎么做才好吃？给我一个简单的步骤。
晚饭想做{FOOD}，需要准备哪些材料？
{FOOD}和{FOOD2}，哪个热量更低？
一杯全糖奶茶大概有多少热量？
我最近总是失眠，有什么改善睡眠的办法？
第一次坐高铁，需要提前多久到车站？
出国旅游一般要带哪些证件？
坐飞机可以带充电宝吗？容量有什么限制？
自驾游之前应该检查车子的哪些地方？
帮我列一个三天两晚的行李清单。
怎么在12306上退票？
{APP}的付款码在哪里打开？
{APP}一直闪退，重装了也没用。
我的{PROD}充不进电了，怎么办？
{PROD}和{PROD2}哪个更值得买？
{SW}集群升级到{VER}之后Pod一直重启，怎么排查？
用{PLANG}写一个读取CSV文件的函数。
{PLANG}和{PLANG2}哪个更适合做后端开发？
请解释一下{SW}里的 Service 和 Ingress 有什么区别。
Docker 镜像太大了，有什么办法可以瘦身？
git rebase 和 git merge 有什么区别？
帮我写一个SQL，查询上个月销售额最高的十个商品。
这段代码报错：{CODE} is not defined，是什么原因？
我的iPhone存储空间满了，怎么清理最有效？
{SW}的配置文件一般放在哪个目录？
{SW} 的日志里一直报 timeout，怎么排查？
如何在 Kubernetes 里配置 HPA 自动扩容？
Python 里的列表推导式怎么用？
我们团队在用{SW}和{SW2}，有没有更省事的方案？
把这段{PLANG}代码改成{PLANG2}：{CODE}
谢谢你的帮助！
你好，请问你能做什么？
你好！今天心情不太好，陪我聊聊天吧。
谢谢，问题已经解决了。
不好意思，刚才的问题我没说清楚，我重新描述一下。
麻烦帮我把这段话翻译成英文。
请把下面这段文字改得更正式一些。
帮我把这封邮件写得礼貌一点，对方是重要客户。
帮我起草一份会议通知，会议定在{DAY}{TIME}。
这个问题我已经咨询过客服了，但是一直没有人处理。
请告诉我怎么处理这种情况：快递显示已签收，但我没收到。
遇到这种问题，应该联系哪个部门？
我想咨询一下办理护照需要什么材料。
在正式信件里，先生和女士应该怎么称呼才得体？
开会的时候，怎么礼貌地打断别人？
怎么委婉地告诉同事他的方案有问题？
孩子不爱写作业，家长该怎么处理？
请帮我总结这篇文章的主要观点。
给我讲一个适合五岁小孩的睡前故事。
“画蛇添足”是什么意思？用它造个句子。
帮我写一首关于秋天的短诗。
下周要面试{JOBZ}，可能会问哪些问题？
怎么和老板谈加薪比较合适？
年终总结应该写哪些内容？
帮我做一个{MON}的健身计划，每周练三次。
每天走一万步真的有用吗？
感冒了还能喝咖啡吗？
牙疼得厉害，应该挂哪个科？
猫咪两天不吃东西，是不是生病了？
家里的绿萝叶子发黄，是怎么回事？
冰箱里有异味，用什么方法去除？
洗衣机一直显示E3错误，怎么解决？
路由器的管理密码忘了，怎么重置？
忘记了{APP}的登录密码，怎么找回？
这个月的电费比上个月多了{PRICE}，正常吗？
订单{ORD}已经付款了，为什么还显示待发货？
退款{PRICE}什么时候能到账？
{ZCO}的年报里，研发投入占比是多少？
{ZCO}和{ZCO2}的手机哪个拍照更好？
在{ZCO}做{JOBZ}，工作强度大吗？
帮我写一段{ZCO}新品发布会的开场白。
春节放假前，公司一般要准备些什么？
中秋节送什么礼物比较合适？
端午节为什么要吃粽子？
周末在家无聊，推荐几部好看的电影。
有没有适合初学者的吉他入门教程？
学英语最有效的方法是什么？
考研和工作哪个更好？帮我分析一下利弊。
这份合同里的违约金条款合理吗？
租房合同到期了，押金一直不退怎么办？
公园里可以放风筝吗？有什么需要注意的？
{TIME}开会，请提醒我提前十分钟准备。
别担心，慢慢来，我们一起想办法。
好的，我知道了，先这样吧。
请问这个功能什么时候上线？
帮我检查一下这段话有没有错别字。
请用简单的话解释一下什么是区块链。
高铁上可以用笔记本电脑办公吗？网络怎么样？
去国外自由行，怎么换外币最划算？
旅游旺季怎么订到便宜的机票？
住酒店的时候，怎么判断房间是否干净？
爬山的时候膝盖疼，怎么保护？
小区停车位太少，业主应该怎么和物业沟通？
我想学做饭，从哪些家常菜开始比较好？
早餐吃什么既健康又方便？
春天容易过敏，有什么预防办法？
帮我算一下：月薪{NUM}元，扣完五险一金大概剩多少？
请把这个表格按日期从早到晚排序。
Excel里怎么用VLOOKUP匹配两张表？
PPT的配色怎么搭配更好看？
写一封感谢信给帮助过我的老师，不用写具体名字。
面对客户的投诉，客服应该怎么回复？
朋友借钱不还，怎么开口提醒比较好？
新同事入职第一天，我应该告诉他哪些事情？
请用表格比较一下电动车和燃油车的优缺点。
年假还剩五天，怎么安排比较好？
孩子发烧三十八度五，要不要去医院？
熬夜之后怎么快速恢复精神？
我想换工作，简历应该突出什么？
这句话用英语怎么说：“麻烦您尽快处理”。
请帮我润色这段自我介绍，要简洁一些。
{ZCO}发布了新款{PROD}，值得升级吗？
老师布置的作文题目是《我的梦想》，帮我列个提纲。
马上就要期末考试了，怎么复习效率最高？
黄瓜和西红柿可以一起吃吗？
周末要不要加班，还没定下来。
许多人说早起对身体好，是真的吗？
程序员转行做产品经理难不难？
平安到家了吗？到了说一声。
我想静静，别问我为什么。
海燕是一种什么样的鸟？
白天太热了，我们晚上再出门吧。
方便的话，明天上午给我回个电话。
高兴的时候人为什么会哭？
张贴海报需要经过物业同意吗？
王者荣耀怎么快速上分？
李子和杏有什么区别？
陈皮泡水喝有什么好处？
胡萝卜生吃还是熟吃更有营养？
石头剪刀布有什么必胜技巧？
金额太大，转账需要人脸验证吗？
文件太大发不出去，怎么压缩？
任务太多做不完，怎么安排优先级？
常常头晕是什么原因？
谢谢老师这学期的照顾，帮我写一句简单的祝福。
经理让我写周报，有没有模板？
先生您好，这句话在客服场景里礼貌吗？
女士优先这个说法是怎么来的？
这件事我会尽快处理，请您耐心等待。
请问怎么联系人工客服？
请帮我想一个好听的店名，卖手工面包的。
给我推荐几本适合高中生读的科幻小说。
{DAY}要交报告，今天能写完吗？
十一假期高速免费吗？
请问{MON}去海边玩水会不会太冷？
这件事先别告诉别人，等我确认了再说。
"""

ZT["other"] = """
我的手机号是{PH}，快递到了请打这个电话。
验证码一直收不到，手机号{PH}是不是被拦截了？
这是我的邮箱{E}，有结果了发邮件给我就行。
{APP}的登录密码改成了{PW}，帮我记一下。
家里WiFi密码是{PW}，客人来了直接连。
服务器{IP}一直 ping 不通，是防火墙的问题吗？
我的银行卡{CC}被冻结了，该怎么办？
信用卡{CC}这个月的账单是多少？
身份证号{ID}，帮我算一下出生日期和性别。
证件号码：{ID}（请勿外传）
我是{DOB}出生的，属什么？
备用邮箱：{E}；备用手机：{PH}
数据库密码是{PW}，可是连不上{IP}的3306端口。
报名表里的手机号改成{PH}，邮箱不变。
临时密码：{PW}，登录后请马上修改。
我的邮箱{E}收不到验证邮件，是不是被当成垃圾邮件了？
网关地址是{IP}吗？路由器怎么都设置不了。
这张卡的卡号是{CC}，有效期到明年。
帮我把这个号码存一下：{PH}
生日：{DOB}，帮我算算星座。
管理员账号 admin，密码 {PW}，千万不要发到群里。
新的VPN地址是{IP}，端口8443。
孩子的身份证号码是{ID}，办医保要带什么？
有事请发邮件到{E}，电话{PH}。
这是我的支付密码{PW}，千万别告诉任何人。
"""

ZT["person"] = """
你好，我是{P}，上周在你们店里买了一台{PROD}。
大家好，我叫{P}，今年刚毕业，请多多关照。
我叫{PF}，想问一下会员卡怎么续费。
帮我给{PTM}写一封感谢信，谢谢他这段时间的照顾。
请{P}明天上午把报价单发给我。
请{ST}帮忙看一下这份合同。
{ST}，您好！关于上次说的事情，我想再确认一下。
麻烦联系{PTM}，告诉他会议改到{DAY}了。
我和{P}下周要一起做项目汇报，怎么分工比较好？
售后的问题可以直接联系{PF}，她负责这一块。
{P}和{P2}是我大学同学，帮我写一段婚礼致辞。
我爸爸{PM}今年六十大寿，帮我写一段祝寿词。
我女儿{PF}今年上三年级，数学成绩不太好，怎么辅导？
{P}是我们部门新来的同事，帮我写一段欢迎词。
会议纪要：{P}介绍了项目进度，{P2}提出了预算问题。
请通知{PLIST}{DAY}下午开会。
{S}老师说下周要检查作业，我该怎么准备？
我的主治医生是{S}医生，他建议我做个检查。
{PTM}已经离职了，他的工作暂时由{P2}接手。
给{PT}回个邮件，说我们已经收到样品了。
今天{PM}请假了，他的会谁来主持？
我是{P}的家长，孩子今天发烧不能上学。
请转告{ST}，样品已经寄出了。
这份简历是{P}的，帮我看看有什么可以改进的地方。
我想给{G}写一封道歉信，上次是我不对。
{XS}，明天的报告你准备好了吗？
{XS}说今天晚上请大家吃饭。
推荐人：{P}（{JOBZ}）
签名：{P}
作者：{P}；审核：{P2}
是{P}还是{P2}负责这个客户？
谁认识{P}？听说他在技术部。
如果{P}打电话来，就说我在开会。
{PT}您好，您的预约已经确认。
尊敬的{PT}：感谢您一直以来的支持。
请和{P}确认一下明天的行程。
我跟{P}吵架了，怎么和好？
帮我写一份推荐信，推荐{P}申请研究生。
下周由{P}代替我值班。
{P}在群里问什么时候放假。
把{P}拉进项目群。
给{PTF}打个电话，提醒她来取件。
我妈妈叫{PF}，帮她挂一个明天的号。
{PM}同学，请到办公室来一趟。
{P}医生今天上午坐诊吗？
请问{ST}今天在办公室吗？
我是{P}，想咨询一下贷款的事情。
谢谢{PT}的耐心解答！
{ST}让我告诉你，材料明天再交也可以。
我和{P}、{P2}三个人想合租，房租怎么分比较公平？
老板让{P}负责处理这件事，我需要做什么？
{G}最近心情不好，我该怎么安慰她？
麻烦{PT}处理一下这张工单。
请{PTM}尽快处理退款，他说今天能办完。
我已经联系过{STM}了，他说明天回复。
这件事还是请{ST}来处理吧。
{PT}，请您告诉我下一步该怎么做。
我想咨询{ST}关于报销的问题。
和{PT}约的是{DAY}{TIME}，帮我写个提醒。
"""

ZT["location"] = """
从{C}到{C2}坐高铁要多久？
下个月我要去{C}出差，住哪个区比较方便？
我在{C}工作了五年，现在想回老家发展。
我老家在{R}，过年回去要坐二十个小时的火车。
{C}的冬天冷不冷？需要带什么衣服？
周末想从{C}自驾到{C2}，路上有什么好玩的地方？
我住在{D}，想找个离家近的健身房。
明天{C}会下雨吗？
{R}有哪些值得去的景点？
我是{R}人，现在在{C}读大学。
我们公司在{D}，上下班高峰特别堵。
我刚搬到{D}，这边哪家医院比较好？
我刚从{N}回来，倒时差有什么办法？
暑假想带孩子去{N}玩，签证好办吗？
从{W}飞回{C}，转机要注意什么？
我在{RC}出生，后来跟父母搬到了{C}。
去{C}旅游三天，帮我安排一下行程。
{C}和{C2}哪个城市更适合养老？
他在{D}租了一套两居室，月租多少算合理？
到{C}以后给我发个消息。
{C}的房价最近涨了吗？
帮我查一下{C}到{W}的航班。
我{DAY}到{C}，周五回{C2}。
我们在{D}见面吧，离你家近。
我女朋友在{N}留学，那边和这里差几个小时？
我在{W}转机，需要办过境签证吗？
{C}有什么特色小吃？
我们一家人去年从{C}搬到了{D}。
住在{D}的话，孩子上学方便吗？
国庆打算去{R}自驾游，路况怎么样？
{RC}今天的气温是多少？
我想在{C}买房，首付大概需要多少？
离开{C}已经十年了，很想念那里的朋友。
我来自{RC}，现在在{W}工作。
{D}附近有没有好一点的幼儿园？
下周从{C}去{R}，坐飞机还是坐火车好？
听说{C}的夜景很美，晚上去哪里看最好？
我爸妈住在{RC}，冬天想接他们来{C}过年。
公司打算把我调到{C}，我要不要去？
"""

ZT["address"] = """
请把快递寄到{A}，谢谢。
我的新地址是{AF}，麻烦帮我更新一下。
公司搬家了，新地址：{AU}。
到{A}的时候给我打个电话。
帮我查一下{A}附近有没有地铁站。
寄件地址写{AU}就可以。
发票邮寄地址：{AF}
从这里打车到{A}要多少钱？
我家住{AU}，楼下有个快递柜。
我们的门店在{A}，营业时间是早上十点到晚上十点。
面试地点在{AU}，怎么坐地铁过去？
请上门维修，地址是{AU}，时间{DAY}{TIME}。
把这个地址改成标准格式：{AF}
婚礼在{A}举行，帮我写一段请柬上的文字。
营业执照上的注册地址是{AF}。
从{A}搬到{A2}，要更新哪些证件上的地址？
外卖送到{AU}，放门口就好。
帮我写一封投诉信，{AU}楼上每天晚上都很吵。
房东让我把钥匙放在{AU}的门卫室。
活动集合地点：{A}门口。
我在{AS}附近，你到了吗？
我们约在{AS}的咖啡店见面吧。
{AF}是我的户籍地址，现在住在{D}。
请把我的收件地址从{A}改成{AU}。
新办公室在{AU}，下周一开始在那里上班。
这个包裹的寄件地址是{AF}，能查到是谁寄的吗？
帮我规划一条从{AS}到{AS2}的步行路线。
"""

ZT["mixed"] = """
你好，我是{P}，手机号{PH}，想预约{DAY}的体检。
联系人：{P}，电话：{PH}，地址：{AF}
我叫{P}，身份证号码{ID}，帮我填一下这张报名表。
请把合同寄给{PT}，地址是{AU}，电话{PH}。
新员工信息：{P}，{DOB}出生，籍贯{R}。
快递员{P}说会在{TIME}送到{A}。
我的邮箱是{E}，有问题可以联系我，我是{ST}的助理。
{P}的手机号是{PH}吗？我一直打不通。
入住人：{P}；证件号：{ID}；手机：{PH}
我是{P}，在{C}做{JOBZ}，邮箱{E}。
乘车人{P}，从{C}到{C2}，{DAY}{TIME}出发。
患者{P}，{DOB}出生，住址{AU}，无药物过敏史。
收件人：{P} {PH} {AF}
请给{PTF}回电，号码是{PH}，她住在{D}。
我叫{P}，银行卡号{CC}，刚才转账失败了。
请{PTM}处理一下，他的电话是{PH}。
"""

ZT["zh_in_en"] = """
Ship the samples to {AF}, please.
My colleague {P} from the {C} office will join the call.
Can you translate this for {PT}? The meeting has moved to Friday.
I'm flying from {C} to {W} next week, what should I pack?
Our supplier is at {A}; can you write them a short email?
{P} will be our contact in {D}.
Send the contract to {P}, {AU}.
Hi, this is {P}. My phone number is {PH}.
I used to live in {RC}, what's the weather like there in winter?
Please forward the invoice to {STF}, she handles payments.
"""

ZH_PERSON_SLOTS = re.compile(r"\{(P|PT|ST|S|XS|G|PLIST)[FM]?\d?\}")
ZH_PLACE_SLOTS = re.compile(r"\{(C|D|R|RC|N|W|A|AU|AF|AS)\d?\}")
ZH_SPAN_BAD_START = set("在去到从住的请叫是我你他她了")
ZH_SPAN_BAD_END = ("先生", "女士", "老师", "经理", "医生", "主任", "同学", "的", "附近", "门口")


class ZhCtx(Ctx):
    """Values for a zh_CN sentence (Faker zh_CN plus the lists above)."""

    # -- names
    def zsurname(self):
        for _ in range(20):
            v = self.fk.last_name()
            if v != "和" and not set(v) & ZH_SPAN_BAD_START:  # 和 is a surname too, but reads as "and"
                return v
        return "王"

    def zgiven(self, gender, two=False):
        f = self.fk.first_name_female if gender == "F" else self.fk.first_name_male
        for _ in range(30):
            v = f()
            if len(v) == 2 or not two:
                return v
        return v

    def zperson(self, gender):
        return Ent("person", [(self.zsurname(), "SURNAME"), (self.zgiven(gender), "GIVEN_NAME")])

    # -- places
    def zcity(self, shi):
        """(city name, its province or None); `shi`: probability of the 市 suffix."""
        rng = self.rng
        if rng.random() < 0.75:
            c = rng.choices(list(ZH_GEO), weights=ZH_CITY_WEIGHTS)[0]
            prov = ZH_GEO[c][0]
        else:
            for _ in range(20):
                c = self.fk.city_name()
                if c not in ZH_NOT_A_CITY and not c.endswith("盟"):
                    break
            else:
                c = "苏州"
            prov = ZH_GEO[c][0] if c in ZH_GEO else "?"
        return (c + "市" if rng.random() < shi else c), c, prov

    def zdistrict(self, city):
        if city in ZH_GEO:
            return self.pick(ZH_GEO[city][1]) + "区"
        for _ in range(10):
            d = self.fk.district()
            if not d.endswith("区"):  # Faker's "吉区" is no district's name
                break
        return d + "区"

    def zprovince_name(self, short_name, full):
        if short_name is None or short_name == "?":
            v = ""
            for _ in range(20):
                v = self.fk.province()
                if v.endswith("省") or v.endswith("自治区"):
                    break
            short_name = ZH_REGION_SHORT.get(v, v[:-1] if v.endswith("省") else v)
        if full:
            return ZH_REGION_FULL.get(short_name, short_name + "省")
        return short_name

    def loc_city(self):
        return Ent("location", [(self.zcity(0.3)[0], "CITY")])

    def loc_district(self):
        rng = self.rng
        name, city, _ = self.zcity(0.7)
        dist = self.zdistrict(city)
        if rng.random() < 0.2:
            return Ent("location", [(dist, "CITY")])
        return Ent("location", [(name, "CITY"), (dist, "CITY")])

    def loc_region(self):
        return Ent("location", [(self.zprovince_name(None, self.rng.random() < 0.5), "STATE")])

    def loc_region_city(self):
        rng = self.rng
        for _ in range(20):
            name, city, prov = self.zcity(0.6)
            if prov is not None:
                break
        full = rng.random() < 0.6
        segs = [(self.zprovince_name(prov, full), "STATE"), (name, "CITY")]
        if rng.random() < 0.3:
            segs.append((self.zdistrict(city), "CITY"))
        return Ent("location", segs)

    def loc_country(self):
        if self.rng.random() < 0.5:
            return Ent("location", [(self.pick(ZH_COUNTRIES), "STATE")])
        for _ in range(20):
            v = self.fk.country()
            if 2 <= len(v) <= 5 and v not in ("中国", "阿拉斯加", "夏威夷", "南斯拉夫", "扎伊尔"):
                return Ent("location", [(v, "STATE")])
        return Ent("location", [("日本", "STATE")])

    # -- addresses
    def zstreet(self):
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            return self.pick(ZH_STREETS)
        if r < 0.65:
            return self.fk.street_name()
        if r < 0.8:
            return self.pick(list(ZH_GEO)) + self.pick(["东路", "西路", "南路", "北路", "中路", "路"])
        return self.pick(ZH_STREET_WORDS) + self.pick(ZH_STREET_TYPES)

    def znumber(self):
        rng = self.rng
        r = rng.random()
        n = rng.randint(1, 300) if rng.random() < 0.75 else rng.randint(301, 1999)
        if r < 0.08:
            return f"{rng.randint(10, 999)}弄{rng.randint(1, 40)}号"
        if r < 0.13:
            return f"{n}-{rng.randint(1, 9)}号"
        return f"{n}号"

    def zunit(self):
        rng = self.rng
        b, u, f = rng.randint(1, 30), rng.randint(1, 6), rng.randint(1, 33)
        room = f"{f}{rng.randint(1, 8):02d}"
        L = self.pick("ABCDE")
        r = rng.random()
        if r < 0.2:
            return f"{b}栋{u}单元{room}室"
        if r < 0.35:
            return f"{b}号楼{u}单元{room}" if rng.random() < 0.5 else f"{b}号楼{room}室"
        if r < 0.45:
            return f"{b}幢{room}室"
        if r < 0.55:
            return f"{room}室"
        if r < 0.65:
            return self.pick([f"{f}楼", f"{f}层", f"{f}层{room}室"])
        if r < 0.75:
            return self.pick([f"{L}座{f}楼", f"{L}座{room}室", f"{L}座{room}"])
        if r < 0.9:
            return self.pick(ZH_COMPOUNDS) + self.pick([f"{b}栋{room}室", f"{b}号楼{room}", f"{b}幢{u}单元{room}"])
        return self.pick(ZH_TOWERS) + self.pick([f"{f}楼", f"{f}层", f"{L}座{f}层"])

    def zaddress(self, form):
        rng = self.rng
        street = [(self.zstreet(), "STREET_NAME"), (self.znumber(), "BUILDING_NUMBER")]
        unit = form == "AU" or (form in ("AF", "AS") and rng.random() < 0.35)
        if unit:
            street.append((self.zunit(), "SECONDARY_ADDRESS"))
        if form == "AS":
            return Ent("streetAddress", street)
        name, city, prov = self.zcity(0.85)
        segs = [(name, "CITY")]
        if rng.random() < 0.9:
            segs.append((self.zdistrict(city), "CITY"))
        if form == "AF" and prov is not None and rng.random() < 0.6:
            segs.insert(0, (self.zprovince_name(prov, rng.random() < 0.8), "STATE"))
        segs += street
        if form == "AF" and rng.random() < 0.35:
            segs += [(" ", None), (self.fk.postcode(), "ZIP_CODE")]
        return Ent("streetAddress", segs)

    # -- other personal data
    def zphone(self):
        rng = self.rng
        m = self.fk.phone_number()
        r = rng.random()
        if r < 0.55:
            return m
        if r < 0.7:
            return f"{m[:3]} {m[3:7]} {m[7:]}"
        if r < 0.8:
            return "+86 " + m
        if r < 0.85:
            return f"+86-{m[:3]}-{m[3:7]}-{m[7:]}"
        if r < 0.9:
            return f"{m[:3]}-{m[3:7]}-{m[7:]}"
        area = self.pick(ZH_AREA)
        local = f"{rng.randint(2, 8)}{rng.randint(0, 9999999):07d}"
        return self.pick([f"{area}-{local}", f"({area}) {local[:4]} {local[4:]}", f"{area}-{local[:4]} {local[4:]}"])

    def zemail(self):
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            return self.fk.email()
        if r < 0.75:
            return f"{rng.randint(10000, 3999999999)}@qq.com"
        return f"{self.fk.user_name()}@{self.pick(['163.com', '126.com', 'sina.com', 'foxmail.com', 'aliyun.com'])}"

    def zcard(self):
        rng = self.rng
        if rng.random() < 0.6:
            return self.fk.credit_card_number()
        v = "62" + "".join(str(rng.randint(0, 9)) for _ in range(rng.choice([14, 17])))
        return " ".join(v[i:i + 4] for i in range(0, len(v), 4)) if rng.random() < 0.5 else v

    def zdob(self):
        first, last = datetime.date(1940, 1, 1).toordinal(), datetime.date(2020, 12, 31).toordinal()
        d = datetime.date.fromordinal(self.rng.randint(first, last))
        return self.pick([f"{d.year}年{d.month}月{d.day}日", f"{d.year}年{d.month}月{d.day}日", d.isoformat(),
                          f"{d.year}/{d.month}/{d.day}", f"{d.year}年{d.month:02d}月{d.day:02d}日"])

    # -- look-alikes
    def ztime(self):
        rng = self.rng
        h = rng.randint(7, 21)
        if rng.random() < 0.4:
            return f"{h}:{rng.choice([0, 15, 30, 45]):02d}"
        part = "早上" if h < 9 else "上午" if h < 12 else "中午" if h == 12 else "下午" if h < 18 else "晚上"
        hh = h if h <= 12 else h - 12
        num = ZH_NUM[hh - 1] if hh <= 10 else "十" + ZH_NUM[hh - 11]
        return f"{part}{num if rng.random() < 0.7 else hh}点{self.pick(['', '', '半', '一刻'])}"

    def zcompany(self):
        if self.rng.random() < 0.6:
            return self.pick(ZH_COMPANIES)
        places = self.g.zh_place_words
        for _ in range(20):
            v = self.fk.company()
            if not any(p in v for p in places):
                return v
        return self.pick(ZH_COMPANIES)


def zh_slot_pieces(ctx, name):
    """The pieces (str or Ent) that one slot of a zh_CN sentence inserts."""
    base = re.sub(r"\d$", "", name)
    rng = ctx.rng
    m = re.match(r"^(P|PT|ST|S|XS|G)(F|M)?$", base)
    if m:
        kind, gender = m.group(1), m.group(2) or ctx.pick("FM")
        if kind == "P":
            return [ctx.fresh(lambda: ctx.zperson(gender))]
        if kind == "PT":
            return [ctx.fresh(lambda: ctx.zperson(gender)), ctx.pick(ZH_TITLE_F if gender == "F" else ZH_TITLE_M)]
        if kind == "ST":
            return [ctx.fresh(lambda: Ent("person", [(ctx.zsurname(), "SURNAME")])),
                    ctx.pick(ZH_STITLE_F if gender == "F" else ZH_STITLE_M)]
        if kind == "S":
            return [ctx.fresh(lambda: Ent("person", [(ctx.zsurname(), "SURNAME")]))]
        if kind == "XS":
            return [ctx.pick(["小", "小", "老"]), ctx.fresh(lambda: Ent("person", [(ctx.zsurname(), "SURNAME")]))]
        return [ctx.fresh(lambda: Ent("person", [(ctx.zgiven(gender, two=True), "GIVEN_NAME")]))]
    if base == "PLIST":
        n = rng.choice([2, 2, 3])
        out = []
        for i in range(n):
            if i:
                out.append("和" if i == n - 1 and rng.random() < 0.7 else "、")
            out.append(ctx.fresh(lambda: ctx.zperson(ctx.pick("FM"))))
        return out
    places = {"C": ctx.loc_city, "D": ctx.loc_district, "R": ctx.loc_region, "RC": ctx.loc_region_city,
              "N": ctx.loc_country, "W": lambda: Ent("location", [(ctx.pick(ZH_WORLD), "CITY")])}
    if base in places:
        return [ctx.fresh(places[base])]
    if base in ("A", "AU", "AF", "AS"):
        return [ctx.fresh(lambda: ctx.zaddress(base))]
    if base == "E":
        return [Ent("email", [(ctx.zemail(), None)])]
    if base == "PH":
        return [Ent("phone", [(ctx.zphone(), None)])]
    if base == "ID":
        return [Ent("nationalId", [(ctx.fk.ssn(), None)])]
    if base == "PW":
        return [Ent("apiKey", [(ctx.fk.password(length=rng.randint(8, 14)), None)])]
    if base == "CC":
        return [Ent("creditCard", [(ctx.zcard(), None)])]
    if base == "IP":
        ip = ctx.fk.ipv4_public() if rng.random() < 0.7 else f"192.168.{rng.randint(0, 9)}.{rng.randint(2, 254)}"
        return [Ent("ipAddress", [(ip, None)])]
    if base == "DOB":
        return [Ent("dateOfBirth", [(ctx.zdob(), None)])]
    if base == "DAY":
        return [ctx.fresh(lambda: ctx.pick(ZH_DAYS))]
    if base == "TIME":
        return [ctx.ztime()]
    if base == "MON":
        n = rng.randint(1, 12)
        return [f"{n}月" if rng.random() < 0.4 else (ZH_NUM[n - 1] if n <= 10 else "十" + ZH_NUM[n - 11]) + "月"]
    if base == "NUM":
        return [str(rng.randint(3, 60) * 1000 if rng.random() < 0.5 else rng.randint(2, 9999))]
    if base == "ORD":
        return [str(rng.randint(10**11, 10**18))]
    if base == "PRICE":
        n = rng.randint(5, 4999)
        return [ctx.pick([f"{n}元", f"¥{n}", f"{n}块", f"{n}.{rng.randint(0, 99):02d}元"])]
    if base == "ZCO":
        return [ctx.fresh(ctx.zcompany)]
    pools = {"APP": ZH_APPS, "FOOD": ZH_FOODS, "JOBZ": ZH_JOBS}
    if base in pools:
        return [ctx.fresh(lambda: ctx.pick(pools[base]))]
    if base in ("SW", "PLANG", "PROD", "VER", "CODE"):
        return slot_pieces(ctx, name, shared=True)  # the Latin look-alikes of the other locales
    raise KeyError(f"unknown zh_CN slot {{{name}}}")


def zh_check(text, spans):
    """Prepositions, particles and titles stay outside the spans of a Chinese sentence."""
    for s in spans:
        if s["type"] not in ("person", "location", "streetAddress"):
            continue
        v = text[s["start"]:s["end"]]
        assert v[0] not in ZH_SPAN_BAD_START, f"span starts with a particle: {v!r} in {text!r}"
        assert not v.endswith(ZH_SPAN_BAD_END), f"span ends with a title or particle: {v!r} in {text!r}"


# ---------------------------------------------------------------- generator

class Generator:
    FOCUS_WEIGHTS = {"person": 0.34, "location": 0.25, "address": 0.29, "mixed": 0.12}
    NEGATIVE_SHARE = 0.25

    def __init__(self, seed):
        self.rng = random.Random(seed)
        # Faker's it_IT address provider builds its town list from a set, whose order
        # follows string hashing; sort it so that runs agree.
        from faker.providers.address.it_IT import Provider as ItAddress
        ItAddress.cities = sorted(ItAddress.cities)
        self.fakers = {}
        for i, loc in enumerate(LOCALES):
            fk = Faker(loc)
            fk.seed_instance(seed * 1000 + i)
            self.fakers[loc] = fk
        self.en_faker = Faker("en_US")
        self.en_faker.seed_instance(seed * 1000 + 999)
        self.geo = {}
        world = []
        for _, _, place, cc, tz in GeoProvider.land_coords:
            if latin(place) and place[:1].isupper() and len(place) < 24:
                self.geo.setdefault(cc, []).append(place)
                world.append(place)
        self.world = sorted(set(world))
        for cc in self.geo:
            self.geo[cc] = sorted(set(self.geo[cc]))
        self.templates = load_templates()
        for key, lines in self.templates.items():
            for line in lines:
                for m in SLOT_RE.finditer(line):
                    name = m.group(1)
                    if key[1] == "negative":
                        assert not PLACE_OR_PERSON.search("{" + name + "}"), (key, line)
        self.frames = {}
        for focus, (heads, fills, tails) in FRAMES.items():
            self.frames[focus] = [h[:-1].replace("{X}", f) + t + h[-1] for h in heads for f in fills for t in tails]
        self.zh_templates = {focus: [line for line in block.strip("\n").split("\n") if line.strip()]
                             for focus, block in ZT.items()}
        assert set(self.zh_templates) == set(ZH_FOCUS)
        # Literal text of the Chinese templates names no place (only slots do), and the
        # sentences without personal data hold no person or place slot.
        from faker.providers.address.zh_CN import Provider as ZhAddress
        self.zh_place_words = sorted(set(ZH_GEO) | set(ZhAddress.cities) | {p for p, _ in ZH_GEO.values() if p}
                                     | set(ZH_REGION_FULL) | set(ZH_WORLD) | set(ZH_COUNTRIES)
                                     | {"中国", "济南", "黄石", "襄樊", "开发区"})
        for focus, lines in self.zh_templates.items():
            for line in lines:
                literal = SLOT_RE.sub("", line)
                hits = [w for w in self.zh_place_words if w in literal]
                assert not hits, (focus, line, hits)
                if focus in ("negative", "other"):
                    assert not ZH_PERSON_SLOTS.search(line) and not ZH_PLACE_SLOTS.search(line), (focus, line)
        self.locales = list(LOCALES)
        self.loc_weights = [LOCALES[l][2] for l in self.locales]

    def choose(self, ctx):
        """(template id, template text) for one sentence."""
        rng = self.rng
        lang = ctx.lang
        tlang = "en"
        if lang != "en" and rng.random() < LOCAL_SHARE[lang]:
            tlang = lang
        if rng.random() < self.NEGATIVE_SHARE:
            focus = "negative"
        else:
            focus = rng.choices(list(self.FOCUS_WEIGHTS), weights=list(self.FOCUS_WEIGHTS.values()))[0]
        ctx.tlang = tlang
        if tlang == "en" and focus in FRAMES and rng.random() < 0.22:
            frames = self.frames[focus]
            i = rng.randrange(len(frames))
            return f"frame:{focus}:{i}", frames[i], focus
        key = (tlang, focus)
        if key not in self.templates:
            key = (tlang, "person") if focus == "mixed" and (tlang, "person") in self.templates else ("en", focus)
            ctx.tlang = key[0]
        lines = self.templates[key]
        i = rng.randrange(len(lines))
        return f"{key[0]}:{key[1]}:{i}", lines[i], focus

    def zh_sentence(self, loc):
        rng = self.rng
        ctx = ZhCtx(self, loc)
        focus = rng.choices(list(ZH_FOCUS), weights=list(ZH_FOCUS.values()))[0]
        lines = self.zh_templates[focus]
        i = rng.randrange(len(lines))
        template = lines[i]
        ctx.tlang = "en" if focus == "zh_in_en" else "zh"
        if ctx.tlang == "zh":
            if rng.random() < 0.12 and not template.startswith(("你好", "您好", "大家好", "谢谢", "尊敬", "嗨")) \
                    and "：" not in template[:6]:
                template = rng.choice(ZH_LEAD) + template
            r = rng.random()
            if r < 0.08 and template[-1] in "。？！":
                template += rng.choice(ZH_TAIL)
            elif r < 0.14 and template[-1] == "。":
                template = template[:-1]
            elif r < 0.18 and template[-1] == "？":
                template = template[:-1] + "?"
        pieces = expand(ctx, template)
        text, spans, parts = render(pieces)
        check(text, spans, parts, [p for p in pieces if isinstance(p, Ent)])
        zh_check(text, spans)
        return {"text": text, "spans": spans, "parts": parts}, f"zh:{focus}:{i}", loc, ctx.tlang, focus

    def sentence(self):
        rng = self.rng
        loc = rng.choices(self.locales, weights=self.loc_weights)[0]
        if loc == "zh_CN":
            return self.zh_sentence(loc)
        ctx = Ctx(self, loc)
        tid, template, focus = self.choose(ctx)
        if ctx.tlang == "en" and "\n" not in template:
            if rng.random() < 0.15 and not template[0].islower():
                template = rng.choice(EN_PREFIXES) + template
            if rng.random() < 0.12 and template[-1] in ".?!":
                template = template + rng.choice(EN_SUFFIXES)
        pieces = expand(ctx, template)
        r = rng.random()
        mode = None
        if r < 0.06:
            mode = "lower_all"
        elif r < 0.11:
            mode = "lower_names"
        elif r < 0.13:
            mode = "upper_surname"
        elif r < 0.14:
            mode = "upper_place"
        if mode:
            pieces = transform(pieces, mode)
        text, spans, parts = render(pieces)
        ents = [p for p in pieces if isinstance(p, Ent)]
        check(text, spans, parts, ents)
        return {"text": text, "spans": spans, "parts": parts}, tid, loc, ctx.tlang, focus


def main():
    # Any other set whose order leaks into Faker's draws is fixed by fixing string hashing.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=6000)
    args = ap.parse_args()
    gen = Generator(args.seed)
    span_types, part_labels, langs, locs, focuses, tids = Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    zh_total, zh_empty, zh_spans = 0, 0, Counter()
    out = sys.stdout
    for _ in range(args.count):
        rec, tid, loc, tlang, focus = gen.sentence()
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        span_types.update(s["type"] for s in rec["spans"])
        part_labels.update(p["label"] for p in rec["parts"])
        langs[tlang] += 1
        locs[loc] += 1
        focuses[focus] += 1
        tids[tid] += 1
        if loc == "zh_CN":
            zh_total += 1
            zh_spans.update(s["type"] for s in rec["spans"])
            zh_empty += not any(s["type"] in ("person", "location", "streetAddress") for s in rec["spans"])
    hand = sum(len(v) for v in gen.templates.values()) + sum(len(v) for v in gen.zh_templates.values())
    main3 = sum(span_types[t] for t in ("person", "location", "streetAddress")) or 1
    err = sys.stderr
    print(f"sentences: {args.count} (seed {args.seed}, Faker {FAKER_VERSION})", file=err)
    print(f"sentence kinds: {dict(focuses.most_common())}", file=err)
    print(f"spans: {sum(span_types.values())} {dict(span_types.most_common())}", file=err)
    print("span mass person/location/streetAddress: " + ", ".join(
        f"{t} {100 * span_types[t] / main3:.1f} %" for t in ("person", "location", "streetAddress")), file=err)
    print(f"parts: {sum(part_labels.values())} {dict(part_labels.most_common())}", file=err)
    print(f"template language: {dict(langs.most_common())} (non-English {100 * (args.count - langs['en']) / args.count:.1f} %)", file=err)
    print(f"locales: {dict(locs.most_common())}", file=err)
    print(f"zh_CN: {zh_total} sentences ({100 * zh_total / args.count:.1f} %), {zh_empty} of them "
          f"({100 * zh_empty / max(zh_total, 1):.1f} %) without person, address or place; "
          f"spans {dict(zh_spans.most_common())}", file=err)
    print(f"templates: {hand} hand-written + {sum(map(len, gen.frames.values()))} frame combinations; distinct used: {len(tids)} "
          f"({sum(1 for t in tids if not t.startswith('frame:'))} hand-written, {sum(1 for t in tids if t.startswith('frame:'))} frames)", file=err)


if __name__ == "__main__":
    main()

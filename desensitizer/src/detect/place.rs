//! Places that locate someone or something: a country, US state or city from the
//! [`gazetteer`], or an unlisted name shaped like a town (`Port Janetchester`,
//! `Lake Robertside`, `Lawsontown`), when a locative word comes before it (`in`, `from`,
//! `near`, `moved here from`) or when it stands on a line of its own in an address block.
//!
//! A place named in passing is deliberately left alone (`the capital of France`,
//! `France's economy`): replacing it would make general-knowledge questions unanswerable,
//! and a country or city on its own identifies nobody. Presidio's corpora label every
//! place, so this costs recall there; docs/benchmarks.md shows how much.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::gazetteer::{self, Listed};
use super::{Detection, compile, priority};

/// Abbreviations that keep their full stop inside a place name (`St. Louis`).
const ABBREVIATIONS: &[&str] = &["Ft", "Mt", "St"];

/// Locative phrases that make even an everyday word a place (`I live in Reading`). Matched
/// against the end of the text before the place, so anchored at `$`.
static STRONG_CUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)\b(?:lives?|lived|living|based|born|grew up|raised|located|resides?|resided|residing|",
        r"moved(?: here| there| back)?|moving|relocated|relocating|flew|flying|travell?(?:ed|ing)?|trip|",
        r"originally|hometown is|home town is|stationed|headquartered|arrived|arriving|returned|",
        r"coming|going|visit(?:ed|ing)?|(?:i'm|i am|we're|we are|comes?|came)\s+from)",
        r"(?:\s+(?:in|to|from|at|near|into))?\s+(?:the\s+)?$"
    ))
});

/// `moving from Benin to …`, `flew from Lyon to …`: the destination of a journey whose
/// origin was just named, however short the window before it.
static JOURNEY_TO: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)\b(?:mov(?:e|ed|es|ing)|relocat(?:e|ed|es|ing)|fl(?:y|ying|ew|ies)|travell?(?:ed|ing)?|driv(?:e|ing)|drove|",
        r"commut(?:e|ed|es|ing)|going|went|heading)\s+(?:(?:here|there|back)\s+)?from\s+[^.,;!?\n]{1,40}?\s+to\s+(?:the\s+)?$"
    ))
});

/// Nouns that a listed place before them ties to someone's work or plans (`the Lisbon team`,
/// `our Seoul coordinator`, `the Kyoto retreat`, `Bergen trip`): a place then, not one
/// named in passing (sorted for binary search).
const PLACE_OF: &[&str] = &[
    "branch",
    "campus",
    "clinic",
    "conference",
    "coordinator",
    "depot",
    "factory",
    "headquarters",
    "hq",
    "hub",
    "manager",
    "meeting",
    "office",
    "offices",
    "offsite",
    "plant",
    "retreat",
    "site",
    "staff",
    "store",
    "team",
    "trip",
    "visit",
    "warehouse",
];

/// Prepositions that place what follows (sorted for binary search). `to` and `from` also
/// take people (`send it to Jackson`), so a place that is also a listed name needs a
/// stronger cue after them.
const WEAK_CUES: &[&str] = &[
    "across",
    "around",
    "at",
    "from",
    "in",
    "into",
    "near",
    "outside",
    "serving",
    "through",
    "throughout",
    "to",
    "toward",
    "towards",
    "via",
    "visit",
    "visited",
    "visiting",
    "within",
];

/// Prepositions after which a person is as likely as a place.
const PERSON_CUES: &[&str] = &["at", "from", "to", "visit", "visited", "visiting"];

/// Lower-case words that may sit inside a place name (`Isle of Man`, `Trinidad and Tobago`).
const CONNECTORS: &[&str] = &["and", "de", "del", "i", "la", "le", "of", "on", "sur", "the", "upon"];

/// First words of English place names (`North Holly`, `Port Janet`, `Lake Katie`).
const TOPONYM_PREFIXES: &[&str] = &[
    "East", "Fort", "Lake", "Little", "Mount", "New", "North", "Port", "Saint", "San", "Santa", "South", "St", "West",
];

/// Endings of English place names (`Jacksonville`, `Pittsburgh`, `Portsmouth`); a word
/// with one of these is a place only after a locative cue or on an address line.
const TOPONYM_SUFFIXES: &[&str] = &[
    "berg", "borough", "burg", "burgh", "bury", "chester", "field", "ford", "fort", "furt", "haven", "land", "mouth",
    "port", "shire", "side", "stad", "ton", "town", "view", "ville", "wood",
];

/// Labels of fields whose value is a place (`city=Fuengirola`, `Hometown: Lake Charles`,
/// `"town": "Battle"`), up to the value's first character.
static FIELD_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r#"(?i)\b(?:city|town|hometown|home town|birthplace|place of birth|city of birth|village|suburb|"#,
        r#"locality|district|county|region|province|state|country|residence|location)["']?\s*(?:=|:|：)\s*["']?"#,
    ))
});

/// Lower-case words inside a place name given as a field value or after a street line
/// (`Vilanova i la Geltrú`, `Stratford-upon-Avon`, `Saint-Germain-des-Prés`).
pub(super) const FIELD_CONNECTORS: &[&str] = &[
    "am", "an", "and", "da", "das", "de", "del", "der", "des", "di", "do", "dos", "du", "en", "i", "im", "la", "le",
    "les", "of", "on", "sur", "the", "upon", "y",
];

/// A word that may begin or end a place name: capitalized, or elided (`d'Azur`, `l'Isle`).
fn place_word(word: &str) -> bool {
    capitalized(word)
        || ["d'", "l'", "d’", "l’"].iter().any(|p| {
            word.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p))
                && word.get(p.len()..).is_some_and(capitalized)
        })
}

/// Characters of a field's value read after its label (a place name of [`MAX_WORDS`]
/// words fits).
const FIELD_SCAN: usize = 120;

/// Places given as field values: the capitalized words right after a [`FIELD_LABEL`], joined
/// by single spaces or hyphens (lower-case connectors between them), at most
/// [`MAX_WORDS`]. Listed or not: the label is the evidence.
fn field_values(text: &str, out: &mut Vec<Detection>) {
    for label in FIELD_LABEL.find_iter(text) {
        let Some(rest) = text.get(label.end()..) else { continue };
        // Only the rest of the label's line, and not much of it: scanning the whole text
        // after every label would make a body of many labels quadratic.
        let scanned = rest.char_indices().nth(FIELD_SCAN).map_or(rest, |(i, _)| &rest[..i]);
        let rest = scanned.split('\n').next().unwrap_or(scanned);
        let tokens = words(rest);
        let word = |i: usize| rest.get(tokens[i].0..tokens[i].1).unwrap_or("");
        if tokens.first().is_none_or(|&(start, _)| start != 0) || !place_word(word(0)) {
            continue;
        }
        let mut last = 0;
        let mut j = 1;
        while j < tokens.len() && j < MAX_WORDS {
            let gap = rest.get(tokens[j - 1].1..tokens[j].0).unwrap_or("\n");
            if !(gap == " " || gap == "-") {
                break;
            }
            if place_word(word(j)) {
                last = j;
            } else if !FIELD_CONNECTORS.contains(&word(j)) {
                break;
            }
            j += 1;
        }
        let (start, end) = (label.end(), label.end() + tokens[last].1);
        out.push(Detection::new(start, end, EntityType::Location, priority::FIELD_VALUE));
    }
}

/// An administrative area named with its kind (`Changning District`, `Pudong New Area`,
/// `Kings County`, `Co. Mayo`, `Gangnam-gu`, `Shibuya-ku`): the kind word says it is a
/// place, listed or not, cue or not.
static ADMIN_AREA: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"\b(?:(?:\p{Lu}[\p{Ll}'’]+[ \-]){1,3}(?:District|New Area|County|Prefecture|Province|Oblast|Governorate|Municipality|Ward|Sub-district|Subdistrict)",
        r"|Co\. \p{Lu}\p{Ll}+",
        r"|\p{Lu}\p{Ll}+-(?:gu|ku|si|shi|dong|qu))\b"
    ))
});

/// The longest place name tried, in words (`South Georgia and the South Sandwich Islands`).
const MAX_WORDS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// A preposition that also takes people.
    PersonLike,
    /// A preposition that only places take.
    Weak,
    /// A phrase about living, moving or travelling.
    Strong,
}

/// Byte ranges of the words of `text`: runs of letters, inner apostrophes included
/// (`Côte d'Ivoire`). A hand-written scan: this runs on every request, over every word.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let letter = c.is_alphabetic();
        let inner_apostrophe =
            matches!(c, '\'' | '’') && start.is_some() && chars.peek().is_some_and(|(_, next)| next.is_alphabetic());
        match (start, letter || inner_apostrophe) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// The locative cue right before byte offset `start`, if any.
fn cue_before(text: &str, start: usize) -> Option<Cue> {
    let before = text.get(..start)?;
    // Only the last few words matter; bounding the window keeps this linear overall.
    let window_start = before.char_indices().rev().nth(40).map_or(0, |(i, _)| i);
    let window = before.get(window_start..)?;
    if STRONG_CUE.is_match(window) || JOURNEY_TO.is_match(window) {
        return Some(Cue::Strong);
    }
    let trimmed = window.trim_end_matches([' ', '\t']);
    if trimmed.len() == window.len() {
        return None;
    }
    let mut words = trimmed.rsplit(|c: char| !c.is_alphabetic());
    let mut last = words.next()?.to_lowercase();
    if last == "the" {
        last = words.next()?.to_lowercase();
    }
    if PERSON_CUES.contains(&last.as_str()) {
        Some(Cue::PersonLike)
    } else if WEAK_CUES.binary_search(&last.as_str()).is_ok() {
        Some(Cue::Weak)
    } else {
        None
    }
}

/// True when `text[start..end]` is alone on its line of a multi-line text, but for list
/// marks before it and a postcode after it (`> Lake Jason`, ` Greenland 12345`). Both scans
/// stop at the first character that rules the line out, so every call is short.
fn own_line(text: &str, start: usize, end: usize) -> bool {
    let (Some(before), Some(after)) = (text.get(..start), text.get(end..)) else {
        return false;
    };
    let lead_ok = before
        .chars()
        .rev()
        .find(|c| !(matches!(c, ' ' | '\t' | '\r' | '>' | '?' | '*' | '-' | '•' | '#' | '|')))
        .is_none_or(|c| c == '\n');
    // A postcode is at most 10 characters; a longer tail is other text.
    let mut rest_of_line = after.chars().take_while(|&c| c != '\n');
    let tail: String = rest_of_line.by_ref().take(16).collect();
    if rest_of_line.next().is_some() {
        return false;
    }
    let tail = tail.trim();
    lead_ok && (tail.is_empty() || postcode_like(tail))
}

/// A postcode after a place (`W2 5SU`, `12345`, `DN4 5HT`): at most 10 characters, a digit
/// among capitals, digits, spaces and hyphens.
pub(super) fn postcode_like(tail: &str) -> bool {
    tail.len() <= 10
        && tail.chars().any(|c| c.is_ascii_digit())
        && tail.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ' || c == '-')
}

/// The end of a parenthesised alternative name or qualifier right after a place
/// (`Falkland Islands (Malvinas)`, `Slovakia (Slovak Republic)`, `Antarctica (the territory
/// South of 60 deg S)`): up to 48 characters on the same line, starting with a capital or
/// `the`. Otherwise `end` itself.
fn with_qualifier(text: &str, end: usize) -> usize {
    let Some(inner) = text.get(end..).and_then(|rest| rest.strip_prefix(" (")) else {
        return end;
    };
    let Some(close) = inner.char_indices().take(48).find(|&(_, c)| c == ')' || c == '\n' || c == '(') else {
        return end;
    };
    let content = &inner[..close.0];
    let shaped = content.chars().next().is_some_and(char::is_uppercase) || content.starts_with("the ");
    if close.1 == ')' && shaped { end + 2 + close.0 + 1 } else { end }
}

/// `Paris`, not `PARIS` or a postcode's `SE`.
fn capitalized(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(char::is_uppercase) && chars.next().is_some_and(char::is_lowercase)
}

/// A listed given name or surname, which may be a person rather than a place.
fn is_name(folded: &str) -> bool {
    gazetteer::first_name(folded).is_some() || gazetteer::surname(folded) == Some(Listed::Plain)
}

/// An unlisted name that looks like an English town: a toponymic first word and capitalized
/// words after it, or one word with a toponymic ending that is not a listed name.
pub(super) fn town_shaped(words: &[&str]) -> bool {
    match words {
        [single] => {
            let folded = gazetteer::fold(single);
            TOPONYM_SUFFIXES.iter().any(|s| folded.len() >= s.len() + 3 && folded.ends_with(s)) && !is_name(&folded)
        }
        [first, rest @ ..] => TOPONYM_PREFIXES.contains(first) && rest.iter().all(|w| capitalized(w)),
        [] => false,
    }
}

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    field_values(text, out);
    for m in ADMIN_AREA.find_iter(text) {
        out.push(Detection::new(m.start(), m.end(), EntityType::Location, priority::LOCATION_CUED));
    }
    // Address-block lines only exist in multi-line text; checked once, not per word.
    let multiline = text.contains('\n');
    let own_line = |start: usize, end: usize| multiline && own_line(text, start, end);
    let tokens = words(text);
    let word = |i: usize| text.get(tokens[i].0..tokens[i].1).unwrap_or("");
    // Places alone on their lines, kept when not also a person's name (`Westbury` is a
    // surname too) or when several make an address block (`Westbury\nDominica`), so that a
    // signature line (`Thanks,\nCharlotte`) stays a person.
    let mut line_places: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !capitalized(word(i)) {
            i += 1;
            continue;
        }
        // Words of one name are separated by one space or hyphen, never by a line break.
        let mut last = i;
        while last + 1 < tokens.len() && last + 1 - i < MAX_WORDS {
            let gap = text.get(tokens[last].1..tokens[last + 1].0).unwrap_or("\n");
            if !(gap == " " || gap == "-" || (gap == ". " && ABBREVIATIONS.contains(&word(last)))) {
                break;
            }
            last += 1;
        }
        // Only words that begin some listed multi-word name are worth extending (`New`,
        // `United`); for the others one lookup of the word itself is enough.
        let place_last = if gazetteer::begins_multiword_place(&gazetteer::fold(word(i))) { last } else { i };
        let found = (i..=place_last).rev().find_map(|j| {
            let span = text.get(tokens[i].0..tokens[j].1)?;
            let inner_ok = (i + 1..j).all(|k| capitalized(word(k)) || CONNECTORS.contains(&word(k)));
            if !capitalized(word(j)) || !inner_ok {
                return None;
            }
            let folded = gazetteer::fold(span);
            gazetteer::place(&folded).map(|listed| (j, listed, folded))
        });
        let start = tokens[i].0;
        match found {
            Some((j, listed, folded)) => {
                let cue = cue_before(text, start);
                let end = tokens[j].1;
                // `from Victoria Lee`: a listed name followed by another capitalized word is a
                // person, whatever the gazetteer says.
                let next_capitalized =
                    j + 1 < tokens.len() && text.get(end..tokens[j + 1].0) == Some(" ") && capitalized(word(j + 1));
                let name_like = is_name(&folded);
                let place_of = text
                    .get(end..)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(|rest| rest.split(|c: char| !c.is_alphabetic()).next().unwrap_or("").to_lowercase())
                    .is_some_and(|noun| PLACE_OF.binary_search(&noun.as_str()).is_ok());
                let trusted = match (listed, cue) {
                    (_, Some(Cue::Strong)) => true,
                    (Listed::Plain, _) if place_of => true,
                    (Listed::Plain, Some(Cue::Weak)) => true,
                    (Listed::Plain, Some(Cue::PersonLike)) => !name_like,
                    (Listed::Plain, None) => {
                        if own_line(start, end) {
                            line_places.push((start, end, name_like));
                        }
                        false
                    }
                    (Listed::Ambiguous, _) => false,
                };
                if trusted && !(name_like && next_capitalized) {
                    let end = with_qualifier(text, end);
                    out.push(Detection::new(start, end, EntityType::Location, priority::LOCATION_CUED));
                }
                i = j + 1;
            }
            None => {
                // The longest town-shaped run of capitalized words from here (at most three).
                let run_end = (i..=last.min(i + 2)).take_while(|&k| capitalized(word(k))).last().unwrap_or(i);
                let words: Vec<&str> = (i..=run_end).map(word).collect();
                let end = tokens[run_end].1;
                let shaped = town_shaped(&words);
                let on_line = shaped && own_line(start, end);
                if shaped && (on_line || cue_before(text, start).is_some()) {
                    if on_line {
                        line_places.push((start, end, false));
                    } else {
                        out.push(Detection::new(start, end, EntityType::Location, priority::LOCATION_CUED));
                    }
                    i = run_end + 1;
                } else {
                    i += 1;
                }
            }
        }
    }
    let block = line_places.len() >= 2;
    for (start, end, name_like) in line_places {
        if !name_like || block {
            out.push(Detection::new(start, end, EntityType::Location, priority::LOCATION_CUED));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(detect, text)
    }

    #[test]
    fn words_keep_inner_apostrophes() {
        let text = "in Côte d'Ivoire, 'quoted' x";
        let found: Vec<&str> = words(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(found, ["in", "Côte", "d'Ivoire", "quoted", "x"]);
    }

    #[test]
    fn lists_are_sorted_for_binary_search() {
        for list in [WEAK_CUES, PLACE_OF] {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, list);
        }
    }

    #[test]
    fn places_after_a_locative_word() {
        assert_eq!(found("We moved here from Nepal"), ["Nepal"]);
        assert_eq!(found("I'm in Lyon, at the conference"), ["Lyon"]);
        assert_eq!(found("Who's coming to United States of America with me?"), ["United States of America"]);
        assert_eq!(found("She flew to Port Janetchester on Monday"), ["Port Janetchester"]);
        assert_eq!(found("arrived at Torrestown this morning"), ["Torrestown"]);
        assert_eq!(found("I live in Reading"), ["Reading"]);
        assert_eq!(found("Pedro joins the Lisbon team on Monday"), ["Lisbon"]);
        assert_eq!(found("Reach our Seoul coordinator at 02-3445-1187"), ["Seoul"]);
        assert_eq!(found("We're moving from Peru to Chile in the spring"), ["Peru", "Chile"]);
        assert_eq!(found("I'm from Austin, so"), ["Austin"]);
        assert_eq!(found("We moved here from Falkland Islands (Malvinas)"), ["Falkland Islands (Malvinas)"]);
        assert_eq!(found("I live in Slovakia (Slovak Republic), near"), ["Slovakia (Slovak Republic)"]);
        assert_eq!(found("I live in Paris (for now)"), ["Paris"]);
        assert_eq!(
            found("She moved to South Georgia and the South Sandwich Islands"),
            ["South Georgia and the South Sandwich Islands"]
        );
    }

    #[test]
    fn places_given_as_field_values() {
        assert_eq!(found("name=Ramonita Knox, phone=+61 409 767 264, city=Lake Charles"), ["Lake Charles"]);
        assert_eq!(found("Hometown: Vilanova i la Geltrú\nJob: nurse"), ["Vilanova i la Geltrú"]);
        assert_eq!(found(r#"{"city": "Provence-Alpes-Côte d'Azur", "zip": "13001"}"#), ["Provence-Alpes-Côte d'Azur"]);
        assert_eq!(found("Town: Battle"), ["Battle"]);
        // A lower-case value or one after some other label is not a place given this way.
        for text in ["state: running", "status: Done", "the city is big", "country=\n"] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn administrative_areas_named_with_their_kind() {
        assert_eq!(found("Room 1203, Xinhua Road, Changning District, Shanghai"), ["Changning District"]);
        assert_eq!(found("Pudong New Area"), ["Pudong New Area"]);
        assert_eq!(found("Main Street, Ballina, Co. Mayo"), ["Co. Mayo"]);
        assert_eq!(found("152 Teheran-ro, 7F\nGangnam-gu"), ["Gangnam-gu"]);
        for text in ["the District Court ruled", "a County Council meeting", "Ward 7 is closed"] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn places_on_address_lines() {
        assert_eq!(found("Joel Strickland\n\nWestbury\nDominica"), ["Westbury", "Dominica"]);
        assert_eq!(found("> 12 Elm Road\n> Lake Jason\n> Greenland 12345"), ["Lake Jason", "Greenland"]);
    }

    #[test]
    fn places_in_passing_and_people_are_left_alone() {
        for text in [
            "What is the capital of France?",
            "France leader gives an order",
            "Send it to Jackson tomorrow",
            "a letter from Victoria Lee",
            "read it in Mobile Safari",
            "Deploy it in Kubernetes with Helm Charts",
            "Call Charlotte now",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }
}

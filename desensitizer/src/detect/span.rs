//! What every detector produces, [`Detection`], with the priorities that settle overlaps
//! and the word-shape tests the rule detectors and the learned stage share. It depends on
//! the word lists only, so the learned stage ([`crate::ner`]) can use it without
//! depending on the detector that runs it.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::gazetteer;

/// One detected entity: `text[start..end]` (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    pub start: usize,
    pub end: usize,
    pub kind: EntityType,
    /// Higher wins an overlap (see the module documentation).
    pub priority: u8,
}

impl Detection {
    pub(crate) fn new(start: usize, end: usize, kind: EntityType, priority: u8) -> Self {
        Self { start, end, kind, priority }
    }
}

/// Priorities, in one place so their order is easy to review.
pub(crate) mod priority {
    /// Credentials found by an unmistakable shape (URL userinfo, vendor key prefixes).
    pub const CREDENTIAL: u8 = 95;
    /// National IDs with a checksum and a valid birth date inside.
    pub const CHECKSUM_ID: u8 = 92;
    /// Luhn / mod-97 validated numbers.
    pub const CHECKSUM: u8 = 90;
    /// Rule-validated shapes: SSN, e-mail, IP addresses.
    pub const VALIDATED: u8 = 85;
    /// Secrets found by a label (`password: …`) and entropy.
    pub const LABELLED_SECRET: u8 = 75;
    /// Phone numbers and dates of birth: shape plus context.
    pub const SHAPE: u8 = 60;
    /// A lone token shaped like a strong password (mixed case, digit, symbol), no label:
    /// below every validated or labelled shape, which say more.
    pub const PASSWORD_SHAPED: u8 = 55;
    /// Street addresses (number + street suffix).
    pub const ADDRESS: u8 = 50;
    /// A value whose label says what it is, as a street's number and suffix do: a place in
    /// a labelled field (`city=Lake Charles`, `Town: Battle`), a cell under a table header
    /// (`first_name`, `ship_city`).
    pub const FIELD_VALUE: u8 = 49;
    /// The learned stage (names, addresses, places in context): above the word-list and
    /// cue heuristics it replaces where both see something, below every validated shape.
    /// Where it overlaps a heuristic span of the same type the two are joined first.
    pub const LEARNED: u8 = 48;
    /// Names found by a context (honorific, "my name is").
    pub const PERSON_CONTEXT: u8 = 45;
    /// Listed or town-shaped places after a locative word or on an address line: above a
    /// bare given name, so that `in Charlotte` is a place.
    pub const LOCATION_CUED: u8 = 42;
    /// Names found by a first-name list.
    pub const PERSON_LIST: u8 = 40;
    /// Places named as where someone lives.
    pub const LOCATION: u8 = 30;
}

/// Compiles a constant pattern. The patterns are literals of the detector modules, covered
/// by unit tests, so a failure is a programming error caught before release.
pub(crate) fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
}

/// What may end a street span but is not part of the street: a time after it (`… 4 in 10
/// min`, `… street at 5pm`) or chat words (`ok`, `pls`, `asap`).
static STREET_TAIL: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)(?:[\s,]+(?:in|at|by|around|before|after|within|for|about)\s+[0-9]{1,3}\s*",
        r"(?:min|mins|minutes?|h|hrs?|hours?|secs?|seconds?|days?|pm|am|o'clock)\b.*",
        r"|(?:[\s,]+(?:ok|okay|k|pls|plz|please|thx|thanks|asap|now|today|tonight|tomorrow|later|lol))+)$"
    ))
});

/// Where a street span at `start..end` of `text` really ends: before a time or chat words
/// that the learned stage (uncased: `in 5 min ok` looks like `In 5 Min`) or the rules on a
/// capitalised view of lower-case chat ran on into.
pub(crate) fn street_end(text: &str, start: usize, end: usize) -> usize {
    text.get(start..end).and_then(|span| STREET_TAIL.find(span)).map_or(end, |tail| start + tail.start())
}

/// Chat abbreviations (beyond [`super::names::CHAT_WORDS`]) and technical words that
/// are in no dictionary but name nobody.
const NOT_NAME_TOKENS: &[&str] = &[
    "api", "csv", "gonna", "gotta", "html", "http", "https", "imho", "json", "lmao", "lmk", "pdf", "sql", "tbh", "url",
    "uuid", "wanna", "xml", "yaml",
];

/// Whether a word the learned stage called part of a name can be one: written with a
/// capital (or in a script without case), a listed given name or surname that is not
/// also an everyday word, or a lower-case word of three letters or more that is in no
/// English dictionary (`sakura`, `tomasz`). The model is uncased, so without this it
/// names "shouted" and "mandolin"; with it, "alex rivera" typed in lower case still counts.
pub(crate) fn name_like(word: &str) -> bool {
    starts_capitalized_or_caseless(word) || {
        let folded = gazetteer::fold(word);
        gazetteer::first_name(&folded) == Some(gazetteer::GivenName::Plain)
            || gazetteer::surname(&folded) == Some(gazetteer::Listed::Plain)
            || (folded.len() >= 3
                && folded.bytes().all(|b| b.is_ascii_lowercase())
                && !gazetteer::english_word(&folded)
                && !NOT_NAME_TOKENS.contains(&folded.as_str())
                && !super::names::CHAT_WORDS.contains(&folded.as_str()))
    }
}

/// The same for a word of a place name.
pub(crate) fn place_like(word: &str) -> bool {
    starts_capitalized_or_caseless(word) || gazetteer::place(&gazetteer::fold(word)) == Some(gazetteer::Listed::Plain)
}

fn starts_capitalized_or_caseless(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || (c.is_alphabetic() && !c.is_lowercase() && !c.is_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::{name_like, street_end};

    #[test]
    fn lower_case_words_in_no_dictionary_can_be_names() {
        assert!(name_like("sakura") && name_like("tomasz") && name_like("Shouted"));
        assert!(!name_like("shouted") && !name_like("mandolin") && !name_like("lmk") && !name_like("json"));
    }

    fn street(text: &str) -> &str {
        &text[..street_end(text, 0, text.len())]
    }

    #[test]
    fn a_street_span_ends_before_a_time_or_chat_words() {
        assert_eq!(street("canale simeoni, 4 in 10 min"), "canale simeoni, 4");
        assert_eq!(street("221b baker street in 5 min ok"), "221b baker street");
        assert_eq!(street("12 Main Street at 5pm"), "12 Main Street");
        assert_eq!(street("Via Roma 5, pls"), "Via Roma 5");
        // A number that belongs to the address stays (`Suite 4`, a ZIP code after it).
        assert_eq!(street("12 Main Street Suite 4"), "12 Main Street Suite 4");
        assert_eq!(street("4 rue des Lilas 75011 Paris"), "4 rue des Lilas 75011 Paris");
        assert_eq!(street("Okay Street 4"), "Okay Street 4");
    }
}

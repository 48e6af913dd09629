//! What every detector produces, [`Detection`], with the priorities that settle overlaps
//! and the word-shape tests the rule detectors and the learned stage share. It depends on
//! the word lists only, so the learned stage ([`crate::ner`]) can use it without
//! depending on the detector that runs it.

use netgpt_crds::workflow::EntityType;

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

/// Whether a word the learned stage called part of a name can be one: written with a
/// capital (or in a script without case), or a listed given name or surname that is not
/// also an everyday word. The model is uncased, so without this it names "shouted" and
/// "mandolin"; with it, "alex rivera" typed in lower case still counts.
pub(crate) fn name_like(word: &str) -> bool {
    starts_capitalized_or_caseless(word) || {
        let folded = gazetteer::fold(word);
        gazetteer::first_name(&folded) == Some(gazetteer::GivenName::Plain)
            || gazetteer::surname(&folded) == Some(gazetteer::Listed::Plain)
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

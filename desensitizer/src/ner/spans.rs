//! From tagged words to entities: adjacent words of one family become one entity (a
//! given name and a surname are one person; a building number, street, unit, city, state
//! and ZIP code on one line are one street address), mapped onto the desensitizer's
//! entity types.

use netgpt_crds::workflow::EntityType;

use crate::detect::span::{Detection, name_like, place_like, priority, street_end};

/// What the model can say about a word (its label without the B-/I- prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    GivenName,
    Surname,
    Email,
    Phone,
    Url,
    TaxId,
    BankAccount,
    RoutingNumber,
    GovernmentId,
    Passport,
    DriversLicense,
    BuildingNumber,
    StreetName,
    SecondaryAddress,
    City,
    State,
    ZipCode,
}

impl Tag {
    /// The tag of a label name (`GIVEN_NAME`); `None` for names this code does not know,
    /// which are then treated as "not personal data" by this stage only (the rules still
    /// run).
    pub fn from_label(name: &str) -> Option<Tag> {
        Some(match name {
            "GIVEN_NAME" => Tag::GivenName,
            "SURNAME" => Tag::Surname,
            "EMAIL" => Tag::Email,
            "PHONE" => Tag::Phone,
            "URL" => Tag::Url,
            "TAX_ID" => Tag::TaxId,
            "BANK_ACCOUNT" => Tag::BankAccount,
            "ROUTING_NUMBER" => Tag::RoutingNumber,
            "GOVERNMENT_ID" => Tag::GovernmentId,
            "PASSPORT" => Tag::Passport,
            "DRIVERS_LICENSE" => Tag::DriversLicense,
            "BUILDING_NUMBER" => Tag::BuildingNumber,
            "STREET_NAME" => Tag::StreetName,
            "SECONDARY_ADDRESS" => Tag::SecondaryAddress,
            "CITY" => Tag::City,
            "STATE" => Tag::State,
            "ZIP_CODE" => Tag::ZipCode,
            _ => return None,
        })
    }

    fn family(self) -> Family {
        match self {
            Tag::GivenName | Tag::Surname => Family::Person,
            Tag::BuildingNumber | Tag::StreetName | Tag::SecondaryAddress => Family::Address { street: true },
            Tag::City | Tag::State | Tag::ZipCode => Family::Address { street: false },
            other => Family::Single(other),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Person,
    /// `street`: the word is part of a street line (number, street, unit), not only a
    /// place name.
    Address {
        street: bool,
    },
    Single(Tag),
}

/// One word (byte offsets) and what the model called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaggedWord {
    pub start: usize,
    pub end: usize,
    pub tag: Option<Tag>,
    /// The label was `B-…` (an entity starts here).
    pub begin: bool,
}

struct Group {
    start: usize,
    end: usize,
    family: Family,
    /// Holds a street name or unit.
    has_street: bool,
    /// Holds a building number.
    has_number: bool,
}

/// What may stand between two words of one entity.
fn joins(family: Family, gap: &str, has_street: bool) -> bool {
    let short = gap.chars().count() <= 4;
    match family {
        // "Mary Ann", "O'Brien", "Jean-Luc", "J. Smith" — but not "Webster - sadly".
        Family::Person => matches!(gap, " " | "  " | "-" | "'" | "’" | "." | ". "),
        // A street line runs on over commas and line breaks into its city, state and ZIP
        // code; place names alone are separate places at a comma ("Lyon, France").
        Family::Address { .. } => {
            let separator = |c: char| c.is_whitespace() || matches!(c, ',' | '.' | '#' | '-' | '/');
            // Inside a street line one unlabelled unit word may stand between labelled
            // ones: the model tags the number of "Suite 295", not always "Suite".
            let words: Vec<&str> = gap.split(separator).filter(|w| !w.is_empty()).collect();
            let unit_word = has_street && gap.len() <= 12 && matches!(words.as_slice(), [w] if is_unit_word(w));
            (unit_word || (short && words.is_empty())) && (has_street || !gap.contains([',', '\n']))
        }
        // An e-mail or a number is split into many words by its punctuation.
        Family::Single(_) => {
            short && gap.chars().all(|c| matches!(c, ' ' | '-' | '.' | '_' | '@' | '+' | '(' | ')' | '/' | ':'))
        }
    }
}

/// Words that name a unit inside a street line ("Suite 295", "Apt. 4"): the one kind of
/// unlabelled word that may stand between labelled ones (never "and": two addresses in a
/// row stay two).
fn is_unit_word(word: &str) -> bool {
    const UNITS: &[&str] = &[
        "suite",
        "ste",
        "apt",
        "apartment",
        "unit",
        "flat",
        "floor",
        "fl",
        "room",
        "rm",
        "bldg",
        "building",
        "no",
        "box",
    ];
    UNITS.contains(&word.to_lowercase().as_str())
}

fn same_entity(group: &Group, family: Family, word: &TaggedWord, gap: &str) -> bool {
    let families_match = match (group.family, family) {
        (Family::Address { .. }, Family::Address { .. }) => true,
        (a, b) => a == b,
    };
    // A B- label restarts an identifier only after a space: the model sometimes begins
    // again inside one ("maria.gonzalez@example" "." "com").
    let restarts = matches!(family, Family::Single(_)) && word.begin && gap.contains(char::is_whitespace);
    families_match && !restarts && joins(family, gap, group.has_street)
}

fn entity_type(group: &Group) -> Option<EntityType> {
    match group.family {
        Family::Person => Some(EntityType::Person),
        // A street name without a number ("the Main Street bakery") is not an address of
        // anyone, and a number alone is not one either.
        Family::Address { .. } if group.has_street && group.has_number => Some(EntityType::StreetAddress),
        Family::Address { .. } if group.has_street => None,
        Family::Address { .. } => Some(EntityType::Location),
        // Identifiers (e-mail, phone, ID, account numbers) are left to the rule and
        // checksum detectors, which are exact; measured on the project corpus the model's
        // guesses at them were UUIDs, order numbers and ports.
        Family::Single(_) => None,
    }
}

/// Chinese, Japanese and Korean characters. The learned stage leaves such text to the
/// rules: the published model was not trained on it, and the project's adapter, though
/// trained on 600 Chinese sentences, still tagged `谢`, `这个周` and `发票` as people and
/// missed `周晓峰`, while the rules score 1.0 on the project corpus's Chinese sentences.
/// Tagging single characters of ordinary text would replace them with placeholders and
/// garble what the cloud model reads.
fn cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'       // kana
        | '\u{3400}'..='\u{4dbf}'     // Han, extension A
        | '\u{4e00}'..='\u{9fff}'     // Han
        | '\u{ac00}'..='\u{d7af}'     // Hangul syllables
        | '\u{f900}'..='\u{faff}'     // Han compatibility
        | '\u{20000}'..='\u{3134f}') // Han, supplementary planes
}

/// Narrows a name or place span to its first and last word that can be part of one
/// ([`name_like`], [`place_like`]); `None` when no word can.
fn trim_to_plausible(text: &str, start: usize, end: usize, plausible: fn(&str) -> bool) -> Option<(usize, usize)> {
    let span = text.get(start..end)?;
    let mut first = None;
    let mut last = None;
    let mut offset = 0;
    for word in span.split(|c: char| c.is_whitespace() || c == '-') {
        let trimmed = word.trim_matches(|c: char| !c.is_alphanumeric());
        if !trimmed.is_empty() && plausible(trimmed) {
            let at = offset + word.find(trimmed).unwrap_or(0);
            first.get_or_insert(at);
            last = Some(at + trimmed.len());
        }
        offset += word.len() + 1;
    }
    Some((start + first?, start + last?))
}

/// Entities from `words` (in text order, byte offsets into `text`).
pub fn entities(text: &str, words: &[TaggedWord]) -> Vec<Detection> {
    let mut groups: Vec<Group> = Vec::new();
    for word in words {
        let Some(tag) = word.tag else { continue };
        if text.get(word.start..word.end).is_some_and(|w| w.chars().any(cjk)) {
            continue;
        }
        let family = tag.family();
        let street = matches!(tag, Tag::StreetName | Tag::SecondaryAddress);
        // A unit's number (`Apartment 1402`, `Flat 33`) places a home as a house number does.
        let number = tag == Tag::BuildingNumber
            || (tag == Tag::SecondaryAddress
                && text.get(word.start..word.end).is_some_and(|w| w.chars().any(|c| c.is_ascii_digit())));
        if let Some(group) = groups.last_mut() {
            let gap = text.get(group.end..word.start).unwrap_or("\u{0}");
            if same_entity(group, family, word, gap) {
                group.end = word.end;
                group.has_street |= street;
                group.has_number |= number;
                continue;
            }
        }
        groups.push(Group { start: word.start, end: word.end, family, has_street: street, has_number: number });
    }
    groups
        .iter()
        .filter_map(|g| {
            let kind = entity_type(g)?;
            let (start, end) = match kind {
                EntityType::Person => trim_to_plausible(text, g.start, g.end, name_like)?,
                EntityType::Location => trim_to_plausible(text, g.start, g.end, place_like)?,
                EntityType::StreetAddress => (g.start, street_end(text, g.start, g.end)),
                _ => (g.start, g.end),
            };
            Some(Detection::new(start, end, kind, priority::LEARNED))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, needle: &str, tag: Option<Tag>, begin: bool) -> TaggedWord {
        let start = text.find(needle).unwrap_or_else(|| panic!("{needle} in {text}"));
        TaggedWord { start, end: start + needle.len(), tag, begin }
    }

    fn found<'a>(text: &'a str, words: &[TaggedWord]) -> Vec<(EntityType, &'a str)> {
        entities(text, words).into_iter().map(|d| (d.kind, &text[d.start..d.end])).collect()
    }

    #[test]
    fn names_join_over_spaces_and_hyphens_not_over_words() {
        let text = "Jean-Luc Picard and Ann Lee";
        let words = [
            word(text, "Jean", Some(Tag::GivenName), true),
            word(text, "Luc", Some(Tag::GivenName), false),
            word(text, "Picard", Some(Tag::Surname), true),
            word(text, "and", None, false),
            word(text, "Ann", Some(Tag::GivenName), true),
            word(text, "Lee", Some(Tag::Surname), true),
        ];
        assert_eq!(found(text, &words), [(EntityType::Person, "Jean-Luc Picard"), (EntityType::Person, "Ann Lee")]);
    }

    #[test]
    fn cjk_words_are_left_to_the_rules_latin_ones_next_to_them_are_not() {
        let text = "请联系罗敏 or Ann Lee";
        let words = [
            word(text, "请", Some(Tag::GivenName), true),
            word(text, "罗", Some(Tag::Surname), true),
            word(text, "敏", Some(Tag::GivenName), true),
            word(text, "Ann", Some(Tag::GivenName), true),
            word(text, "Lee", Some(Tag::Surname), true),
        ];
        assert_eq!(found(text, &words), [(EntityType::Person, "Ann Lee")]);
    }

    #[test]
    fn a_street_line_takes_its_city_places_alone_split_at_commas() {
        let text = "ship to 12 Elm St, Springfield, IL 62704 or meet in Lyon, France";
        let words = [
            word(text, "12", Some(Tag::BuildingNumber), true),
            word(text, "Elm", Some(Tag::StreetName), true),
            word(text, "St", Some(Tag::StreetName), false),
            word(text, "Springfield", Some(Tag::City), true),
            word(text, "IL", Some(Tag::State), true),
            word(text, "62704", Some(Tag::ZipCode), true),
            word(text, "Lyon", Some(Tag::City), true),
            word(text, "France", Some(Tag::State), true),
        ];
        assert_eq!(
            found(text, &words),
            [
                (EntityType::StreetAddress, "12 Elm St, Springfield, IL 62704"),
                (EntityType::Location, "Lyon"),
                (EntityType::Location, "France")
            ]
        );
    }

    #[test]
    fn a_units_number_places_a_home_a_street_name_alone_does_not() {
        let text = "staying at Apartment 1402, Marina Heights Tower or near Marina Heights Tower";
        let tower = text.rfind("Marina").expect("second tower");
        let words = [
            word(text, "Apartment", Some(Tag::SecondaryAddress), true),
            word(text, "1402", Some(Tag::SecondaryAddress), false),
            word(text, "Marina", Some(Tag::StreetName), true),
            word(text, "Heights", Some(Tag::StreetName), false),
            TaggedWord { start: tower, end: tower + 6, tag: Some(Tag::StreetName), begin: true },
        ];
        assert_eq!(found(text, &words), [(EntityType::StreetAddress, "Apartment 1402, Marina Heights")]);
    }

    #[test]
    fn identifiers_are_left_to_the_rules() {
        let text = "ids A123 B456 at https://x.example";
        let words = [
            word(text, "A123", Some(Tag::Passport), true),
            word(text, "B456", Some(Tag::Passport), true),
            word(text, "https", Some(Tag::Url), true),
        ];
        assert_eq!(found(text, &words), []);
    }
}

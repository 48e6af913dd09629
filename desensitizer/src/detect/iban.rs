//! IBANs: country code, two check digits and the BBAN, optionally in groups of four;
//! accepted only with the country's length and a valid ISO 13616 mod-97 checksum.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, ascii_isolated, compile, priority};

static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| compile(r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}"));

/// IBAN length per country (SWIFT IBAN registry) for the countries people most often
/// paste; other countries fall back to any length from 15 to 34 with a valid checksum.
const LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TR", 26),
    ("UA", 29),
];

/// Checks an IBAN (spaces allowed, any case): length 15–34 and mod-97 remainder 1.
pub fn iban_valid(iban: &str) -> bool {
    let compact: Vec<u8> = iban.bytes().filter(|b| *b != b' ').map(|b| b.to_ascii_uppercase()).collect();
    if !(15..=34).contains(&compact.len()) || !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    if !compact[..2].iter().all(u8::is_ascii_alphabetic) || !compact[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut remainder = 0u32;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let value = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
        // Letters expand to two digits.
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    remainder == 1
}

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for m in CANDIDATE.find_iter(text) {
        let candidate = m.as_str();
        let country = candidate.get(..2).unwrap_or("").to_ascii_uppercase();
        let lengths: Vec<usize> = match LENGTHS.iter().find(|(c, _)| *c == country) {
            Some((_, n)) => vec![*n],
            None => (15..=34).rev().collect(),
        };
        for length in lengths {
            // Byte end of the `length`-th alphanumeric character.
            let end = candidate
                .char_indices()
                .filter(|(_, c)| c.is_ascii_alphanumeric())
                .nth(length - 1)
                .map(|(i, c)| i + c.len_utf8());
            let Some(end) = end else { continue };
            let Some(iban) = candidate.get(..end) else {
                continue;
            };
            let (start, end) = (m.start(), m.start() + end);
            if iban_valid(iban) && ascii_isolated(text, start, end) {
                out.push(Detection::new(start, end, EntityType::Iban, priority::CHECKSUM));
                break;
            }
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
    fn mod97_accepts_registry_examples() {
        assert!(iban_valid("DE89370400440532013000"));
        assert!(iban_valid("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_valid("fr1420041010050500013m02606"));
        assert!(!iban_valid("DE89370400440532013001"));
        assert!(!iban_valid("DE8937040044"));
    }

    #[test]
    fn finds_grouped_iban_followed_by_words() {
        assert_eq!(found("IBAN: GB82 WEST 1234 5698 7654 32 THANKS"), ["GB82 WEST 1234 5698 7654 32"]);
        assert_eq!(found("to DE89370400440532013000."), ["DE89370400440532013000"]);
        assert!(found("DE89370400440532013001").is_empty());
    }
}

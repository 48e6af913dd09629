//! Payment card numbers: 12–19 digits, optionally grouped by spaces or dashes, with a
//! valid Luhn check digit and a plausible issuer prefix.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, compile, identifier_isolated, priority, text_before};

/// Runs of digit groups separated by one space, dash or dot (`4111.1111.1111.1111`).
static DIGIT_RUN: LazyLock<Regex> = LazyLock::new(|| compile(r"[0-9]+(?:[ \-.][0-9]+)*"));

/// Luhn (mod 10) check over the ASCII digits of `digits`; other characters are ignored.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for (i, c) in digits.chars().rev().filter(char::is_ascii_digit).enumerate() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    count > 0 && sum.is_multiple_of(10)
}

/// A product-code label right before a number (`Barcode 6692536905175`, `EAN: …`,
/// `ISBN-13 …`): EAN-13 and ISBN-13 codes pass the Luhn-like check as often as not and
/// begin with the digits cards do, so a number labelled as one is not a card.
static PRODUCT_CODE: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)\b(?:bar ?code|ean(?:-?(?:8|13))?|upc(?:-a)?|gtin(?:-?1[2-4])?|isbn(?:-?1[03])?)\b[^0-9\n]{0,12}$")
});

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for m in DIGIT_RUN.find_iter(text) {
        if PRODUCT_CODE.is_match(text_before(text, m.start(), 40)) {
            continue;
        }
        scan_run(text, m.start(), m.as_str(), out);
    }
}

/// Tries every window of whole groups in one run (a card may be followed by a CVV or
/// preceded by another number) and keeps the longest valid ones, left to right.
fn scan_run(text: &str, offset: usize, run: &str, out: &mut Vec<Detection>) {
    // (start, end, separator-before) of each group, relative to `run`.
    let mut groups: Vec<(usize, usize, Option<u8>)> = Vec::new();
    let bytes = run.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let sep = if i > 0 { Some(bytes[i - 1]) } else { None };
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        groups.push((start, i, sep));
        i += 1; // skip the separator
    }
    let mut first = 0;
    while first < groups.len() {
        let mut best = None;
        let mut digits = 0;
        for last in first..groups.len() {
            digits += groups[last].1 - groups[last].0;
            if digits > 19 {
                break;
            }
            if digits >= 12 && window_ok(run, &groups[first..=last]) {
                best = Some(last);
            }
        }
        match best {
            Some(last) => {
                let (start, end) = (offset + groups[first].0, offset + groups[last].1);
                if identifier_isolated(text, start, end) {
                    out.push(Detection::new(start, end, EntityType::CreditCard, priority::CHECKSUM));
                }
                first = last + 1;
            }
            None => first += 1,
        }
    }
}

/// Issuer prefixes: 2–6 for today's networks (13–19 digits), Maestro's 50/56–58/6 ranges
/// and its legacy 0604 IIN also at 12 digits, and JCB's legacy 15-digit 1800/2131.
fn issuer_ok(digits: &str) -> bool {
    let maestro = ["50", "56", "57", "58", "6", "0604"].iter().any(|p| digits.starts_with(p));
    if digits.starts_with("0604") {
        return maestro && (12..=19).contains(&digits.len());
    }
    match digits.len() {
        12 => maestro,
        15 if digits.starts_with("1800") || digits.starts_with("2131") => true,
        13..=19 => matches!(digits.as_bytes().first(), Some(b'2'..=b'6')),
        _ => false,
    }
}

fn window_ok(run: &str, groups: &[(usize, usize, Option<u8>)]) -> bool {
    let Some(text) = run.get(groups[0].0..groups[groups.len() - 1].1) else {
        return false;
    };
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if !issuer_ok(&digits) {
        return false;
    }
    if digits.bytes().all(|b| Some(&b) == digits.as_bytes().first()) {
        return false;
    }
    // One separator style, and a grouping cards are printed with: 4-4-4-4(-1..4),
    // Amex 4-6-5, Diners 4-6-4, or no grouping at all.
    let seps: Vec<u8> = groups.iter().skip(1).filter_map(|g| g.2).collect();
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    let sizes: Vec<usize> = groups.iter().map(|g| g.1 - g.0).collect();
    let grouping_ok = sizes.len() == 1
        || sizes == [4, 6, 5]
        || sizes == [4, 6, 4]
        || (sizes[..sizes.len() - 1].iter().all(|&s| s == 4) && (1..=4).contains(&sizes[sizes.len() - 1]));
    grouping_ok && luhn_valid(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(detect, text)
    }

    #[test]
    fn luhn_accepts_known_test_numbers_and_rejects_typos() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("378282246310005"));
        assert!(luhn_valid("5555 5555 5555 4444"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn finds_grouped_and_plain_cards() {
        assert_eq!(found("card 4111-1111-1111-1111 exp"), ["4111-1111-1111-1111"]);
        assert_eq!(found("amex 3782 822463 10005."), ["3782 822463 10005"]);
        assert_eq!(found("pay 5555555555554444 123"), ["5555555555554444"]);
        assert_eq!(found("卡号4111111111111111"), ["4111111111111111"]);
        assert_eq!(found("maestro 675954791264 ok"), ["675954791264"]);
        assert_eq!(found("jcb 180010896698801"), ["180010896698801"]);
        assert_eq!(found("maestro 060498271877"), ["060498271877"], "legacy Maestro IIN 0604");
        // A Luhn-valid number labelled as a product code is not a card.
        assert!(found("Barcode 6692536905175 scans as a different product").is_empty());
        assert_eq!(found("card 4222222222222"), ["4222222222222"]);
        assert!(found("ISBN-13: 4222222222222").is_empty());
        assert!(found("order 412345678905").is_empty(), "12 digits only for Maestro");
    }

    #[test]
    fn rejects_non_cards() {
        assert!(found("4111 1111 1111 1112").is_empty());
        assert!(found("1111 1111 1111 1117").is_empty()); // prefix 1 is no issuer
        assert!(found("4111-1111 1111-1111").is_empty()); // mixed separators
        assert_eq!(found("card 4111.1111.1111.1111 ok"), ["4111.1111.1111.1111"]);
        assert!(found("v1.4111111111111111").is_empty());
        assert!(found("id 550e8400-e29b-41d4-a71f-566655440006 failed").is_empty(), "UUID segment");
    }
}

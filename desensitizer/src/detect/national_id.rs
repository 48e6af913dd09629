//! National identity numbers: China's 18-character resident ID (province code, birth date,
//! ISO 7064 MOD 11-2 check character) and the US Social Security number (area, group and
//! serial rules of the SSA).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, compile, number_isolated, priority};

static CN_ID: LazyLock<Regex> = LazyLock::new(|| compile(r"[1-9][0-9]{16}[0-9Xx]"));
static SSN_GROUPED: LazyLock<Regex> = LazyLock::new(|| compile(r"[0-9]{3}[ \-][0-9]{2}[ \-][0-9]{4}"));
/// A UK National Insurance number (`QQ 12 34 56 C`, `AB123456D`): two prefix letters of the
/// ones HMRC issues, six digits (in pairs or not), a suffix A–D. No check digit, but the
/// letter rules and the fixed shape make it as specific as a grouped SSN.
static UK_NINO: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?([0-9]{2}) ?([0-9]{2}) ?([0-9]{2}) ?([A-D])\b")
});

/// Prefixes HMRC never issues.
const NINO_EXCLUDED: &[&str] = &["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"];

/// Nine bare digits are an SSN only when labelled as one.
static SSN_LABELLED: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)(?:ssn|social security(?: number| no\.?| #)?)[\s:#.\-]{0,4}([0-9]{9})"));

const CN_PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63,
    64, 65, 71, 81, 82, 83,
];

/// Checks a Chinese resident ID: province, a real birth date and the check character
/// (weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 written `X`).
pub fn cn_resident_id_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let digit = |i: usize| u32::from(b[i] - b'0');
    let province = digit(0) * 10 + digit(1);
    if !CN_PROVINCES.contains(&(province as u8)) {
        return false;
    }
    let year = (6..10).fold(0, |acc, i| acc * 10 + digit(i));
    let month = digit(10) * 10 + digit(11);
    let day = digit(12) * 10 + digit(13);
    if !(1900..=2099).contains(&year) || !date_valid(year, month, day) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = (0..17).map(|i| digit(i) * WEIGHTS[i]).sum();
    let check = (12 - sum % 11) % 11;
    let expected = if check == 10 { b'X' } else { b'0' + check as u8 };
    b[17].to_ascii_uppercase() == expected
}

pub(crate) fn date_valid(year: u32, month: u32, day: u32) -> bool {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Checks a US SSN (separators ignored): area not 000, 666 or 900–999; group not 00;
/// serial not 0000; and not one of the numbers the SSA voided after they were published.
pub fn us_ssn_valid(ssn: &str) -> bool {
    let digits: Vec<u32> = ssn.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 9 || ssn.chars().any(|c| !(c.is_ascii_digit() || c == '-' || c == ' ')) {
        return false;
    }
    let number = |range: std::ops::Range<usize>| digits[range].iter().fold(0, |a, d| a * 10 + d);
    let (area, group, serial) = (number(0..3), number(3..5), number(5..9));
    let voided = matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999) | (123, 45, 6789));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 && !voided
}

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for m in CN_ID.find_iter(text) {
        if cn_resident_id_valid(m.as_str()) && number_isolated(text, m.start(), m.end()) {
            out.push(Detection::new(m.start(), m.end(), EntityType::NationalId, priority::CHECKSUM_ID));
        }
    }
    for m in SSN_GROUPED.find_iter(text) {
        let s = m.as_str();
        // The two separators must agree: "123-45 6789" is two numbers, not an SSN.
        let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
        if seps.len() == 2 && seps[0] == seps[1] && us_ssn_valid(s) && number_isolated(text, m.start(), m.end()) {
            out.push(Detection::new(m.start(), m.end(), EntityType::NationalId, priority::VALIDATED));
        }
    }
    for caps in UK_NINO.captures_iter(text) {
        let (Some(whole), Some(prefix)) = (caps.get(0), caps.get(1)) else { continue };
        // The letters of a compact number must be glued to it or spaced like the digits.
        let spaced = whole.as_str().contains(' ');
        let evenly = !spaced || whole.as_str().matches(' ').count() == 4;
        if evenly && !NINO_EXCLUDED.contains(&prefix.as_str()) {
            out.push(Detection::new(whole.start(), whole.end(), EntityType::NationalId, priority::VALIDATED));
        }
    }
    for caps in SSN_LABELLED.captures_iter(text) {
        if let Some(m) = caps.get(1)
            && us_ssn_valid(m.as_str())
            && number_isolated(text, m.start(), m.end())
        {
            out.push(Detection::new(m.start(), m.end(), EntityType::NationalId, priority::VALIDATED));
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
    fn cn_checksum_and_birth_date() {
        assert!(cn_resident_id_valid("11010519491231002X"));
        assert!(cn_resident_id_valid("11010519491231002x"));
        assert!(cn_resident_id_valid("440524198001010013"));
        assert!(!cn_resident_id_valid("440524188001010014")); // born before 1900
        assert!(!cn_resident_id_valid("110105194912310021")); // wrong check character
        assert!(!cn_resident_id_valid("110105194913310028")); // month 13
        assert!(!cn_resident_id_valid("990105194912310021")); // no such province
        assert!(!cn_resident_id_valid("11010519491231002"));
    }

    #[test]
    fn ssn_rules() {
        assert!(us_ssn_valid("536-22-1849"));
        assert!(!us_ssn_valid("000-22-1849"));
        assert!(!us_ssn_valid("666-22-1849"));
        assert!(!us_ssn_valid("912-22-1849"));
        assert!(!us_ssn_valid("536-00-1849"));
        assert!(!us_ssn_valid("536-22-0000"));
        assert!(!us_ssn_valid("078-05-1120"));
    }

    #[test]
    fn finds_ids_in_text() {
        assert_eq!(found("身份证号11010519491231002X。"), ["11010519491231002X"]);
        assert_eq!(found("SSN 536-22-1849."), ["536-22-1849"]);
        assert_eq!(found("social security number: 536221849"), ["536221849"]);
        assert!(found("call 536221849").is_empty());
        assert!(found("536-22 1849").is_empty());
    }

    #[test]
    fn uk_national_insurance_numbers() {
        assert_eq!(found("Her NI number is AB 12 34 56 C."), ["AB 12 34 56 C"]);
        assert_eq!(found("NINO: JG103759A"), ["JG103759A"]);
        // HMRC's example prefix, never-issued prefixes and uneven spacing are not numbers.
        for text in ["QQ 12 34 56 C", "GB 12 34 56 A", "AB12 3456 C", "order AB123456E"] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }
}

//! Phone numbers: international (`+86 138 1234 5678`, `0044 20 …`), Chinese mobiles
//! (`1[3-9]` + 9 digits) and landlines (`010-12345678`), North American (`(415) 555-0132`),
//! UK/EU national numbers starting with 0 (`020 7946 0958`, `06 12 34 56 78`, `0116
//! 4960981`), Australian ones (`(02) 8932 7805`, `08.7786.7089`, `0479 217 151`), and any
//! digit sequence of plausible length right after a phone label (`tel:`, `电话`).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, compile, number_isolated, priority};

struct Shape {
    regex: LazyLock<Regex>,
    /// Accepted number of digits, country code included.
    digits: std::ops::RangeInclusive<usize>,
    /// North American numbering: area code and exchange start with 2–9, checked where the
    /// groups are separated by spaces only (`123 456 7890` may be any grouped number;
    /// `(123) 456-7890` and `123-456-7890` are written as phone numbers whatever the digits).
    nanp: bool,
    /// Not one part of a longer run of space-separated digit groups (`123 456 789 012`).
    whole_group: bool,
}

static SHAPES: [Shape; 9] = [
    // +CC, then groups; parentheses around an area code allowed.
    Shape {
        regex: LazyLock::new(|| {
            compile(concat!(
                r"\+[1-9][0-9]{0,2}(?:[ .\-]?\(0?[0-9]{1,4}\))?(?:[ .\-]?[0-9]{1,5}){1,6}",
                r"(?:\s?(?:x|ext\.?|extension)\s?[0-9]{1,6})?"
            ))
        }),
        digits: 8..=15,
        nanp: false,
        whole_group: false,
    },
    // 00CC international prefix.
    Shape {
        regex: LazyLock::new(|| compile(r"00[1-9][0-9]{0,2}(?:[ .\-]?[0-9]{1,5}){2,6}")),
        digits: 10..=17,
        nanp: false,
        whole_group: false,
    },
    // Chinese mobile.
    Shape {
        regex: LazyLock::new(|| compile(r"1[3-9][0-9](?:[ \-]?[0-9]{4}){2}")),
        digits: 11..=11,
        nanp: false,
        whole_group: false,
    },
    // Chinese landline with area code.
    Shape {
        regex: LazyLock::new(|| compile(r"(?:0[1-9][0-9]{1,2}-|\(0[1-9][0-9]{1,2}\) ?)[2-9][0-9]{6,7}")),
        digits: 10..=12,
        nanp: false,
        whole_group: false,
    },
    // North American, optional leading 1.
    Shape {
        regex: LazyLock::new(|| {
            compile(concat!(
                r"(?:(?:001|1)[ .\-]?)?(?:\([0-9]{3}\)[ .\-]?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}",
                r"(?:\s?(?:x|ext\.?|extension)\s?[0-9]{1,6})?"
            ))
        }),
        digits: 10..=13,
        nanp: true,
        whole_group: false,
    },
    // UK/EU national numbers: trunk 0 (the area code may be in parentheses), then groups.
    Shape {
        regex: LazyLock::new(|| {
            compile(
                r"\(0[1-9][0-9]{1,4}\)[ \-]?[0-9]{2,8}(?:[ \-][0-9]{2,4}){0,3}|0[1-9][0-9]{0,4}(?:[ \-/][0-9]{2,8}){1,4}|0[1-9][0-9]{8,9}",
            )
        }),
        // Austrian and German numbers run to 13 digits with the extension
        // (`06195 41926 418`, `03127/21696804`).
        digits: 10..=13,
        nanp: false,
        // Not the tail of a card-shaped number (`4265 0583 4247 3333`).
        whole_group: true,
    },
    // Australian national numbers: a one-digit area code after the trunk 0, in parentheses
    // or not, then 4 + 4 digits; mobiles 04xx xxx xxx. Dots and dashes as separators too.
    Shape {
        regex: LazyLock::new(|| {
            compile(concat!(
                r"\(0[2-478]\)[ .\-]?[0-9]{4}[ .\-]?[0-9]{4}|0[2-478][ .\-][0-9]{4}[ .\-][0-9]{4}",
                r"|04[0-9]{2}[ .\-][0-9]{3}[ .\-][0-9]{3}"
            ))
        }),
        digits: 10..=10,
        nanp: false,
        whole_group: false,
    },
    // A country or area code in parentheses, then the number (`(351) 932220688`, `(351)
    // 963 625 714`, `(0991)-789243`): a grouping dates and amounts do not take.
    Shape {
        regex: LazyLock::new(|| compile(r"\([0-9]{2,5}\)[ \-]?[0-9]{2,10}(?:[ \-][0-9]{2,4}){0,3}")),
        digits: 9..=14,
        nanp: false,
        whole_group: false,
    },
    // Spanish, Portuguese and French-style 3-3-3 groups (`925 951 699`): nine digits, the
    // first 2–9, spaces only (dates and amounts are not grouped so).
    Shape {
        regex: LazyLock::new(|| compile(r"[2-9][0-9]{2} [0-9]{3} [0-9]{3}")),
        digits: 9..=9,
        nanp: false,
        whole_group: true,
    },
];

/// A number right after a phone label: any grouping, 7–15 digits.
static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:phone|tel|telephone|mobile|cell|fax|whatsapp|call me at|call|text me at|reach me|contact me|ring|my number|电话|手机|手机号|手机号码|联系电话|座机)[^0-9+(\n]{0,12}(\+?\(?[0-9][0-9 ().\-]{5,20}[0-9])",
    )
});

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for shape in &SHAPES {
        for m in shape.regex.find_iter(text) {
            // An extension (`x123`, `ext. 12`) is part of the span, not of the number.
            let number = m.as_str().split(['x', 'e']).next().unwrap_or("");
            let digits: Vec<u8> = number.bytes().filter(u8::is_ascii_digit).collect();
            if !shape.digits.contains(&digits.len()) || !number_isolated(text, m.start(), m.end()) {
                continue;
            }
            if shape.nanp && !nanp_ok(&digits) && !number.contains(['(', '-', '.']) {
                continue;
            }
            if shape.whole_group && in_longer_group(text, m.start(), m.end()) {
                continue;
            }
            out.push(Detection::new(m.start(), m.end(), EntityType::Phone, priority::SHAPE));
        }
    }
    for caps in LABELLED.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
        if (7..=15).contains(&digits) && number_isolated(text, m.start(), m.end()) {
            out.push(Detection::new(m.start(), m.end(), EntityType::Phone, priority::SHAPE));
        }
    }
}

/// Whether a digit group stands right before `start` or right after `end`, a space between.
fn in_longer_group(text: &str, start: usize, end: usize) -> bool {
    let before =
        text.get(..start).is_some_and(|t| t.ends_with(' ') && t[..t.len() - 1].ends_with(|c: char| c.is_ascii_digit()));
    let after = text.get(end..).is_some_and(|t| t.starts_with(' ') && t[1..].starts_with(|c: char| c.is_ascii_digit()));
    before || after
}

/// Area code and exchange of a NANP number (optionally prefixed by 1) start with 2–9.
fn nanp_ok(digits: &[u8]) -> bool {
    let national = match digits.len() {
        13 if digits.starts_with(b"001") => &digits[3..],
        11 if digits[0] == b'1' => &digits[1..],
        10 => digits,
        _ => return false,
    };
    (b'2'..=b'9').contains(&national[0]) && (b'2'..=b'9').contains(&national[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        detect(text, &mut out);
        let kept = super::super::resolve(out);
        kept.iter().map(|d| text[d.start..d.end].to_string()).collect()
    }

    #[test]
    fn international_and_chinese() {
        assert_eq!(found("call +86 138 1234 5678 now"), ["+86 138 1234 5678"]);
        assert_eq!(found("手机13812345678，谢谢"), ["13812345678"]);
        assert_eq!(found("电话：010-62345678"), ["010-62345678"]);
        assert_eq!(found("ring 0044 20 7946 0958"), ["0044 20 7946 0958"]);
        assert_eq!(found("+44 (0)20 7946 0958"), ["+44 (0)20 7946 0958"]);
    }

    #[test]
    fn national_formats() {
        assert_eq!(found("(415) 555-0132"), ["(415) 555-0132"]);
        assert_eq!(found("at 1-800-555-0199."), ["1-800-555-0199"]);
        assert_eq!(found("on 774-511-8187x885."), ["774-511-8187x885"]);
        assert_eq!(found("call 001-495-252-0557x4402"), ["001-495-252-0557x4402"]);
        assert_eq!(found("to +1-611-777-7613 ext. 79"), ["+1-611-777-7613 ext. 79"]);
        assert_eq!(found("office 020 7946 0958"), ["020 7946 0958"]);
        assert_eq!(found("call me on (0117) 496 0647?"), ["(0117) 496 0647"]);
        assert_eq!(found("portable 06 12 34 56 78"), ["06 12 34 56 78"]);
        assert_eq!(found("tel: 5550132 ext"), ["5550132"]);
        assert_eq!(found("call me on 0116 4960981"), ["0116 4960981"]);
        assert_eq!(found("or (0808) 1570212."), ["(0808) 1570212"]);
        assert_eq!(found("call me on (02)89327805?"), ["(02)89327805"]);
        assert_eq!(found("ring (07).5226.7594 now"), ["(07).5226.7594"]);
        assert_eq!(found("ring 08.7786.7089 now"), ["08.7786.7089"]);
        assert_eq!(found("ring 0479 217 151 now"), ["0479 217 151"]);
        assert_eq!(found("reach me on 3638 5556"), ["3638 5556"]);
        // Written as phone numbers, whatever the digits (Canadian test numbers break NANP).
        assert_eq!(found("(272) 074-3961 x627"), ["(272) 074-3961 x627"]);
        assert_eq!(found("at 1-194-134-8269."), ["1-194-134-8269"]);
        assert_eq!(found("greeting for (351) 932220688."), ["(351) 932220688"]);
        assert_eq!(found("for (0991)-789243."), ["(0991)-789243"]);
        assert_eq!(found("Is 06195 41926 418 a mobile?"), ["06195 41926 418"]);
        assert_eq!(found("Write 03127/21696804 on it"), ["03127/21696804"]);
        assert_eq!(found("Is (351) 963 625 714 a mobile?"), ["(351) 963 625 714"]);
        assert_eq!(found("Write 925 951 699 on it"), ["925 951 699"]);
    }

    #[test]
    fn ignores_dates_versions_and_short_numbers() {
        assert!(found("on 2023-10-15 at 10:30").is_empty());
        assert!(found("version 1.2.3").is_empty());
        assert!(found("order 12345").is_empty());
        // Space-separated groups need NANP digits (area code and exchange start with 2-9).
        assert!(found("batch 123 456 7890").is_empty());
        assert!(found("ids 2023 0815 and 1999 1231").is_empty());
        assert!(found("count 1 250 000 and 123 456 789 012").is_empty());
        assert!(found("from 2019/2020 to 2023/2024").is_empty());
    }
}

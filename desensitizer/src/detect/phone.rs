//! Phone numbers: international (`+86 138 1234 5678`, `0044 20 …`), Chinese mobiles
//! (`1[3-9]` + 9 digits) and landlines (`010-12345678`), North American (`(415) 555-0132`),
//! UK/EU national numbers starting with 0 (`020 7946 0958`, `06 12 34 56 78`, `0116
//! 4960981`), Australian ones (`(02) 8932 7805`, `08.7786.7089`, `0479 217 151`), and any
//! digit sequence of plausible length right after a phone label (`tel:`, `电话`).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, compile, number_isolated, priority, text_before};

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
        regex: LazyLock::new(|| compile(r"\+[1-9][0-9]{0,2}(?:[ .\-]?\(0?[0-9]{1,4}\))?(?:[ .\-]?[0-9]{1,5}){1,6}")),
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
            compile(r"(?:(?:001|1)[ .\-]?)?(?:\([0-9]{3}\)[ .\-]?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}")
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

/// A number after a phone label, up to 30 characters on (`call me at`, `SMS the code to`,
/// `the number for the front desk is`, `Llámame al`, `erreichen Sie unter`): any
/// grouping, 7–15 digits.
static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)(?:phone|tel|telephone|mobile|cell|fax|whatsapp|signal|telegram|call|text me|texts?\b|messages?\b|messaging|sms|dial|ring|reach|contact|",
        r"hotline|helpline|landline|\bline\b|number|numéro|nummer|número|numero|téléphone|telefon|teléfono|telefono|",
        r"portable|handy|móvil|movil|cellulare|joignable|erreichen|erreichbar|llámame|llamar|appelle|anrufen|ruf|",
        r"电话|手机|手机号|手机号码|联系电话|座机)",
        r"([^0-9+(\n]{0,30})(\+?\(?[0-9][0-9 ().\-/]{5,20}[0-9])"
    ))
});

/// A signature's one-letter label (`Head of Sales | T 1300 170 493 | M +61 …`, `F: 020 …`
/// on its own line): only at a line's start or after a separator, where a letter is not a
/// word of the sentence.
static SIGNATURE_LETTER: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?m)(?:^|[|•·]\s*)[TMFPW]\.?:?\s+(\+?\(?[0-9][0-9 ().\-/]{5,20}[0-9])"));

/// Words that make the `number` after them something else than a phone's
/// (`order number 12345678`, `tracking number …`).
static NOT_A_PHONE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)\b(?:order|invoice|ticket|tracking|reference|ref|case|model|serial|part|version|build|policy|",
        r"customer|member|membership|flight|confirmation|booking|item|product|batch|lot|room|account|",
        r"house|bus|seat|gate|page|issue|bug|table|row|column|id|pin|passport|licen[cs]e|card|routing|",
        r"sort|iban|tax|vat|registration|student|employee|patient|claim|shipment|parcel)\s*$"
    ))
});

/// A second number joined to a found one: `0213862336 oder 08003613618455`, `… (work) or
/// on +44 20 …`.
static JOINED: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^(?:\s*\([^()\n]{1,20}\))?\s*(?:,|/|or|ou|oder|o|y|and|et|und)\s+(?:(?:on|at|au|unter|al|to|sur)\s+)?(\+?\(?[0-9][0-9 ().\-/]{5,20}[0-9])",
    )
});

/// An extension after a number: `x123`, `x 12`, `ext. 4`, `extension 189`, `poste 12`,
/// `Durchwahl 12`, `-12` is not one (it is part of German numbers and found with them).
static EXTENSION: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)^,?\s?(?:x|ext\.?|extension|poste|durchwahl|anexo|int\.)\s?[0-9]{1,6}\b"));

/// Words that make the `line` after them something else than a phone line (`log line`).
static NOT_A_PHONE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)\b(?:log|command|code|first|last|next|previous|this|that|each|every|one|single|blank|empty|",
        r"subject|status|request|header|bottom|top|finish|start|dotted|straight|time|product|",
        r"assembly|production|bus|tram|metro|subway|train|tube|the)\s*$"
    ))
});

/// A number asked about (`Is 012 28 44 73 a mobile or a landline?`, `… is this a known scam
/// number?`): the label comes after it.
static LABEL_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)(\+?\(?[0-9][0-9 ().\-/]{5,20}[0-9])[^0-9\n]{0,24}?\b(?:a mobile|a landline|a cell|a phone|",
        r"phone number|mobile number|cell number|a valid (?:phone |mobile )?number|scam number|a toll-free)"
    ))
});

/// Dates a label may precede (`call me on 2024-05-12`, `2023-05-26 14:30`): not phone
/// numbers.
static DATE_SHAPED: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"^(?:[0-9]{4}[./\-][0-9]{1,2}[./\-][0-9]{1,2}|[0-9]{1,2}[./\-][0-9]{1,2}[./\-][0-9]{2,4})$")
});

/// Where a number found at `start..end` ends, its extension included.
fn with_extension(text: &str, end: usize) -> usize {
    text.get(end..).and_then(|rest| EXTENSION.find(rest)).map_or(end, |m| end + m.end())
}

/// Where a number of 7–15 digits (a trunk `(0)` not counted), not a date, standing alone,
/// starts at `start..end` of `text`: after an opening parenthesis that it does not close
/// (`hotline (21 8240 6971 x6)` is the number in brackets).
fn loose_number(text: &str, start: usize, end: usize) -> Option<usize> {
    let value = text.get(start..end)?;
    let (start, value) = match value.strip_prefix('(') {
        Some(inner) if !inner.contains(')') => (start + 1, inner),
        _ => (start, value),
    };
    let digits = value.bytes().filter(u8::is_ascii_digit).count() - usize::from(value.contains("(0)"));
    let ok = (7..=15).contains(&digits)
        && !DATE_SHAPED.is_match(value)
        && number_isolated(text, start, with_extension(text, end));
    ok.then_some(start)
}

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    let first = out.len();
    for shape in &SHAPES {
        for m in shape.regex.find_iter(text) {
            // Extensions (`x123`, `ext. 12`) are not in the shapes: `with_extension` adds
            // them to the span below, so they never count as digits of the number.
            let number = m.as_str();
            let trunk = usize::from(number.contains("(0)"));
            let digits: Vec<u8> = number.bytes().filter(u8::is_ascii_digit).collect();
            let isolated = number_isolated(text, m.start(), with_extension(text, m.end()));
            if !shape.digits.contains(&(digits.len() - trunk)) || !isolated {
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
        let (Some(label), Some(m)) = (caps.get(0), caps.get(2)) else { continue };
        let word = label.as_str().to_ascii_lowercase();
        let before = text_before(text, label.start(), 24);
        if (word.starts_with("num") && NOT_A_PHONE_NUMBER.is_match(before))
            || (word.starts_with("line") && NOT_A_PHONE_LINE.is_match(before))
        {
            continue;
        }
        if let Some(start) = loose_number(text, m.start(), m.end()) {
            out.push(Detection::new(start, m.end(), EntityType::Phone, priority::SHAPE));
        }
    }
    for caps in SIGNATURE_LETTER.captures_iter(text).chain(LABEL_AFTER.captures_iter(text)) {
        let Some(m) = caps.get(1) else { continue };
        if let Some(start) = loose_number(text, m.start(), m.end()) {
            out.push(Detection::new(start, m.end(), EntityType::Phone, priority::SHAPE));
        }
    }
    // Numbers joined to a found one, then every number's extension.
    let mut i = first;
    while i < out.len() {
        let end = with_extension(text, out[i].end);
        out[i].end = end;
        if let Some(m) = text.get(end..).and_then(|rest| JOINED.captures(rest)).and_then(|c| c.get(1)) {
            let stop = end + m.end();
            if let Some(start) = loose_number(text, end + m.start(), stop) {
                out.push(Detection::new(start, stop, EntityType::Phone, priority::SHAPE));
            }
        }
        i += 1;
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
        assert_eq!(found("I would like to stop receiving messages to 3632965645"), ["3632965645"]);
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
    fn extensions_belong_to_every_shape() {
        assert_eq!(found("call 0055 11 2971-5778x66."), ["0055 11 2971-5778x66"]);
        assert_eq!(found("Appelle-moi au 021 181 29 67x2269 demain"), ["021 181 29 67x2269"]);
        assert_eq!(found("my number is 0040 21 586 4148 ext.323"), ["0040 21 586 4148 ext.323"]);
        assert_eq!(found("número de WhatsApp: 0800-420-7858 x 925?"), ["0800-420-7858 x 925"]);
        assert_eq!(found("desk on +48 518 125 185 extension 189 or"), ["+48 518 125 185 extension 189"]);
    }

    #[test]
    fn numbers_after_a_signature_letter() {
        assert_eq!(found("Head of Sales | T 1300 170 493 | M 0412 555 019"), ["1300 170 493", "0412 555 019"]);
        assert_eq!(found("Jo Bloggs\nF: 020 7946 0958"), ["020 7946 0958"]);
        assert!(found("Plan B 2024 1130 05").is_empty(), "a letter inside a sentence is no label");
    }

    #[test]
    fn numbers_after_a_label_in_several_languages() {
        assert_eq!(found("SMS the verification code to 32 89 80 60 instead"), ["32 89 80 60"]);
        assert_eq!(found("Mi número es 619803208, ¿puedes?"), ["619803208"]);
        assert_eq!(found("Llámame al 3005540247 cuando llegues."), ["3005540247"]);
        assert_eq!(found("Format this number for a business card: 800.252.003"), ["800.252.003"]);
        assert_eq!(found("Our support hotline (2114 7652) is down"), ["2114 7652"]);
        assert_eq!(found("Our toll-free line 8 (915) 517-38-55 should"), ["8 (915) 517-38-55"]);
        assert_eq!(found("callback number +49 (0) 800 9662089053."), ["+49 (0) 800 9662089053"]);
        // Asked about: the label comes after the number.
        assert_eq!(found("Is 012 28 44 73 a mobile or a landline?"), ["012 28 44 73"]);
        assert_eq!(found("Is 21.206.8785 a mobile or a landline?"), ["21.206.8785"]);
    }

    #[test]
    fn a_second_number_joined_to_a_found_one() {
        assert_eq!(
            found("Die Praxis erreichen Sie unter 0213862336 oder 08003613618455."),
            ["0213862336", "08003613618455"]
        );
        assert_eq!(found("at +82-10-1446-6271 or 800631355 ext. 4."), ["+82-10-1446-6271", "800631355 ext. 4"]);
    }

    #[test]
    fn labels_that_do_not_mean_a_phone() {
        for plain in [
            "my order number is 12345678, where is it?",
            "我的订单的订单 order number 12345678 在哪里",
            "the tracking number 4412345678 shows nothing",
            "Log line: 1674640694634 INFO request completed",
            "Log line: 2023-05-26 14:30:21,495 INFO request",
            "call me on 2024-05-12 at noon",
            "Does this look like a valid id to you? 81379504",
        ] {
            assert!(found(plain).is_empty(), "{plain}: {:?}", found(plain));
        }
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

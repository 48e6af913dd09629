//! Street addresses and locations: English house number + street name + suffix (with an
//! optional unit, city, state/postcode), US and British mailing addresses recognised by
//! their last line (`City, ST 12345`, a postcode), German `…straße 12`, French `12 rue …`, Chinese
//! `…市…区…路88号`; and places named as where someone lives (`I live in Springfield`,
//! `我住在杭州市西湖区`).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, ascii_isolated, compile, priority};

const SUFFIX: &str = r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Parkway|Pkwy|Highway|Hwy|Square|Sq|Circle|Cir|Trail|Close|Crescent|Row|Alley|Plaza|Walk|Gardens|Grove|Hill|Mews)";

static EN_STREET: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        concat!(
            // Number and street on one line: `Studio 06p\nFrederick Street` is not `06p …`.
            r"[0-9]{{1,6}}[A-Za-z]?(?:-[0-9]{{1,4}})?[ \t]+",
            r"(?:(?:[NSEW]|North|South|East|West)\.?[ \t]+)?",
            r"(?:[A-Z][a-z]+[ \t]+|[0-9]{{1,3}}(?:st|nd|rd|th)[ \t]+){{1,3}}{suffix}\b\.?",
            r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|#)\.?\s*[A-Za-z0-9\-]+)?",
            r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){{0,2}}",
            r"(?:,\s*[A-Z]{{2}})?(?:\s+[0-9]{{5}}(?:-[0-9]{{4}})?|\s+[A-Z]{{1,2}}[0-9][A-Z0-9]?\s?[0-9][A-Z]{{2}})?)?"
        ),
        suffix = SUFFIX
    ))
});

static DE_STREET: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)\s+[0-9]{1,4}[a-z]?(?:,\s*[0-9]{5}\s+[A-ZÄÖÜ][a-zäöüß]+)?",
    )
});

static FR_STREET: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"[0-9]{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|place|chemin|allée|impasse|quai)\s+(?:(?:de|du|des|la|le|l'|d')\s*)*[A-ZÉ][\p{L}'\-]+(?:\s[A-Z][\p{L}'\-]+)*(?:,\s*[0-9]{5}\s+[A-Z][\p{L}\-]+)?",
    )
});

static CN_STREET: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?:\p{Han}{2,7}(?:省|自治区))?(?:\p{Han}{1,7}市)?(?:\p{Han}{1,7}(?:区|县))?",
        r"\p{Han}{1,12}(?:路|街|大道|巷|胡同|道)",
        r"(?:[0-9]{1,5}|[一二三四五六七八九十百]{1,4})号",
        r"(?:院|楼)?(?:[0-9]{1,4}(?:栋|幢|号楼|单元|楼|层|室|号))*",
    ))
});

/// A place named as where someone is, lives, comes from or is going.
static EN_LOCATION: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i:i live in|i'm living in|i am living in|i live near|i'm based in|i am based in|we live in|",
        r"i reside in|i moved to|i'm from|i am from|i grew up in|my hometown is|my home town is|located in|",
        r"lives in|living in|i am in|i'm in|we are in|we're in|currently in|travell?ing to|trip to|moving to|",
        r"moved to|flying to|coming to|originally from|staying in|born in|grew up in|home city)",
        r"\s+(\p{Lu}\p{Ll}+(?:[\s\-]\p{Lu}\p{Ll}+){0,2}(?:,\s*(?:\p{Lu}\p{Ll}+(?:\s\p{Lu}\p{Ll}+)?|[A-Z]{2}))?)"
    ))
});

/// US mailing addresses recognised by their `City, ST 12345` line, whatever the street
/// suffix (`164 Silva Estate\nEast Julie, NM 71431`).
static US_MAILING: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"[0-9]{1,6}\s\p{Lu}\p{Ll}+(?:\s\p{Lu}\p{Ll}+){0,3}\.?",
        r"(?:\s(?:Apt|Suite|Ste|Unit)\.?\s?[0-9A-Za-z\-]+)?",
        r"(?:,\s*|\s*\n\s*)",
        r"\p{Lu}\p{Ll}+(?:\s\p{Lu}\p{Ll}+){0,2},\s[A-Z]{2}\s[0-9]{5}(?:-[0-9]{4})?"
    ))
});

/// British addresses recognised by their postcode line, whatever the street's name: a
/// house number or a flat line, the street, one or two locality/town lines, the postcode
/// (`Flat 52\nKelly Harbor\nRoseburgh\nW2 5SU`, `109 Kay Ports, Port Hannah, L7 2TW`).
static UK_POSTAL: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?:(?:Flat|Studio|Apartment|Apt\.?|Unit|Suite|Room)[ \t]+[0-9]{1,4}[A-Za-z]?(?:,[ \t]*|[ \t]*\n[ \t]*)",
        r"(?:[0-9]{1,5}[A-Za-z]?[ \t]+)?|[0-9]{1,5}[A-Za-z]?[ \t]+)",
        r"\p{Lu}\p{Ll}+(?:[ \t]\p{Lu}\p{Ll}+){0,3}(?:,[ \t]*|[ \t]*\n[ \t]*)",
        r"(?:\p{Lu}\p{Ll}+(?:[ \t\-]\p{Lu}\p{Ll}+){0,3}(?:,[ \t]*|[ \t]*\n[ \t]*)){1,2}",
        r"[A-Z]{1,2}[0-9][A-Z0-9]?[ \t]?[0-9][A-Z]{2}\b",
    ))
});

static CN_LOCATION: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?:我住在|我家在|住在|我来自|家住|现居|居住在)((?:\p{Han}{1,7}?(?:省|市|区|县|镇|乡|村|街道)){1,4})")
});

/// Words that introduce an address and belong to the sentence, not the address.
const CN_LEADS: &[&str] = &[
    "我住在",
    "我家在",
    "住在",
    "家住",
    "地址是",
    "地址为",
    "地址：",
    "地址",
    "寄到",
    "送到",
    "位于",
    "我在",
    "在",
    "是",
    "到",
    "我",
    "的",
];

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for regex in [&*EN_STREET, &*US_MAILING, &*UK_POSTAL, &*DE_STREET, &*FR_STREET] {
        for m in regex.find_iter(text) {
            let end = m.end() - usize::from(m.as_str().ends_with('.'));
            if ascii_isolated(text, m.start(), end) {
                out.push(Detection::new(m.start(), end, EntityType::StreetAddress, priority::ADDRESS));
            }
        }
    }
    for m in CN_STREET.find_iter(text) {
        let start = skip_leads(text, m.start(), m.end());
        if start < m.end() {
            out.push(Detection::new(start, m.end(), EntityType::StreetAddress, priority::ADDRESS));
        }
    }
    for regex in [&*EN_LOCATION, &*CN_LOCATION] {
        for caps in regex.captures_iter(text) {
            if let Some(m) = caps.get(1) {
                out.push(Detection::new(m.start(), m.end(), EntityType::Location, priority::LOCATION));
            }
        }
    }
}

/// Moves `start` past sentence words the greedy Han classes swallowed (`我住在北京市…`).
fn skip_leads(text: &str, mut start: usize, end: usize) -> usize {
    // The lead can only be inside the match's first part; the last lead wins because
    // `…在…` may appear several times ("我在家住在…").
    let Some(span) = text.get(start..end) else {
        return end;
    };
    let head_len = span.find(['省', '市', '区', '县', '路', '街', '道', '巷']).unwrap_or(span.len());
    if let Some(head) = span.get(..head_len) {
        let mut best = 0;
        for lead in CN_LEADS {
            if let Some(pos) = head.rfind(lead) {
                best = best.max(pos + lead.len());
            }
        }
        start += best;
    }
    start
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
    fn english_and_european_streets() {
        assert_eq!(found("Send it to 221B Baker Street, London NW1 6XE please"), ["221B Baker Street, London NW1 6XE"]);
        assert_eq!(
            found("at 1600 Pennsylvania Avenue, Washington, DC 20500."),
            ["1600 Pennsylvania Avenue, Washington, DC 20500"]
        );
        assert_eq!(found("office 42 W 34th St, Apt 5B"), ["42 W 34th St, Apt 5B"]);
        assert_eq!(found("wohne in der Hauptstraße 12, 10115 Berlin"), ["Hauptstraße 12, 10115 Berlin"]);
        assert_eq!(found("au 12 rue de Rivoli, 75001 Paris"), ["12 rue de Rivoli, 75001 Paris"]);
        assert_eq!(
            found("sent to Flat 52\nKelly Harbor\nRoseburgh\nW2 5SU?"),
            ["Flat 52\nKelly Harbor\nRoseburgh\nW2 5SU"]
        );
        assert_eq!(found("at 109 Kay Ports, Port Hannah, L7 2TW."), ["109 Kay Ports, Port Hannah, L7 2TW"]);
    }

    #[test]
    fn chinese_addresses_and_locations() {
        assert_eq!(found("我住在北京市朝阳区建国路88号。"), ["北京市朝阳区建国路88号"]);
        assert_eq!(found("寄到上海市浦东新区世纪大道100号3栋"), ["上海市浦东新区世纪大道100号3栋"]);
        assert_eq!(found("我住在杭州市西湖区，"), ["杭州市西湖区"]);
        assert_eq!(found("I live in San Francisco, CA and"), ["San Francisco, CA"]);
        assert_eq!(found("I am in Lyon for a business trip"), ["Lyon"]);
        assert_eq!(
            found("address:\n\n164 Silva Estate\nEast Julie, NM 71431"),
            ["164 Silva Estate\nEast Julie, NM 71431"]
        );
    }
}

//! Street addresses and locations: English house number + street name + suffix (with an
//! optional unit, city, state/postcode), US and British mailing addresses recognised by
//! their last line (`City, ST 12345`, a postcode), Canadian and Australian ones likewise
//! (`City, PR A1A 1A1`, `Suburb, ST, 2000`), US military mail (`FPO AE 20107`), German `…straße 12`, French `12 rue …`, Chinese
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
        r"[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)\s+[0-9]{1,4}[a-z]?(?:[/\-][0-9]{1,4})?(?:,\s*[0-9]{5}\s+[A-ZÄÖÜ][a-zäöüß]+)?",
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

/// North American and Australian mailing addresses recognised by their last line, whatever
/// the street suffix: `City, ST 12345` (US), `City, PR A1A 1A1` (Canada), `Suburb, ST,
/// 2000` or `Suburb ST 2000` (Australia). The first line is a house number and street, a
/// unit before it (`Unit 5 12 Smith Street`, `9/2 Thomas Causeway`) or after it (`Apt. 6`).
/// (`164 Silva Estate\nEast Julie, NM 71431`, `7835 Erica Trace\nFarleytown, NS H6M 9E7`,
/// `78 Michael Strip\nSt. Stephanie, ACT, 0281`.)
static MAILING: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?:(?:Apt|Apartment|Flat|Suite|Unit|Level|Shop)\.?[ \t]+[0-9]{1,4}[A-Za-z]?,?[ \t]+|[0-9]{1,4}[A-Za-z]?/)?",
        r"[0-9]{1,6}[A-Za-z]?[ \t]+\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+(?:[ \t]+\p{Lu}(?:\p{Ll}{1,2}\p{Lu})?\p{Ll}+){0,3}\.?",
        r"(?:,?[ \t]+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?[ \t]?[0-9A-Za-z\-]+)?",
        r"(?:,[ \t]*|[ \t]*\n[ \t]*)",
        r"(?:St\.[ \t]+)?\p{Lu}\p{Ll}+(?:[ \t\-]+\p{Lu}\p{Ll}+){0,2}",
        r"(?:,[ \t]*[A-Z]{2}[ \t]+[0-9]{5}(?:-[0-9]{4})?",
        r"|,?[ \t]+[A-Z]{2}[ \t]+[A-Z][0-9][A-Z][ \t]?[0-9][A-Z][0-9]",
        r"|,?[ \t]+(?:ACT|NSW|NT|QLD|SA|TAS|VIC|WA),?[ \t]+[0-9]{4})\b"
    ))
});

/// Street lines numbered by a lane, plot or unit rather than a house (`Room 1203, Lane 88,
/// Xinhua Road` as Shanghai addresses are written in English, `Plot 1142, Great East
/// Road`, `Unit 12, Riverside Industrial Estate`): the numbered part, then a named street.
static NUMBERED_PART: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?:(?:Room|Rm|Flat|Unit|Building|Bldg|Block)\.?[ \t]+[0-9A-Za-z\-]{1,6},[ \t]*)?",
        r"(?:(?:No\.[ \t]*)?[0-9]{1,5},[ \t]*)?",
        r"(?:Lane|Plot|Unit|Stand|Erf|Block|Building)[ \t]+[0-9]{1,5}[A-Za-z]?,?[ \t]+(?:No\.[ \t]*[0-9]{1,5},?[ \t]+)?",
        r"\p{Lu}\p{Ll}+(?:[ \t]\p{Lu}\p{Ll}+){0,3}[ \t]",
        r"(?:Road|Rd|Street|St|Avenue|Ave|Lu|Boulevard|Highway|Way|Drive|Lane|Close|Estate|Park|Crescent|Industrial Estate)\b\.?"
    ))
});

/// US military mail: a ship, a PSC or a unit box, then `APO`/`FPO`/`DPO` with an `AA`,
/// `AE` or `AP` pseudo-state and a ZIP code (`USNS Bryant\nFPO AE 20107`, `PSC 7396, Box
/// 3046\nAPO AP 33514`).
static MILITARY: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?:(?:USS|USNS|USNV|USCGC)[ \t]+\p{Lu}\p{Ll}+(?:[ \t]+\p{Lu}\p{Ll}+)?",
        r"|(?:PSC|CMR|Unit)[ \t]+[0-9]{1,5},?[ \t]+Box[ \t]+[0-9]{1,5})",
        r"(?:,[ \t]*|[ \t]*\n[ \t]*)(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+[0-9]{5}(?:-[0-9]{4})?\b"
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
    for regex in [&*EN_STREET, &*MAILING, &*MILITARY, &*UK_POSTAL, &*DE_STREET, &*FR_STREET, &*NUMBERED_PART] {
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
            if let Some(m) = caps.get(1)
                && !names_a_time(m.as_str())
            {
                out.push(Detection::new(m.start(), m.end(), EntityType::Location, priority::LOCATION));
            }
        }
    }
}

/// `moved to Thursday`, `coming to May`: a day, month or season, not a place.
fn names_a_time(place: &str) -> bool {
    const TIMES: &[&str] = &[
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "spring",
        "summer",
        "autumn",
        "fall",
        "winter",
        "christmas",
        "easter",
        "tomorrow",
        "today",
        "tonight",
    ];
    let first = place.split([' ', ',', '-']).next().unwrap_or_default().to_lowercase();
    TIMES.contains(&first.as_str())
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
        assert_eq!(
            found("the heater in Room 1203, Lane 88, Xinhua Road, Changning District"),
            ["Room 1203, Lane 88, Xinhua Road"]
        );
        assert_eq!(found("to Mrs. Mulenga, Plot 1142, Great East Road, Lusaka"), ["Plot 1142, Great East Road"]);
        assert_eq!(
            found("deliver to Unit 12, Riverside Industrial Estate, Doncaster"),
            ["Unit 12, Riverside Industrial Estate"]
        );
        assert_eq!(found("wohne in der Hauptstraße 12, 10115 Berlin"), ["Hauptstraße 12, 10115 Berlin"]);
        assert_eq!(found("au 12 rue de Rivoli, 75001 Paris"), ["12 rue de Rivoli, 75001 Paris"]);
        assert!(found("Tell Marcel that the meeting moved to Thursday.").is_empty());
        assert_eq!(
            found("sent to Flat 52\nKelly Harbor\nRoseburgh\nW2 5SU?"),
            ["Flat 52\nKelly Harbor\nRoseburgh\nW2 5SU"]
        );
        assert_eq!(found("at 109 Kay Ports, Port Hannah, L7 2TW."), ["109 Kay Ports, Port Hannah, L7 2TW"]);
    }

    #[test]
    fn canadian_australian_and_military_mailing_addresses() {
        for address in [
            "7835 Erica Trace\nFarleytown, NS H6M 9E7",
            "05284 Schmitt Lodge\nReeveshaven, PE R8L9S6",
            "80946 Robert Freeway Suite 648\nNelsonville, YT K5P 2H8",
            "805 Brianna Run Apt. 761\nNorth Meaganberg, ON G5K6E1",
            "78 Michael Strip\nSt. Stephanie, ACT, 0281",
            "Suite 314 03 Davis Mount\nWest Carlos, TAS, 2909",
            "9/2 Thomas Causeway\nWrightland, ACT, 2923",
            "Level 2 0 Patricia Amble\nFitzpatrickchester, NSW, 2619",
            "12 George Street, Sydney NSW 2000",
            "USNS Bryant\nFPO AE 20107",
            "PSC 7396, Box 3046\nAPO AP 33514",
            "Unit 0954 Box 9413\nDPO AA 66187",
        ] {
            let text = format!("Please send it to {address}. Thanks");
            assert_eq!(found(&text), [address], "{text:?}");
        }
        // A postcode-shaped tail alone does not make an address.
        assert!(found("Order 66 Alpha, CA 1234 units").is_empty());
        assert!(found("we shipped 12 boxes to Ottawa, ON K1A").is_empty());
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

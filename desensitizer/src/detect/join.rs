//! Adjustments after resolution, where two kept spans are one value or a span is no value:
//! a double-barrelled name cut at its hyphen (`Keudel` `-` `Krause`), a town cut at its
//! connector (`Gillièron` `am` `Albis`), a street line whose postcode line follows it, a
//! "name" that is only a title (`Prof`).

use netgpt_crds::workflow::EntityType;

use super::{Detection, place, priority, street_eu};

/// Words between two place spans that make them one name (`Frankfurt am Main`,
/// `Châlons-en-Champagne` is hyphenated and joined as such).
const PLACE_CONNECTORS: &[&str] = &[
    "am", "an der", "an", "im", "bei", "ob der", "sur", "sous", "en", "de", "del", "de la", "di", "della", "do", "da",
];

/// Titles the learned stage sometimes tags as a name on their own.
const TITLES: &[&str] =
    &["prof", "dr", "mr", "mrs", "ms", "mme", "mlle", "sr", "sra", "dott", "sig", "herr", "frau", "ing", "mag", "dipl"];

/// Applies every adjustment to `kept` (disjoint, sorted by start); the result is too.
pub(super) fn adjust(text: &str, kept: Vec<Detection>) -> Vec<Detection> {
    let mut out: Vec<Detection> = Vec::with_capacity(kept.len());
    for d in kept.into_iter().flat_map(|d| split_place_list(text, d)) {
        if d.kind == EntityType::Person && is_title(text.get(d.start..d.end).unwrap_or_default()) {
            continue;
        }
        if let Some(last) = out.last_mut()
            && last.kind == d.kind
            && text.get(last.end..d.start).is_some_and(|gap| belong_together(d.kind, gap))
        {
            last.end = d.end;
            last.priority = last.priority.max(d.priority);
            continue;
        }
        out.push(with_number_word(text, without_leading_verb(text, d)));
    }
    address_tails(text, extend_street_lines(text, out))
}

/// Comma-separated chunks after a street line that nothing claimed, read as the places of
/// the address (`Plot 1142, Great East Road, Lusaka, Zambia`, `Unit 12, Riverside
/// Industrial Estate, Doncaster DN4 5HT; …`): capitalized words each (connectors between
/// them allowed), a postcode after the last one left out, at most four chunks, up to the
/// next claimed span or the end of the clause.
fn address_tails(text: &str, spans: Vec<Detection>) -> Vec<Detection> {
    let mut out: Vec<Detection> = Vec::with_capacity(spans.len());
    for (i, d) in spans.iter().enumerate() {
        out.push(*d);
        if d.kind != EntityType::StreetAddress {
            continue;
        }
        let limit = spans.get(i + 1).map_or(text.len(), |next| next.start);
        let mut at = d.end;
        for _ in 0..4 {
            let Some(rest) = text.get(at..limit).and_then(|r| r.strip_prefix(", ")) else { break };
            let chunk_len = rest.find([',', ';', '.', '\n', '(', ')', '—', '–']).unwrap_or(rest.len());
            let chunk = &rest[..chunk_len];
            let Some(place_len) = place_chunk(chunk) else { break };
            let start = at + 2;
            out.push(Detection::new(
                start,
                start + place_len,
                EntityType::Location,
                d.priority.min(priority::FIELD_VALUE),
            ));
            at = start + chunk_len;
            // Only a whole chunk lets the next one be read too (`Doncaster DN4 5HT; …`
            // ends here).
            if !chunk[place_len..].trim().is_empty() {
                break;
            }
        }
    }
    out
}

/// The length of the place at the start of `chunk`: capitalized words (lower-case
/// connectors between them), then nothing but a postcode (letters in capitals and digits)
/// or spaces. `None` when the chunk is not shaped so.
fn place_chunk(chunk: &str) -> Option<usize> {
    let mut end = 0;
    let mut words = 0;
    let mut offset = 0;
    for word in chunk.split(' ') {
        let here = offset;
        offset += word.len() + 1;
        if word.is_empty() {
            continue;
        }
        let capitalized = word.chars().next().is_some_and(char::is_uppercase)
            && word.chars().nth(1).is_some_and(|c| c.is_lowercase() || c == '.');
        if capitalized && words < 5 {
            end = here + word.len();
            words += 1;
        } else if words > 0 && place::FIELD_CONNECTORS.contains(&word) {
            continue;
        } else {
            // What is left must be a postcode (or nothing).
            if words == 0 || !place::postcode_like(chunk[here..].trim()) {
                return None;
            }
            break;
        }
    }
    (words > 0).then_some(end)
}

/// Sentence-initial verbs and greetings that the learned stage and the capitalised-pair
/// rules take into a name (`Ask Wang Fang`, `Dear Li Na`).
const LEADING_VERBS: &[&str] = &[
    "Ask",
    "Call",
    "Cc",
    "Congratulate",
    "Contact",
    "Dear",
    "Email",
    "Hello",
    "Hey",
    "Hi",
    "Inform",
    "Invite",
    "Meet",
    "Message",
    "Notify",
    "Ping",
    "Please",
    "Remind",
    "Tell",
    "Text",
    "Thank",
    "Thanks",
    "Welcome",
];

/// A person span without a leading [`LEADING_VERBS`] word, when a name is left after it.
fn without_leading_verb(text: &str, d: Detection) -> Detection {
    if d.kind != EntityType::Person {
        return d;
    }
    let Some(span) = text.get(d.start..d.end) else { return d };
    match span.split_once(' ') {
        Some((first, rest)) if LEADING_VERBS.contains(&first) && rest.starts_with(char::is_uppercase) => {
            Detection { start: d.start + first.len() + 1, ..d }
        }
        _ => d,
    }
}

/// A street line whose house number is introduced by `No.` (`No. 1000 Lujiazui Ring Road`,
/// the way Chinese addresses are written in English) starts at that word: left outside,
/// it would be the one piece of the line sent in clear.
fn with_number_word(text: &str, d: Detection) -> Detection {
    if d.kind != EntityType::StreetAddress
        || !text.get(d.start..).is_some_and(|s| s.starts_with(|c: char| c.is_ascii_digit()))
    {
        return d;
    }
    let before = text.get(..d.start).unwrap_or_default();
    for word in ["No. ", "No.", "No ", "NO. ", "no. "] {
        if let Some(rest) = before.strip_suffix(word)
            && !rest.ends_with(|c: char| c.is_alphanumeric())
        {
            return Detection { start: d.start - word.len(), ..d };
        }
    }
    d
}

/// `Eilenburg, Bahamas` is a town and a country: two places, as every corpus labels them
/// (and as the pseudonyms then read: `[LOCATION_1], [LOCATION_2]`).
fn split_place_list(text: &str, d: Detection) -> Vec<Detection> {
    let Some(span) = text.get(d.start..d.end).filter(|s| d.kind == EntityType::Location && s.contains(", ")) else {
        return vec![d];
    };
    let mut parts = Vec::new();
    let mut offset = d.start;
    for part in span.split(", ") {
        if part.chars().any(char::is_alphanumeric) {
            parts.push(Detection { start: offset, end: offset + part.len(), ..d });
        }
        offset += part.len() + 2;
    }
    parts
}

fn belong_together(kind: EntityType, gap: &str) -> bool {
    match kind {
        EntityType::Person | EntityType::Location if gap == "-" => true,
        EntityType::Location => {
            gap.strip_prefix(' ').and_then(|g| g.strip_suffix(' ')).is_some_and(|word| PLACE_CONNECTORS.contains(&word))
        }
        _ => false,
    }
}

fn is_title(span: &str) -> bool {
    let word = span.trim_end_matches('.').to_lowercase();
    TITLES.contains(&word.as_str())
}

/// A street line followed by its postcode line takes the line in; the town the place
/// rules found in it is then part of the address.
fn extend_street_lines(text: &str, mut spans: Vec<Detection>) -> Vec<Detection> {
    let mut i = 0;
    while i < spans.len() {
        if spans[i].kind == EntityType::StreetAddress
            && let Some(end) = street_eu::postal_line_end(text, spans[i].end)
        {
            // Only names, places and addresses may be swallowed; anything else inside the
            // line (a phone number) keeps the line as it was.
            let inside = spans[i + 1..].iter().take_while(|d| d.start < end).collect::<Vec<_>>();
            let swallowable = inside.iter().all(|d| {
                d.end <= end && matches!(d.kind, EntityType::Location | EntityType::Person | EntityType::StreetAddress)
            });
            if swallowable {
                let n = inside.len();
                spans[i].end = end;
                spans.drain(i + 1..i + 1 + n);
            }
        }
        i += 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str, needle: &str, kind: EntityType) -> Detection {
        let start = text.find(needle).unwrap_or_else(|| panic!("{needle} in {text}"));
        Detection::new(start, start + needle.len(), kind, 1)
    }

    fn texts<'a>(text: &'a str, spans: &[Detection]) -> Vec<&'a str> {
        spans.iter().map(|d| &text[d.start..d.end]).collect()
    }

    #[test]
    fn joins_hyphenated_names_and_connected_places() {
        let text = "Please add Luzia Keudel-Krause to the list; she moved to Gillièron am Albis.";
        let kept = vec![
            span(text, "Luzia Keudel", EntityType::Person),
            span(text, "Krause", EntityType::Person),
            span(text, "Gillièron", EntityType::Location),
            span(text, "Albis", EntityType::Location),
        ];
        assert_eq!(texts(text, &adjust(text, kept)), ["Luzia Keudel-Krause", "Gillièron am Albis"]);
    }

    #[test]
    fn a_house_number_word_belongs_to_the_street() {
        let text = "Ship it to No. 1000 Lujiazui Ring Road, or to Nos 5 Elm Road";
        let kept = vec![
            span(text, "1000 Lujiazui Ring Road", EntityType::StreetAddress),
            span(text, "5 Elm Road", EntityType::StreetAddress),
        ];
        assert_eq!(texts(text, &adjust(text, kept)), ["No. 1000 Lujiazui Ring Road", "5 Elm Road"]);
    }

    #[test]
    fn a_leading_verb_is_not_part_of_a_name() {
        let text = "Ask Wang Fang and Dear Li Na and Hi there and Will Smith";
        let kept = vec![
            span(text, "Ask Wang Fang", EntityType::Person),
            span(text, "Dear Li Na", EntityType::Person),
            span(text, "Hi there", EntityType::Person),
            span(text, "Will Smith", EntityType::Person),
        ];
        assert_eq!(texts(text, &adjust(text, kept)), ["Wang Fang", "Li Na", "Hi there", "Will Smith"]);
    }

    #[test]
    fn the_places_after_a_street_line() {
        let text = "courier it to Plot 1142, Great East Road, Lusaka, Zambia.";
        let kept = vec![span(text, "Plot 1142, Great East Road", EntityType::StreetAddress)];
        assert_eq!(texts(text, &adjust(text, kept)), ["Plot 1142, Great East Road", "Lusaka", "Zambia"]);
        let text = "to Unit 12, Riverside Estate, Doncaster DN4 5HT; site contact Gary";
        let kept = vec![span(text, "Unit 12, Riverside Estate", EntityType::StreetAddress)];
        assert_eq!(texts(text, &adjust(text, kept)), ["Unit 12, Riverside Estate", "Doncaster"]);
        // A clause that goes on in lower case is not a place.
        let text = "at 22 Linden Ave, bring chips, Mike";
        let kept = vec![span(text, "22 Linden Ave", EntityType::StreetAddress)];
        assert_eq!(texts(text, &adjust(text, kept)), ["22 Linden Ave"]);
    }

    #[test]
    fn keeps_separate_values_apart() {
        let text = "Ann and Bob, Paris and Lyon, Rome - Milan";
        let kept = vec![
            span(text, "Ann", EntityType::Person),
            span(text, "Bob", EntityType::Person),
            span(text, "Paris", EntityType::Location),
            span(text, "Lyon", EntityType::Location),
            span(text, "Rome", EntityType::Location),
            span(text, "Milan", EntityType::Location),
        ];
        assert_eq!(adjust(text, kept.clone()).len(), kept.len());
    }

    #[test]
    fn splits_a_town_from_its_country() {
        let text = "I was born in Freistadt, Spanien, on 1971-06-20.";
        let kept = vec![span(text, "Freistadt, Spanien", EntityType::Location)];
        assert_eq!(texts(text, &adjust(text, kept)), ["Freistadt", "Spanien"]);
    }

    #[test]
    fn drops_titles_and_extends_street_lines() {
        let text = "Name: Prof. Leander Haberl, 4, boulevard Letellier\n92783 Le GallBourg please";
        let kept = vec![
            span(text, "Prof", EntityType::Person),
            span(text, "Leander Haberl", EntityType::Person),
            span(text, "4, boulevard Letellier", EntityType::StreetAddress),
            span(text, "Le GallBourg", EntityType::Location),
        ];
        assert_eq!(texts(text, &adjust(text, kept)), ["Leander Haberl", "4, boulevard Letellier\n92783 Le GallBourg"]);
    }
}

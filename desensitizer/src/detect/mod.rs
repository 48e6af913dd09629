//! Detection of personal data in text.
//!
//! Every detector is a pure function from text to candidate spans (byte offsets on char
//! boundaries). Candidates carry a priority: validated, specific entities (a Luhn-checked
//! card, a credential inside a URL) outrank heuristic ones (a capitalized name pair), and
//! [`resolve`] keeps a non-overlapping set, highest priority first, longer spans first.
//! Nothing here may panic on any input: offsets come from regex matches or from
//! `char_indices`, and slicing goes through `str::get`.

mod address;
mod card;
mod dob;
mod email;
mod gazetteer;
mod iban;
mod ip;
mod join;
mod lowercase;
mod names;
mod national_id;
mod normalize;
mod person;
mod phone;
mod place;
mod secret;
pub mod span;
mod street_eu;
mod table;
mod url_credentials;

use std::collections::BTreeMap;
use std::sync::Arc;

use netgpt_crds::workflow::EntityType;

use super::ner::{NerError, NerModel};

pub use card::luhn_valid;
pub use iban::iban_valid;
pub use national_id::{cn_resident_id_valid, us_ssn_valid};
pub use normalize::Normalized;
pub use span::Detection;
pub(crate) use span::priority;

/// Most candidate spans one text may produce before detection refuses it: a body that is
/// nothing but e-mail addresses should cost bounded work, and a request with this much
/// personal data is better refused than half-served.
pub const MAX_CANDIDATES: usize = 100_000;

/// Why a text could not be inspected. Callers fail closed: nothing is forwarded.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("the learned detector failed: {0}")]
    Learned(#[from] NerError),
    #[error("more than {limit} candidate entities in one text")]
    TooMany { limit: usize },
    #[error("the text grows too much under normalization to be inspected")]
    Expands,
    #[error("a detected span does not map back onto the text")]
    Unmapped,
}

/// Runs the detectors of the enabled entity types.
#[derive(Debug, Clone)]
pub struct Detector {
    enabled: [bool; crate::entity::ALL.len()],
    /// The learned stage, when a model is loaded (see [`super::ner`]).
    learned: Option<Arc<NerModel>>,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl Detector {
    /// A detector for `entities`; empty means every supported type (as the policy says).
    pub fn new(entities: &[EntityType]) -> Self {
        let mut enabled = [entities.is_empty(); crate::entity::ALL.len()];
        for kind in entities {
            enabled[crate::entity::index(*kind)] = true;
        }
        Self { enabled, learned: None }
    }

    /// Adds the learned stage.
    pub fn with_learned(mut self, model: Arc<NerModel>) -> Self {
        self.learned = Some(model);
        self
    }

    /// Whether the learned stage runs.
    pub fn has_learned(&self) -> bool {
        self.learned.is_some()
    }

    fn on(&self, kind: EntityType) -> bool {
        self.enabled[crate::entity::index(kind)]
    }

    /// Non-overlapping detections in `text` (byte offsets into `text`), sorted by
    /// position. Detection runs on the [`Normalized`] view, so full-width digits,
    /// zero-width characters and look-alike separators do not hide a value; spans are
    /// mapped back to the original characters.
    pub fn detect(&self, text: &str) -> Result<Vec<Detection>, DetectError> {
        let view = Normalized::new(text).ok_or(DetectError::Expands)?;
        let found = self.detect_normalized(&view.text)?;
        if view.is_identity() {
            return Ok(found);
        }
        // A span that does not map back would be left in clear: an error, not a skip.
        let mut mapped = found
            .into_iter()
            .map(|d| view.original(text, d.start, d.end).map(|(start, end)| Detection { start, end, ..d }))
            .collect::<Option<Vec<_>>>()
            .ok_or(DetectError::Unmapped)?;
        // An NFKC expansion (`⑫`, `¼`) can make two mapped spans touch the same original
        // character: merged, so that replacing them stays well-defined.
        mapped.sort_by_key(|d| d.start);
        let mut merged: Vec<Detection> = Vec::with_capacity(mapped.len());
        for d in mapped {
            match merged.last_mut() {
                Some(last) if d.start < last.end => last.end = last.end.max(d.end),
                _ => merged.push(d),
            }
        }
        Ok(merged)
    }

    fn detect_normalized(&self, text: &str) -> Result<Vec<Detection>, DetectError> {
        let mut found = Vec::new();
        run_rules(text, &mut found);
        // `_` glues words for the detectors (so that secrets and identifiers are not cut
        // apart), which hides `_13812345678_` and `li_13812345678`: the rules run once
        // more with underscores read as spaces. Same length, same offsets.
        if text.contains('_') {
            run_rules(&text.replace('_', " "), &mut found);
        }
        // Chat typed in lower case: see [`lowercase`].
        lowercase::detect(text, &mut found);
        if found.len() > MAX_CANDIDATES {
            return Err(DetectError::TooMany { limit: MAX_CANDIDATES });
        }
        // A disabled type claims its span only when its shape is exact (a card number is
        // not half-detected as a phone number); a heuristic one must not hide an enabled
        // type's value (a password-shaped token over a name).
        found.retain(|d| self.on(d.kind) || d.priority >= priority::VALIDATED);
        if let Some(model) = &self.learned {
            let learned = model.detect(text)?;
            found = join_learned(found, learned);
        }
        let mut kept = join::adjust(text, resolve_in(text, found));
        kept.retain(|d| self.on(d.kind));
        Ok(kept)
    }
}

/// Every rule and checksum detector, on `text`.
fn run_rules(text: &str, found: &mut Vec<Detection>) {
    url_credentials::detect(text, found);
    secret::detect(text, found);
    national_id::detect(text, found);
    card::detect(text, found);
    iban::detect(text, found);
    email::detect(text, found);
    ip::detect(text, found);
    phone::detect(text, found);
    dob::detect(text, found);
    address::detect(text, found);
    street_eu::detect(text, found);
    person::detect(text, found);
    place::detect(text, found);
    table::detect(text, found);
}

/// Kinds where the learned stage and the heuristics describe the same thing in different
/// extents ("Ann" from a name list, "Ann Lee" from the model): overlapping candidates of
/// one such kind are joined into their union, so neither cuts the other short.
fn joinable(kind: EntityType) -> bool {
    matches!(kind, EntityType::Person | EntityType::StreetAddress | EntityType::Location)
}

/// Adds the learned candidates, each widened to the union with the heuristic candidates
/// of its kind that it overlaps. O((n + m) log n).
fn join_learned(mut found: Vec<Detection>, learned: Vec<Detection>) -> Vec<Detection> {
    let mut by_start: Vec<Detection> = found.iter().filter(|d| joinable(d.kind)).copied().collect();
    by_start.sort_by_key(|d| d.start);
    // Longest end among candidates sorted before each index, for a stabbing query.
    let mut reach = Vec::with_capacity(by_start.len());
    let mut longest = 0;
    for d in &by_start {
        longest = longest.max(d.end);
        reach.push(longest);
    }
    for mut candidate in learned {
        if joinable(candidate.kind) {
            // Heuristic spans overlapping the candidate start before its end; walk back
            // from there while some earlier span may still reach into it.
            let mut i = by_start.partition_point(|d| d.start < candidate.end);
            while i > 0 && reach[i - 1] > candidate.start {
                i -= 1;
                let d = by_start[i];
                if d.kind == candidate.kind && d.end > candidate.start {
                    candidate.start = candidate.start.min(d.start);
                    candidate.end = candidate.end.max(d.end);
                    // The union covers the heuristic span, so it must also win where
                    // the heuristic would have.
                    candidate.priority = candidate.priority.max(d.priority);
                }
            }
        }
        found.push(candidate);
    }
    found
}

/// Compiles every pattern and loads the word lists (tens of milliseconds, once per
/// process), so that the first request does not pay for it.
pub fn warm_up() {
    // The learned stage's word list is not reached by the rules below.
    let _ = gazetteer::english_word("warm");
    let _ = Detector::default().detect("Hi, I'm Ann Lee from Paris, 1 Elm Road, 4111 1111 1111 1111, a@b.co, 我叫王伟");
}

/// Keeps a non-overlapping subset: highest priority first, then the longer span, then the
/// earlier one ([`resolve_in`] without a text, so without keeping half-claimed parts).
pub fn resolve(found: Vec<Detection>) -> Vec<Detection> {
    resolve_in("", found)
}

/// Keeps a non-overlapping subset: highest priority first, then the longer span, then the
/// earlier one. O(n log n): the kept spans are disjoint, so the spans a candidate overlaps
/// are found from the kept span that starts last before its end. Where a name, address or
/// place candidate loses only part of itself to higher-priority spans, the parts it still covers alone are kept (when they hold a
/// letter or digit): a person's name half under a password-shaped token keeps its other
/// half. (For the other types, what sticks out is a URL's host or a key's variable name.)
pub fn resolve_in(text: &str, mut found: Vec<Detection>) -> Vec<Detection> {
    found.retain(|d| d.start < d.end);
    found.sort_by(|a, b| {
        b.priority.cmp(&a.priority).then((b.end - b.start).cmp(&(a.end - a.start))).then(a.start.cmp(&b.start))
    });
    let mut kept: BTreeMap<usize, Detection> = BTreeMap::new();
    for candidate in found {
        let blocked = kept.range(..candidate.end).next_back().is_some_and(|(_, k)| k.end > candidate.start);
        if !blocked {
            kept.insert(candidate.start, candidate);
            continue;
        }
        // Names, addresses and places only: what sticks out of an e-mail or a key under a
        // URL's credentials is its host or its variable name, not personal data.
        if !joinable(candidate.kind) {
            continue;
        }
        // Kept spans overlapping the candidate, right to left.
        let mut blockers: Vec<(usize, usize)> = Vec::new();
        for (_, k) in kept.range(..candidate.end).rev() {
            if k.end <= candidate.start {
                break;
            }
            blockers.push((k.start, k.end));
        }
        blockers.reverse();
        let mut cursor = candidate.start;
        let mut gaps = Vec::new();
        for (start, end) in blockers.into_iter().chain(std::iter::once((candidate.end, candidate.end))) {
            if start > cursor {
                gaps.push((cursor, start));
            }
            cursor = cursor.max(end);
        }
        for (start, end) in gaps {
            // Only the letters and digits between the blockers, not the spaces around them.
            let Some(gap) = text.get(start..end) else { continue };
            let Some(first) = gap.find(char::is_alphanumeric) else { continue };
            let last = gap
                .rfind(char::is_alphanumeric)
                .map_or(first, |i| i + gap[i..].chars().next().map_or(1, char::len_utf8));
            kept.insert(start + first, Detection { start: start + first, end: start + last, ..candidate });
        }
    }
    kept.into_values().collect()
}

/// The character before byte offset `at`, if any.
pub(crate) fn char_before(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|s| s.chars().next_back())
}

/// Up to `bytes` bytes of `text` before byte offset `at`, shortened to start on a
/// character boundary (the words before a match, whatever script precedes them).
pub(crate) fn text_before(text: &str, at: usize, bytes: usize) -> &str {
    let mut from = at.saturating_sub(bytes);
    while from < at && !text.is_char_boundary(from) {
        from += 1;
    }
    text.get(from..at).unwrap_or_default()
}

/// The character at byte offset `at`, if any.
pub(crate) fn char_at(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|s| s.chars().next())
}

/// True when `text[start..end]` is not glued to letters or digits on either side. CJK text
/// has no spaces, so Unicode `\b` would reject `电话13812345678`; only ASCII letters and
/// digits count as glue.
pub(crate) fn ascii_isolated(text: &str, start: usize, end: usize) -> bool {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    !glued(char_before(text, start)) && !glued(char_at(text, end))
}

/// Like [`ascii_isolated`], and also not part of a longer dotted/dashed number
/// (`1.2.3.4.5`, `555-1234-99`).
pub(crate) fn number_isolated(text: &str, start: usize, end: usize) -> bool {
    if !ascii_isolated(text, start, end) {
        return false;
    }
    let before = char_before(text, start);
    if matches!(before, Some('.' | '-' | '+' | '/'))
        && char_before(text, start.saturating_sub(1)).is_some_and(|c| c.is_ascii_digit())
    {
        return false;
    }
    let after = char_at(text, end);
    !(matches!(after, Some('.' | '-' | '/')) && char_at(text, end + 1).is_some_and(|c| c.is_ascii_digit()))
}

/// Like [`number_isolated`], and also not one dashed/underscored segment of a longer
/// identifier (`…-a71f-566655440000` in a UUID).
pub(crate) fn identifier_isolated(text: &str, start: usize, end: usize) -> bool {
    let joined = |joint: Option<char>, beyond: Option<char>| {
        matches!(joint, Some('-' | '_')) && beyond.is_some_and(|c| c.is_ascii_alphanumeric())
    };
    number_isolated(text, start, end)
        && !joined(char_before(text, start), char_before(text, start.saturating_sub(1)))
        && !joined(char_at(text, end), char_at(text, end + 1))
}

/// Shannon entropy of `s` in bits per character.
pub(crate) fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Compiles a constant pattern (defined beside [`Detection`], which the learned stage
/// shares without depending on this module).
pub(crate) use span::compile;

/// Test helper shared by the detector modules: the texts one detector finds in `text`.
#[cfg(test)]
fn found_by(detect: fn(&str, &mut Vec<Detection>), text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    detect(text, &mut out);
    out.iter().map(|d| &text[d.start..d.end]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(EntityType, String)> {
        Detector::default()
            .detect(text)
            .expect("detects")
            .into_iter()
            .map(|d| (d.kind, text[d.start..d.end].to_string()))
            .collect()
    }

    #[test]
    fn overlaps_prefer_priority_then_length() {
        let spans = resolve(vec![
            Detection::new(0, 10, EntityType::Phone, priority::SHAPE),
            Detection::new(2, 12, EntityType::CreditCard, priority::CHECKSUM),
            Detection::new(12, 14, EntityType::Person, priority::PERSON_LIST),
        ]);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].kind, EntityType::CreditCard);
        assert_eq!(spans[1].kind, EntityType::Person);
    }

    #[test]
    fn a_half_claimed_name_keeps_its_other_half() {
        let text = "xx Kp9#Lee Ann Marie yy";
        let spans = resolve_in(
            text,
            vec![
                Detection::new(3, 10, EntityType::ApiKey, priority::PASSWORD_SHAPED),
                Detection::new(7, 20, EntityType::Person, priority::LEARNED),
            ],
        );
        let found: Vec<(EntityType, &str)> = spans.iter().map(|d| (d.kind, &text[d.start..d.end])).collect();
        assert_eq!(found, [(EntityType::ApiKey, "Kp9#Lee"), (EntityType::Person, "Ann Marie")]);
        // Other types do not split: the rest of an e-mail under URL credentials is a host.
        let text = "postgres://app:pw@db.internal:5432";
        let spans = resolve_in(
            text,
            vec![
                Detection::new(15, 17, EntityType::UrlCredentials, priority::CREDENTIAL),
                Detection::new(15, 29, EntityType::Email, priority::VALIDATED),
            ],
        );
        assert_eq!(spans.len(), 1, "{spans:?}");
    }

    #[test]
    fn underscores_do_not_hide_values() {
        let found = kinds("call me on _13812345678_ or li_13900001111");
        let phones: Vec<&str> =
            found.iter().filter(|(k, _)| *k == EntityType::Phone).map(|(_, v)| v.as_str()).collect();
        assert_eq!(phones, ["13812345678", "13900001111"], "{found:?}");
    }

    #[test]
    fn a_disabled_heuristic_type_does_not_hide_an_enabled_one() {
        // `Maria#Gonzalez1985` is password-shaped (apiKey); with only people protected, that
        // heuristic must not claim the span and hide the name inside it.
        let text = "please ask Maria#Gonzalez1985 today";
        let all = Detector::default().detect(text).expect("detects");
        assert_eq!(all.iter().map(|d| d.kind).collect::<Vec<_>>(), [EntityType::ApiKey], "{all:?}");
        let people = Detector::new(&[EntityType::Person]).detect(text).expect("detects");
        assert!(
            people.iter().any(|d| d.kind == EntityType::Person && text[d.start..d.end].contains("Maria")),
            "{people:?}"
        );
    }

    #[test]
    fn mixed_text_finds_each_entity_once() {
        let text = "Hi, I'm John Smith (john.smith@example.com, +1 415-555-0132). \
                    Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, \
                    server 192.168.10.7, 身份证 11010519491231002X.";
        let found = kinds(text);
        let has = |k: EntityType, v: &str| found.iter().any(|(kk, vv)| *kk == k && vv == v);
        assert!(has(EntityType::Person, "John Smith"), "{found:?}");
        assert!(has(EntityType::Email, "john.smith@example.com"), "{found:?}");
        assert!(has(EntityType::Phone, "+1 415-555-0132"), "{found:?}");
        assert!(has(EntityType::CreditCard, "4111 1111 1111 1111"), "{found:?}");
        assert!(has(EntityType::Iban, "DE89 3704 0044 0532 0130 00"), "{found:?}");
        assert!(has(EntityType::IpAddress, "192.168.10.7"), "{found:?}");
        assert!(has(EntityType::NationalId, "11010519491231002X"), "{found:?}");
    }

    #[test]
    fn disabled_types_are_not_reported() {
        let detector = Detector::new(&[EntityType::Email]);
        let text = "mail a.b@example.org or call +44 20 7946 0958";
        let found = detector.detect(text).expect("detects");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, EntityType::Email);
    }

    #[test]
    fn pathological_inputs_stay_linear() {
        let detector = Detector::default();
        for unit in [
            "1 ",
            "4111-",
            "[",
            "a@",
            "::",
            "Maria ",
            "Maria, ",
            "Paris and ",
            "in Port ",
            "王",
            "12.",
            "DE89 ",
            "password: x ",
        ] {
            let text = unit.repeat(20_000);
            let started = std::time::Instant::now();
            let found = detector.detect(&text).expect("detects");
            assert!(found.iter().all(|d| d.end <= text.len()));
            // Generous for unoptimized builds; quadratic behaviour would take minutes.
            assert!(started.elapsed().as_secs() < 20, "{unit:?} took {:?}", started.elapsed());
        }
    }

    #[test]
    fn entropy_orders_random_above_repetitive() {
        assert!(entropy("aaaaaaaaaaaa") < 0.1);
        assert!(entropy("q8Zr2LmX0vPk4TnB") > 3.5);
    }
}

//! What replaces a detected entity: `redact` (`[EMAIL]`), `mask` (same length, `*`) or
//! `pseudonymize` (`[EMAIL_1]`, restorable through the request's [`Vault`]).

use std::sync::LazyLock;

use netgpt_crds::workflow::{DesensitizationPolicy, DesensitizeAction, EntityType};
use regex::Regex;

use super::detect::{DetectError, Detection, Detector, compile};
use super::entity;
use super::error::DesensitizeError;
use super::vault::Vault;

/// Placeholder-shaped text in any ASCII letter case: the restorer also accepts
/// `[Email_1]` (models change case), so a request's own `[email_1]` must be reserved too.
pub(crate) static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| compile(r"\[[A-Za-z][A-Za-z_]*_[0-9]+\]"));

/// Entities found per type in one request (counts only: values are never kept here).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EntityCounts(pub [u32; entity::ALL.len()]);

impl EntityCounts {
    pub fn add(&mut self, kind: EntityType) {
        self.0[entity::index(kind)] += 1;
    }

    pub fn get(&self, kind: EntityType) -> u32 {
        self.0[entity::index(kind)]
    }

    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// `(type name, count)` for the types seen.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        entity::ALL.iter().zip(self.0).filter(|(_, n)| *n > 0).map(|(kind, n)| (entity::name(*kind), n))
    }
}

/// Applies a [`DesensitizationPolicy`] to text.
#[derive(Debug, Clone)]
pub struct Desensitizer {
    detector: Detector,
    policy: DesensitizationPolicy,
    /// `mask` keeps separators (`-`, spaces, `@`, `.`) so the shape stays readable.
    pub keep_mask_separators: bool,
    /// Place names of the site's own location profile, lowercased: the workflow adds them
    /// to prompts on purpose, at the granularity the profile gives (a district, a city),
    /// so a location detection of exactly one of them is left in clear. Anything more
    /// precise (a street address, another place) is still replaced.
    site_places: Vec<String>,
}

impl Desensitizer {
    pub fn new(policy: DesensitizationPolicy) -> Self {
        Self { detector: Detector::new(&policy.entities), policy, keep_mask_separators: true, site_places: Vec::new() }
    }

    /// Adds the learned detection stage (see [`super::ner`]).
    pub fn with_learned(mut self, model: std::sync::Arc<super::ner::NerModel>) -> Self {
        self.detector = self.detector.with_learned(model);
        self
    }

    /// Leaves the site's own place names in clear (see [`Desensitizer::site_places`]); a
    /// comma-separated name ("Pudong, Shanghai") contributes each part.
    pub fn sharing_site_places<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.site_places = names
            .into_iter()
            .flat_map(|name| name.split(','))
            .map(|part| part.trim().to_lowercase())
            .filter(|part| !part.is_empty())
            .collect();
        self
    }

    fn is_site_place(&self, kind: EntityType, value: &str) -> bool {
        kind == EntityType::Location && self.site_places.iter().any(|p| p.eq_ignore_ascii_case(value.trim()))
    }

    /// Whether `mask` keeps separators (default) or masks every character.
    pub fn keeping_mask_separators(mut self, keep: bool) -> Self {
        self.keep_mask_separators = keep;
        self
    }

    pub fn policy(&self) -> &DesensitizationPolicy {
        &self.policy
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// True when the answer needs restoring (pseudonyms that the user wants back).
    pub fn restores(&self) -> bool {
        self.policy.enabled && self.policy.restore_in_response && self.policy.action == DesensitizeAction::Pseudonymize
    }

    /// Reserves placeholder-shaped strings the input already contains (see [`Vault::reserve`]).
    pub fn reserve_existing(&self, text: &str, vault: &mut Vault) {
        for m in PLACEHOLDER.find_iter(text) {
            vault.reserve(&m.as_str().to_ascii_uppercase());
        }
    }

    /// The enabled entities in `text`, minus the site's own place names.
    fn find(&self, text: &str) -> Result<Vec<Detection>, DesensitizeError> {
        let found = self.detector.detect(text).map_err(|e| match e {
            DetectError::TooMany { limit } => DesensitizeError::TooManyEntities { limit },
            DetectError::Expands => DesensitizeError::Unsupported {
                param: "body".into(),
                what: "text that grows more than fourfold under Unicode normalization".into(),
            },
            DetectError::Unmapped => {
                tracing::error!("a detected span did not map back onto the text; nothing is forwarded");
                DesensitizeError::DetectionFailed
            }
            DetectError::Learned(super::ner::NerError::TooLong) => DesensitizeError::TooLongForLearnedDetection,
            DetectError::Learned(error) => {
                tracing::error!(%error, "the learned detector failed; nothing is forwarded");
                DesensitizeError::DetectionFailed
            }
        })?;
        Ok(found
            .into_iter()
            .filter(|d| !text.get(d.start..d.end).is_some_and(|value| self.is_site_place(d.kind, value)))
            .collect())
    }

    /// What stands in for `value` under the policy's action.
    fn replacement(&self, kind: EntityType, value: &str, vault: &mut Vault, counts: &mut EntityCounts) -> String {
        counts.add(kind);
        match self.policy.action {
            DesensitizeAction::Redact => format!("[{}]", entity::label(kind)),
            DesensitizeAction::Mask => self.mask(value),
            DesensitizeAction::Pseudonymize => vault.pseudonym(kind, value),
        }
    }

    /// Returns `text` with every enabled entity replaced; `None` when nothing was found.
    /// A detection whose span is not a valid, ordered char range of `text` is an error
    /// (a detector bug): skipping it would copy the value out in clear as part of the next
    /// gap, so nothing is forwarded instead.
    pub fn desensitize_text(
        &self,
        text: &str,
        vault: &mut Vault,
        counts: &mut EntityCounts,
    ) -> Result<Option<String>, DesensitizeError> {
        if !self.policy.enabled {
            return Ok(None);
        }
        let found = self.find(text)?;
        if found.is_empty() {
            return Ok(None);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for d in found {
            let (Some(before), Some(value)) = (text.get(last..d.start), text.get(d.start..d.end)) else {
                tracing::error!(start = d.start, end = d.end, "invalid detection span; nothing is forwarded");
                return Err(DesensitizeError::DetectionFailed);
            };
            out.push_str(before);
            out.push_str(&self.replacement(d.kind, value, vault, counts));
            last = d.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        Ok(Some(out))
    }

    /// Desensitizes `parts` that the model reads as one text (the text parts of a
    /// message, concatenated): detection runs on the concatenation, so a value split
    /// across two parts is still found. Its replacement goes where it starts; the rest of
    /// it is removed from the following parts.
    pub fn desensitize_joined(
        &self,
        parts: &mut [&mut String],
        vault: &mut Vault,
        counts: &mut EntityCounts,
    ) -> Result<(), DesensitizeError> {
        if !self.policy.enabled {
            return Ok(());
        }
        if let [single] = parts {
            if let Some(new) = self.desensitize_text(single, vault, counts)? {
                **single = new;
            }
            return Ok(());
        }
        let joined: String = parts.iter().map(|p| p.as_str()).collect();
        let found = self.find(&joined)?;
        if found.is_empty() {
            return Ok(());
        }
        let mut replacements = Vec::with_capacity(found.len());
        for d in &found {
            let value = joined.get(d.start..d.end).ok_or(DesensitizeError::DetectionFailed)?;
            replacements.push(self.replacement(d.kind, value, vault, counts));
        }
        let mut part_start = 0;
        let mut next = 0;
        for part in parts.iter_mut() {
            let part_end = part_start + part.len();
            let mut out = String::with_capacity(part.len());
            let mut cursor = part_start;
            // Skip detections that ended before this part.
            while next < found.len() && found[next].end <= part_start {
                next += 1;
            }
            let mut i = next;
            while i < found.len() && found[i].start < part_end {
                let d = found[i];
                if d.start > cursor {
                    out.push_str(joined.get(cursor..d.start).ok_or(DesensitizeError::DetectionFailed)?);
                }
                if d.start >= part_start {
                    out.push_str(&replacements[i]);
                }
                cursor = d.end.min(part_end).max(cursor);
                i += 1;
            }
            out.push_str(joined.get(cursor..part_end).ok_or(DesensitizeError::DetectionFailed)?);
            **part = out;
            part_start = part_end;
        }
        Ok(())
    }

    fn mask(&self, value: &str) -> String {
        value
            .chars()
            .map(|c| {
                let separator = c.is_whitespace() || matches!(c, '-' | '.' | '@' | ':' | '/' | '(' | ')' | ',');
                if self.keep_mask_separators && separator { c } else { '*' }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(action: DesensitizeAction) -> Desensitizer {
        Desensitizer::new(DesensitizationPolicy { action, ..Default::default() })
    }

    #[test]
    fn redact_mask_pseudonymize() {
        let text = "mail jo@example.com or jo@example.com, card 4111 1111 1111 1111";
        let (mut vault, mut counts) = (Vault::new(), EntityCounts::default());
        let redacted =
            with(DesensitizeAction::Redact).desensitize_text(text, &mut vault, &mut counts).expect("detects");
        assert_eq!(redacted.as_deref(), Some("mail [EMAIL] or [EMAIL], card [CREDIT_CARD]"));
        let masked = with(DesensitizeAction::Mask).desensitize_text(text, &mut vault, &mut counts).expect("detects");
        assert_eq!(masked.as_deref(), Some("mail **@*******.*** or **@*******.***, card **** **** **** ****"));
        assert!(vault.is_empty(), "only pseudonyms enter the vault");
        let pseudo =
            with(DesensitizeAction::Pseudonymize).desensitize_text(text, &mut vault, &mut counts).expect("detects");
        assert_eq!(pseudo.as_deref(), Some("mail [EMAIL_1] or [EMAIL_1], card [CREDIT_CARD_1]"));
        assert_eq!(vault.original("[EMAIL_1]"), Some("jo@example.com"));
        assert_eq!(counts.get(EntityType::Email), 6);
    }

    #[test]
    fn placeholders_in_the_request_are_reserved_in_any_case() {
        // Found by the `pii_detect` fuzz target's round-trip check: the user's literal
        // `[email_1]` was not reserved, the e-mail became `[EMAIL_1]`, and the
        // case-insensitive restore then replaced the user's own text too.
        let text = "write [email_1] to jo@example.com";
        let d = with(DesensitizeAction::Pseudonymize);
        let mut vault = Vault::new();
        d.reserve_existing(text, &mut vault);
        let out = d.desensitize_text(text, &mut vault, &mut EntityCounts::default()).expect("detects");
        assert_eq!(out.as_deref(), Some("write [email_1] to [EMAIL_2]"));
        let restorer = crate::Restorer::new(std::sync::Arc::new(vault));
        assert_eq!(restorer.restore(out.as_deref().unwrap_or_default()), text);
    }

    #[test]
    fn a_value_split_across_parts_is_found_and_removed_from_both() {
        let d = with(DesensitizeAction::Pseudonymize);
        let (mut a, mut b, mut c) =
            ("card 4111 1111 ".to_string(), "1111 1111 ok, mail ".to_string(), "jo@example.com".to_string());
        let mut vault = Vault::new();
        d.desensitize_joined(&mut [&mut a, &mut b, &mut c], &mut vault, &mut EntityCounts::default()).expect("detects");
        assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("card [CREDIT_CARD_1]", " ok, mail ", "[EMAIL_1]"));
        assert_eq!(vault.original("[CREDIT_CARD_1]"), Some("4111 1111 1111 1111"));
    }

    #[test]
    fn disguised_values_are_replaced_in_the_original_text() {
        let d = with(DesensitizeAction::Redact);
        let mut vault = Vault::new();
        let text = "卡号４１１１　１１１１　１１１１　１１１１，邮箱 jo\u{200B}@example.com";
        let out = d.desensitize_text(text, &mut vault, &mut EntityCounts::default()).expect("detects");
        assert_eq!(out.as_deref(), Some("卡号[CREDIT_CARD]，邮箱 [EMAIL]"));
    }

    #[test]
    fn disabled_policy_changes_nothing() {
        let d = Desensitizer::new(DesensitizationPolicy { enabled: false, ..Default::default() });
        let mut vault = Vault::new();
        assert!(d.desensitize_text("jo@example.com", &mut vault, &mut EntityCounts::default()).expect("ok").is_none());
    }

    #[test]
    fn the_sites_own_place_stays_other_places_do_not() {
        let text = "How do I travel from Pudong to Xuhui? I live in Xuhui.";
        let plain = with(DesensitizeAction::Redact);
        let mut vault = Vault::new();
        let all = plain.desensitize_text(text, &mut vault, &mut EntityCounts::default()).expect("detects");
        assert!(all.as_deref().is_some_and(|t| !t.contains("Pudong") && !t.contains("Xuhui")), "{all:?}");
        let site = with(DesensitizeAction::Redact).sharing_site_places(["Pudong, Shanghai"]);
        let out = site.desensitize_text(text, &mut vault, &mut EntityCounts::default()).expect("detects");
        let out = out.expect("Xuhui is still replaced");
        assert!(out.contains("Pudong") && !out.contains("Xuhui"), "{out}");
    }
}

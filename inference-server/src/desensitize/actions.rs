//! What replaces a detected entity: `redact` (`[EMAIL]`), `mask` (same length, `*`) or
//! `pseudonymize` (`[EMAIL_1]`, restorable through the request's [`Vault`]).

use std::sync::LazyLock;

use netgpt_crds::workflow::{DesensitizationPolicy, DesensitizeAction, EntityType};
use regex::Regex;

use super::detect::{Detector, compile};
use super::entity;
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

    /// Returns `text` with every enabled entity replaced; `None` when nothing was found.
    pub fn desensitize_text(&self, text: &str, vault: &mut Vault, counts: &mut EntityCounts) -> Option<String> {
        if !self.policy.enabled {
            return None;
        }
        let found: Vec<_> = self
            .detector
            .detect(text)
            .into_iter()
            .filter(|d| !text.get(d.start..d.end).is_some_and(|value| self.is_site_place(d.kind, value)))
            .collect();
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for d in found {
            // Detections are non-overlapping and on char boundaries; `get` keeps a bug in
            // a detector from turning into a panic (the span is then left out and the
            // caller's fail-closed check sees the missing replacement as a change anyway).
            let (Some(before), Some(value)) = (text.get(last..d.start), text.get(d.start..d.end)) else {
                continue;
            };
            out.push_str(before);
            counts.add(d.kind);
            match self.policy.action {
                DesensitizeAction::Redact => {
                    out.push('[');
                    out.push_str(entity::label(d.kind));
                    out.push(']');
                }
                DesensitizeAction::Mask => out.push_str(&self.mask(value)),
                DesensitizeAction::Pseudonymize => out.push_str(&vault.pseudonym(d.kind, value)),
            }
            last = d.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        Some(out)
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
        let redacted = with(DesensitizeAction::Redact).desensitize_text(text, &mut vault, &mut counts);
        assert_eq!(redacted.as_deref(), Some("mail [EMAIL] or [EMAIL], card [CREDIT_CARD]"));
        let masked = with(DesensitizeAction::Mask).desensitize_text(text, &mut vault, &mut counts);
        assert_eq!(masked.as_deref(), Some("mail **@*******.*** or **@*******.***, card **** **** **** ****"));
        assert!(vault.is_empty(), "only pseudonyms enter the vault");
        let pseudo = with(DesensitizeAction::Pseudonymize).desensitize_text(text, &mut vault, &mut counts);
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
        let out = d.desensitize_text(text, &mut vault, &mut EntityCounts::default());
        assert_eq!(out.as_deref(), Some("write [email_1] to [EMAIL_2]"));
        let restorer = crate::desensitize::Restorer::new(std::sync::Arc::new(vault));
        assert_eq!(restorer.restore(out.as_deref().unwrap_or_default()), text);
    }

    #[test]
    fn disabled_policy_changes_nothing() {
        let d = Desensitizer::new(DesensitizationPolicy { enabled: false, ..Default::default() });
        let mut vault = Vault::new();
        assert!(d.desensitize_text("jo@example.com", &mut vault, &mut EntityCounts::default()).is_none());
    }

    #[test]
    fn the_sites_own_place_stays_other_places_do_not() {
        let text = "How do I travel from Pudong to Xuhui? I live in Xuhui.";
        let plain = with(DesensitizeAction::Redact);
        let mut vault = Vault::new();
        let all = plain.desensitize_text(text, &mut vault, &mut EntityCounts::default());
        assert!(all.as_deref().is_some_and(|t| !t.contains("Pudong") && !t.contains("Xuhui")), "{all:?}");
        let site = with(DesensitizeAction::Redact).sharing_site_places(["Pudong, Shanghai"]);
        let out = site.desensitize_text(text, &mut vault, &mut EntityCounts::default());
        let out = out.expect("Xuhui is still replaced");
        assert!(out.contains("Pudong") && !out.contains("Xuhui"), "{out}");
    }
}

//! The per-request map between pseudonyms and original values.
//!
//! One vault lives exactly as long as one request: it is created when the request is
//! desensitized, read while the answer is restored, and dropped with the request. Nothing is
//! persisted or shared between requests, so one user's values can never be restored into
//! another user's answer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use netgpt_crds::workflow::EntityType;

use super::entity;

/// Pseudonyms of one request.
#[derive(Debug, Default, Clone)]
pub struct Vault {
    /// (type index, original) → placeholder: the same value gets the same placeholder in every
    /// message of the request.
    by_value: HashMap<(usize, String), String>,
    /// placeholder → original. A BTreeMap so that "is this text a prefix of a placeholder?"
    /// is one range query (see [`Vault::is_placeholder_prefix`]).
    by_placeholder: BTreeMap<String, String>,
    /// Placeholders that already appear in the request's own text; never handed out, so a
    /// user who literally writes `[EMAIL_1]` does not get someone's e-mail back in its place.
    reserved: BTreeSet<String>,
    counters: [u32; entity::ALL.len()],
}

impl Vault {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks a placeholder-shaped string of the input as unavailable.
    pub fn reserve(&mut self, placeholder: &str) {
        self.reserved.insert(placeholder.to_string());
    }

    /// The placeholder for `value`, allocating `[TYPE_n]` on first use.
    pub fn pseudonym(&mut self, kind: EntityType, value: &str) -> String {
        if let Some(existing) = self.by_value.get(&(entity::index(kind), value.to_string())) {
            return existing.clone();
        }
        let counter = &mut self.counters[entity::index(kind)];
        let placeholder = loop {
            *counter += 1;
            let candidate = format!("[{}_{}]", entity::label(kind), counter);
            if !self.reserved.contains(&candidate) {
                break candidate;
            }
        };
        self.by_value.insert((entity::index(kind), value.to_string()), placeholder.clone());
        self.by_placeholder.insert(placeholder.clone(), value.to_string());
        placeholder
    }

    /// The original value behind a placeholder.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        self.by_placeholder.get(placeholder).map(String::as_str)
    }

    /// True when `text` is the beginning (possibly all) of some placeholder of this vault.
    pub fn is_placeholder_prefix(&self, text: &str) -> bool {
        self.by_placeholder
            .range::<str, _>((std::ops::Bound::Included(text), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(p, _)| p.starts_with(text))
    }

    /// Number of distinct pseudonymized values.
    pub fn len(&self) -> usize {
        self.by_placeholder.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_placeholder.is_empty()
    }

    /// Placeholders and their originals, in placeholder order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_placeholder.iter().map(|(p, v)| (p.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_placeholder_per_type_counters() {
        let mut vault = Vault::new();
        assert_eq!(vault.pseudonym(EntityType::Email, "a@x.org"), "[EMAIL_1]");
        assert_eq!(vault.pseudonym(EntityType::Person, "Ann"), "[PERSON_1]");
        assert_eq!(vault.pseudonym(EntityType::Email, "b@x.org"), "[EMAIL_2]");
        assert_eq!(vault.pseudonym(EntityType::Email, "a@x.org"), "[EMAIL_1]");
        assert_eq!(vault.original("[EMAIL_2]"), Some("b@x.org"));
        assert_eq!(vault.len(), 3);
    }

    #[test]
    fn reserved_placeholders_are_skipped() {
        let mut vault = Vault::new();
        vault.reserve("[EMAIL_1]");
        assert_eq!(vault.pseudonym(EntityType::Email, "a@x.org"), "[EMAIL_2]");
    }

    #[test]
    fn prefix_queries() {
        let mut vault = Vault::new();
        vault.pseudonym(EntityType::Email, "a@x.org");
        assert!(vault.is_placeholder_prefix("["));
        assert!(vault.is_placeholder_prefix("[EMA"));
        assert!(vault.is_placeholder_prefix("[EMAIL_1]"));
        assert!(!vault.is_placeholder_prefix("[EMAIL_2"));
        assert!(!vault.is_placeholder_prefix("[P"));
    }
}

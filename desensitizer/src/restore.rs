//! Putting original values back where the cloud's answer repeats a pseudonym.
//!
//! Streams are the hard part: `[EMAIL_1]` may arrive as `[EMA` + `IL_1]`. The
//! [`StreamRestorer`] holds back only a tail that can still become a placeholder of this
//! request's vault — the last `[` and what follows it, while that is a prefix of a known
//! placeholder — and releases everything else immediately, so restoring never delays text
//! that cannot be part of a placeholder.

use std::sync::Arc;

use super::vault::Vault;

/// Restores the placeholders of one request's vault.
#[derive(Debug, Clone)]
pub struct Restorer {
    vault: Arc<Vault>,
}

impl Restorer {
    pub fn new(vault: Arc<Vault>) -> Self {
        Self { vault }
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// `text` with every known placeholder replaced by its original.
    pub fn restore(&self, text: &str) -> String {
        restore_with(&self.vault, text, false)
    }

    /// Like [`Restorer::restore`], for text that is itself JSON (tool-call arguments):
    /// originals are inserted JSON-escaped so the arguments stay valid JSON.
    pub fn restore_json_text(&self, text: &str) -> String {
        restore_with(&self.vault, text, true)
    }

    /// A restorer for one streamed field.
    pub fn stream(&self, json_text: bool) -> StreamRestorer {
        StreamRestorer { vault: self.vault.clone(), pending: String::new(), json_text }
    }
}

fn restore_with(vault: &Vault, text: &str, json_text: bool) -> String {
    if vault.is_empty() || !text.contains('[') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        // Placeholders are short ASCII; look for the closing bracket nearby only.
        let close = tail
            .char_indices()
            .take(64)
            .skip(1)
            .find(|(_, c)| *c == ']' || *c == '[')
            .filter(|(_, c)| *c == ']')
            .map(|(i, _)| i);
        match close.and_then(|i| lookup(vault, &tail[..=i]).map(|v| (i, v))) {
            Some((i, original)) => {
                if json_text {
                    out.push_str(&json_escape(original));
                } else {
                    out.push_str(original);
                }
                rest = &tail[i + 1..];
            }
            None => {
                out.push('[');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Models sometimes change the case of what they copy (`[Email_1]`); placeholders are
/// upper-case ASCII, so comparing upper-cased text is exact otherwise.
fn lookup<'v>(vault: &'v Vault, candidate: &str) -> Option<&'v str> {
    vault.original(candidate).or_else(|| vault.original(&candidate.to_ascii_uppercase()))
}

/// The body of a JSON string literal for `value` (without the quotes).
fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_string()
}

/// Restores one streamed text field chunk by chunk.
#[derive(Debug, Clone)]
pub struct StreamRestorer {
    vault: Arc<Vault>,
    pending: String,
    json_text: bool,
}

impl StreamRestorer {
    /// Feeds a chunk; returns the text that can be released now.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let hold_from = match self.pending.rfind('[') {
            Some(open) if self.could_complete(&self.pending[open..]) => open,
            _ => self.pending.len(),
        };
        let ready: String = self.pending[..hold_from].to_string();
        self.pending.drain(..hold_from);
        restore_with(&self.vault, &ready, self.json_text)
    }

    /// Releases whatever is still held (end of the stream: it was not a placeholder).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        restore_with(&self.vault, &rest, self.json_text)
    }

    /// Text held back, waiting for the rest of a possible placeholder.
    pub fn held(&self) -> &str {
        &self.pending
    }

    /// A tail is held while it is a *proper* prefix of a placeholder; a complete one is
    /// restored right away.
    fn could_complete(&self, tail: &str) -> bool {
        let upper = tail.to_ascii_uppercase();
        self.vault.original(&upper).is_none() && self.vault.is_placeholder_prefix(&upper)
    }
}

#[cfg(test)]
mod tests {
    use netgpt_crds::workflow::EntityType;

    use super::*;

    fn restorer() -> Restorer {
        let mut vault = Vault::new();
        vault.pseudonym(EntityType::Email, "jo@example.com");
        vault.pseudonym(EntityType::Person, "Zoë \"Z\" Li");
        Restorer::new(Arc::new(vault))
    }

    #[test]
    fn restores_whole_text() {
        let r = restorer();
        assert_eq!(
            r.restore("to [EMAIL_1] [x] [EMAIL_9] [[PERSON_1]]"),
            "to jo@example.com [x] [EMAIL_9] [Zoë \"Z\" Li]"
        );
        assert_eq!(r.restore_json_text(r#"{"to":"[PERSON_1]"}"#), r#"{"to":"Zoë \"Z\" Li"}"#);
    }

    #[test]
    fn case_changes_by_the_model_are_tolerated() {
        let r = restorer();
        assert_eq!(r.restore("to [Email_1]"), "to jo@example.com");
        let mut s = r.stream(false);
        assert_eq!(s.push("to [em"), "to ");
        assert_eq!(s.push("ail_1]!"), "jo@example.com!");
    }

    #[test]
    fn every_split_of_a_stream_restores_the_same() {
        let r = restorer();
        let text = "Hi [PERSON_1], write to [EMAIL_1]. [not] a [EMAIL_2] [EM";
        let expected = r.restore(text);
        let chars: Vec<char> = text.chars().collect();
        for a in 0..chars.len() {
            for b in a..chars.len() {
                let parts = [
                    chars[..a].iter().collect::<String>(),
                    chars[a..b].iter().collect::<String>(),
                    chars[b..].iter().collect::<String>(),
                ];
                let mut s = r.stream(false);
                let mut got: String = parts.iter().map(|p| s.push(p)).collect();
                got.push_str(&s.finish());
                assert_eq!(got, expected, "split at {a},{b}");
            }
        }
    }

    #[test]
    fn holds_only_a_possible_placeholder_prefix() {
        let r = restorer();
        let mut s = r.stream(false);
        assert_eq!(s.push("see [EMA"), "see ");
        assert_eq!(s.held(), "[EMA");
        assert_eq!(s.push("IL_1] ok"), "jo@example.com ok");
        assert_eq!(s.push("[x"), "[x", "not a prefix of any placeholder: released");
        assert_eq!(s.push(" [P"), " ");
        assert_eq!(s.finish(), "[P");
    }
}

//! API keys, tokens and passwords: vendor key shapes (OpenAI `sk-`, GitHub `ghp_`, AWS
//! `AKIA…`, Slack `xox?-`, Google `AIza…`, Stripe, GitLab, Hugging Face, npm, JWTs, PEM
//! private keys) and values after a label (`api_key=…`, `password: …`, `密码是…`) that look
//! like secrets (long and high-entropy, or anything after a password label).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, ascii_isolated, compile, entropy, priority};

static VENDOR: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"sk-(?:proj-|ant-|live-)?[A-Za-z0-9_\-]{20,}",
        r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        r"|gh[pousr]_[A-Za-z0-9]{30,}",
        r"|github_pat_[A-Za-z0-9_]{22,}",
        r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",
        r"|xox[abposre]-[A-Za-z0-9\-]{10,}",
        r"|AIza[0-9A-Za-z_\-]{35}",
        r"|glpat-[A-Za-z0-9_\-]{20,}",
        r"|hf_[A-Za-z0-9]{30,}",
        r"|npm_[A-Za-z0-9]{36}",
        r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",
        r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]{0,8192}?-----END [A-Z ]*PRIVATE KEY-----",
    ))
});

/// `label [is|=|:] value` for keys and tokens.
static LABELLED_KEY: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:api[_\- ]?key|apikey|secret(?:[_\- ]?key)?|access[_\- ]?(?:key|token)|auth[_\- ]?token|token|bearer|client[_\- ]?secret|private[_\- ]?key|密钥|令牌)["']?(?:\s*(?:is|was|=|:|=>|：|是|为)\s*|\s+)["']?([A-Za-z0-9_\-+/=.~]{12,256})"#,
    )
});

/// `password [is|=|:] value`: passwords are low-entropy by nature, so any value counts.
static LABELLED_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:password|passwd|passphrase|pwd|pin code|密码|口令)["']?\s*(?:is|was|=|:|=>|：|是|为)\s*["']?([^\s"',;，。]{4,128})"#,
    )
});

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for m in VENDOR.find_iter(text) {
        if ascii_isolated(text, m.start(), m.end()) {
            out.push(Detection::new(m.start(), m.end(), EntityType::ApiKey, priority::CREDENTIAL));
        }
    }
    for caps in LABELLED_KEY.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let (start, end) = trim_sentence_end(text, m.start(), m.end());
        let Some(value) = text.get(start..end) else {
            continue;
        };
        let has_digit = value.bytes().any(|b| b.is_ascii_digit());
        let has_alpha = value.bytes().any(|b| b.is_ascii_alphabetic());
        if value.len() >= 12 && has_digit && has_alpha && entropy(value) >= 3.0 {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
        }
    }
    for caps in LABELLED_PASSWORD.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let (start, end) = trim_sentence_end(text, m.start(), m.end());
        if end > start {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
        }
    }
}

/// Drops a trailing `.`/`!`/`?`/`)` that ends the sentence rather than the value.
fn trim_sentence_end(text: &str, start: usize, mut end: usize) -> (usize, usize) {
    while end > start {
        match text.get(..end).and_then(|s| s.chars().next_back()) {
            Some(c @ ('.' | '!' | '?' | ')' | ':')) => {
                let next = text.get(end..).and_then(|s| s.chars().next());
                if next.is_none_or(char::is_whitespace) {
                    end -= c.len_utf8();
                } else {
                    break;
                }
            }
            _ => break,
        }
    }
    (start, end)
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
    fn vendor_shapes() {
        assert_eq!(found("key sk-proj-AbC123dEf456GhI789jKl0 ok"), ["sk-proj-AbC123dEf456GhI789jKl0"]);
        assert_eq!(found("AKIAIOSFODNN7EXAMPLE"), ["AKIAIOSFODNN7EXAMPLE"]);
        assert_eq!(found("ghp_1234567890abcdefghijABCDEFGHIJ123456"), ["ghp_1234567890abcdefghijABCDEFGHIJ123456"]);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(found(&format!("Bearer {jwt}")), [jwt]);
    }

    #[test]
    fn labelled_values() {
        assert_eq!(found("api_key=Zx81kQ0pLm2VbN7r"), ["Zx81kQ0pLm2VbN7r"]);
        assert_eq!(found("my password is hunter22."), ["hunter22"]);
        assert_eq!(found("密码：Abc12345，"), ["Abc12345"]);
        assert!(found("the token is valid").is_empty());
        assert!(found("reset your password via the link").is_empty());
    }
}

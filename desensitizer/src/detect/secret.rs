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

/// `password [for the router] [is|=|:] value`: passwords are low-entropy by nature, so
/// any value counts. Up to four words may say what the password is for.
static LABELLED_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:password|passwd|passphrase|passcode|pwd|pin code|\bpin\b|wi-?fi key|(?:safe|door|gate|alarm|entry|access|security|lock|garage|building|keypad) code|passwort|kennwort|mot de passe|contraseña|\bclave\b|密码|口令)(?:\s+(?:for|of|to|on|at)(?:\s+[\w'’-]+){1,4})?["']?\s*(?:is|was|=|:|=>|：|是|为|ist|est|es)\s*["']?([^\s"',;，。]{4,128})"#,
    )
});

/// `password Xk3pQ9zT`, `pw: hunter2`, `pass hunter22`: a label and the value with only a
/// space (or a colon after a short label) between. Without a verb any word could follow
/// (`password reset link`), so the value must look like a secret ([`secret_like`]).
static PASSWORD_TERSE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?:password|passwd|passphrase|passcode|pwd|pw|passwort|kennwort|contraseña|senha)\s*[:=]?\s+["'`]?([^\s"'`,;，。]{4,128})"#,
    )
});

/// Letters and digits mixed, or a symbol among letters: `hunter22`, `Sommer!`, not `reset`,
/// `1234`, `manager` or `re-entry` (hyphens, dots and apostrophes join words, not secrets).
fn secret_like(value: &str) -> bool {
    let has = |f: fn(&char) -> bool| value.chars().any(|c| f(&c));
    let letters = has(char::is_ascii_alphabetic);
    let digits = has(char::is_ascii_digit);
    let symbols = has(|c| !c.is_alphanumeric() && !matches!(c, '-' | '.' | '\'' | '’'));
    letters && (digits || symbols)
}

/// `set X as my new password`: the value before the label.
static PASSWORD_BEFORE_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?:set|use|used|chose|picked|choose|pick|changed it to|made)\s+["'`]?([^\s"'`]{4,128})["'`]?\s+as\s+(?:my|the|our|a|your)?\s*(?:new\s+)?(?:password|passcode|passphrase|pin|wi-?fi key)\b"#,
    )
});

/// A lone token shaped like a strong password: upper and lower case letters, a digit and
/// a symbol that identifiers, versions, paths and URLs do not use.
static PASSWORD_SHAPED: LazyLock<Regex> = LazyLock::new(|| compile(r"[^\s]{8,64}"));

fn password_shaped(token: &str) -> bool {
    let has = |f: fn(&u8) -> bool| token.as_bytes().iter().any(f);
    has(u8::is_ascii_uppercase)
        && has(u8::is_ascii_lowercase)
        && has(u8::is_ascii_digit)
        && has(|b| b"!#$%&*+=?^~@".contains(b))
        && token.is_ascii()
        && !token.contains("://")
        && !token.contains('/')
        // An e-mail address (`Jo.Smith1+x@Example.com`) is not a password.
        && !token.rsplit_once('@').is_some_and(|(_, domain)| domain.contains('.'))
}

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
    for m in PASSWORD_SHAPED.find_iter(text) {
        let (start, end) = trim_sentence_end(text, m.start(), m.end());
        let token = text.get(start..end).unwrap_or_default();
        // Opening and closing quotes or brackets are not part of it.
        let trimmed = token.trim_matches(|c: char| matches!(c, '"' | '\'' | '(' | ')' | '[' | ']' | '`' | ',' | ';'));
        let start = start + token.find(trimmed).unwrap_or(0);
        if trimmed.len() >= 8 && password_shaped(trimmed) && entropy(trimmed) >= 2.8 {
            out.push(Detection::new(start, start + trimmed.len(), EntityType::ApiKey, priority::PASSWORD_SHAPED));
        }
    }
    for caps in PASSWORD_TERSE.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let (start, end) = trim_sentence_end(text, m.start(), m.end());
        if text.get(start..end).is_some_and(secret_like) {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
        }
    }
    for caps in LABELLED_PASSWORD.captures_iter(text).chain(PASSWORD_BEFORE_LABEL.captures_iter(text)) {
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
        assert_eq!(found("the password for the office wifi is Blue-Otter-42"), ["Blue-Otter-42"]);
        assert_eq!(found("I set H6gx6SFnxrO as my new password, is it strong enough?"), ["H6gx6SFnxrO"]);
        assert_eq!(found("the safe code for the office is 8zcJddAymqf."), ["8zcJddAymqf"]);
        assert_eq!(found("Das Passwort ist Sonne123"), ["Sonne123"]);
        assert!(found("I set the alarm as my reminder").is_empty());
        assert!(found("the spin is fast").is_empty());
        assert_eq!(found("my login is jdoe and password Qx7mHt2Lp, why does it fail?"), ["Qx7mHt2Lp"]);
        assert_eq!(found("pw: hunter22"), ["hunter22"]);
        for plain in
            ["send me a password reset link", "password 1234 is weak", "password re-entry", "my password manager's app"]
        {
            assert!(found(plain).is_empty(), "{plain}: {:?}", found(plain));
        }
    }

    #[test]
    fn password_shaped_tokens_without_a_label() {
        assert_eq!(found("log in with Xk3#pQ9!zT and tell nobody"), ["Xk3#pQ9!zT"]);
        assert_eq!(found("use 'Summer2024!' for now."), ["Summer2024!"]);
        for plain in [
            "build x86_64-Linux-Gnu2 with C++17",
            "mail Jo.Smith1+x@Example.com",
            "see https://Example.com/a?B=1&c=2",
            "version V2.3.1-Beta",
            "a[i] += 1; Total = Sum(x2)",
        ] {
            assert!(found(plain).is_empty(), "{plain}: {:?}", found(plain));
        }
    }
}

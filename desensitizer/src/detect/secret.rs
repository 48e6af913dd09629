//! API keys, tokens and passwords: vendor key shapes (OpenAI `sk-`, GitHub `ghp_`, AWS
//! `AKIA…`, Slack `xox?-`, Google `AIza…`, Stripe, GitLab, Hugging Face, npm, JWTs, PEM
//! private keys) and values after a label (`api_key=…`, `password: …`, `密码是…`) that look
//! like secrets (long and high-entropy, or anything after a password label).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, ascii_isolated, compile, entropy, priority, text_before};

static VENDOR: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"sk-(?:proj-|ant-|live-)?[A-Za-z0-9_\-]{20,}",
        r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        r"|gh[pousr]_[A-Za-z0-9]{30,}",
        r"|github_pat_[A-Za-z0-9_]{22,}",
        r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",
        r"|xox[abposre]-[A-Za-z0-9\-]{10,}",
        r"|xapp-[0-9]-[A-Za-z0-9\-]{10,}",
        // Twilio API key SIDs and Mailgun keys: a fixed prefix, then 32 lower-case hex.
        r"|SK[0-9a-f]{32}",
        r"|key-[0-9a-f]{32}",
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
        r#"(?i)(?:api[_\- ]?(?:key|schlüssel)|apikey|secret(?:[_\- ]?key)?|access[_\- ]?(?:key|token)|auth[_\- ]?token|token|bearer|basic|client[_\- ]?secret|private[_\- ]?key|\bkey\b|\bsid\b|credentials?|schlüssel|clé(?: d'api| api)?|clave(?: de api)?|密钥|令牌)["']?(?:\s*(?:is|was|ist|est|es|=|:|=>|：|是|为)\s*|\s+)["']?([A-Za-z0-9_\-+/=.~]{12,256})"#,
    )
});

/// `password [for the router] [is|=|:] value`: passwords are low-entropy by nature, so
/// any value counts. Up to four words may say what the password is for. The value is the
/// whole run of non-space characters (quotes, commas and brackets are password symbols
/// too: `R)f(L:u'r0`), cut by [`labelled_value`].
static LABELLED_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:password|passwd|passphrase|passcode|pwd|pin code|\bpin\b|wi-?fi key|(?:safe|door|gate|alarm|entry|access|security|lock|garage|building|keypad) code|passwort|kennwort|mot de passe|contraseña|\bclave\b|密码|口令)(?:\s+(?:for|of|to|on|at|du|de|des|für|del|von)(?:\s+[\w'’-]+){1,4})?["']?\s*(?:is|was|=|:|=>|：|是|为|ist|est|es)\s*(["'`]?)([^\s，。]{4,130})"#,
    )
});

/// `password Xk3pQ9zT`, `pw: hunter2`, `pass hunter22`: a label and the value with only a
/// space (or a colon after a short label) between. Without a verb any word could follow
/// (`password reset link`), so the value must look like a secret ([`secret_like`]).
static PASSWORD_TERSE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?:password|passwd|passphrase|passcode|pwd|pw|passwort|kennwort|contraseña|senha|wi-?fi)\s*[:=]?\s+(["'`]?)([^\s，。]{4,130})"#,
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

/// `changed my password from Cry57al*19 to copper1251`: both the old and the new value.
static PASSWORD_CHANGED: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?:password|passwd|passphrase|passcode|pin|passwort|mot de passe|contraseña)\s+from\s+["'`]?([^\s"'`]{4,128}?)["'`]?\s+to\s+["'`]?([^\s"'`]{4,128})"#,
    )
});

/// `login is admin / Tp7-Rv2x-Lk9q`, `creds: root/Hx9!kd2p`: a user name and a password
/// joined by a slash after a login label; the password must look like one
/// ([`secret_like`]: `login page/home` is none).
static LOGIN_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?:login|log-in|credentials|creds|user/pass|username/password)\s*(?:is|are|:|=)?\s*["'`]?[^\s/"'`]{1,64}["'`]?\s*/\s*["'`]?([^\s"'`]{4,128})"#,
    )
});

/// `mysql -u root -pSecret`, `mysqldump -p'Secret'`: the password glued to `-p`.
static MYSQL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| compile(r#"\bmysql(?:dump|admin|sh)?\b[^\n]{0,80}?\s-p["']?([^\s"']{4,128})"#));

/// `Is Summer2024! a strong password?`: the value before the label, asked about.
static PASSWORD_ASKED: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\b(?:is|was|are)\s+["'`]?([^\s"'`]{4,128})["'`]?\s+(?:a|an|still a|really a)\s+(?:strong|weak|good|bad|secure|safe|valid|decent)\s+(?:password|passphrase|passcode|pin)\b"#,
    )
});

/// A lone token shaped like a strong password: upper and lower case letters, a digit and
/// a symbol that identifiers, versions, paths and URLs do not use. Up to 256 characters,
/// so that a long token is judged whole, not as a 64-character piece and a tail.
static PASSWORD_SHAPED: LazyLock<Regex> = LazyLock::new(|| compile(r"[^\s]{8,256}"));

/// A token of key characters with no label at all (pasted into a question, a log line, a
/// header): judged by [`random_token`].
static BARE_TOKEN: LazyLock<Regex> = LazyLock::new(|| compile(r"[A-Za-z0-9+/_\-]{20,256}={0,2}"));

/// Words that say a hex string or a UUID nearby is a credential, not a commit or an id.
static SECRET_CUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)\b(?:api|keys?|tokens?|secrets?|credentials?|passwords?|auth\w*|bearer|sid|subscription|apikey|schlüssel|clé|clave)\b",
    )
});

/// Words right before a hex string that make it a digest: `sha256:`, `commit`, `checksum`.
static DIGEST_CUE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:sha-?(?:1|224|256|384|512)|md5|commit|checksum|hash|digest|integrity|build|revision|rev|etag|fingerprint|object|blob|tree|image|layer)[\s:=@#-]*$",
    )
});

/// One word of an identifier: `Capitalised` or `lower` (`get`, `Http`, `Response`).
static WORD_RUN: LazyLock<Regex> = LazyLock::new(|| compile(r"[A-Z]?[a-z]+"));

/// A digest written with its algorithm in front (`sha256:…`, SRI's `sha512-…==`): not a
/// secret, whatever its letters look like.
fn sha_prefixed(token: &str) -> bool {
    token.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("sha"))
}

/// Whether a bare token is a secret rather than an identifier, a path, a digest or a word:
/// - hex of 32 or more digits, or a UUID, when the sentence speaks of keys or tokens and
///   no digest word stands right before it (a commit or a checksum is not personal);
/// - otherwise random-looking text: upper and lower case and digits (or base64 symbols),
///   high entropy, and not mostly made of word-like runs (`getHttp2ResponseHandler`).
fn random_token(text: &str, start: usize, token: &str) -> bool {
    let before = text_before(text, start, 24);
    if DIGEST_CUE.is_match(before) || sha_prefixed(token) {
        return false;
    }
    let hex = token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let hex_digits = token.bytes().filter(u8::is_ascii_hexdigit).count();
    if hex && hex_digits >= 32 {
        let uuid = token.len() == 36 && token.bytes().filter(|&b| b == b'-').count() == 4;
        let plain = !token.contains('-');
        return (uuid || plain) && token.bytes().any(|b| b.is_ascii_alphabetic()) && SECRET_CUE.is_match(text);
    }
    let count = |f: fn(&u8) -> bool| token.bytes().filter(f).count();
    let (upper, lower, digits) =
        (count(u8::is_ascii_uppercase), count(u8::is_ascii_lowercase), count(u8::is_ascii_digit));
    let base64_symbols = count(|b| matches!(b, b'+' | b'/' | b'='));
    if upper < 2 || lower < 2 || digits + base64_symbols < 2 || entropy(token) < 3.6 {
        return false;
    }
    // A path (`src/main/Resources2/x`) has lower-case words between its slashes.
    if token.contains('/')
        && token.split('/').any(|part| part.len() >= 3 && part.bytes().all(|b| b.is_ascii_lowercase()))
    {
        return false;
    }
    // Identifiers are runs of words: `Capitalised` or `lower` runs of four letters or more.
    let wordy: usize = WORD_RUN.find_iter(token).map(|m| m.len()).filter(|&n| n >= 4).sum();
    wordy * 2 < token.len()
}

fn password_shaped(token: &str) -> bool {
    let has = |f: fn(&u8) -> bool| token.as_bytes().iter().any(f);
    has(u8::is_ascii_uppercase)
        && has(u8::is_ascii_lowercase)
        && has(u8::is_ascii_digit)
        && has(|b| b"!#$%&*+=?^~@".contains(b))
        && token.is_ascii()
        && !token.contains("://")
        && !token.contains('/')
        && !sha_prefixed(token)
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
        // Letters only, when both cases are mixed at random (`Bearer FkYbtOSErUPJqyupjXLX`).
        let mixed_case = value.bytes().any(|b| b.is_ascii_uppercase())
            && value.bytes().any(|b| b.is_ascii_lowercase())
            && value.len() >= 16
            && entropy(value) >= 3.5;
        if value.len() >= 12 && has_alpha && (has_digit || mixed_case) && entropy(value) >= 3.0 {
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
    for m in BARE_TOKEN.find_iter(text) {
        let (start, end) = (m.start(), m.end());
        if ascii_isolated(text, start, end) && random_token(text, start, m.as_str()) {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::PASSWORD_SHAPED));
        }
    }
    for caps in PASSWORD_TERSE.captures_iter(text) {
        let (Some(quote), Some(m)) = (caps.get(1), caps.get(2)) else { continue };
        let Some((start, end)) = labelled_value(text, quote.as_str(), m.start(), m.end()) else { continue };
        if text.get(start..end).is_some_and(secret_like) {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
        }
    }
    for caps in LABELLED_PASSWORD.captures_iter(text) {
        let (Some(quote), Some(m)) = (caps.get(1), caps.get(2)) else { continue };
        if let Some((start, end)) = labelled_value(text, quote.as_str(), m.start(), m.end()) {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
        }
    }
    for caps in PASSWORD_BEFORE_LABEL
        .captures_iter(text)
        .chain(PASSWORD_ASKED.captures_iter(text))
        .chain(MYSQL_PASSWORD.captures_iter(text))
    {
        let Some(m) = caps.get(1) else { continue };
        let (start, end) = trim_sentence_end(text, m.start(), m.end());
        if end > start {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
        }
    }
    for caps in LOGIN_PAIR.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let (start, end) = trim_sentence_end(text, m.start(), m.end());
        if text.get(start..end).is_some_and(secret_like) {
            out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
        }
    }
    for caps in PASSWORD_CHANGED.captures_iter(text) {
        for m in [caps.get(1), caps.get(2)].into_iter().flatten() {
            if let Some((start, end)) = labelled_value(text, "", m.start(), m.end()) {
                out.push(Detection::new(start, end, EntityType::ApiKey, priority::LABELLED_SECRET));
            }
        }
    }
}

/// The value after a password label, `start..end` being the run of non-space characters
/// after it: up to the closing quote on the same line when an opening one came before it
/// (`"correct horse"` whole), otherwise the run without one trailing `,` or `;` and
/// without what ends the sentence ([`trim_sentence_end`]). `None` when under 4 characters.
fn labelled_value(text: &str, quote: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let run = text.get(start..end)?;
    let (start, end) = match quote.chars().next() {
        Some(q) => {
            // The closing quote on the same line, within the longest value taken.
            let rest = text.get(start..)?;
            let close = rest.char_indices().take(128).take_while(|&(_, c)| c != '\n').find(|&(_, c)| c == q);
            (start, start + close.map_or(run.len(), |(i, _)| i))
        }
        None => {
            // CJK text after the value needs no space (`密码：wXL94O7R，别告诉别人`, the
            // full-width comma already folded to `,` by normalization): the value ends at
            // the first CJK character, or at a `,`/`;` right before one.
            let cjk = run.char_indices().find(|&(_, c)| c >= '\u{2E80}').map(|(i, _)| i);
            let run = &run[..cjk.unwrap_or(run.len())];
            let end = start + run.len();
            let end = if run.ends_with([',', ';']) { end - 1 } else { end };
            trim_sentence_end(text, start, end)
        }
    };
    (text.get(start..end)?.chars().count() >= 4).then_some((start, end))
}

/// Drops a trailing `.`/`?`/`)`/`:` that ends the sentence rather than the value.
fn trim_sentence_end(text: &str, start: usize, mut end: usize) -> (usize, usize) {
    while end > start {
        match text.get(..end).and_then(|s| s.chars().next_back()) {
            // Not `!`: `Summer2024!` ends with its symbol more often than a sentence ends
            // right after a secret with one.
            Some(c @ ('.' | '?' | ')' | ':')) => {
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
    fn both_values_of_a_password_change() {
        assert_eq!(
            found("I changed my password from Cry57al*19 to copper1251, but the app still uses the old one."),
            ["Cry57al*19", "copper1251"]
        );
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
        assert_eq!(found("router admin login is admin / Tp7-Rv2x-Lk9q"), ["Tp7-Rv2x-Lk9q"]);
        assert_eq!(found("creds: root/Hx9kd2pq."), ["Hx9kd2pq"]);
        assert!(found("the login page/home link is broken").is_empty());
        assert_eq!(found("pw: hunter22"), ["hunter22"]);
        // Quotes, commas and brackets inside a labelled password belong to it.
        assert_eq!(found("My wifi password is 0%$Qx-lj\"aft7-, can you print it?"), ["0%$Qx-lj\"aft7-"]);
        assert_eq!(found("log in with admin and password R)f(L:u'r0, then reboot"), ["R)f(L:u'r0"]);
        assert_eq!(found("the password is %Gc6q|a.zJ,^, ok?"), ["%Gc6q|a.zJ,^"]);
        assert_eq!(found(r#"{"password": "s3cr3t pass", "user": "jo"}"#), ["s3cr3t pass"]);
        assert_eq!(found("password: 'Tr0ub4dor', please"), ["Tr0ub4dor"]);
        assert_eq!(found("密码：wXL94O7R,别告诉别人"), ["wXL94O7R"]);
        for plain in
            ["send me a password reset link", "password 1234 is weak", "password re-entry", "my password manager's app"]
        {
            assert!(found(plain).is_empty(), "{plain}: {:?}", found(plain));
        }
    }

    #[test]
    fn keys_under_more_labels_and_vendor_prefixes() {
        assert_eq!(found("Bearer FkYbtOSErUPJqyupjXLX"), ["FkYbtOSErUPJqyupjXLX"]);
        assert_eq!(
            found("Authorization: Basic Ln7lkm0dvhA/CvhKzE/siLHMUmEuq95jlKYYvjQTqoKFjA== — safe?"),
            ["Ln7lkm0dvhA/CvhKzE/siLHMUmEuq95jlKYYvjQTqoKFjA=="]
        );
        assert_eq!(
            found("Ocp-Apim-Subscription-Key: b80eabed869a99455b0e57c7ce363e1a"),
            ["b80eabed869a99455b0e57c7ce363e1a"]
        );
        assert_eq!(
            found("Mein API-Schlüssel A0ZrDVUW/UqCBIoerZ1j86QTS3Ow9cuYVoLAFzVM geht nicht"),
            ["A0ZrDVUW/UqCBIoerZ1j86QTS3Ow9cuYVoLAFzVM"]
        );
        assert_eq!(found("SID SK5404e4fb440034d6608697a8d41bed44 ok?"), ["SK5404e4fb440034d6608697a8d41bed44"]);
        assert_eq!(found("needs key-272ded606d0816427dcc5747264187a4; ping"), ["key-272ded606d0816427dcc5747264187a4"]);
    }

    #[test]
    fn bare_random_tokens_and_the_identifiers_left_alone() {
        assert_eq!(
            found("prod uses fiUziXnFAAoeelK9mqmALOR2HcSGKgVP8Kd0d3mS — how?"),
            ["fiUziXnFAAoeelK9mqmALOR2HcSGKgVP8Kd0d3mS"]
        );
        assert_eq!(
            found("a new token (G+Ibek7ue/Jvdln/5wDEQ6bQYS5p9xiONdUsogyKukIHgOPY) but"),
            ["G+Ibek7ue/Jvdln/5wDEQ6bQYS5p9xiONdUsogyKukIHgOPY"]
        );
        assert_eq!(
            found("425c8d99-d19b-4d0b-8cc6-0d5d32cbe540 is our integration token"),
            ["425c8d99-d19b-4d0b-8cc6-0d5d32cbe540"]
        );
        assert_eq!(
            found("auth failed for key 1610990dafd6a28e2fbff79bf7995dd5 (expired)"),
            ["1610990dafd6a28e2fbff79bf7995dd5"]
        );
        for plain in [
            "review commit 9823fa7b3a99b7d87de86440285b86ce53935fd1 please",
            // The digest word is found whatever script stands before it.
            "评审评审提交的 commit 9823fa7b3a99b7d87de86440285b86ce53935fd1 的 key?",
            "checksum sha256:3043b026c48bbf33feff9243a8f506b40928b5b7a767c76fb008f86bebb2737f differs",
            "integrity sha512-znaxfrDw0uVVUwT4Zyap8JWC8XT616U2nM6h3EZ9bA/uq31LmqeIpXaPCatqYiOb3VicL6rRmQ+O+AHsLmbLOw== fails",
            "request 3b68f14a-de9d-4a45-ab81-7a151dd64b33 completed in 231 ms",
            "class AbstractSingletonProxyFactoryBean2 and getHttp2ResponseHandler",
            "see src/main/resources/Config2024Prod/app.yaml",
        ] {
            assert!(found(plain).is_empty(), "{plain}: {:?}", found(plain));
        }
    }

    #[test]
    fn passwords_in_more_places() {
        assert_eq!(found("mysql -u root -pladder-turtle-beacon75 gives access denied"), ["ladder-turtle-beacon75"]);
        assert_eq!(found("Le mot de passe du wifi est Copper-Blue-Staple."), ["Copper-Blue-Staple"]);
        assert_eq!(found("Is Monday2019! a strong password?"), ["Monday2019!"]);
        assert_eq!(found("DB_PASSWORD=Winter2022!"), ["Winter2022!"]);
        assert_eq!(found("WIFI: beacon1957 / Hotline"), ["beacon1957"]);
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

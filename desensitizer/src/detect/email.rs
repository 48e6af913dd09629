//! E-mail addresses (RFC 5322 dot-atoms with a DNS domain), also the `name [at] host [dot] com`
//! spelling people use to dodge scrapers.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, ascii_isolated, compile, priority};

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"[A-Za-z0-9._%+\-']+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}",
    )
});

static OBFUSCATED: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)[a-z0-9._%+\-]+\s*[\[\(\{]\s*at\s*[\]\)\}]\s*[a-z0-9\-]+(?:\s*[\[\(\{]\s*dot\s*[\]\)\}]\s*[a-z0-9\-]+)+",
    )
});

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for m in EMAIL.find_iter(text) {
        let (mut start, end) = (m.start(), m.end());
        // The character class admits `.` and `'` for addresses like o'neil@…, but a
        // leading one belongs to the surrounding sentence.
        while let Some(c) = text.get(start..end).and_then(|s| s.chars().next()) {
            if c == '.' || c == '\'' {
                start += 1;
            } else {
                break;
            }
        }
        let Some(candidate) = text.get(start..end) else {
            continue;
        };
        if local_part_ok(candidate) && ascii_isolated(text, start, end) {
            out.push(Detection::new(start, end, EntityType::Email, priority::VALIDATED));
        }
    }
    for m in OBFUSCATED.find_iter(text) {
        if ascii_isolated(text, m.start(), m.end()) {
            out.push(Detection::new(m.start(), m.end(), EntityType::Email, priority::VALIDATED));
        }
    }
}

fn local_part_ok(address: &str) -> bool {
    let Some((local, _)) = address.split_once('@') else {
        return false;
    };
    !local.is_empty() && local.len() <= 64 && !local.ends_with('.') && !local.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(detect, text)
    }

    #[test]
    fn finds_addresses_in_prose_and_cjk() {
        assert_eq!(found("write to .j.doe+x@mail.example.co.uk."), ["j.doe+x@mail.example.co.uk"]);
        assert_eq!(found("邮箱是zhang.wei@163.com谢谢"), ["zhang.wei@163.com"]);
        assert_eq!(found("jane [at] example [dot] org"), ["jane [at] example [dot] org"]);
    }

    #[test]
    fn rejects_malformed() {
        assert!(found("a..b@example.com").is_empty());
        assert!(found("user@localhost").is_empty());
        assert!(found("@example.com").is_empty());
    }
}

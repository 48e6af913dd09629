//! Credentials inside URLs (`scheme://user:password@host`, `redis://:password@host`). The
//! span is the `user:password` part: the host stays readable for the cloud model.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, compile, priority};

static URL_CREDENTIALS: LazyLock<Regex> =
    LazyLock::new(|| compile(r"[A-Za-z][A-Za-z0-9+.\-]{1,15}://([^\s/?#@:]*:[^\s/?#@]+)@[A-Za-z0-9.\-\[\]:]+"));

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for caps in URL_CREDENTIALS.captures_iter(text) {
        if let Some(m) = caps.get(1) {
            out.push(Detection::new(m.start(), m.end(), EntityType::UrlCredentials, priority::CREDENTIAL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_userinfo() {
        let text = "use postgres://admin:s3cr3t!@db.internal:5432/app please";
        let mut out = Vec::new();
        detect(text, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(&text[out[0].start..out[0].end], "admin:s3cr3t!");
        out.clear();
        // Redis and others take a password without a user name.
        let text = "REDIS_URL=redis://:r3d1sP4ssW0rd@cache-01.prod.local:6379/0";
        detect(text, &mut out);
        assert_eq!(out.iter().map(|d| &text[d.start..d.end]).collect::<Vec<_>>(), [":r3d1sP4ssW0rd"]);
        out.clear();
        detect("https://example.com/a:b@c", &mut out);
        assert!(out.is_empty());
    }
}

//! IPv4 and IPv6 addresses, parsed by `std::net` rather than trusted to a regex.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, char_at, char_before, compile, number_isolated, priority};

/// An address with an optional CIDR prefix length (`10.0.0.0/24` names a network the
/// same way the address names a host).
static V4: LazyLock<Regex> = LazyLock::new(|| compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2})?"));
static V6: LazyLock<Regex> = LazyLock::new(|| compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"));

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for m in V4.find_iter(text) {
        let (address, prefix) = match m.as_str().split_once('/') {
            Some((address, prefix)) => (address, prefix.parse::<u8>().ok()),
            None => (m.as_str(), Some(0)),
        };
        if address.parse::<Ipv4Addr>().is_ok()
            && prefix.is_some_and(|p| p <= 32)
            && number_isolated(text, m.start(), m.end())
        {
            out.push(Detection::new(m.start(), m.end(), EntityType::IpAddress, priority::VALIDATED));
        }
    }
    for m in V6.find_iter(text) {
        let (start, mut end) = (m.start(), m.end());
        let raw = m.as_str();
        // Sentence punctuation after an address: "… at fe80::1." / "… 2001:db8::1:".
        let trimmed = raw.trim_end_matches(['.', ':']);
        let candidate = if raw.ends_with("::") && trimmed.len() + 2 == raw.len() { raw } else { trimmed };
        end -= raw.len() - candidate.len();
        if candidate.matches(':').count() < 2 || !candidate.bytes().any(|b| b.is_ascii_digit()) {
            continue;
        }
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if glued(char_before(text, start)) || glued(char_at(text, end)) {
            continue;
        }
        if candidate.parse::<Ipv6Addr>().is_ok() {
            out.push(Detection::new(start, end, EntityType::IpAddress, priority::VALIDATED));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(detect, text)
    }

    #[test]
    fn finds_v4_and_v6() {
        assert_eq!(found("host 10.0.12.7, gw 192.168.1.1."), ["10.0.12.7", "192.168.1.1"]);
        assert_eq!(found("allow 10.8.0.0/16 only"), ["10.8.0.0/16"]);
        assert_eq!(found("addr 2001:db8:85a3::8a2e:370:7334."), ["2001:db8:85a3::8a2e:370:7334"]);
        assert_eq!(found("IP地址fe80::1ff:fe23:4567:890a"), ["fe80::1ff:fe23:4567:890a"]);
        assert!(found("v6 ::ffff:192.0.2.128 ok").contains(&"::ffff:192.0.2.128"));
    }

    #[test]
    fn rejects_versions_times_and_paths() {
        assert!(found("version 1.2.3.4.5").is_empty());
        assert!(found("256.1.1.1").is_empty());
        assert!(found("at 12:30:45").is_empty());
        assert!(found("std::io::Read").is_empty());
    }
}

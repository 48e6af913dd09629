//! Who may change the served adapters over HTTP (`POST`/`DELETE /v1/adapters`, vLLM's
//! load/unload routes).
//!
//! Loading an adapter changes what every client of the model gets, and the model port is
//! reachable from any pod of the cluster; so these routes want a bearer token. Without
//! one configured they answer only clients on the same host (loopback), which keeps
//! `curl localhost:8080/v1/adapters` working on a workstation and in `kubectl exec`.

use std::net::IpAddr;

/// The admin routes' access rule.
#[derive(Clone, Default)]
pub enum AdminAccess {
    /// No token configured: only loopback peers.
    #[default]
    LoopbackOnly,
    /// `Authorization: Bearer <token>` required from every peer, loopback included.
    Token(AdminToken),
}

/// A non-empty admin token. `Debug` never shows it: settings are logged.
#[derive(Clone)]
pub struct AdminToken(String);

/// Why an admin request is refused; the HTTP layer maps each to a status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdminError {
    #[error("this route needs the admin token: send `Authorization: Bearer <token>`")]
    MissingToken,
    #[error("the admin token is wrong")]
    WrongToken,
    #[error(
        "adapter administration is only answered on loopback when no admin token is configured (set --admin-token or NETGPT_ADMIN_TOKEN)"
    )]
    NotLoopback,
    #[error("the admin token must not be empty")]
    EmptyToken,
}

impl AdminToken {
    /// Takes a token as given on the command line or read from a file; surrounding
    /// whitespace (the newline of a file or a Secret) is not part of it.
    pub fn new(token: &str) -> Result<Self, AdminError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AdminError::EmptyToken);
        }
        Ok(Self(token.to_string()))
    }

    fn matches(&self, given: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), given.as_bytes())
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LoopbackOnly => f.write_str("LoopbackOnly"),
            Self::Token(token) => f.debug_tuple("Token").field(token).finish(),
        }
    }
}

impl AdminToken {
    /// Checks an `Authorization` header against this token (`--api-key` uses it too).
    pub fn authorize(&self, authorization: Option<&[u8]>) -> Result<(), AdminError> {
        let given = authorization.and_then(bearer).ok_or(AdminError::MissingToken)?;
        if self.matches(given) { Ok(()) } else { Err(AdminError::WrongToken) }
    }
}

impl AdminAccess {
    /// Decides one request from its `Authorization` header and its peer's address
    /// (`None` when the listener did not record it: refused, never assumed local).
    pub fn authorize(&self, authorization: Option<&[u8]>, peer: Option<IpAddr>) -> Result<(), AdminError> {
        match self {
            Self::Token(token) => token.authorize(authorization),
            // `to_canonical`: a dual-stack listener sees IPv4 loopback as ::ffff:127.0.0.1.
            Self::LoopbackOnly => match peer {
                Some(ip) if ip.to_canonical().is_loopback() => Ok(()),
                _ => Err(AdminError::NotLoopback),
            },
        }
    }
}

/// The credentials of an `Authorization: Bearer …` header (scheme case-insensitive, as
/// RFC 7235 has it).
fn bearer(header: &[u8]) -> Option<&str> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, credentials) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(credentials.trim())
}

/// Compares without an early exit, so the time taken does not tell an attacker how many
/// leading bytes of a guess were right. It depends only on the expected token's length.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut difference = u8::from(expected.len() != given.len());
    for (i, byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(i).copied().unwrap_or(0);
    }
    // Keeps the optimiser from turning the loop back into a short-circuiting compare.
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const REMOTE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7)));

    fn token(text: &str) -> AdminAccess {
        AdminAccess::Token(AdminToken::new(text).expect("token"))
    }

    #[test]
    fn a_token_is_required_from_every_peer_once_configured() {
        let access = token("s3cret");
        assert_eq!(access.authorize(Some(b"Bearer s3cret"), REMOTE), Ok(()));
        assert_eq!(access.authorize(Some(b"bearer  s3cret "), REMOTE), Ok(()));
        assert_eq!(access.authorize(None, LOCAL), Err(AdminError::MissingToken), "loopback needs it too");
        assert_eq!(access.authorize(Some(b"Basic s3cret"), REMOTE), Err(AdminError::MissingToken));
        for wrong in [&b"Bearer s3cre"[..], b"Bearer s3cret2", b"Bearer S3CRET", b"Bearer "] {
            assert_eq!(access.authorize(Some(wrong), REMOTE), Err(AdminError::WrongToken), "{wrong:?}");
        }
    }

    #[test]
    fn without_a_token_only_loopback_peers_are_answered() {
        let access = AdminAccess::LoopbackOnly;
        assert_eq!(access.authorize(None, LOCAL), Ok(()));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert_eq!(access.authorize(None, Some(mapped)), Ok(()));
        assert_eq!(access.authorize(None, Some("::1".parse().expect("ip"))), Ok(()));
        assert_eq!(access.authorize(Some(b"Bearer x"), REMOTE), Err(AdminError::NotLoopback));
        assert_eq!(access.authorize(None, None), Err(AdminError::NotLoopback), "unknown peer: refused");
    }

    #[test]
    fn empty_tokens_are_refused_and_never_printed() {
        assert!(matches!(AdminToken::new(" \n"), Err(AdminError::EmptyToken)));
        let access = token("s3cret\n");
        assert_eq!(access.authorize(Some(b"Bearer s3cret"), None), Ok(()), "the file's newline is trimmed");
        assert!(!format!("{access:?}").contains("s3cret"));
    }
}

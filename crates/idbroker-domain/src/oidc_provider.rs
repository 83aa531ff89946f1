//! Registered OpenID Connect providers: idbroker's equivalent of IAM OIDC providers.
//! A pool names one by ARN in `OpenIdConnectProviderARNs`; its Logins key is the issuer
//! without the scheme (reference §2).

use std::collections::BTreeSet;

use crate::ids::AccountId;
use crate::validation::{Validated, ValidationError, check_len};

/// IAM allows 1–100 client ids of up to 255 characters.
pub const MAX_CLIENT_IDS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    pub issuer: String,
    pub client_ids: Vec<String>,
}

impl OidcProvider {
    /// Validates a provider to register. Plain `http` issuers are refused unless they are on a
    /// loopback address or `allow_http` is set (tests and private networks).
    pub fn new(issuer: &str, client_ids: Vec<String>, allow_http: bool) -> Validated<Self> {
        let issuer = parse_issuer(issuer, allow_http)?;
        validate_client_ids(&client_ids)?;
        Ok(Self { issuer, client_ids })
    }

    /// The Logins key: the issuer without its scheme.
    pub fn key(&self) -> &str {
        issuer_key(&self.issuer)
    }

    pub fn arn(&self, account: &AccountId) -> String {
        arn_for_key(account, self.key())
    }
}

pub fn issuer_key(issuer: &str) -> &str {
    issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer)
}

pub fn arn_for_key(account: &AccountId, key: &str) -> String {
    format!("arn:aws:iam::{account}:oidc-provider/{key}")
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// `https://host[:port][/path]`, no query, fragment or trailing slash, at most 255 characters.
pub fn parse_issuer(value: &str, allow_http: bool) -> Validated<String> {
    check_len("issuer", value, 9, 255)?;
    let bad = |why: &str| ValidationError::message(format!("Invalid issuer '{value}': {why}"));
    let (secure, rest) = if let Some(rest) = value.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = value.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad("it must be an https:// URL"));
    };
    if rest.contains(['?', '#', ' ', '@']) || value.ends_with('/') {
        return Err(bad(
            "it must have no query, fragment, credentials or trailing slash",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(bad("it has no host"));
    }
    if !secure && !allow_http && !is_loopback(host) {
        return Err(bad(
            "plain http is only allowed for loopback addresses (or with IDBROKER_ALLOW_HTTP_ISSUERS=true)",
        ));
    }
    Ok(value.to_owned())
}

pub fn validate_client_ids(client_ids: &[String]) -> Validated {
    if client_ids.is_empty() || client_ids.len() > MAX_CLIENT_IDS {
        return Err(ValidationError::message(format!(
            "client_ids must hold between 1 and {MAX_CLIENT_IDS} client ids"
        )));
    }
    let mut seen = BTreeSet::new();
    for id in client_ids {
        check_len("client_ids.member", id, 1, 255)?;
        if !seen.insert(id) {
            return Err(ValidationError::message(format!(
                "duplicate client id '{id}'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_issuers_give_their_key_and_arn() {
        let p = OidcProvider::new(
            "https://login.example.com/realms/x",
            vec!["app".into()],
            false,
        )
        .unwrap();
        assert_eq!(p.key(), "login.example.com/realms/x");
        let account = AccountId::parse("123456789012").unwrap();
        assert_eq!(
            p.arn(&account),
            "arn:aws:iam::123456789012:oidc-provider/login.example.com/realms/x"
        );
    }

    #[test]
    fn plain_http_is_only_for_loopback_unless_allowed() {
        assert!(parse_issuer("http://127.0.0.1:4000", false).is_ok());
        assert!(parse_issuer("http://localhost:4000/x", false).is_ok());
        assert!(parse_issuer("http://login.example.com", false).is_err());
        assert!(parse_issuer("http://login.example.com", true).is_ok());
    }

    #[test]
    fn malformed_issuers_are_refused() {
        for bad in [
            "login.example.com",
            "https://",
            "https://x.com/",
            "https://x.com?a=b",
            "ftp://x.com",
            "https://u@x.com",
        ] {
            assert!(parse_issuer(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids_are_one_to_a_hundred_distinct_values() {
        assert!(validate_client_ids(&[]).is_err());
        assert!(validate_client_ids(&["a".into(), "a".into()]).is_err());
        assert!(validate_client_ids(&(0..101).map(|i| i.to_string()).collect::<Vec<_>>()).is_err());
        assert!(validate_client_ids(&["a".into(), "b".into()]).is_ok());
    }
}

//! Registered OpenID Connect providers: idbroker's equivalent of IAM OIDC providers.
//! A pool names one by ARN in `OpenIdConnectProviderARNs`; its Logins key is the issuer
//! without the scheme (`docs/spec.md` §2).

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

/// Whether `url` names a loopback host, judged on the host as a URL parser reads it (the same
/// parser reqwest connects with): `localhost`, an IPv4 address in 127.0.0.0/8 (in any notation
/// the parser accepts, e.g. `127.1`) or `[::1]`. Text that merely starts like one
/// (`127.evil.example`, `localhost.evil.example`, `127.0.0.1.nip.io`) resolves elsewhere, and a
/// userinfo part (`http://127.0.0.1@evil.example`) is not the host.
pub fn is_loopback_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| is_loopback_host(&u))
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Why a URL may not be used to fetch an issuer's documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("it is not an absolute http(s) URL")]
    NotHttp,
    #[error("it carries credentials")]
    Credentials,
    #[error(
        "plain http is only allowed for loopback addresses (or with IDBROKER_ALLOW_HTTP_ISSUERS=true)"
    )]
    PlainHttp,
}

/// The transport rule for everything fetched on an issuer's behalf: https, or plain http when
/// the host is loopback or `allow_http` is set (tests and private networks).
pub fn check_transport(value: &str, allow_http: bool) -> Result<(), TransportError> {
    let url = url::Url::parse(value).map_err(|_| TransportError::NotHttp)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TransportError::Credentials);
    }
    if url.host().is_none() {
        return Err(TransportError::NotHttp);
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback_host(&url) => Ok(()),
        "http" => Err(TransportError::PlainHttp),
        _ => Err(TransportError::NotHttp),
    }
}

/// Where an issuer's discovery document says its keys are (`jwks_uri`) must be reached the
/// way the issuer itself may be: an https issuer's keys over https only (a plain-http key set
/// would let anyone on the path swap the keys the TLS-protected discovery vouched for), and
/// an http issuer's keys by the same rule as an issuer.
pub fn check_jwks_uri(
    issuer: &str,
    jwks_uri: &str,
    allow_http: bool,
) -> Result<(), TransportError> {
    check_transport(jwks_uri, allow_http)?;
    let is_https = |u: &str| url::Url::parse(u).is_ok_and(|u| u.scheme() == "https");
    if is_https(issuer) && !is_https(jwks_uri) {
        return Err(TransportError::PlainHttp);
    }
    Ok(())
}

/// `https://host[:port][/path]`, no query, fragment or trailing slash, at most 255 characters.
pub fn parse_issuer(value: &str, allow_http: bool) -> Validated<String> {
    check_len("issuer", value, 9, 255)?;
    let bad = |why: &str| ValidationError::message(format!("Invalid issuer '{value}': {why}"));
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| bad("it must be an https:// URL"))?;
    if rest.contains(['?', '#', ' ', '@', '\\']) || value.ends_with('/') {
        return Err(bad(
            "it must have no query, fragment, credentials or trailing slash",
        ));
    }
    // The host is read by the URL parser, never by text prefixes: what it reads is what a
    // client would connect to.
    let url = url::Url::parse(value).map_err(|e| bad(&format!("it is not a URL ({e})")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    check_transport(value, allow_http).map_err(|e| bad(&e.to_string()))?;
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
    fn loopback_is_the_parsed_host_not_a_text_prefix() {
        for ok in [
            "http://127.0.0.1:4000",
            "http://127.1.2.3",
            "http://localhost",
            "http://LOCALHOST:8080/x",
            "http://[::1]:4000",
        ] {
            assert!(parse_issuer(ok, false).is_ok(), "{ok}");
            assert!(is_loopback_url(ok), "{ok}");
        }
        for bad in [
            "http://127.evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://127.0.0.1@evil.example",
            "http://127.0.0.1:80@evil.example",
            "http://[::2]",
            "http://128.0.0.1",
            "http://evil.example#@127.0.0.1",
            "http://evil.example\\@127.0.0.1",
        ] {
            assert!(parse_issuer(bad, false).is_err(), "{bad}");
        }
        assert!(!is_loopback_url("http://127.0.0.1@evil.example"));
        assert!(!is_loopback_url("http://127.evil.example"));
    }

    #[test]
    fn jwks_uris_follow_the_issuers_transport() {
        let https = "https://idp.example";
        assert!(check_jwks_uri(https, "https://keys.example/jwks", false).is_ok());
        assert!(check_jwks_uri(https, "http://keys.example/jwks", false).is_err());
        assert!(check_jwks_uri(https, "http://127.0.0.1/jwks", false).is_err());
        assert!(check_jwks_uri(https, "http://keys.example/jwks", true).is_err());
        assert!(check_jwks_uri(https, "ftp://keys.example/jwks", true).is_err());
        assert!(check_jwks_uri(https, "https://u:p@keys.example/jwks", true).is_err());
        let loopback = "http://127.0.0.1:4000";
        assert!(check_jwks_uri(loopback, "http://127.0.0.1:4000/jwks", false).is_ok());
        assert!(check_jwks_uri(loopback, "https://keys.example", false).is_ok());
        assert!(check_jwks_uri(loopback, "http://keys.example/jwks", false).is_err());
        assert!(check_jwks_uri(loopback, "http://127.evil.example/jwks", false).is_err());
        let private = "http://idp.internal";
        assert!(check_jwks_uri(private, "http://idp.internal/jwks", true).is_ok());
        assert!(check_jwks_uri(private, "http://idp.internal/jwks", false).is_err());
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

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn issuer_parsing_never_panics(value in ".{0,300}", allow_http: bool) {
            let _ = parse_issuer(&value, allow_http);
            let _ = is_loopback_url(&value);
            let _ = check_transport(&value, allow_http);
            let _ = check_jwks_uri("https://idp.example", &value, allow_http);
        }

        #[test]
        fn url_shaped_issuers_never_panic(
            scheme in "(https?|ftp|HTTP)",
            userinfo in "([a-z0-9.:]{0,12}@)?",
            host in "[a-z0-9.\\[\\]:%-]{0,40}",
            rest in "[/a-z0-9?#@.:%]{0,30}",
            allow_http: bool,
        ) {
            let value = format!("{scheme}://{userinfo}{host}{rest}");
            let parsed = parse_issuer(&value, allow_http);
            // Plain http is never accepted for a host the parser does not read as loopback.
            if parsed.is_ok() && !allow_http && value.starts_with("http://") {
                prop_assert!(is_loopback_url(&value), "{value}");
            }
        }
    }
}

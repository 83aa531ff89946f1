//! Logins: which provider a `Logins` key names for a pool, and the verified result of a token.
//!
//! Classification is pure: it reads the pool's configuration (and the registered OpenID Connect
//! providers the caller looked up) and decides how a token for that key must be verified,
//! before anything touches the network.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::pool::{PoolConfig, oidc_provider_key};

/// The built-in public providers (spec §2).
pub const GOOGLE: &str = "accounts.google.com";
pub const APPLE: &str = "appleid.apple.com";
pub const FACEBOOK: &str = "graph.facebook.com";
pub const AMAZON: &str = "www.amazon.com";
pub const BUILT_IN_PROVIDERS: [&str; 4] = [GOOGLE, APPLE, FACEBOOK, AMAZON];
/// Providers Cognito once supported and idbroker refuses.
pub const LEGACY_PROVIDERS: [&str; 2] = ["api.twitter.com", "www.digits.com"];

/// A login as stored: the Logins key and the provider's stable id for the user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoginRef {
    pub provider: String,
    pub subject: String,
}

/// A login whose token passed verification, with its claims kept for this request only
/// (role mapping and principal tags read them; they are never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedLogin {
    pub login: LoginRef,
    pub claims: BTreeMap<String, Value>,
}

/// How a token for one Logins key must be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSpec {
    /// An OpenID Connect ID token: a JWT signed by the issuer's keys.
    OidcIdToken {
        /// `iss` values accepted (Google also issues tokens with `iss` = `accounts.google.com`).
        issuers: Vec<String>,
        client_ids: Vec<String>,
        keys: KeySource,
        /// Cognito user pools: only ID tokens (`token_use` = `id`) are accepted.
        require_id_token_use: bool,
    },
    /// Facebook: a Graph API access token, or a Limited Login OIDC token (a JWT).
    Facebook { app_id: String },
    /// Login with Amazon access token.
    Amazon { client_id: String },
}

/// Where an issuer's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySource {
    /// A built-in provider's well-known key set.
    BuiltIn(BuiltInKeys),
    /// A Cognito user pool: `<cognito base>/<user pool id>/.well-known/jwks.json`.
    CognitoUserPool {
        region: String,
        user_pool_id: String,
    },
    /// OpenID Connect discovery at `<issuer>/.well-known/openid-configuration`.
    Discovery { issuer: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltInKeys {
    Google,
    Apple,
    FacebookLimitedLogin,
}

/// Why a Logins key cannot be used with a pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginKeyError {
    #[error("Token is not from a supported provider of this identity pool.")]
    NotConfigured,
    #[error(
        "The developer provider name cannot be used in the Logins map here; use GetOpenIdTokenForDeveloperIdentity."
    )]
    DeveloperProvider,
    #[error("{0} logins are not supported by idbroker.")]
    Legacy(String),
}

/// The issuer URL of a registered OpenID Connect provider whose Logins key is `key`.
pub trait OidcIssuers {
    /// `(issuer URL, client ids)` of the registered provider, if any.
    fn lookup(&self, key: &str) -> Option<(String, Vec<String>)>;
}

/// Decides how a token presented under `key` must be verified for this pool.
pub fn classify(
    pool: &PoolConfig,
    key: &str,
    registered: &dyn OidcIssuers,
) -> Result<ProviderSpec, LoginKeyError> {
    if pool.developer_provider_name.as_deref() == Some(key) {
        return Err(LoginKeyError::DeveloperProvider);
    }
    if LEGACY_PROVIDERS.contains(&key) {
        return Err(LoginKeyError::Legacy(key.to_owned()));
    }
    if let Some(app_id) = pool.supported_login_providers.get(key) {
        let oidc = |issuers: &[&str], keys| ProviderSpec::OidcIdToken {
            issuers: issuers.iter().map(|s| (*s).to_owned()).collect(),
            client_ids: vec![app_id.clone()],
            keys: KeySource::BuiltIn(keys),
            require_id_token_use: false,
        };
        return match key {
            GOOGLE => Ok(oidc(
                &["https://accounts.google.com", "accounts.google.com"],
                BuiltInKeys::Google,
            )),
            APPLE => Ok(oidc(&["https://appleid.apple.com"], BuiltInKeys::Apple)),
            FACEBOOK => Ok(ProviderSpec::Facebook {
                app_id: app_id.clone(),
            }),
            AMAZON => Ok(ProviderSpec::Amazon {
                client_id: app_id.clone(),
            }),
            _ => Err(LoginKeyError::NotConfigured),
        };
    }
    let user_pool_clients: Vec<String> = pool
        .cognito_identity_providers
        .iter()
        .filter(|p| p.provider_name.as_deref() == Some(key))
        .filter_map(|p| p.client_id.clone())
        .collect();
    if !user_pool_clients.is_empty() {
        let (region, user_pool_id) =
            parse_user_pool_key(key).ok_or(LoginKeyError::NotConfigured)?;
        return Ok(ProviderSpec::OidcIdToken {
            issuers: vec![format!("https://{key}")],
            client_ids: user_pool_clients,
            keys: KeySource::CognitoUserPool {
                region,
                user_pool_id,
            },
            require_id_token_use: true,
        });
    }
    if registered_oidc_arn(pool, key).is_some() {
        let (issuer, client_ids) = registered.lookup(key).ok_or(LoginKeyError::NotConfigured)?;
        return Ok(ProviderSpec::OidcIdToken {
            issuers: vec![issuer.clone()],
            client_ids,
            keys: KeySource::Discovery { issuer },
            require_id_token_use: false,
        });
    }
    Err(LoginKeyError::NotConfigured)
}

/// The ARN of the IAM OIDC provider under which `key` is a login of this pool, when
/// `classify` verifies it as a registered OpenID Connect provider: a key the pool also names as
/// a built-in provider or a user pool is verified as that, and has none.
pub fn registered_oidc_arn<'a>(pool: &'a PoolConfig, key: &str) -> Option<&'a str> {
    let user_pool = pool
        .cognito_identity_providers
        .iter()
        .any(|p| p.provider_name.as_deref() == Some(key) && p.client_id.is_some());
    if pool.supported_login_providers.contains_key(key) || user_pool {
        return None;
    }
    pool.open_id_connect_provider_arns
        .iter()
        .find(|arn| oidc_provider_key(arn) == Some(key))
        .map(String::as_str)
}

/// `cognito-idp.<region>.amazonaws.com/<user pool id>` → (region, user pool id).
pub fn parse_user_pool_key(key: &str) -> Option<(String, String)> {
    let (host, pool_id) = key.split_once('/')?;
    let region = host
        .strip_prefix("cognito-idp.")?
        .strip_suffix(".amazonaws.com")?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    (valid(region) && valid(pool_id)).then(|| (region.to_owned(), pool_id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::CognitoIdentityProvider;

    struct Registry;
    impl OidcIssuers for Registry {
        fn lookup(&self, key: &str) -> Option<(String, Vec<String>)> {
            (key == "login.example.com").then(|| {
                (
                    "https://login.example.com".to_owned(),
                    vec!["c1".to_owned()],
                )
            })
        }
    }

    fn pool() -> PoolConfig {
        let mut p = PoolConfig {
            identity_pool_name: "p".into(),
            developer_provider_name: Some("login.dev".into()),
            ..PoolConfig::default()
        };
        p.supported_login_providers
            .insert(GOOGLE.into(), "g-client".into());
        p.supported_login_providers
            .insert(FACEBOOK.into(), "fb-app".into());
        p.open_id_connect_provider_arns
            .push("arn:aws:iam::123456789012:oidc-provider/login.example.com".into());
        p.cognito_identity_providers.push(CognitoIdentityProvider {
            provider_name: Some("cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc".into()),
            client_id: Some("up-client".into()),
            server_side_token_check: None,
        });
        p
    }

    #[test]
    fn google_tokens_are_oidc_id_tokens_for_the_configured_client() {
        let ProviderSpec::OidcIdToken {
            issuers,
            client_ids,
            keys,
            ..
        } = classify(&pool(), GOOGLE, &Registry).unwrap()
        else {
            panic!("expected OIDC")
        };
        assert!(issuers.contains(&"https://accounts.google.com".to_owned()));
        assert_eq!(client_ids, vec!["g-client"]);
        assert_eq!(keys, KeySource::BuiltIn(BuiltInKeys::Google));
    }

    #[test]
    fn user_pools_need_id_tokens_from_their_issuer() {
        let spec = classify(
            &pool(),
            "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
            &Registry,
        )
        .unwrap();
        assert_eq!(
            spec,
            ProviderSpec::OidcIdToken {
                issuers: vec!["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc".into()],
                client_ids: vec!["up-client".into()],
                keys: KeySource::CognitoUserPool {
                    region: "eu-west-1".into(),
                    user_pool_id: "eu-west-1_abc".into()
                },
                require_id_token_use: true,
            }
        );
    }

    #[test]
    fn registered_oidc_providers_use_discovery() {
        let spec = classify(&pool(), "login.example.com", &Registry).unwrap();
        assert!(matches!(
            spec,
            ProviderSpec::OidcIdToken {
                keys: KeySource::Discovery { .. },
                ..
            }
        ));
    }

    #[test]
    fn only_keys_verified_as_registered_providers_have_an_oidc_arn() {
        let mut p = pool();
        assert_eq!(
            registered_oidc_arn(&p, "login.example.com"),
            Some("arn:aws:iam::123456789012:oidc-provider/login.example.com")
        );
        // An ARN for a key the pool also names as a built-in provider: verified as Google.
        p.open_id_connect_provider_arns
            .push("arn:aws:iam::123456789012:oidc-provider/accounts.google.com".into());
        assert_eq!(registered_oidc_arn(&p, GOOGLE), None);
        assert_eq!(registered_oidc_arn(&p, "other.example.com"), None);
    }

    #[test]
    fn unknown_developer_and_legacy_keys_are_refused() {
        assert_eq!(
            classify(&pool(), "www.amazon.com", &Registry),
            Err(LoginKeyError::NotConfigured)
        );
        assert_eq!(
            classify(&pool(), "login.dev", &Registry),
            Err(LoginKeyError::DeveloperProvider)
        );
        assert!(matches!(
            classify(&pool(), "api.twitter.com", &Registry),
            Err(LoginKeyError::Legacy(_))
        ));
        assert_eq!(
            classify(&pool(), "other.example.com", &Registry),
            Err(LoginKeyError::NotConfigured)
        );
    }

    #[test]
    fn facebook_is_checked_against_its_app_id() {
        assert_eq!(
            classify(&pool(), FACEBOOK, &Registry),
            Ok(ProviderSpec::Facebook {
                app_id: "fb-app".into()
            })
        );
    }
}

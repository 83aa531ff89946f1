//! An identity pool's configuration and the model's rules for it (`docs/spec.md` §3–§4).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::IdentityPoolId;
use crate::tags::Tags;
use crate::validation::{
    Validated, ValidationError, check_chars, check_count, check_len, is_space, is_word,
};

/// Cognito allows at most 10 SupportedLoginProviders (model).
pub const MAX_SUPPORTED_LOGIN_PROVIDERS: usize = 10;
/// User-pool providers per identity pool (quota, default 50).
pub const MAX_COGNITO_PROVIDERS: usize = 50;

/// A Cognito user pool (app client) trusted by an identity pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CognitoIdentityProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_token_check: Option<bool>,
}

/// The settable part of an identity pool: what CreateIdentityPool takes and UpdateIdentityPool
/// replaces. Field names are Cognito's, so this is also the stored JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PoolConfig {
    pub identity_pool_name: String,
    pub allow_unauthenticated_identities: bool,
    /// Absent means "allowed" (legacy default, spec §8.4), so absence is kept, not defaulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_classic_flow: Option<bool>,
    #[serde(default)]
    pub supported_login_providers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_provider_name: Option<String>,
    #[serde(default, rename = "OpenIdConnectProviderARNs")]
    pub open_id_connect_provider_arns: Vec<String>,
    #[serde(default)]
    pub cognito_identity_providers: Vec<CognitoIdentityProvider>,
    #[serde(default, rename = "SamlProviderARNs")]
    pub saml_provider_arns: Vec<String>,
}

/// A stored identity pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPool {
    pub id: IdentityPoolId,
    pub config: PoolConfig,
    pub tags: Tags,
    /// idbroker's extension: set on the REST face and in bootstrap files, not the AWS face.
    pub lifetimes: crate::PoolLifetimes,
    /// idbroker's extension, as `lifetimes`: token-exchange audiences besides the pool id
    /// (`exchange_audiences`), sorted.
    pub exchange_audiences: Vec<String>,
}

/// idbroker's extensions of a pool, set together: on the REST face and in bootstrap files
/// (replaced by a `PUT`), never on the AWS face (whose UpdateIdentityPool keeps them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolExtensions {
    pub lifetimes: crate::PoolLifetimes,
    pub exchange_audiences: Vec<String>,
}

impl From<crate::PoolLifetimes> for PoolExtensions {
    fn from(lifetimes: crate::PoolLifetimes) -> Self {
        Self {
            lifetimes,
            exchange_audiences: Vec::new(),
        }
    }
}

/// One row of ListIdentityPools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSummary {
    pub id: IdentityPoolId,
    pub name: String,
}

fn is_pool_name_char(c: char) -> bool {
    is_word(c) || is_space(c) || "+=,.@-".contains(c)
}

fn is_app_id_char(c: char) -> bool {
    is_word(c) || ".;_/-".contains(c)
}

fn is_developer_provider_char(c: char) -> bool {
    is_word(c) || "._-".contains(c)
}

fn is_user_pool_provider_char(c: char) -> bool {
    is_word(c) || "._:/-".contains(c)
}

/// The Logins key of an IAM OIDC-provider ARN: `arn:<partition>:iam::<account>:oidc-provider/<host[/path]>`
/// names the issuer `https://<host[/path]>`, whose Logins key is `<host[/path]>` (spec §2).
pub fn oidc_provider_key(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(rest))
            if !partition.is_empty()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit()) =>
        {
            rest.strip_prefix("oidc-provider/")
                .filter(|k| !k.is_empty())
        }
        _ => None,
    }
}

impl PoolConfig {
    /// Checks every model constraint of the pool shape (spec §4, CreateIdentityPool).
    pub fn validate(&self) -> Validated {
        check_len("identityPoolName", &self.identity_pool_name, 1, 128)?;
        check_chars(
            "identityPoolName",
            &self.identity_pool_name,
            "[\\w\\s+=,.@-]+",
            is_pool_name_char,
        )?;

        check_count(
            "supportedLoginProviders",
            self.supported_login_providers.len(),
            MAX_SUPPORTED_LOGIN_PROVIDERS,
        )?;
        for (provider, app_id) in &self.supported_login_providers {
            check_len("supportedLoginProviders.key", provider, 1, 128)?;
            if crate::login::LEGACY_PROVIDERS.contains(&provider.as_str()) {
                return Err(ValidationError::message(format!(
                    "{provider} logins are not supported by idbroker."
                )));
            }
            if !crate::login::BUILT_IN_PROVIDERS.contains(&provider.as_str()) {
                return Err(ValidationError::message(format!(
                    "SupportedLoginProviders key '{provider}' is not one of {}; register other OpenID Connect issuers and use OpenIdConnectProviderARNs.",
                    crate::login::BUILT_IN_PROVIDERS.join(", ")
                )));
            }
            check_len("supportedLoginProviders.value", app_id, 1, 128)?;
            check_chars(
                "supportedLoginProviders.value",
                app_id,
                "[\\w.;_/-]+",
                is_app_id_char,
            )?;
        }

        if let Some(name) = &self.developer_provider_name {
            check_len("developerProviderName", name, 1, 128)?;
            check_chars(
                "developerProviderName",
                name,
                "[\\w._-]+",
                is_developer_provider_char,
            )?;
            if self.supported_login_providers.contains_key(name) {
                return Err(ValidationError::message(format!(
                    "DeveloperProviderName '{name}' is also a SupportedLoginProviders key"
                )));
            }
        }

        let mut seen = BTreeSet::new();
        for arn in &self.open_id_connect_provider_arns {
            check_len("openIdConnectProviderARNs.member", arn, 20, 2048)?;
            if oidc_provider_key(arn).is_none() {
                return Err(ValidationError::message(format!(
                    "Invalid OpenIdConnectProviderARN '{arn}': expected arn:aws:iam::<account>:oidc-provider/<issuer host and path>"
                )));
            }
            if !seen.insert(arn) {
                return Err(ValidationError::message(format!(
                    "Duplicate OpenIdConnectProviderARN '{arn}'"
                )));
            }
        }

        check_count(
            "cognitoIdentityProviders",
            self.cognito_identity_providers.len(),
            MAX_COGNITO_PROVIDERS,
        )?;
        let mut seen = BTreeSet::new();
        for provider in &self.cognito_identity_providers {
            let invalid = || ValidationError::message("Invalid Cognito Identity Provider");
            let name = provider.provider_name.as_deref().ok_or_else(invalid)?;
            let client = provider.client_id.as_deref().ok_or_else(invalid)?;
            check_len("cognitoIdentityProviders.member.providerName", name, 1, 128)?;
            check_chars(
                "cognitoIdentityProviders.member.providerName",
                name,
                "[\\w._:/-]+",
                is_user_pool_provider_char,
            )?;
            check_len("cognitoIdentityProviders.member.clientId", client, 1, 128)?;
            check_chars(
                "cognitoIdentityProviders.member.clientId",
                client,
                "[\\w_]+",
                is_word,
            )?;
            if !seen.insert((name, client)) {
                return Err(ValidationError::message(format!(
                    "Duplicate Cognito Identity Provider '{name}' with client '{client}'"
                )));
            }
        }

        let mut seen = BTreeSet::new();
        for arn in &self.saml_provider_arns {
            check_len("samlProviderARNs.member", arn, 20, 2048)?;
            if !seen.insert(arn) {
                return Err(ValidationError::message(format!(
                    "Duplicate SamlProviderARN '{arn}'"
                )));
            }
        }
        Ok(())
    }

    /// Every name by which a request may refer to one of this pool's providers in RoleMappings
    /// or principal-tag maps: Logins keys, user pools with and without `:<clientId>`, SAML ARNs.
    pub fn provider_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.supported_login_providers.keys().cloned().collect();
        names.extend(
            self.open_id_connect_provider_arns
                .iter()
                .filter_map(|arn| oidc_provider_key(arn))
                .map(str::to_owned),
        );
        for provider in &self.cognito_identity_providers {
            if let Some(name) = &provider.provider_name {
                names.insert(name.clone());
                if let Some(client) = &provider.client_id {
                    names.insert(format!("{name}:{client}"));
                }
            }
        }
        names.extend(self.saml_provider_arns.iter().cloned());
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str) -> PoolConfig {
        PoolConfig {
            identity_pool_name: name.to_owned(),
            allow_unauthenticated_identities: true,
            ..PoolConfig::default()
        }
    }

    #[test]
    fn a_plain_pool_is_valid() {
        assert!(pool("my pool+=,.@-_9").validate().is_ok());
    }

    #[test]
    fn pool_names_outside_the_pattern_or_too_long_are_rejected() {
        assert!(pool("bad/name").validate().is_err());
        assert!(pool(&"a".repeat(129)).validate().is_err());
        assert!(pool("").validate().is_err());
        assert!(pool(&"a".repeat(128)).validate().is_ok());
    }

    #[test]
    fn eleven_supported_login_providers_are_too_many() {
        let mut p = pool("p");
        for i in 0..11 {
            p.supported_login_providers
                .insert(format!("p{i}.example.com"), "app".into());
        }
        let err = p.validate().unwrap_err();
        assert!(err.0.contains("supportedLoginProviders"), "{err}");
    }

    #[test]
    fn only_built_in_providers_are_supported_login_providers() {
        let mut p = pool("p");
        p.supported_login_providers
            .insert("api.twitter.com".into(), "key;secret".into());
        assert!(p.validate().unwrap_err().0.contains("not supported"));
        p.supported_login_providers.clear();
        p.supported_login_providers
            .insert("login.example.com".into(), "app".into());
        assert!(
            p.validate()
                .unwrap_err()
                .0
                .contains("OpenIdConnectProviderARNs")
        );
        p.supported_login_providers.clear();
        p.supported_login_providers.insert(
            "www.amazon.com".into(),
            "amzn1.application-oa2-client.abc".into(),
        );
        assert!(p.validate().is_ok());
    }

    #[test]
    fn a_user_pool_without_a_provider_name_is_invalid() {
        let mut p = pool("p");
        p.cognito_identity_providers.push(CognitoIdentityProvider {
            client_id: Some("abc".into()),
            ..Default::default()
        });
        assert_eq!(
            p.validate().unwrap_err().0,
            "Invalid Cognito Identity Provider"
        );
    }

    #[test]
    fn oidc_provider_arns_must_name_an_iam_oidc_provider() {
        let mut p = pool("p");
        p.open_id_connect_provider_arns
            .push("arn:aws:iam::123456789012:role/not-a-provider".into());
        assert!(p.validate().is_err());
        p.open_id_connect_provider_arns =
            vec!["arn:aws:iam::123456789012:oidc-provider/login.example.com/realms/x".into()];
        assert!(p.validate().is_ok());
    }

    #[test]
    fn provider_names_cover_every_configured_provider() {
        let mut p = pool("p");
        p.supported_login_providers
            .insert("accounts.google.com".into(), "client".into());
        p.open_id_connect_provider_arns
            .push("arn:aws:iam::123456789012:oidc-provider/login.example.com".into());
        p.cognito_identity_providers.push(CognitoIdentityProvider {
            provider_name: Some("cognito-idp.us-east-1.amazonaws.com/us-east-1_abc".into()),
            client_id: Some("client1".into()),
            server_side_token_check: None,
        });
        let names = p.provider_names();
        for expected in [
            "accounts.google.com",
            "login.example.com",
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc:client1",
        ] {
            assert!(
                names.contains(expected),
                "{expected} missing from {names:?}"
            );
        }
    }
}

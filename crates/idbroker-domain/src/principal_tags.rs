//! Attributes for access control: which provider claims become session tags (`docs/spec.md` §6.7).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pool::PoolConfig;
use crate::validation::{Validated, ValidationError, check_count, check_len};

/// A pool's principal-tag map for one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PrincipalTagMap {
    #[serde(default)]
    pub use_defaults: bool,
    /// Tag key → claim name.
    #[serde(default)]
    pub principal_tags: BTreeMap<String, String>,
}

impl PrincipalTagMap {
    /// Checks the map and that `provider` is configured on `pool`.
    pub fn validate(&self, pool: &PoolConfig, provider: &str) -> Validated {
        validate_provider_name(pool, provider)?;
        check_count("principalTags", self.principal_tags.len(), 50)?;
        for (tag, claim) in &self.principal_tags {
            check_len("principalTags.key", tag, 1, 128)?;
            check_len("principalTags.value", claim, 1, 256)?;
        }
        Ok(())
    }
}

/// `IdentityProviderName` (1–128) must name a provider configured on the pool.
pub fn validate_provider_name(pool: &PoolConfig, provider: &str) -> Validated {
    check_len("identityProviderName", provider, 1, 128)?;
    if pool.provider_names().contains(provider) {
        Ok(())
    } else {
        Err(ValidationError::message(format!(
            "{provider} is not a configured provider of this identity pool."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolConfig {
        let mut p = PoolConfig {
            identity_pool_name: "p".into(),
            ..PoolConfig::default()
        };
        p.supported_login_providers
            .insert("accounts.google.com".into(), "client".into());
        p
    }

    #[test]
    fn a_map_for_a_configured_provider_is_valid() {
        let map = PrincipalTagMap {
            use_defaults: false,
            principal_tags: [("team".to_owned(), "hd".to_owned())].into(),
        };
        assert!(map.validate(&pool(), "accounts.google.com").is_ok());
    }

    #[test]
    fn a_map_for_an_unknown_provider_is_rejected() {
        assert!(
            PrincipalTagMap::default()
                .validate(&pool(), "graph.facebook.com")
                .is_err()
        );
    }

    #[test]
    fn fifty_one_tags_are_rejected() {
        let map = PrincipalTagMap {
            use_defaults: false,
            principal_tags: (0..51)
                .map(|i| (format!("t{i}"), "sub".to_owned()))
                .collect(),
        };
        assert!(map.validate(&pool(), "accounts.google.com").is_err());
    }
}

impl PrincipalTagMap {
    /// The session tags this map gives a login with these verified claims (spec §6.7):
    /// with UseDefaults, `client` ← `aud` and `username` ← `sub`; then each custom tag takes its
    /// claim. Missing or non-text claims give no tag; values are cut to STS's 256 characters.
    pub fn tags_for(
        &self,
        claims: &BTreeMap<String, serde_json::Value>,
    ) -> BTreeMap<String, String> {
        let text = |claim: &str| -> Option<String> {
            match claims.get(claim)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Array(items) => items.first()?.as_str().map(str::to_owned),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(256).collect())
        };
        let mut tags = BTreeMap::new();
        if self.use_defaults {
            for (tag, claim) in [("client", "aud"), ("username", "sub")] {
                if let Some(value) = text(claim) {
                    tags.insert(tag.to_owned(), value);
                }
            }
        }
        for (tag, claim) in &self.principal_tags {
            if let Some(value) = text(claim) {
                tags.insert(tag.clone(), value);
            }
        }
        tags
    }
}

#[cfg(test)]
mod tag_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_map_client_and_username_and_custom_tags_follow_claims() {
        let claims: BTreeMap<String, serde_json::Value> = serde_json::from_value(
            json!({"aud": "app", "sub": "u1", "custom:dept": "eng", "groups": ["a", "b"]}),
        )
        .unwrap();
        let map = PrincipalTagMap {
            use_defaults: true,
            principal_tags: [
                ("department".to_owned(), "custom:dept".to_owned()),
                ("group".to_owned(), "groups".to_owned()),
                ("missing".to_owned(), "nope".to_owned()),
            ]
            .into(),
        };
        let tags = map.tags_for(&claims);
        assert_eq!(tags.get("client").map(String::as_str), Some("app"));
        assert_eq!(tags.get("username").map(String::as_str), Some("u1"));
        assert_eq!(tags.get("department").map(String::as_str), Some("eng"));
        assert_eq!(tags.get("group").map(String::as_str), Some("a"));
        assert!(!tags.contains_key("missing"));
    }
}

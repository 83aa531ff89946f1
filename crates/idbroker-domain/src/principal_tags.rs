//! Attributes for access control: which provider claims become session tags (reference §6.7).

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

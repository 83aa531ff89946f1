//! The roles of an identity pool and its role mappings (SetIdentityPoolRoles, `docs/spec.md` §3–§4, §6.5).
//!
//! Only storing and validating lives here for now; resolving a role for a request comes with
//! GetCredentialsForIdentity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pool::PoolConfig;
use crate::validation::{Validated, ValidationError, check_count, check_len};

/// Providers with role mappings per pool (model and quota).
pub const MAX_ROLE_MAPPINGS: usize = 10;
/// Rules per provider: the docs and quota say 25 (the model's 400 is not what the service enforces).
pub const MAX_RULES_PER_MAPPING: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleMappingType {
    Token,
    Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AmbiguousRoleResolution {
    AuthenticatedRole,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    NotEqual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingRule {
    pub claim: String,
    pub match_type: MatchType,
    pub value: String,
    #[serde(rename = "RoleARN")]
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RulesConfiguration {
    pub rules: Vec<MappingRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleMapping {
    #[serde(rename = "Type")]
    pub mapping_type: RoleMappingType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_role_resolution: Option<AmbiguousRoleResolution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_configuration: Option<RulesConfiguration>,
}

/// `Roles` (`authenticated` / `unauthenticated` → role ARN) and `RoleMappings` of one pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PoolRoles {
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub role_mappings: BTreeMap<String, RoleMapping>,
}

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account>:role/<path and name>`, 20–2048 chars.
pub fn validate_role_arn(field: &str, arn: &str) -> Validated {
    check_len(field, arn, 20, 2048)?;
    let mut parts = arn.splitn(6, ':');
    let well_formed = matches!(
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("arn"), Some(p), Some("iam"), Some(""), Some(acct), Some(rest))
            if !p.is_empty()
                && acct.len() == 12
                && acct.chars().all(|c| c.is_ascii_digit())
                && rest.strip_prefix("role/").is_some_and(|name| !name.is_empty())
    );
    if well_formed {
        Ok(())
    } else {
        Err(ValidationError::message(format!(
            "'{arn}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )))
    }
}

impl PoolRoles {
    /// Checks the roles and mappings against the model and against the pool they belong to.
    pub fn validate(&self, pool: &PoolConfig) -> Validated {
        check_count("roles", self.roles.len(), 2)?;
        for (key, arn) in &self.roles {
            if key != "authenticated" && key != "unauthenticated" {
                return Err(ValidationError::constraint(
                    "roles.key",
                    key,
                    "Member must satisfy regular expression pattern: (un)?authenticated",
                ));
            }
            validate_role_arn("roles.value", arn)?;
        }

        check_count("roleMappings", self.role_mappings.len(), MAX_ROLE_MAPPINGS)?;
        let providers = pool.provider_names();
        for (provider, mapping) in &self.role_mappings {
            check_len("roleMappings.key", provider, 1, 128)?;
            if !providers.contains(provider) {
                return Err(ValidationError::message(format!(
                    "{provider} is not a valid RoleMapping ProviderName or is not a configured provider."
                )));
            }
            mapping.validate(provider)?;
        }
        Ok(())
    }
}

impl RoleMapping {
    fn validate(&self, provider: &str) -> Validated {
        if self.ambiguous_role_resolution.is_none() {
            return Err(ValidationError::message(format!(
                "AmbiguousRoleResolution is required for the role mapping of {provider}"
            )));
        }
        match (self.mapping_type, &self.rules_configuration) {
            (RoleMappingType::Rules, None) => Err(ValidationError::message(format!(
                "RulesConfiguration is required when the role mapping type of {provider} is Rules"
            ))),
            (RoleMappingType::Rules, Some(config)) => {
                if config.rules.is_empty() {
                    return Err(ValidationError::constraint_no_echo(
                        "roleMappings.value.rulesConfiguration.rules",
                        "Member must have length greater than or equal to 1",
                    ));
                }
                check_count(
                    "roleMappings.value.rulesConfiguration.rules",
                    config.rules.len(),
                    MAX_RULES_PER_MAPPING,
                )?;
                config.rules.iter().try_for_each(MappingRule::validate)
            }
            (RoleMappingType::Token, Some(_)) => Err(ValidationError::message(format!(
                "RulesConfiguration is only allowed when the role mapping type of {provider} is Rules"
            ))),
            (RoleMappingType::Token, None) => Ok(()),
        }
    }
}

impl MappingRule {
    fn validate(&self) -> Validated {
        let field = "roleMappings.value.rulesConfiguration.rules.member";
        check_len(&format!("{field}.claim"), &self.claim, 1, 64)?;
        if self
            .claim
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ValidationError::constraint(
                &format!("{field}.claim"),
                &self.claim,
                "Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+",
            ));
        }
        check_len(&format!("{field}.value"), &self.value, 1, 128)?;
        validate_role_arn(&format!("{field}.roleARN"), &self.role_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "arn:aws:iam::123456789012:role/auth";

    fn pool() -> PoolConfig {
        let mut p = PoolConfig {
            identity_pool_name: "p".into(),
            allow_unauthenticated_identities: true,
            ..PoolConfig::default()
        };
        p.supported_login_providers
            .insert("accounts.google.com".into(), "client".into());
        p
    }

    fn rules(n: usize) -> RoleMapping {
        RoleMapping {
            mapping_type: RoleMappingType::Rules,
            ambiguous_role_resolution: Some(AmbiguousRoleResolution::Deny),
            rules_configuration: Some(RulesConfiguration {
                rules: (0..n)
                    .map(|i| MappingRule {
                        claim: "locale".into(),
                        match_type: MatchType::Equals,
                        value: format!("v{i}"),
                        role_arn: AUTH.into(),
                    })
                    .collect(),
            }),
        }
    }

    fn with_mapping(provider: &str, mapping: RoleMapping) -> PoolRoles {
        PoolRoles {
            roles: [("authenticated".to_owned(), AUTH.to_owned())].into(),
            role_mappings: [(provider.to_owned(), mapping)].into(),
        }
    }

    /// Whether a Google mapping is valid on the test pool.
    fn google_mapping_is_valid(mapping: RoleMapping) -> bool {
        with_mapping("accounts.google.com", mapping)
            .validate(&pool())
            .is_ok()
    }

    #[test]
    fn a_roles_key_other_than_authenticated_or_unauthenticated_is_rejected() {
        let roles = PoolRoles {
            roles: [("admin".to_owned(), AUTH.to_owned())].into(),
            ..Default::default()
        };
        assert!(
            roles
                .validate(&pool())
                .unwrap_err()
                .0
                .contains("(un)?authenticated")
        );
    }

    #[test]
    fn a_mapping_for_an_unconfigured_provider_is_rejected_with_cognitos_message() {
        let err = with_mapping("graph.facebook.com", rules(1))
            .validate(&pool())
            .unwrap_err();
        assert_eq!(
            err.0,
            "graph.facebook.com is not a valid RoleMapping ProviderName or is not a configured provider."
        );
    }

    #[test]
    fn twenty_five_rules_are_allowed_and_twenty_six_are_not() {
        assert!(google_mapping_is_valid(rules(25)));
        assert!(!google_mapping_is_valid(rules(26)));
    }

    #[test]
    fn a_rules_mapping_needs_its_rules() {
        let mut mapping = rules(1);
        mapping.rules_configuration = None;
        assert!(!google_mapping_is_valid(mapping));
    }

    #[test]
    fn a_mapping_needs_an_ambiguous_role_resolution() {
        let mut mapping = rules(1);
        mapping.ambiguous_role_resolution = None;
        assert!(!google_mapping_is_valid(mapping));
    }

    #[test]
    fn role_arns_must_name_iam_roles() {
        assert!(validate_role_arn("r", AUTH).is_ok());
        assert!(validate_role_arn("r", "arn:aws:iam::123456789012:user/bob").is_err());
        assert!(validate_role_arn("r", "arn:aws:iam::1234:role/too-short-acct").is_err());
    }
}

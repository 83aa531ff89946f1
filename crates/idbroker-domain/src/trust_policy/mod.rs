//! The IAM trust policy a pool's role needs so that STS accepts idbroker's tokens for it, and a
//! check of an existing one (`docs/aws-iam.md` §3). idbroker's tokens carry `aud` = the pool id
//! and `amr` = `["unauthenticated"]` or `["authenticated", <provider>…]`; STS sees them through
//! the IAM OIDC provider of idbroker's issuer, whose condition keys are `<issuer host+path>:aud`
//! and `<issuer host+path>:amr`.

mod check;
mod document;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ids::{AccountId, IdentityPoolId};
use crate::oidc_provider::{arn_for_key, issuer_key};
use crate::pool::PoolConfig;
use crate::principal_tags::PrincipalTagMap;
use crate::validation::{Validated, ValidationError};

pub use check::{Finding, Severity, check};
pub use document::{
    Condition, Effect, MAX_POLICY_CHARS, MAX_STATEMENTS, MAX_STRING_CHARS, MAX_VALUES, Policy,
    Principal, Statement, refuse_duplicate_members,
};

pub const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";
pub const TAG_SESSION: &str = "sts:TagSession";

/// Which of a pool's two roles (`Roles.authenticated`, `Roles.unauthenticated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    Authenticated,
    Unauthenticated,
}

impl RoleKind {
    pub fn parse(value: &str) -> Validated<Self> {
        match value {
            "authenticated" => Ok(Self::Authenticated),
            "unauthenticated" => Ok(Self::Unauthenticated),
            _ => Err(ValidationError::message(format!(
                "role must be 'authenticated' or 'unauthenticated', not '{}'",
                value.chars().take(32).collect::<String>()
            ))),
        }
    }

    /// The `amr` value every token for this kind of identity carries.
    pub fn amr(self) -> &'static str {
        match self {
            Self::Authenticated => "authenticated",
            Self::Unauthenticated => "unauthenticated",
        }
    }
}

/// Whether tokens for `role` may carry session tags, so the role must allow `sts:TagSession`
/// (STS refuses a tagged token otherwise). Guests never carry tags: principal-tag maps read the
/// claims of a login, and developer `PrincipalTags` belong to developer (authenticated)
/// identities. Signed-in identities carry them when a principal-tag map of the pool gives any
/// (`UseDefaults` or a tag), or when the pool has a developer provider: the backend may pass
/// `PrincipalTags` in any GetOpenIdTokenForDeveloperIdentity call, which idbroker cannot
/// foresee, and allowing `sts:TagSession` admits no one new (the tags come from idbroker's
/// signed token).
pub fn session_tags_may_apply<'a>(
    role: RoleKind,
    pool: &PoolConfig,
    maps: impl IntoIterator<Item = &'a PrincipalTagMap>,
) -> bool {
    role == RoleKind::Authenticated
        && (pool.developer_provider_name.is_some()
            || maps
                .into_iter()
                .any(|m| m.use_defaults || !m.principal_tags.is_empty()))
}

/// What a role's trust policy must say for one pool, role and idbroker issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// idbroker's issuer URL (`IDBROKER_ISSUER`).
    pub issuer: String,
    pub account: AccountId,
    pub pool_id: IdentityPoolId,
    pub role: RoleKind,
    /// `session_tags_may_apply`.
    pub session_tags: bool,
}

/// A trust policy document as IAM takes it (members in IAM's usual order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrustPolicyDocument {
    pub version: &'static str,
    pub statement: Vec<TrustStatement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrustStatement {
    pub effect: &'static str,
    pub principal: FederatedPrincipal,
    pub action: Vec<&'static str>,
    /// Operator → condition key → value.
    pub condition: BTreeMap<&'static str, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FederatedPrincipal {
    pub federated: String,
}

impl Expected {
    /// The issuer as IAM names its OIDC provider: host and path, no scheme.
    pub fn issuer_key(&self) -> &str {
        issuer_key(&self.issuer)
    }

    /// `arn:aws:iam::<account>:oidc-provider/<issuer host+path>`.
    pub fn provider_arn(&self) -> String {
        arn_for_key(&self.account, self.issuer_key())
    }

    /// The condition key of one claim: `<issuer host+path>:<claim>`.
    pub fn condition_key(&self, claim: &str) -> String {
        format!("{}:{claim}", self.issuer_key())
    }

    /// The trust policy idbroker recommends: this issuer's OIDC provider may assume the role
    /// with a token for this pool (`aud`) and this kind of identity (`amr`), and tag the
    /// session when tags may apply.
    pub fn policy(&self) -> TrustPolicyDocument {
        let mut action = vec![ASSUME_ROLE_WITH_WEB_IDENTITY];
        if self.session_tags {
            action.push(TAG_SESSION);
        }
        let condition = BTreeMap::from([
            (
                "StringEquals",
                BTreeMap::from([(self.condition_key("aud"), self.pool_id.to_string())]),
            ),
            (
                "ForAnyValue:StringLike",
                BTreeMap::from([(self.condition_key("amr"), self.role.amr().to_owned())]),
            ),
        ]);
        TrustPolicyDocument {
            version: "2012-10-17",
            statement: vec![TrustStatement {
                effect: "Allow",
                principal: FederatedPrincipal {
                    federated: self.provider_arn(),
                },
                action,
                condition,
            }],
        }
    }
}

#[cfg(test)]
mod tests;

//! `/v1/identity-pools/{pool_id}/trust-policy`: the IAM trust policy a pool's role needs so
//! that STS accepts idbroker's tokens for it, and a check of a role's existing trust policy.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Which of the pool's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrustRole {
    Authenticated,
    Unauthenticated,
}

impl TrustRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authenticated => "authenticated",
            Self::Unauthenticated => "unauthenticated",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicyQuery {
    /// `authenticated` or `unauthenticated`.
    pub role: TrustRole,
}

/// An IAM policy document (`Version`, `Statement`), ready for `aws iam create-role
/// --assume-role-policy-document`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct PolicyDocument(pub Value);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicyCheckRequest {
    pub role: TrustRole,
    /// The role's trust policy: a JSON object, or a string holding one, as JSON text or
    /// URL-encoded (as IAM's GetRole returns `AssumeRolePolicyDocument`). At most 10,240
    /// characters, 50 statements, 100 values per list, 2,048 characters per string.
    #[schema(value_type = Value)]
    pub policy: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FindingSeverity {
    /// The policy lets the wrong identities in or keeps the right ones out.
    Error,
    /// The policy works but is broader or odder than needed.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    pub severity: FindingSeverity,
    /// Stable, for scripts: `missing_aud_condition`, `aud_other_pool`, `wrong_principal`, …
    /// (listed in docs/aws-iam.md).
    pub code: String,
    pub message: String,
    /// Index in `Statement` of the statement it is about, if it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustPolicyCheck {
    pub role: TrustRole,
    /// Errors first; empty when the policy is what the role needs.
    pub findings: Vec<Finding>,
    /// The trust policy idbroker recommends for this role (as the GET route returns it).
    pub recommended_policy: PolicyDocument,
}

impl TrustPolicyCheck {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == FindingSeverity::Error)
    }
}

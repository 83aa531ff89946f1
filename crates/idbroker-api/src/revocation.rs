//! `POST|DELETE /v1/identities/{identity_id}/revoke` and `/v1/identity-pools/{pool_id}/revoke`:
//! an admin stops an identity (or every identity of a pool) from getting tokens and
//! credentials, and is handed the IAM policy that denies the sessions already issued.
//! AWS credentials cannot be recalled; their use can be denied by the roles' policies.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Most live access keys listed in a revocation's answer.
pub const MAX_LIVE_CREDENTIALS: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// RFC 3339 instant: sessions issued before it are to be denied. Default: now. It is
    /// rounded up to a whole second (IAM compares `aws:TokenIssueTime` in seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationScope {
    Identity,
    Pool,
}

/// A credential the ledger recorded that may still be in use (not expired when revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LiveCredential {
    pub access_key_id: String,
    pub identity_id: String,
    pub role_arn: String,
    pub issued_at: String,
    pub expires_at: String,
}

/// The revocation as recorded, and what to do in IAM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevocationBody {
    pub scope: RevocationScope,
    /// The identity revoked (scope `identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// The pool revoked, or the identity's pool.
    pub identity_pool_id: String,
    /// The instant of the deny policy (RFC 3339, UTC, whole seconds).
    pub revoked_before: String,
    /// Whether this replaced an earlier revocation of the same identity or pool.
    pub replaced: bool,
    /// An IAM policy to attach to every role in `roles` (`aws iam put-role-policy`): it denies
    /// every action to the sessions this revocation covers issued before `revoked_before`.
    /// Absent when no policy can single out this identity's sessions (see `note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub deny_policy: Option<Value>,
    /// Offered when `deny_policy` is absent: the pool-wide policy, which denies every session
    /// of the roles issued before the instant (every identity's, and other pools' sharing the
    /// roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pool_deny_policy: Option<Value>,
    /// The roles the pool names (its default roles and its rules' roles).
    pub roles: Vec<String>,
    /// What the policy does not cover, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Access keys the ledger recorded for this identity (or pool) that had not expired when
    /// it was revoked, newest first, at most 1000.
    pub live_credentials: Vec<LiveCredential>,
    /// More live access keys exist than are listed (query `GET /v1/issuances`).
    pub live_credentials_truncated: bool,
}

//! `/v1/audit`: the admin changes, newest first.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only changes to this resource (a pool or identity id, a provider ARN, ...).
    pub resource: Option<String>,
    /// Only changes by this actor, exactly as the changes show it (`admin token from 10.0.0.7`).
    pub actor: Option<String>,
    /// Only changes of this action (`CreateIdentityPool`, `RevokeIdentity`, ...).
    pub action: Option<String>,
    /// Only changes at or after this RFC 3339 instant.
    pub since: Option<String>,
    /// Only changes before this RFC 3339 instant.
    pub until: Option<String>,
    /// Page size, 1-60 (default 60).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeBody {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeList {
    pub changes: Vec<ChangeBody>,
    pub next_cursor: Option<String>,
}

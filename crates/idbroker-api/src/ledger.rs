//! `/v1/issuances`: the credential ledger.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// Exactly one of access_key_id, identity_id and pool_id.
    pub access_key_id: Option<String>,
    pub identity_id: Option<String>,
    pub pool_id: Option<String>,
    /// RFC 3339: only credentials issued at or after this instant.
    pub since: Option<String>,
    /// Page size, 1–60 (default 60).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuanceBody {
    pub issued_at: String,
    pub identity_id: String,
    pub identity_pool_id: String,
    pub role_arn: String,
    pub access_key_id: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuanceList {
    pub issuances: Vec<IssuanceBody>,
    pub next_cursor: Option<String>,
}

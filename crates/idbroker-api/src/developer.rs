//! Developer-authenticated identities (admin token).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeveloperTokenRequest {
    /// The developer provider name → the user, plus optional public-provider tokens to link.
    pub logins: BTreeMap<String, String>,
    /// Link the user to this identity (e.g. a guest becoming authenticated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    #[serde(default)]
    pub principal_tags: BTreeMap<String, String>,
    /// Seconds, 1–86400 (default 900).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_duration: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    pub identity_id: Option<String>,
    pub user: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LookupBody {
    pub identity_id: String,
    pub users: Vec<String>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    pub developer_provider_name: String,
    pub source_user: String,
    pub destination_user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlinkDeveloperRequest {
    pub identity_id: String,
    pub developer_provider_name: String,
    pub user: String,
}

//! Identities: the admin view and the public operations (GetId, a token, credentials, unlink).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityBody {
    pub identity_id: String,
    pub identity_pool_id: String,
    /// Provider keys of the linked logins.
    pub logins: Vec<String>,
    pub created_at: String,
    pub last_modified_at: String,
    /// Merged away or left without logins: it can no longer be used.
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IdentityPaging {
    /// Page size, 1–60 (default 60).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Leave out merged-away identities.
    pub hide_disabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginsBody {
    /// Provider key → token, as the Cognito `Logins` map.
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_arn: Option<String>,
}

/// One-shot credentials: GetId and GetCredentialsForIdentity in one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolCredentialsRequest {
    /// Provider key → token, as the Cognito `Logins` map; none for a guest.
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
    /// An identity of this pool to use (a guest again, or the identity the logins are for),
    /// instead of the one GetId would return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlinkRequest {
    pub logins: BTreeMap<String, String>,
    pub logins_to_remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityIdBody {
    pub identity_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenBody {
    pub identity_id: String,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CredentialsBody {
    pub identity_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
}

/// Credentials in the format the AWS SDKs read from a container-credentials endpoint
/// (`AWS_CONTAINER_CREDENTIALS_FULL_URI`): their member names, not this API's snake case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCredentialsBody {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The session token (the SDKs' name for it here).
    pub token: String,
    /// RFC 3339, UTC, whole seconds (`2026-01-01T00:00:00Z`).
    pub expiration: String,
}

//! `/v1/identity-pools`: pools, their roles, principal-tag maps and tags. The members are
//! Cognito's, in snake_case (`IdentityPoolName` → `identity_pool_name`,
//! `OpenIdConnectProviderARNs` → `open_id_connect_provider_arns`); enumerated values
//! (`Token`, `Rules`, `Equals`, …) are Cognito's unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A Cognito user pool (app client) trusted by an identity pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CognitoProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_token_check: Option<bool>,
}

/// A pool to create, or the new version of one (PUT replaces it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolRequest {
    pub identity_pool_name: String,
    pub allow_unauthenticated_identities: bool,
    /// Absent means allowed (the legacy default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_classic_flow: Option<bool>,
    /// Built-in provider (`accounts.google.com`, …) → app id.
    #[serde(default)]
    pub supported_login_providers: BTreeMap<String, String>,
    /// Set once; kept on replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_provider_name: Option<String>,
    /// ARNs of registered OpenID Connect providers (`/v1/oidc-providers`).
    #[serde(default)]
    pub open_id_connect_provider_arns: Vec<String>,
    #[serde(default)]
    pub cognito_identity_providers: Vec<CognitoProvider>,
    #[serde(default)]
    pub saml_provider_arns: Vec<String>,
    /// On replace, omitted tags are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_pool_tags: Option<BTreeMap<String, String>>,
    /// idbroker extension (not on the AWS face): STS `DurationSeconds` of this pool's
    /// credentials, 900–43200. Absent: the server's `IDBROKER_STS_DURATION_SECONDS`. On
    /// replace, an omitted lifetime is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_duration_seconds: Option<i64>,
    /// idbroker extension: lifetime of GetOpenIdToken tokens (and of the token idbroker hands
    /// STS, and of token-exchange answers), 1 s up to the signing keys' bound (86400), at most
    /// `max_token_lifetime_seconds`. Absent: 600, or `max_token_lifetime_seconds` if lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_seconds: Option<i64>,
    /// idbroker extension: the longest developer `TokenDuration` accepted, 1 s up to the
    /// signing keys' bound (86400). Absent: 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime_seconds: Option<i64>,
    /// idbroker extension: for how many seconds (0–900) the same identity and role get the
    /// same credentials back from the replica's memory instead of a new STS call, never within
    /// 5 minutes of their expiry. Absent or 0: off (every call asks STS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_reuse_seconds: Option<i64>,
    /// idbroker extension: audiences `POST /oauth2/token` accepts for this pool besides its id
    /// (Google Cloud's `//iam.googleapis.com/projects/…/providers/…`, Azure's
    /// `api://AzureADTokenExchange`, an internal API's URL), given as the exchanged token's
    /// `aud`. At most 10, each 1–256 printable ASCII characters without whitespace, no
    /// duplicates, none an identity pool id. Absent: none. On replace, omitted means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_audiences: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolResponse {
    pub identity_pool_id: String,
    pub identity_pool_name: String,
    pub allow_unauthenticated_identities: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_classic_flow: Option<bool>,
    pub supported_login_providers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_provider_name: Option<String>,
    pub open_id_connect_provider_arns: Vec<String>,
    pub cognito_identity_providers: Vec<CognitoProvider>,
    pub saml_provider_arns: Vec<String>,
    pub identity_pool_tags: BTreeMap<String, String>,
    /// idbroker extension (not on the AWS face): STS `DurationSeconds` of this pool's
    /// credentials, 900–43200. Absent: the server's `IDBROKER_STS_DURATION_SECONDS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_duration_seconds: Option<i64>,
    /// idbroker extension: lifetime of GetOpenIdToken tokens (and of the token idbroker hands
    /// STS, and of token-exchange answers), 1 s up to the signing keys' bound (86400), at most
    /// `max_token_lifetime_seconds`. Absent: 600, or `max_token_lifetime_seconds` if lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_seconds: Option<i64>,
    /// idbroker extension: the longest developer `TokenDuration` accepted, 1 s up to the
    /// signing keys' bound (86400). Absent: 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime_seconds: Option<i64>,
    /// idbroker extension: for how many seconds (0–900) the same identity and role get the
    /// same credentials back from the replica's memory instead of a new STS call, never within
    /// 5 minutes of their expiry. Absent or 0: off (every call asks STS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_reuse_seconds: Option<i64>,
    /// idbroker extension: audiences `POST /oauth2/token` accepts for this pool besides its id,
    /// sorted. Absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_audiences: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolSummary {
    pub identity_pool_id: String,
    pub identity_pool_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolList {
    pub identity_pools: Vec<PoolSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// Page size, 1–60 (default 60).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Resource tags (`POST` adds or overwrites these keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum RoleMappingType {
    Token,
    Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum AmbiguousRoleResolution {
    AuthenticatedRole,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    NotEqual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingRule {
    pub claim: String,
    pub match_type: MatchType,
    pub value: String,
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesConfiguration {
    pub rules: Vec<MappingRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    #[serde(rename = "type")]
    pub mapping_type: RoleMappingType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_role_resolution: Option<AmbiguousRoleResolution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_configuration: Option<RulesConfiguration>,
}

/// A pool's roles (`authenticated` / `unauthenticated` → role ARN) and role mappings
/// (provider → mapping).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub role_mappings: BTreeMap<String, RoleMapping>,
}

/// Which claims of one provider's tokens become session tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrincipalTagsBody {
    #[serde(default)]
    pub use_defaults: bool,
    /// Tag key → claim name.
    #[serde(default)]
    pub principal_tags: BTreeMap<String, String>,
}

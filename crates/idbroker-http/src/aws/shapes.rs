//! Request and response shapes of the Cognito Identity API (botocore model, `docs/spec.md` §4).
//! Member names are the wire's; pool configuration reuses the domain's Cognito-named shape.
//! An absent optional member reads as `None` (serde's rule for `Option`), so only members of
//! other types name their default.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use idbroker_domain::{Identity, IdentityPool, PoolConfig, PoolRoles, PrincipalTagMap, Tags};
use serde::{Deserialize, Serialize};

/// Epoch seconds with milliseconds, as AWS JSON timestamps are.
fn epoch_seconds(at: DateTime<Utc>) -> f64 {
    #[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit an f64 exactly
    let ms = at.timestamp_millis() as f64;
    ms / 1000.0
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateIdentityPoolInput {
    #[serde(flatten)]
    pub config: PoolConfig,
    pub identity_pool_tags: Option<Tags>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateIdentityPoolInput {
    pub identity_pool_id: String,
    #[serde(flatten)]
    pub config: PoolConfig,
    pub identity_pool_tags: Option<Tags>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityPoolOutput {
    pub identity_pool_id: String,
    #[serde(flatten)]
    pub config: PoolConfig,
    pub identity_pool_tags: Tags,
}

impl From<IdentityPool> for IdentityPoolOutput {
    fn from(pool: IdentityPool) -> Self {
        Self {
            identity_pool_id: pool.id.to_string(),
            config: pool.config,
            identity_pool_tags: pool.tags,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolIdInput {
    pub identity_pool_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListIdentityPoolsInput {
    pub max_results: i64,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolShortDescription {
    pub identity_pool_id: String,
    pub identity_pool_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListIdentityPoolsOutput {
    pub identity_pools: Vec<PoolShortDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    pub resource_arn: String,
    pub tags: Tags,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceArnInput {
    pub resource_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsOutput {
    pub tags: Tags,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetIdentityPoolRolesInput {
    pub identity_pool_id: String,
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub role_mappings: BTreeMap<String, idbroker_domain::RoleMapping>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdentityPoolRolesOutput {
    pub identity_pool_id: String,
    #[serde(flatten)]
    pub roles: PoolRoles,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetPrincipalTagAttributeMapInput {
    pub identity_pool_id: String,
    pub identity_provider_name: String,
    #[serde(flatten)]
    pub map: PrincipalTagMap,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPrincipalTagAttributeMapInput {
    pub identity_pool_id: String,
    pub identity_provider_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrincipalTagAttributeMapOutput {
    pub identity_pool_id: String,
    pub identity_provider_name: String,
    #[serde(flatten)]
    pub map: PrincipalTagMap,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetIdInput {
    pub account_id: Option<String>,
    pub identity_pool_id: String,
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityIdOutput {
    pub identity_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeIdentityInput {
    pub identity_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityDescription {
    pub identity_id: String,
    /// Omitted for identities without logins (guests), as Cognito does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logins: Vec<String>,
    pub creation_date: f64,
    pub last_modified_date: f64,
}

impl From<Identity> for IdentityDescription {
    fn from(identity: Identity) -> Self {
        Self {
            identity_id: identity.id.to_string(),
            logins: identity.provider_keys(),
            creation_date: epoch_seconds(identity.created_at),
            last_modified_date: epoch_seconds(identity.last_modified_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListIdentitiesInput {
    pub identity_pool_id: String,
    pub max_results: i64,
    pub next_token: Option<String>,
    pub hide_disabled: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListIdentitiesOutput {
    pub identity_pool_id: String,
    pub identities: Vec<IdentityDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteIdentitiesInput {
    pub identity_ids_to_delete: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnprocessedIdentityId {
    pub identity_id: String,
    pub error_code: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteIdentitiesOutput {
    pub unprocessed_identity_ids: Vec<UnprocessedIdentityId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlinkIdentityInput {
    pub identity_id: String,
    pub logins: BTreeMap<String, String>,
    pub logins_to_remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOpenIdTokenInput {
    pub identity_id: String,
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenOutput {
    pub identity_id: String,
    pub token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeveloperTokenInput {
    pub identity_pool_id: String,
    pub identity_id: Option<String>,
    pub logins: BTreeMap<String, String>,
    #[serde(default)]
    pub principal_tags: BTreeMap<String, String>,
    pub token_duration: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupDeveloperIdentityInput {
    pub identity_pool_id: String,
    pub identity_id: Option<String>,
    pub developer_user_identifier: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupDeveloperIdentityOutput {
    pub identity_id: String,
    pub developer_user_identifier_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MergeDeveloperIdentitiesInput {
    pub source_user_identifier: String,
    pub destination_user_identifier: String,
    pub developer_provider_name: String,
    pub identity_pool_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlinkDeveloperIdentityInput {
    pub identity_id: String,
    pub identity_pool_id: String,
    pub developer_provider_name: String,
    pub developer_user_identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCredentialsInput {
    pub identity_id: String,
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
    pub custom_role_arn: Option<String>,
}

/// Cognito names the secret `SecretKey` (STS says `SecretAccessKey`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsShape {
    pub access_key_id: String,
    pub secret_key: String,
    pub session_token: String,
    pub expiration: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCredentialsOutput {
    pub identity_id: String,
    pub credentials: CredentialsShape,
}

impl GetCredentialsOutput {
    pub fn new(identity_id: String, c: idbroker_service::AwsCredentials) -> Self {
        Self {
            identity_id,
            credentials: CredentialsShape {
                access_key_id: c.access_key_id,
                secret_key: c.secret_access_key,
                session_token: c.session_token,
                expiration: epoch_seconds(c.expiration),
            },
        }
    }
}

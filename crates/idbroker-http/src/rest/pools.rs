//! `/v1/identity-pools`: pools, their roles, principal-tag maps and tags (admin token).
//! Pool, role and principal-tag bodies use the Cognito API's member names, so configuration
//! moves between the two faces unchanged.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use idbroker_domain::{IdentityPool, PoolConfig, PoolRoles, PrincipalTagMap};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::json_body;
use super::problem::{Problem, ProblemBody};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PoolRequest {
    #[serde(flatten)]
    pub config: PoolConfig,
    /// On replace, omitted tags are kept.
    #[serde(default)]
    pub identity_pool_tags: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PoolResponse {
    pub identity_pool_id: String,
    #[serde(flatten)]
    pub config: PoolConfig,
    pub identity_pool_tags: BTreeMap<String, String>,
}

impl From<IdentityPool> for PoolResponse {
    fn from(pool: IdentityPool) -> Self {
        Self {
            identity_pool_id: pool.id.to_string(),
            config: pool.config,
            identity_pool_tags: pool.tags,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PoolSummaryBody {
    pub identity_pool_id: String,
    pub identity_pool_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct PoolList {
    pub identity_pools: Vec<PoolSummaryBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size, 1–60 (default 60).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TagsBody {
    pub tags: BTreeMap<String, String>,
}

fn pool_arn(state: &AppState, pool_id: &str) -> String {
    let s = state.broker.settings();
    format!(
        "arn:aws:cognito-identity:{}:{}:identitypool/{pool_id}",
        s.region, s.account_id
    )
}

#[utoipa::path(post, path = "/v1/identity-pools", tag = "identity pools", request_body = PoolRequest,
    security(("admin_token" = [])),
    responses((status = 201, body = PoolResponse, description = "Created; Location names it"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: PoolRequest = json_body(&body)?;
    let pool = state
        .broker
        .create_identity_pool(input.config, input.identity_pool_tags.unwrap_or_default())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/identity-pools/{}", pool.id)))
        .json(PoolResponse::from(pool)))
}

#[utoipa::path(get, path = "/v1/identity-pools", tag = "identity pools", params(Paging),
    security(("admin_token" = [])),
    responses((status = 200, body = PoolList),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, Problem> {
    let page = state
        .broker
        .list_identity_pools(paging.limit.unwrap_or(60), paging.cursor.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(PoolList {
        identity_pools: page
            .items
            .into_iter()
            .map(|p| PoolSummaryBody {
                identity_pool_id: p.id.to_string(),
                identity_pool_name: p.name,
            })
            .collect(),
        next_cursor: page.next_token,
    }))
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}", tag = "identity pools",
    params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 200, body = PoolResponse),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(PoolResponse::from(
        state.broker.describe_identity_pool(&pool_id).await?,
    )))
}

#[utoipa::path(put, path = "/v1/identity-pools/{pool_id}", tag = "identity pools", request_body = PoolRequest,
    params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 200, body = PoolResponse, description = "Replaced (DeveloperProviderName and omitted tags are kept)"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn replace(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: PoolRequest = json_body(&body)?;
    let pool = state
        .broker
        .update_identity_pool(&pool_id, input.config, input.identity_pool_tags)
        .await?;
    Ok(HttpResponse::Ok().json(PoolResponse::from(pool)))
}

#[utoipa::path(delete, path = "/v1/identity-pools/{pool_id}", tag = "identity pools",
    params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted, with its identities"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn delete(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.broker.delete_identity_pool(&pool_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/roles", tag = "identity pools",
    params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 200, body = PoolRoles),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn get_roles(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (_, roles) = state.broker.get_identity_pool_roles(&pool_id).await?;
    Ok(HttpResponse::Ok().json(roles))
}

#[utoipa::path(put, path = "/v1/identity-pools/{pool_id}/roles", tag = "identity pools", request_body = PoolRoles,
    params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 200, body = PoolRoles),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn set_roles(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let roles: PoolRoles = json_body(&body)?;
    state
        .broker
        .set_identity_pool_roles(&pool_id, roles)
        .await?;
    let (_, roles) = state.broker.get_identity_pool_roles(&pool_id).await?;
    Ok(HttpResponse::Ok().json(roles))
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/principal-tags/{provider}", tag = "identity pools",
    params(("pool_id" = String, Path, description = "IdentityPoolId"), ("provider" = String, Path, description = "IdentityProviderName")),
    security(("admin_token" = [])),
    responses((status = 200, body = PrincipalTagMap),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn get_principal_tags(
    _: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (pool_id, provider) = path.into_inner();
    let (_, map) = state
        .broker
        .get_principal_tag_attribute_map(&pool_id, &provider)
        .await?;
    Ok(HttpResponse::Ok().json(map))
}

#[utoipa::path(put, path = "/v1/identity-pools/{pool_id}/principal-tags/{provider}", tag = "identity pools",
    request_body = PrincipalTagMap,
    params(("pool_id" = String, Path, description = "IdentityPoolId"), ("provider" = String, Path, description = "IdentityProviderName")),
    security(("admin_token" = [])),
    responses((status = 200, body = PrincipalTagMap),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn set_principal_tags(
    _: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let (pool_id, provider) = path.into_inner();
    let map: PrincipalTagMap = json_body(&body)?;
    let (_, map) = state
        .broker
        .set_principal_tag_attribute_map(&pool_id, &provider, map)
        .await?;
    Ok(HttpResponse::Ok().json(map))
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/tags", tag = "identity pools",
    params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 200, body = TagsBody),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn get_tags(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let tags = state
        .broker
        .list_tags_for_resource(&pool_arn(&state, &pool_id))
        .await?;
    Ok(HttpResponse::Ok().json(TagsBody { tags }))
}

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/tags", tag = "identity pools", request_body = TagsBody,
    params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 200, body = TagsBody, description = "Tags added or overwritten"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn add_tags(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: TagsBody = json_body(&body)?;
    let arn = pool_arn(&state, &pool_id);
    state.broker.tag_resource(&arn, input.tags).await?;
    Ok(HttpResponse::Ok().json(TagsBody {
        tags: state.broker.list_tags_for_resource(&arn).await?,
    }))
}

#[utoipa::path(delete, path = "/v1/identity-pools/{pool_id}/tags/{key}", tag = "identity pools",
    params(("pool_id" = String, Path, description = "IdentityPoolId"), ("key" = String, Path, description = "Tag key")),
    security(("admin_token" = [])),
    responses((status = 204, description = "Removed (or was not there)"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn remove_tag(
    _: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (pool_id, key) = path.into_inner();
    state
        .broker
        .untag_resource(&pool_arn(&state, &pool_id), vec![key])
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

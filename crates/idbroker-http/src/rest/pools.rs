//! `/v1/identity-pools`: pools, their roles, principal-tag maps and tags (admin token).
//! Bodies are the contract's (`idbroker_api::pools`, snake_case); `super::contract` converts
//! them to the domain's shapes.

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path, Query};
use idbroker_api::pools::{
    Paging, PoolList, PoolRequest, PoolResponse, PoolSummary, PrincipalTagsBody, RolesBody,
    TagsBody,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::contract::{
    pool_config, pool_response, pool_roles, principal_tag_map, principal_tags_body, roles_body,
};
use super::json_body;
use super::paths::PoolPath;
use super::problem::{AdminErrors, BadRequest, Conflict, Unauthorized};
use super::{Reply, State, rendered};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PrincipalTagsPath {
    /// IdentityPoolId
    pub pool_id: String,
    /// IdentityProviderName
    pub provider: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TagPath {
    /// IdentityPoolId
    pub pool_id: String,
    /// Tag key
    pub key: String,
}

#[utoipa::path(post, path = "/v1/identity-pools", tag = "identity pools", request_body = PoolRequest,
    security(("admin_token" = [])),
    responses((status = 201, body = PoolResponse, description = "Created; Location names it"),
        BadRequest,
        Unauthorized))]
pub async fn create(_: Admin, state: State, body: Bytes) -> Reply {
    let (config, tags, extensions) = pool_config(json_body::<PoolRequest>(&body)?);
    let pool = state
        .broker
        .create_identity_pool(config, tags.unwrap_or_default(), extensions)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/identity-pools/{}", pool.id)))
        .json(pool_response(pool)))
}

#[utoipa::path(get, path = "/v1/identity-pools", tag = "identity pools", params(Paging),
    security(("admin_token" = [])),
    responses((status = 200, body = PoolList),
        BadRequest,
        Unauthorized))]
pub async fn list(_: Admin, state: State, paging: Query<Paging>) -> Reply {
    let page = state
        .broker
        .list_identity_pools(paging.limit.unwrap_or(60), paging.cursor.as_deref())
        .await?;
    let (identity_pools, next_cursor) = rendered(page, |p| PoolSummary {
        identity_pool_id: p.id.to_string(),
        identity_pool_name: p.name,
    });
    Ok(HttpResponse::Ok().json(PoolList {
        identity_pools,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}", tag = "identity pools",
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = PoolResponse), AdminErrors))]
pub async fn get(_: Admin, state: State, path: Path<PoolPath>) -> Reply {
    let pool = state.broker.describe_identity_pool(&path.pool_id).await?;
    Ok(HttpResponse::Ok().json(pool_response(pool)))
}

#[utoipa::path(put, path = "/v1/identity-pools/{pool_id}", tag = "identity pools", request_body = PoolRequest,
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = PoolResponse, description = "Replaced (developer_provider_name and omitted tags are kept; omitted lifetimes and exchange_audiences are unset)"),
        AdminErrors,
        Conflict))]
pub async fn replace(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let (config, tags, extensions) = pool_config(json_body::<PoolRequest>(&body)?);
    let pool = state
        .broker
        .update_identity_pool(&path.pool_id, config, tags, Some(extensions))
        .await?;
    Ok(HttpResponse::Ok().json(pool_response(pool)))
}

#[utoipa::path(delete, path = "/v1/identity-pools/{pool_id}", tag = "identity pools",
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted, with its identities"), AdminErrors))]
pub async fn delete(_: Admin, state: State, path: Path<PoolPath>) -> Reply {
    state.broker.delete_identity_pool(&path.pool_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/roles", tag = "identity pools",
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = RolesBody), AdminErrors))]
pub async fn get_roles(_: Admin, state: State, path: Path<PoolPath>) -> Reply {
    let (_, roles) = state.broker.get_identity_pool_roles(&path.pool_id).await?;
    Ok(HttpResponse::Ok().json(roles_body(roles)))
}

#[utoipa::path(put, path = "/v1/identity-pools/{pool_id}/roles", tag = "identity pools", request_body = RolesBody,
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = RolesBody), AdminErrors, Conflict))]
pub async fn set_roles(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let roles = pool_roles(json_body::<RolesBody>(&body)?);
    state
        .broker
        .set_identity_pool_roles(&path.pool_id, roles)
        .await?;
    let (_, roles) = state.broker.get_identity_pool_roles(&path.pool_id).await?;
    Ok(HttpResponse::Ok().json(roles_body(roles)))
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/principal-tags/{provider}", tag = "identity pools",
    params(PrincipalTagsPath), security(("admin_token" = [])),
    responses((status = 200, body = PrincipalTagsBody), AdminErrors))]
pub async fn get_principal_tags(_: Admin, state: State, path: Path<PrincipalTagsPath>) -> Reply {
    let (_, map) = state
        .broker
        .get_principal_tag_attribute_map(&path.pool_id, &path.provider)
        .await?;
    Ok(HttpResponse::Ok().json(principal_tags_body(map)))
}

#[utoipa::path(put, path = "/v1/identity-pools/{pool_id}/principal-tags/{provider}", tag = "identity pools",
    request_body = PrincipalTagsBody, params(PrincipalTagsPath), security(("admin_token" = [])),
    responses((status = 200, body = PrincipalTagsBody), AdminErrors))]
pub async fn set_principal_tags(
    _: Admin,
    state: State,
    path: Path<PrincipalTagsPath>,
    body: Bytes,
) -> Reply {
    let map = principal_tag_map(json_body::<PrincipalTagsBody>(&body)?);
    let (_, map) = state
        .broker
        .set_principal_tag_attribute_map(&path.pool_id, &path.provider, map)
        .await?;
    Ok(HttpResponse::Ok().json(principal_tags_body(map)))
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/tags", tag = "identity pools",
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = TagsBody), AdminErrors))]
pub async fn get_tags(_: Admin, state: State, path: Path<PoolPath>) -> Reply {
    let tags = state.broker.pool_tags(&path.pool_id).await?;
    Ok(HttpResponse::Ok().json(TagsBody { tags }))
}

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/tags", tag = "identity pools", request_body = TagsBody,
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = TagsBody, description = "Tags added or overwritten"), AdminErrors))]
pub async fn add_tags(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let input: TagsBody = json_body(&body)?;
    state.broker.tag_pool(&path.pool_id, input.tags).await?;
    Ok(HttpResponse::Ok().json(TagsBody {
        tags: state.broker.pool_tags(&path.pool_id).await?,
    }))
}

#[utoipa::path(delete, path = "/v1/identity-pools/{pool_id}/tags/{key}", tag = "identity pools",
    params(TagPath), security(("admin_token" = [])),
    responses((status = 204, description = "Removed (or was not there)"), AdminErrors))]
pub async fn remove_tag(_: Admin, state: State, path: Path<TagPath>) -> Reply {
    let TagPath { pool_id, key } = path.into_inner();
    state.broker.untag_pool(&pool_id, vec![key]).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! Developer-authenticated identities over REST (admin token): the app's backend asks for a
//! token for one of its users, looks users up, merges and unlinks them.

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path, Query};
use idbroker_api::developer::{
    DeveloperTokenRequest, LookupBody, LookupQuery, MergeRequest, UnlinkDeveloperRequest,
};
use idbroker_api::identities::{IdentityIdBody, TokenBody};

use super::auth::Admin;
use super::paths::PoolPath;
use super::problem::{AdminErrors, BadGateway, DeveloperErrors, Forbidden};
use super::{Reply, State, json_body};

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/developer/token", tag = "developer identities",
    request_body = DeveloperTokenRequest, params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = TokenBody, description = "GetOpenIdTokenForDeveloperIdentity"),
        DeveloperErrors,
        BadGateway))]
pub async fn token(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let input: DeveloperTokenRequest = json_body(&body)?;
    let (id, token) = state
        .broker
        .get_open_id_token_for_developer_identity(
            &path.pool_id,
            input.identity_id.as_deref(),
            &input.logins,
            input.principal_tags,
            input.token_duration,
        )
        .await?;
    Ok(HttpResponse::Ok().json(TokenBody {
        identity_id: id.to_string(),
        token,
    }))
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/developer/lookup", tag = "developer identities",
    params(PoolPath, LookupQuery), security(("admin_token" = [])),
    responses((status = 200, body = LookupBody, description = "LookupDeveloperIdentity"), DeveloperErrors))]
pub async fn lookup(
    _: Admin,
    state: State,
    path: Path<PoolPath>,
    query: Query<LookupQuery>,
) -> Reply {
    let (id, page) = state
        .broker
        .lookup_developer_identity(
            &path.pool_id,
            query.identity_id.as_deref(),
            query.user.as_deref(),
            query.limit,
            query.cursor.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(LookupBody {
        identity_id: id.to_string(),
        users: page.items,
        next_cursor: page.next_token,
    }))
}

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/developer/merge", tag = "developer identities",
    request_body = MergeRequest, params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = IdentityIdBody, description = "MergeDeveloperIdentities: the destination's identity"),
        DeveloperErrors))]
pub async fn merge(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let input: MergeRequest = json_body(&body)?;
    let id = state
        .broker
        .merge_developer_identities(
            &path.pool_id,
            &input.developer_provider_name,
            &input.source_user,
            &input.destination_user,
        )
        .await?;
    Ok(HttpResponse::Ok().json(IdentityIdBody {
        identity_id: id.to_string(),
    }))
}

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/developer/unlink", tag = "developer identities",
    request_body = UnlinkDeveloperRequest, params(PoolPath), security(("admin_token" = [])),
    responses((status = 204, description = "UnlinkDeveloperIdentity"), AdminErrors, Forbidden))]
pub async fn unlink(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let input: UnlinkDeveloperRequest = json_body(&body)?;
    state
        .broker
        .unlink_developer_identity(
            &path.pool_id,
            &input.identity_id,
            &input.developer_provider_name,
            &input.user,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

//! Identities: the admin view (list, describe, delete) and the public operations for clients
//! that do not speak the AWS protocol (get an identity id, a token, credentials; unlink).

use actix_web::{HttpResponse, web};
use idbroker_api::identities::{
    CredentialsBody, CredentialsRequest, IdentityBody, IdentityIdBody, IdentityList,
    IdentityPaging, LoginsBody, TokenBody, UnlinkRequest,
};
use idbroker_domain::Identity;

use super::auth::{Admin, PublicCaller};
use super::problem::{
    BadGateway, BadRequest, Conflict, Forbidden, InternalError, NotFound, Problem, TooManyRequests,
    Unauthorized,
};
use super::{json_body, json_body_or_default};
use crate::AppState;

fn identity_body(identity: Identity) -> IdentityBody {
    IdentityBody {
        logins: identity.provider_keys(),
        identity_id: identity.id.to_string(),
        identity_pool_id: identity.pool_id.to_string(),
        created_at: identity.created_at.to_rfc3339(),
        last_modified_at: identity.last_modified_at.to_rfc3339(),
        disabled: identity.disabled,
    }
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/identities", tag = "identities",
    params(("pool_id" = String, Path, description = "IdentityPoolId"), IdentityPaging), security(("admin_token" = [])),
    responses((status = 200, body = IdentityList),
        BadRequest,
        Unauthorized,
        NotFound))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    paging: web::Query<IdentityPaging>,
) -> Result<HttpResponse, Problem> {
    let page = state
        .broker
        .list_identities(
            &pool_id,
            paging.limit.unwrap_or(60),
            paging.cursor.as_deref(),
            paging.hide_disabled.unwrap_or(false),
        )
        .await?;
    Ok(HttpResponse::Ok().json(IdentityList {
        identities: page.items.into_iter().map(identity_body).collect(),
        next_cursor: page.next_token,
    }))
}

#[utoipa::path(get, path = "/v1/identities/{identity_id}", tag = "identities",
    params(("identity_id" = String, Path, description = "IdentityId")), security(("admin_token" = [])),
    responses((status = 200, body = IdentityBody),
        BadRequest,
        Unauthorized,
        NotFound))]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    identity_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(identity_body(
        state.broker.describe_identity(&identity_id).await?,
    )))
}

#[utoipa::path(delete, path = "/v1/identities/{identity_id}", tag = "identities",
    params(("identity_id" = String, Path, description = "IdentityId")), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted (or already gone)"),
        BadRequest,
        Unauthorized,
        InternalError))]
pub async fn delete(
    _: Admin,
    state: web::Data<AppState>,
    identity_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let unprocessed = state
        .broker
        .delete_identities(std::slice::from_ref(&identity_id))
        .await?;
    if unprocessed.is_empty() {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(
            idbroker_service::ServiceError::Internal("the identity could not be deleted".into())
                .into(),
        )
    }
}

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/identities", tag = "public", request_body = LoginsBody,
    params(("pool_id" = String, Path, description = "IdentityPoolId")),
    responses((status = 200, body = IdentityIdBody, description = "GetId: the identity of these logins, or a new guest"),
        TooManyRequests,
        BadRequest,
        Forbidden,
        NotFound,
        Conflict,
        BadGateway))]
pub async fn get_id(
    _: PublicCaller,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: LoginsBody = json_body_or_default(&body)?;
    // The pool's limit is charged only once the call is known to be valid.
    let id = state
        .broker
        .get_id(&pool_id, None, &input.logins, |pool| {
            state.limits.check_pool(pool).map_err(|r| r.0)
        })
        .await?;
    Ok(HttpResponse::Ok().json(IdentityIdBody {
        identity_id: id.to_string(),
    }))
}

#[utoipa::path(post, path = "/v1/identities/{identity_id}/token", tag = "public", request_body = LoginsBody,
    params(("identity_id" = String, Path, description = "IdentityId")),
    responses((status = 200, body = TokenBody, description = "GetOpenIdToken"),
        TooManyRequests,
        BadRequest,
        Forbidden,
        NotFound,
        Conflict,
        BadGateway))]
pub async fn token(
    _: PublicCaller,
    state: web::Data<AppState>,
    identity_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: LoginsBody = json_body_or_default(&body)?;
    let (id, token) = state
        .broker
        .get_open_id_token(&identity_id, &input.logins)
        .await?;
    Ok(HttpResponse::Ok().json(TokenBody {
        identity_id: id.to_string(),
        token,
    }))
}

#[utoipa::path(post, path = "/v1/identities/{identity_id}/credentials", tag = "public", request_body = CredentialsRequest,
    params(("identity_id" = String, Path, description = "IdentityId")),
    responses((status = 200, body = CredentialsBody, description = "GetCredentialsForIdentity"),
        BadRequest,
        Forbidden,
        NotFound,
        Conflict,
        TooManyRequests,
        BadGateway))]
pub async fn credentials(
    _: PublicCaller,
    state: web::Data<AppState>,
    identity_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: CredentialsRequest = json_body_or_default(&body)?;
    let (id, c) = state
        .broker
        .get_credentials_for_identity(
            &identity_id,
            &input.logins,
            input.custom_role_arn.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(CredentialsBody {
        identity_id: id.to_string(),
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token,
        expiration: c.expiration.to_rfc3339(),
    }))
}

#[utoipa::path(post, path = "/v1/identities/{identity_id}/unlink", tag = "public", request_body = UnlinkRequest,
    params(("identity_id" = String, Path, description = "IdentityId")),
    responses((status = 204, description = "UnlinkIdentity"),
        TooManyRequests,
        BadRequest,
        Forbidden,
        NotFound,
        BadGateway))]
pub async fn unlink(
    _: PublicCaller,
    state: web::Data<AppState>,
    identity_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: UnlinkRequest = json_body(&body)?;
    state
        .broker
        .unlink_identity(&identity_id, &input.logins, &input.logins_to_remove)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

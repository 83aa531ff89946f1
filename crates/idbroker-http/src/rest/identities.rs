//! Identities: the admin view (list, describe, delete) and the public operations for clients
//! that do not speak the AWS protocol (get an identity id, a token, credentials; unlink).

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path, Query};
use idbroker_api::identities::{
    CredentialsBody, CredentialsRequest, IdentityBody, IdentityIdBody, IdentityList,
    IdentityPaging, LoginsBody, PoolCredentialsRequest, TokenBody, UnlinkRequest,
};
use idbroker_domain::Identity;

use super::auth::{Admin, PublicCaller};
use super::paths::{IdentityPath, PoolPath};
use super::problem::{
    AdminErrors, BadRequest, Conflict, InternalError, PublicErrors, Unauthorized,
};
use super::{Reply, State, json_body, json_body_or_default, rendered};

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
    params(PoolPath, IdentityPaging), security(("admin_token" = [])),
    responses((status = 200, body = IdentityList), AdminErrors))]
pub async fn list(
    _: Admin,
    state: State,
    path: Path<PoolPath>,
    paging: Query<IdentityPaging>,
) -> Reply {
    let page = state
        .broker
        .list_identities(
            &path.pool_id,
            paging.limit.unwrap_or(60),
            paging.cursor.as_deref(),
            paging.hide_disabled.unwrap_or(false),
        )
        .await?;
    let (identities, next_cursor) = rendered(page, identity_body);
    Ok(HttpResponse::Ok().json(IdentityList {
        identities,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/identities/{identity_id}", tag = "identities",
    params(IdentityPath), security(("admin_token" = [])),
    responses((status = 200, body = IdentityBody), AdminErrors))]
pub async fn get(_: Admin, state: State, path: Path<IdentityPath>) -> Reply {
    let identity = state.broker.describe_identity(&path.identity_id).await?;
    Ok(HttpResponse::Ok().json(identity_body(identity)))
}

#[utoipa::path(delete, path = "/v1/identities/{identity_id}", tag = "identities",
    params(IdentityPath), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted (or already gone)"),
        BadRequest,
        Unauthorized,
        InternalError))]
pub async fn delete(_: Admin, state: State, path: Path<IdentityPath>) -> Reply {
    let unprocessed = state
        .broker
        .delete_identities(std::slice::from_ref(&path.identity_id))
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

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/identities", tag = "public", request_body = Option<LoginsBody>,
    params(PoolPath),
    responses((status = 200, body = IdentityIdBody, description = "GetId: the identity of these logins, or a new guest"),
        PublicErrors,
        Conflict))]
pub async fn get_id(_: PublicCaller, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let input: LoginsBody = json_body_or_default(&body)?;
    // The pool's limit is charged only once the call is known to be valid.
    let id = state
        .broker
        .get_id(&path.pool_id, None, &input.logins, |pool| {
            state.limits.check_pool(pool).map_err(|r| r.0)
        })
        .await?;
    Ok(HttpResponse::Ok().json(IdentityIdBody {
        identity_id: id.to_string(),
    }))
}

#[utoipa::path(post, path = "/v1/identities/{identity_id}/token", tag = "public", request_body = Option<LoginsBody>,
    params(IdentityPath),
    responses((status = 200, body = TokenBody, description = "GetOpenIdToken"), PublicErrors, Conflict))]
pub async fn token(_: PublicCaller, state: State, path: Path<IdentityPath>, body: Bytes) -> Reply {
    let input: LoginsBody = json_body_or_default(&body)?;
    let (id, token) = state
        .broker
        .get_open_id_token(&path.identity_id, &input.logins)
        .await?;
    Ok(HttpResponse::Ok().json(TokenBody {
        identity_id: id.to_string(),
        token,
    }))
}

#[utoipa::path(post, path = "/v1/identities/{identity_id}/credentials", tag = "public", request_body = Option<CredentialsRequest>,
    params(IdentityPath),
    responses((status = 200, body = CredentialsBody, description = "GetCredentialsForIdentity"),
        PublicErrors,
        Conflict))]
pub async fn credentials(
    _: PublicCaller,
    state: State,
    path: Path<IdentityPath>,
    body: Bytes,
) -> Reply {
    let input: CredentialsRequest = json_body_or_default(&body)?;
    let (id, c) = state
        .broker
        .get_credentials_for_identity(
            &path.identity_id,
            &input.logins,
            input.custom_role_arn.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(credentials_body(&id, c)))
}

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/credentials", tag = "public", request_body = Option<PoolCredentialsRequest>,
    params(PoolPath),
    responses((status = 200, body = CredentialsBody, description = "GetId and GetCredentialsForIdentity in one request: credentials for the identity of these logins, a new guest, or the identity named"),
        PublicErrors,
        Conflict))]
pub async fn pool_credentials(
    _: PublicCaller,
    state: State,
    path: Path<PoolPath>,
    body: Bytes,
) -> Reply {
    let input: PoolCredentialsRequest = json_body_or_default(&body)?;
    // As GetId: the pool's limit is charged only once the call is known to be valid.
    let (id, c) = state
        .broker
        .get_credentials_for_pool(
            &path.pool_id,
            input.identity_id.as_deref(),
            &input.logins,
            input.custom_role_arn.as_deref(),
            |pool| state.limits.check_pool(pool).map_err(|r| r.0),
        )
        .await?;
    Ok(HttpResponse::Ok().json(credentials_body(&id, c)))
}

fn credentials_body(
    id: &idbroker_domain::IdentityId,
    c: idbroker_service::AwsCredentials,
) -> CredentialsBody {
    CredentialsBody {
        identity_id: id.to_string(),
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token,
        expiration: c.expiration.to_rfc3339(),
    }
}

#[utoipa::path(post, path = "/v1/identities/{identity_id}/unlink", tag = "public", request_body = UnlinkRequest,
    params(IdentityPath),
    responses((status = 204, description = "UnlinkIdentity"), PublicErrors))]
pub async fn unlink(_: PublicCaller, state: State, path: Path<IdentityPath>, body: Bytes) -> Reply {
    let input: UnlinkRequest = json_body(&body)?;
    state
        .broker
        .unlink_identity(&path.identity_id, &input.logins, &input.logins_to_remove)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

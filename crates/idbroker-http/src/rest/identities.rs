//! Identities: the admin view (list, describe, delete) and the public operations for clients
//! that do not speak the AWS protocol (get an identity id, a token, credentials; unlink).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use idbroker_domain::Identity;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Admin, PublicCaller};
use super::problem::{Problem, ProblemBody};
use super::{json_body, json_body_or_default};
use crate::AppState;

#[derive(Serialize, ToSchema)]
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

impl From<Identity> for IdentityBody {
    fn from(identity: Identity) -> Self {
        Self {
            logins: identity.provider_keys(),
            identity_id: identity.id.to_string(),
            identity_pool_id: identity.pool_id.to_string(),
            created_at: identity.created_at.to_rfc3339(),
            last_modified_at: identity.last_modified_at.to_rfc3339(),
            disabled: identity.disabled,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityBody>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentityPaging {
    /// Page size, 1–60 (default 60).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Leave out merged-away identities.
    pub hide_disabled: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct LoginsBody {
    /// Provider key → token, as the Cognito `Logins` map.
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct CredentialsRequest {
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
    pub custom_role_arn: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UnlinkRequest {
    pub logins: BTreeMap<String, String>,
    pub logins_to_remove: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IdentityIdBody {
    pub identity_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    pub identity_id: String,
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialsBody {
    pub identity_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
}

#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/identities", tag = "identities",
    params(("pool_id" = String, Path, description = "IdentityPoolId"), IdentityPaging), security(("admin_token" = [])),
    responses((status = 200, body = IdentityList),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
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
        identities: page.items.into_iter().map(IdentityBody::from).collect(),
        next_cursor: page.next_token,
    }))
}

#[utoipa::path(get, path = "/v1/identities/{identity_id}", tag = "identities",
    params(("identity_id" = String, Path, description = "IdentityId")), security(("admin_token" = [])),
    responses((status = 200, body = IdentityBody),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    identity_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(IdentityBody::from(
        state.broker.describe_identity(&identity_id).await?,
    )))
}

#[utoipa::path(delete, path = "/v1/identities/{identity_id}", tag = "identities",
    params(("identity_id" = String, Path, description = "IdentityId")), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted (or already gone)"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 500, body = ProblemBody, content_type = "application/problem+json")))]
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
        (status = 429, body = ProblemBody, content_type = "application/problem+json", description = "Rate limited; see Retry-After"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, body = ProblemBody, content_type = "application/problem+json")))]
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
        (status = 429, body = ProblemBody, content_type = "application/problem+json", description = "Rate limited; see Retry-After"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, body = ProblemBody, content_type = "application/problem+json")))]
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
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, body = ProblemBody, content_type = "application/problem+json")))]
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
        (status = 429, body = ProblemBody, content_type = "application/problem+json", description = "Rate limited; see Retry-After"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, body = ProblemBody, content_type = "application/problem+json")))]
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

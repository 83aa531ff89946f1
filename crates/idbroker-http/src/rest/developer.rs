//! Developer-authenticated identities over REST (admin token): the app's backend asks for a
//! token for one of its users, looks users up, merges and unlinks them.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::identities::{IdentityIdBody, TokenBody};
use super::json_body;
use super::problem::{Problem, ProblemBody};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
pub struct DeveloperTokenRequest {
    /// The developer provider name → the user, plus optional public-provider tokens to link.
    pub logins: BTreeMap<String, String>,
    /// Link the user to this identity (e.g. a guest becoming authenticated).
    pub identity_id: Option<String>,
    #[serde(default)]
    pub principal_tags: BTreeMap<String, String>,
    /// Seconds, 1–86400 (default 900).
    pub token_duration: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    pub identity_id: Option<String>,
    pub user: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LookupBody {
    pub identity_id: String,
    pub users: Vec<String>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct MergeRequest {
    pub developer_provider_name: String,
    pub source_user: String,
    pub destination_user: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UnlinkDeveloperRequest {
    pub identity_id: String,
    pub developer_provider_name: String,
    pub user: String,
}

#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/developer/token", tag = "developer identities",
    request_body = DeveloperTokenRequest, params(("pool_id" = String, Path, description = "IdentityPoolId")),
    security(("admin_token" = [])),
    responses((status = 200, body = TokenBody, description = "GetOpenIdTokenForDeveloperIdentity"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn token(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: DeveloperTokenRequest = json_body(&body)?;
    let (id, token) = state
        .broker
        .get_open_id_token_for_developer_identity(
            &pool_id,
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
    params(("pool_id" = String, Path, description = "IdentityPoolId"), LookupQuery), security(("admin_token" = [])),
    responses((status = 200, body = LookupBody, description = "LookupDeveloperIdentity"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn lookup(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, page) = state
        .broker
        .lookup_developer_identity(
            &pool_id,
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
    request_body = MergeRequest, params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 200, body = IdentityIdBody, description = "MergeDeveloperIdentities: the destination's identity"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn merge(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: MergeRequest = json_body(&body)?;
    let id = state
        .broker
        .merge_developer_identities(
            &pool_id,
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
    request_body = UnlinkDeveloperRequest, params(("pool_id" = String, Path, description = "IdentityPoolId")), security(("admin_token" = [])),
    responses((status = 204, description = "UnlinkDeveloperIdentity"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn unlink(
    _: Admin,
    state: web::Data<AppState>,
    pool_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: UnlinkDeveloperRequest = json_body(&body)?;
    state
        .broker
        .unlink_developer_identity(
            &pool_id,
            &input.identity_id,
            &input.developer_provider_name,
            &input.user,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

//! `/v1/oidc-providers`: register, list, read, update the client ids of, and delete the
//! OpenID Connect providers pools may trust.

use actix_web::{HttpResponse, web};
use idbroker_service::RegisteredProvider;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Admin;
use super::json_body;
use super::problem::{Problem, ProblemBody};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    pub issuer: String,
    pub client_ids: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    pub client_ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderBody {
    pub arn: String,
    /// The Logins key (the issuer without its scheme), also the path segment of this resource.
    pub key: String,
    pub issuer: String,
    pub client_ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderList {
    pub oidc_providers: Vec<ProviderBody>,
}

impl From<RegisteredProvider> for ProviderBody {
    fn from(p: RegisteredProvider) -> Self {
        Self {
            arn: p.arn,
            key: p.key,
            issuer: p.issuer,
            client_ids: p.client_ids,
        }
    }
}

#[utoipa::path(post, path = "/v1/oidc-providers", tag = "oidc providers", request_body = CreateProvider, security(("admin_token" = [])),
    responses((status = 201, body = ProviderBody), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: CreateProvider = json_body(&body)?;
    let provider = state
        .broker
        .create_oidc_provider(&input.issuer, input.client_ids)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/oidc-providers/{}", provider.key)))
        .json(ProviderBody::from(provider)))
}

#[utoipa::path(get, path = "/v1/oidc-providers", tag = "oidc providers", security(("admin_token" = [])),
    responses((status = 200, body = ProviderList), (status = 401, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let oidc_providers: Vec<ProviderBody> = state
        .broker
        .list_oidc_providers()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(ProviderList { oidc_providers }))
}

#[utoipa::path(get, path = "/v1/oidc-providers/{key}", tag = "oidc providers", params(("key" = String, Path, description = "The Logins key: the issuer without its scheme")), security(("admin_token" = [])),
    responses((status = 200, body = ProviderBody), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let provider = state.broker.get_oidc_provider(&key).await?;
    Ok(HttpResponse::Ok().json(ProviderBody::from(provider)))
}

#[utoipa::path(patch, path = "/v1/oidc-providers/{key}", tag = "oidc providers", request_body = UpdateProvider, params(("key" = String, Path, description = "The Logins key")), security(("admin_token" = [])),
    responses((status = 200, body = ProviderBody), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn update(
    _: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: UpdateProvider = json_body(&body)?;
    let provider = state
        .broker
        .update_oidc_provider_client_ids(&key, input.client_ids)
        .await?;
    Ok(HttpResponse::Ok().json(ProviderBody::from(provider)))
}

#[utoipa::path(delete, path = "/v1/oidc-providers/{key}", tag = "oidc providers", params(("key" = String, Path, description = "The Logins key")), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json"), (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn delete(
    _: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.broker.delete_oidc_provider(&key).await?;
    Ok(HttpResponse::NoContent().finish())
}

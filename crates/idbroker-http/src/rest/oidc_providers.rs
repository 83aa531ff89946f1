//! `/v1/oidc-providers`: register, list, read, update the client ids of, and delete the
//! OpenID Connect providers pools may trust.

use actix_web::{HttpResponse, web};
use idbroker_api::oidc_providers::{CreateProvider, ProviderBody, ProviderList, UpdateProvider};
use idbroker_service::RegisteredProvider;

use super::auth::Admin;
use super::json_body;
use super::problem::{BadRequest, Conflict, NotFound, Problem, Unauthorized};
use crate::AppState;

fn provider_body(p: RegisteredProvider) -> ProviderBody {
    ProviderBody {
        arn: p.arn,
        key: p.key,
        issuer: p.issuer,
        client_ids: p.client_ids,
    }
}

#[utoipa::path(post, path = "/v1/oidc-providers", tag = "oidc providers", request_body = CreateProvider, security(("admin_token" = [])),
    responses((status = 201, body = ProviderBody), BadRequest, Unauthorized, Conflict))]
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
        .json(provider_body(provider)))
}

#[utoipa::path(get, path = "/v1/oidc-providers", tag = "oidc providers", security(("admin_token" = [])),
    responses((status = 200, body = ProviderList), Unauthorized))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let oidc_providers: Vec<ProviderBody> = state
        .broker
        .list_oidc_providers()
        .await?
        .into_iter()
        .map(provider_body)
        .collect();
    Ok(HttpResponse::Ok().json(ProviderList { oidc_providers }))
}

#[utoipa::path(get, path = "/v1/oidc-providers/{key}", tag = "oidc providers", params(("key" = String, Path, description = "The Logins key: the issuer without its scheme")), security(("admin_token" = [])),
    responses((status = 200, body = ProviderBody), Unauthorized, NotFound))]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let provider = state.broker.get_oidc_provider(&key).await?;
    Ok(HttpResponse::Ok().json(provider_body(provider)))
}

#[utoipa::path(patch, path = "/v1/oidc-providers/{key}", tag = "oidc providers", request_body = UpdateProvider, params(("key" = String, Path, description = "The Logins key")), security(("admin_token" = [])),
    responses((status = 200, body = ProviderBody), BadRequest, Unauthorized, NotFound))]
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
    Ok(HttpResponse::Ok().json(provider_body(provider)))
}

#[utoipa::path(delete, path = "/v1/oidc-providers/{key}", tag = "oidc providers", params(("key" = String, Path, description = "The Logins key")), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted"), Unauthorized, NotFound, Conflict))]
pub async fn delete(
    _: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.broker.delete_oidc_provider(&key).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! `/v1/oidc-providers`: register, list, read, update the client ids of, and delete the
//! OpenID Connect providers pools may trust.

use actix_web::{HttpResponse, web};
use idbroker_service::RegisteredProvider;
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use super::json_body;
use super::problem::Problem;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProvider {
    issuer: String,
    client_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateProvider {
    client_ids: Vec<String>,
}

#[derive(Serialize)]
struct ProviderBody {
    arn: String,
    /// The Logins key (the issuer without its scheme), also the path segment of this resource.
    key: String,
    issuer: String,
    client_ids: Vec<String>,
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

pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let providers: Vec<ProviderBody> = state
        .broker
        .list_oidc_providers()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "oidc_providers": providers })))
}

pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let provider = state.broker.get_oidc_provider(&key).await?;
    Ok(HttpResponse::Ok().json(ProviderBody::from(provider)))
}

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

pub async fn delete(
    _: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.broker.delete_oidc_provider(&key).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! `/v1/oidc-providers`: register, list, read, update the client ids of, and delete the
//! OpenID Connect providers pools may trust.

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path};
use idbroker_api::oidc_providers::{CreateProvider, ProviderBody, ProviderList, UpdateProvider};
use idbroker_service::RegisteredProvider;

use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::problem::{BadRequest, Conflict, NotFound, Unauthorized};
use super::{Reply, State, json_body};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProviderPath {
    /// The Logins key: the issuer without its scheme
    pub key: String,
}

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
pub async fn create(_: Admin, state: State, body: Bytes) -> Reply {
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
pub async fn list(_: Admin, state: State) -> Reply {
    let oidc_providers: Vec<ProviderBody> = state
        .broker
        .list_oidc_providers()
        .await?
        .into_iter()
        .map(provider_body)
        .collect();
    Ok(HttpResponse::Ok().json(ProviderList { oidc_providers }))
}

#[utoipa::path(get, path = "/v1/oidc-providers/{key}", tag = "oidc providers", params(ProviderPath), security(("admin_token" = [])),
    responses((status = 200, body = ProviderBody), Unauthorized, NotFound))]
pub async fn get(_: Admin, state: State, path: Path<ProviderPath>) -> Reply {
    let provider = state.broker.get_oidc_provider(&path.key).await?;
    Ok(HttpResponse::Ok().json(provider_body(provider)))
}

#[utoipa::path(patch, path = "/v1/oidc-providers/{key}", tag = "oidc providers", request_body = UpdateProvider, params(ProviderPath), security(("admin_token" = [])),
    responses((status = 200, body = ProviderBody), BadRequest, Unauthorized, NotFound))]
pub async fn update(_: Admin, state: State, path: Path<ProviderPath>, body: Bytes) -> Reply {
    let input: UpdateProvider = json_body(&body)?;
    let provider = state
        .broker
        .update_oidc_provider_client_ids(&path.key, input.client_ids)
        .await?;
    Ok(HttpResponse::Ok().json(provider_body(provider)))
}

#[utoipa::path(delete, path = "/v1/oidc-providers/{key}", tag = "oidc providers", params(ProviderPath), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted"), Unauthorized, NotFound, Conflict))]
pub async fn delete(_: Admin, state: State, path: Path<ProviderPath>) -> Reply {
    state.broker.delete_oidc_provider(&path.key).await?;
    Ok(HttpResponse::NoContent().finish())
}

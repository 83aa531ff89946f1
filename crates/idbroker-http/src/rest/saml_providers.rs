//! `/v1/saml-providers`: register, list, read, update the metadata of (certificate rotation),
//! and delete the SAML providers pools may trust.

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path};
use idbroker_api::saml_providers::{
    CreateSamlProvider, SamlProviderBody, SamlProviderList, UpdateSamlProvider,
};
use idbroker_service::{RegisteredSamlProvider, SamlReading, SamlReadingChange};

use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Admin;
use super::problem::{BadRequest, Conflict, NotFound, Unauthorized};
use super::{Reply, State, json_body};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SamlProviderPath {
    /// The provider's name (the last part of its ARN)
    pub name: String,
}

fn provider_body(p: RegisteredSamlProvider) -> SamlProviderBody {
    SamlProviderBody {
        arn: p.arn,
        name: p.name,
        entity_id: p.entity_id,
        valid_until: p.valid_until.map(|t| t.to_rfc3339()),
        certificate_fingerprints: p.certificate_fingerprints,
        legacy_sha1: p.legacy_sha1,
        subject_attribute: p.subject_attribute,
    }
}

#[utoipa::path(post, path = "/v1/saml-providers", tag = "saml providers", request_body = CreateSamlProvider, security(("admin_token" = [])),
    responses((status = 201, body = SamlProviderBody), BadRequest, Unauthorized, Conflict))]
pub async fn create(_: Admin, state: State, body: Bytes) -> Reply {
    let input: CreateSamlProvider = json_body(&body)?;
    let provider = state
        .broker
        .create_saml_provider(
            &input.name,
            &input.metadata,
            SamlReading {
                legacy_sha1: input.legacy_sha1,
                subject_attribute: input.subject_attribute,
            },
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/saml-providers/{}", provider.name)))
        .json(provider_body(provider)))
}

#[utoipa::path(get, path = "/v1/saml-providers", tag = "saml providers", security(("admin_token" = [])),
    responses((status = 200, body = SamlProviderList), Unauthorized))]
pub async fn list(_: Admin, state: State) -> Reply {
    let saml_providers: Vec<SamlProviderBody> = state
        .broker
        .list_saml_providers()
        .await?
        .into_iter()
        .map(provider_body)
        .collect();
    Ok(HttpResponse::Ok().json(SamlProviderList { saml_providers }))
}

#[utoipa::path(get, path = "/v1/saml-providers/{name}", tag = "saml providers", params(SamlProviderPath), security(("admin_token" = [])),
    responses((status = 200, body = SamlProviderBody), Unauthorized, NotFound))]
pub async fn get(_: Admin, state: State, path: Path<SamlProviderPath>) -> Reply {
    let provider = state.broker.get_saml_provider(&path.name).await?;
    Ok(HttpResponse::Ok().json(provider_body(provider)))
}

#[utoipa::path(patch, path = "/v1/saml-providers/{name}", tag = "saml providers", request_body = UpdateSamlProvider, params(SamlProviderPath), security(("admin_token" = [])),
    responses((status = 200, body = SamlProviderBody), BadRequest, Unauthorized, NotFound, Conflict))]
pub async fn update(_: Admin, state: State, path: Path<SamlProviderPath>, body: Bytes) -> Reply {
    let input: UpdateSamlProvider = json_body(&body)?;
    let provider = state
        .broker
        .update_saml_provider(
            &path.name,
            &input.metadata,
            SamlReadingChange {
                legacy_sha1: input.legacy_sha1,
                subject_attribute: input.subject_attribute,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(provider_body(provider)))
}

#[utoipa::path(delete, path = "/v1/saml-providers/{name}", tag = "saml providers", params(SamlProviderPath), security(("admin_token" = [])),
    responses((status = 204, description = "Deleted"), Unauthorized, NotFound, Conflict))]
pub async fn delete(_: Admin, state: State, path: Path<SamlProviderPath>) -> Reply {
    state.broker.delete_saml_provider(&path.name).await?;
    Ok(HttpResponse::NoContent().finish())
}

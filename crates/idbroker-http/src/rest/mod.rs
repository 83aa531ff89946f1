//! The REST face under `/v1`: JSON in and out, errors as `application/problem+json`
//! (RFC 9457) carrying the same error kinds as the AWS face. Admin routes need
//! `Authorization: Bearer <IDBROKER_ADMIN_TOKEN>`.

pub mod auth;
mod keys;
mod oidc_providers;
pub mod problem;

use actix_web::web;
use serde::de::DeserializeOwned;

use self::problem::Problem;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/oidc-providers")
            .route(web::get().to(oidc_providers::list))
            .route(web::post().to(oidc_providers::create))
            .default_service(web::route().to(problem::method_not_allowed)),
    )
    .service(
        web::resource("/v1/oidc-providers/{key:.+}")
            .route(web::get().to(oidc_providers::get))
            .route(web::patch().to(oidc_providers::update))
            .route(web::delete().to(oidc_providers::delete))
            .default_service(web::route().to(problem::method_not_allowed)),
    )
    .service(
        web::resource("/v1/keys")
            .route(web::get().to(keys::list))
            .default_service(web::route().to(problem::method_not_allowed)),
    )
    .service(
        web::resource("/v1/keys/rotate")
            .route(web::post().to(keys::rotate))
            .default_service(web::route().to(problem::method_not_allowed)),
    );
}

/// Parses a JSON request body, or a 400 problem naming what is wrong.
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::invalid_parameter(format!("Invalid JSON body: {e}")))
}

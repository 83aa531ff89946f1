//! The REST face under `/v1`: JSON in and out, errors as `application/problem+json`
//! (RFC 9457) carrying the same error kinds as the AWS face. Admin routes need
//! `Authorization: Bearer <IDBROKER_ADMIN_TOKEN>`.

mod audit;
pub mod auth;
mod container;
pub mod contract;
mod developer;
mod explain;
mod identities;
mod keys;
mod ledger;
mod oidc_providers;
pub mod openapi;
mod paths;
mod pools;
pub mod problem;
mod revocation;
mod saml_providers;
mod strict;
mod trust_policy;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::web;
use serde::de::DeserializeOwned;

use self::problem::Problem;
use crate::AppState;

/// What every handler takes to reach the broker, and what it answers.
type State = web::Data<AppState>;
type Reply = Result<actix_web::HttpResponse, Problem>;

/// A page's items as `render` makes them, and the cursor of the next page.
fn rendered<T, U>(
    page: idbroker_service::Page<T>,
    render: impl FnMut(T) -> U,
) -> (Vec<U>, Option<String>) {
    (
        page.items.into_iter().map(render).collect(),
        page.next_token,
    )
}

/// One resource: its methods (`allow`, as the Allow header lists them), and 405 for the others;
/// every request to it under the deadlines of `crate::deadline` (applied per resource, after
/// routing, because the deadline keeps a handle on the request to answer with).
fn resource(
    path: &str,
    allow: &'static str,
) -> actix_web::Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::resource(path)
        .wrap(from_fn(strict::refuse_unexpected_input))
        .wrap(from_fn(crate::deadline::enforce))
        .default_service(web::route().to(move || problem::method_not_allowed(allow)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Bodies as large as the AWS face takes: a Logins map of 10 tokens of up to 50,000
    // characters is about 0.5 MB, past actix's 256 KiB default.
    cfg.app_data(web::PayloadConfig::new(crate::aws::MAX_BODY_BYTES));
    // Malformed paths and query strings are problems too, not actix's plain-text errors.
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| query_problem(&err).into()))
        .app_data(
            web::PathConfig::default()
                .error_handler(|err, _| Problem::invalid_parameter(err.to_string()).into()),
        )
        .service(
            resource("/v1/identity-pools", "GET, POST")
                .route(web::get().to(pools::list))
                .route(web::post().to(pools::create)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}", "GET, PUT, DELETE")
                .route(web::get().to(pools::get))
                .route(web::put().to(pools::replace))
                .route(web::delete().to(pools::delete)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/roles", "GET, PUT")
                .route(web::get().to(pools::get_roles))
                .route(web::put().to(pools::set_roles)),
        )
        .service(
            resource(
                "/v1/identity-pools/{pool_id}/principal-tags/{provider:.+}",
                "GET, PUT",
            )
            .route(web::get().to(pools::get_principal_tags))
            .route(web::put().to(pools::set_principal_tags)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/trust-policy", "GET")
                .route(web::get().to(trust_policy::get)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/trust-policy/check", "POST")
                .route(web::post().to(trust_policy::check)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/explain", "POST")
                .route(web::post().to(explain::explain)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/tags", "GET, POST")
                .route(web::get().to(pools::get_tags))
                .route(web::post().to(pools::add_tags)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/tags/{key}", "DELETE")
                .route(web::delete().to(pools::remove_tag)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/identities", "GET, POST")
                .route(web::get().to(identities::list))
                .route(web::post().to(identities::get_id)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/credentials", "POST")
                .route(web::post().to(identities::pool_credentials)),
        )
        .service(
            resource("/v1/identities/{identity_id}", "GET, DELETE")
                .route(web::get().to(identities::get))
                .route(web::delete().to(identities::delete)),
        )
        .service(
            resource("/v1/identities/{identity_id}/token", "POST")
                .route(web::post().to(identities::token)),
        )
        .service(
            resource("/v1/identities/{identity_id}/credentials", "POST")
                .route(web::post().to(identities::credentials)),
        )
        .service(
            resource("/v1/identities/{identity_id}/revoke", "POST, DELETE")
                .route(web::post().to(revocation::revoke_identity))
                .route(web::delete().to(revocation::reenable_identity)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/revoke", "POST, DELETE")
                .route(web::post().to(revocation::revoke_pool))
                .route(web::delete().to(revocation::reenable_pool)),
        )
        .service(
            resource("/v1/identities/{identity_id}/unlink", "POST")
                .route(web::post().to(identities::unlink)),
        )
        .service(resource("/v1/issuances", "GET").route(web::get().to(ledger::list)))
        .service(resource("/v1/audit", "GET").route(web::get().to(audit::list)))
        .service(
            resource("/v1/identity-pools/{pool_id}/developer/token", "POST")
                .route(web::post().to(developer::token)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/developer/lookup", "GET")
                .route(web::get().to(developer::lookup)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/developer/merge", "POST")
                .route(web::post().to(developer::merge)),
        )
        .service(
            resource("/v1/identity-pools/{pool_id}/developer/unlink", "POST")
                .route(web::post().to(developer::unlink)),
        );
    cfg.service(
        resource("/v1/oidc-providers", "GET, POST")
            .route(web::get().to(oidc_providers::list))
            .route(web::post().to(oidc_providers::create)),
    )
    .service(
        resource("/v1/oidc-providers/{key:.+}", "GET, PATCH, DELETE")
            .route(web::get().to(oidc_providers::get))
            .route(web::patch().to(oidc_providers::update))
            .route(web::delete().to(oidc_providers::delete)),
    )
    .service(
        resource("/v1/saml-providers", "GET, POST")
            .route(web::get().to(saml_providers::list))
            .route(web::post().to(saml_providers::create)),
    )
    .service(
        resource("/v1/saml-providers/{name}", "GET, PATCH, DELETE")
            .route(web::get().to(saml_providers::get))
            .route(web::patch().to(saml_providers::update))
            .route(web::delete().to(saml_providers::delete)),
    )
    .service(
        resource("/v1/container-credentials", "GET").route(web::get().to(container::credentials)),
    )
    .service(resource("/v1/keys", "GET").route(web::get().to(keys::list)))
    .service(resource("/v1/keys/rotate", "POST").route(web::post().to(keys::rotate)));
}

/// As `json_body`, with an absent or `null` body meaning the default (all members optional).
pub(crate) fn json_body_or_default<T: DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, Problem> {
    // The document says these bodies are optional: absent, or `null`.
    if body.trim_ascii().is_empty() || body.trim_ascii() == b"null" {
        Ok(T::default())
    } else {
        json_body(body)
    }
}

/// Parses a JSON request body, or a 400 problem naming what is wrong: an unknown member is
/// named with the nearest known one ("unknown field `Logins`; did you mean `logins`?").
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    // Every body of ours is an object; serde would also read a struct from a positional array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::invalid_parameter(
            "Invalid JSON body: expected a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let reason = match idbroker_api::unknown_field::parse(&e.to_string()) {
            Some(unknown) => unknown.message(crate::echo::field_name),
            None => crate::echo::json_error(&e),
        };
        Problem::invalid_parameter(format!("Invalid JSON body: {reason}"))
    })
}

/// A query-string error as a problem, an unknown parameter named as in `json_body`.
fn query_problem(err: &actix_web::error::QueryPayloadError) -> Problem {
    let text = err.to_string();
    // serde's own message, without actix's prefix, is what `unknown_field` reads.
    let serde_message = match err {
        actix_web::error::QueryPayloadError::Deserialize(inner) => inner.to_string(),
        _ => String::new(),
    };
    match idbroker_api::unknown_field::parse(&serde_message) {
        Some(unknown) => Problem::invalid_parameter(format!(
            "Invalid query string: {}",
            unknown.message(crate::echo::field_name)
        )),
        None => Problem::invalid_parameter(text),
    }
}

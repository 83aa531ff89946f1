//! idbroker's HTTP layer: thin handlers over `idbroker_service::Broker`.
//!
//! - `POST /` is the AWS JSON 1.1 face (`X-Amz-Target: AWSCognitoIdentityService.<Op>`), so the
//!   AWS SDKs, boto3 and the AWS CLI work against idbroker with `endpoint_url` (module `aws`).
//! - `/v1/…` is the REST face: JSON, problem+json errors, admin routes behind a bearer token
//!   (module `rest`).
//! - `GET /healthz` and `GET /readyz` are for load balancers and orchestrators (module `health`).
//!
//! Every response carries `x-amzn-RequestId`; CORS lets browsers call the public operations.

mod actor;
pub mod aws;
mod health;
pub mod metrics;
mod oidc;
pub mod rate_limit;
mod request_id;
pub mod rest;

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use idbroker_service::Broker;
use tracing_actix_web::TracingLogger;

pub use aws::sigv4::{AdminCredentials, SigV4Verifier};
pub use rest::auth::AdminToken;

/// What the handlers share.
pub struct AppState {
    pub broker: Arc<Broker>,
    pub verifier: SigV4Verifier,
    /// The REST admin API's bearer token; without one the admin routes answer 401.
    pub admin_token: Option<AdminToken>,
    pub limits: Arc<rate_limit::RateLimits>,
}

/// Headers a browser may read from our responses (the AWS SDK for JavaScript needs them).
const EXPOSED_HEADERS: [&str; 4] = [
    "x-amzn-RequestId",
    "x-amzn-ErrorType",
    "x-amzn-ErrorMessage",
    "Date",
];

fn cors() -> Cors {
    // Public operations are called from browsers with x-amz-target, x-amz-user-agent and
    // amz-sdk-* headers; any header is allowed because nothing here relies on cookies.
    Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "POST", "OPTIONS"])
        .allow_any_header()
        .expose_headers(EXPOSED_HEADERS)
        .max_age(3600)
}

/// Registers every route; shared by the server and by tests that build an `App` directly.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::post().to(aws::handle))
            .default_service(web::route().to(aws::method_not_allowed)),
    )
    .configure(rest::configure)
    .service(
        web::resource("/.well-known/openid-configuration").route(web::get().to(oidc::discovery)),
    )
    .service(web::resource("/.well-known/jwks.json").route(web::get().to(oidc::jwks)))
    // Cognito's own name for the same document.
    .service(web::resource("/.well-known/jwks_uri").route(web::get().to(oidc::jwks)))
    .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url(
        "/openapi.json",
        <rest::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
    ))
    .service(web::resource("/metrics").route(web::get().to(metrics::render)))
    .service(web::resource("/healthz").route(web::get().to(health::live)))
    .service(web::resource("/readyz").route(web::get().to(health::ready)));
}

/// Starts serving on an already-bound listener (port 0 in tests).
/// Starts serving on `listener`. On SIGINT/SIGTERM the server stops accepting and gives
/// in-flight requests `shutdown_timeout` to finish before their connections are closed.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown_timeout: std::time::Duration,
) -> std::io::Result<Server> {
    metrics::handle();
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(cors())
            .wrap(from_fn(request_id::attach))
            .wrap(from_fn(actor::attach))
            .wrap(from_fn(metrics::observe))
            .wrap(TracingLogger::default())
            .app_data(state.clone())
            .configure(configure)
    })
    .shutdown_timeout(shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

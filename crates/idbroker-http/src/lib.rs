//! idbroker's HTTP layer: thin handlers over `idbroker_service::Broker`.
//!
//! - `POST /` is the AWS JSON 1.1 face (`X-Amz-Target: AWSCognitoIdentityService.<Op>`), so the
//!   AWS SDKs, boto3 and the AWS CLI work against idbroker with `endpoint_url` (module `aws`).
//! - `/v1/…` is the REST face: JSON, problem+json errors, admin routes behind a bearer token
//!   (module `rest`).
//! - `POST /oauth2/token` is RFC 8693 token exchange for other clouds, in OAuth's own error
//!   shape (module `oauth`).
//! - `GET /healthz` and `GET /readyz` are for load balancers and orchestrators (module `health`).
//!
//! Every response carries `x-amzn-RequestId`; CORS lets browsers call the public operations
//! (admin routes only from configured origins); every request has a deadline (`deadline`).

mod actor;
pub mod aws;
pub mod console;
pub mod deadline;
pub mod echo;
mod failure;
mod health;
pub mod metrics;
pub mod oauth;
mod oidc;
pub mod rate_limit;
mod request_id;
pub mod rest;
mod root_span;

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
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
    /// How long a request's body and handler may take.
    pub timeouts: deadline::RequestTimeouts,
    /// Browser origins allowed on the admin routes (exact `scheme://host[:port]`); none by default.
    pub admin_origins: Vec<String>,
    /// The admin console at `/console/`; `None`: off, and none of its routes exist.
    pub console: Option<console::Console>,
}

/// Headers a browser may read from our responses (the AWS SDK for JavaScript needs them).
const EXPOSED_HEADERS: [&str; 4] = [
    "x-amzn-RequestId",
    "x-amzn-ErrorType",
    "x-amzn-ErrorMessage",
    "Date",
];

/// Browsers may call the public operations from any origin (apps run on their own sites), but
/// the admin routes only from the origins an operator lists: an admin token pasted into some
/// page must not be usable by that page against idbroker.
fn cors(admin_origins: Arc<Vec<String>>) -> Cors {
    // Public operations are called from browsers with x-amz-target, x-amz-user-agent and
    // amz-sdk-* headers; any header is allowed because nothing here relies on cookies.
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            is_public_request(head)
                || origin
                    .to_str()
                    .is_ok_and(|o| admin_origins.iter().any(|allowed| allowed == o))
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allow_any_header()
        .expose_headers(EXPOSED_HEADERS)
        .max_age(3600)
}

/// Whether a request (or, for a preflight, the request it announces) is a public one.
fn is_public_request(head: &actix_web::dev::RequestHead) -> bool {
    let announced = head
        .headers()
        .get("access-control-request-method")
        .and_then(|m| m.to_str().ok());
    let method = match announced {
        Some(m) if head.method == actix_web::http::Method::OPTIONS => m,
        _ => head.method.as_str(),
    };
    is_public_route(method, head.uri.path())
}

/// The public face: the AWS JSON endpoint (its signed operations need the admin secret, which a
/// browser never has), the issuer's documents and token endpoint, and the REST twins of the
/// public operations.
pub fn is_public_route(method: &str, path: &str) -> bool {
    if path == "/" || path.starts_with("/.well-known/") {
        return true;
    }
    if path == "/v1/container-credentials" {
        return method == "GET";
    }
    if method != "POST" {
        return false;
    }
    if path == oauth::TOKEN_PATH {
        return true;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segments[..],
        ["v1", "identity-pools", _, "identities" | "credentials"]
            | ["v1", "identities", _, "token" | "credentials" | "unlink"]
    )
}

/// Registers every route; shared by the server and by tests that build an `App` directly.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .wrap(from_fn(deadline::enforce))
            .route(web::post().to(aws::handle))
            .route(web::get().to(index))
            .default_service(web::route().to(aws::method_not_allowed)),
    )
    .configure(rest::configure)
    .service(
        web::resource("/.well-known/openid-configuration").route(web::get().to(oidc::discovery)),
    )
    .service(
        web::resource(oauth::TOKEN_PATH)
            .wrap(from_fn(deadline::enforce))
            .route(web::post().to(oauth::token))
            .default_service(web::route().to(oauth::method_not_allowed)),
    )
    .service(web::resource("/.well-known/jwks.json").route(web::get().to(oidc::jwks)))
    // Cognito's own name for the same document.
    .service(web::resource("/.well-known/jwks_uri").route(web::get().to(oidc::jwks)))
    .service(web::resource("/docs").route(web::get().to(|| async {
        HttpResponse::MovedPermanently()
            .insert_header(("Location", "/docs/"))
            .finish()
    })))
    .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url(
        "/openapi.json",
        <rest::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
    ))
    .service(web::resource("/metrics").route(web::get().to(metrics::render)))
    .service(web::resource("/healthz").route(web::get().to(health::live)))
    .service(web::resource("/readyz").route(web::get().to(health::ready)))
    .default_service(web::route().to(no_such_route));
}

/// `GET /`: where things are, for a person who opens the endpoint in a browser or with curl
/// (the AWS face itself is `POST /`).
async fn index() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "service": "idbroker",
        "aws_face": "POST / with X-Amz-Target: AWSCognitoIdentityService.<Operation> (the Cognito Identity API)",
        "rest": "/v1",
        "docs": "/docs/",
        "openapi": "/openapi.json",
        "openid_configuration": "/.well-known/openid-configuration",
        "token_exchange": "POST /oauth2/token (RFC 8693)",
    }))
}

/// Any other path: 404 in the REST face's error shape rather than an empty body.
async fn no_such_route() -> HttpResponse {
    use actix_web::ResponseError;
    rest::problem::Problem::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "NotFound",
        "There is no such route; see /openapi.json.",
    )
    .error_response()
}

/// Starts serving on `listener`. On SIGINT/SIGTERM the server stops accepting and gives
/// in-flight requests `shutdown_timeout` to finish before their connections are closed.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown_timeout: std::time::Duration,
) -> std::io::Result<Server> {
    metrics::handle();
    let admin_origins = Arc::new(state.admin_origins.clone());
    let console_on = state.console.is_some();
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(cors(admin_origins.clone()))
            .wrap(from_fn(request_id::attach))
            .wrap(from_fn(actor::attach))
            .wrap(from_fn(metrics::observe))
            .wrap(TracingLogger::<root_span::RootSpan>::new())
            .app_data(state.clone())
            .configure(|cfg| {
                if console_on {
                    console::configure(cfg);
                }
                configure(cfg);
            })
    })
    .shutdown_timeout(shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};

    #[actix_web::test]
    async fn an_unknown_path_is_a_problem_not_an_empty_404() {
        let app = test::init_service(App::new().configure(super::configure)).await;
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/v1/no-such-thing")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 404);
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["title"], "NotFound");
    }
}

//! The admin console at `/console/`: server-rendered pages (maud templates compiled into the
//! binary, no script at all) over the same `Broker` methods the REST face calls, so the
//! validation and the error messages are the API's, and every change is audited with
//! `console` as the actor's channel (`crate::actor`).
//!
//! - `session`: sign-in with the admin token, the session cookie, the CSRF token every form
//!   carries.
//! - `page`: the layout, the stylesheet, error pages; `headers` puts a strict
//!   Content-Security-Policy (no script, styles only from `/console/static/`) on every answer.
//! - One module per area: `pools`, `identities` (and `identity_actions`: revoke, re-enable,
//!   delete), `keys`, `audit`, `providers` (OpenID
//!   Connect), `saml`, `explain`.
//!
//! With the console off (`IDBROKER_CONSOLE=off`) `configure` is never called: no route is
//! left behind, `/console/` is the app's ordinary 404.

mod audit;
mod explain;
mod forms;
mod identities;
mod identity_actions;
mod keys;
mod page;
mod pools;
mod providers;
mod saml;
pub mod session;
mod sign_in;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpResponse, ResponseError, web};

use crate::rest::problem::Problem;

/// The console's settings, and its sessions (per replica).
pub struct Console {
    pub sessions: session::Sessions,
}

impl Console {
    /// `idle`: a session unused this long ends; `secure`: the issuer is https, so the cookie
    /// is sent over https only.
    pub fn new(idle: Duration, secure: bool) -> Self {
        Self {
            sessions: session::Sessions::new(idle, secure),
        }
    }
}

/// What the console's handlers share with the REST face.
type State = web::Data<crate::AppState>;
type Reply = Result<HttpResponse, ConsoleError>;

/// Why a console request did not get its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: to the sign-in page.
    #[error("sign in first")]
    SignIn,
    /// A form without this session's CSRF token.
    #[error("The form's CSRF token is missing or wrong; reload the page and try again.")]
    Csrf,
    #[error("The form could not be read.")]
    BadForm,
    #[error("Too many console sessions on this replica; try again later.")]
    TooManySessions,
    #[error("An internal error occurred.")]
    Internal,
    /// A broker call failed (already logged): shown with its kind and the API's message.
    #[error("{0}")]
    Api(Problem),
}

impl From<idbroker_service::ServiceError> for ConsoleError {
    fn from(err: idbroker_service::ServiceError) -> Self {
        // The conversion logs the failure once, as the REST face does.
        Self::Api(Problem::from(err))
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::BadForm => StatusCode::BAD_REQUEST,
            Self::TooManySessions => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Api(problem) => problem.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/sign-in"))
                .finish(),
            Self::Api(problem) => page::error_page(problem.status, problem.kind, &problem.detail),
            other => page::error_page(other.status_code(), "Error", &other.to_string()),
        }
    }
}

/// 303 to another console page (after a form succeeded, so a reload does not post again).
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// No script may run, styles and images come from the console only, forms post only here,
/// no framing: a page of the console can neither be scripted nor embedded.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's security headers, on every answer of its routes (errors and redirects too).
async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ] {
        h.insert(name, value);
    }
    Ok(res)
}

/// One console page: its handlers under the request deadlines of `crate::deadline` (per
/// resource, as the REST face does: the deadline keeps a handle on the request, which the
/// scope's router must not see while it matches).
fn resource(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    web::resource(path).wrap(from_fn(crate::deadline::enforce))
}

/// Registers the console's routes under `/console`; called only when the console is on.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/console").route(web::get().to(|| async { see_other("/console/") })),
    )
    .service(
        web::scope("/console")
            .wrap(from_fn(headers))
            .service(resource("/").route(web::get().to(pools::list)))
            .service(resource("/static/console.css").route(web::get().to(page::stylesheet)))
            .service(
                resource("/sign-in")
                    .route(web::get().to(sign_in::form))
                    .route(web::post().to(sign_in::submit)),
            )
            .service(resource("/sign-out").route(web::post().to(sign_in::sign_out)))
            .service(resource("/pools").route(web::get().to(pools::list)))
            .service(
                resource("/pools/new")
                    .route(web::get().to(pools::new_form))
                    .route(web::post().to(pools::create)),
            )
            .service(resource("/pools/{pool_id}").route(web::get().to(pools::detail)))
            .service(
                resource("/pools/{pool_id}/edit")
                    .route(web::get().to(pools::edit_form))
                    .route(web::post().to(pools::update)),
            )
            .service(resource("/pools/{pool_id}/roles").route(web::post().to(pools::set_roles)))
            .service(
                resource("/pools/{pool_id}/principal-tags")
                    .route(web::post().to(pools::set_principal_tags)),
            )
            .service(
                resource("/pools/{pool_id}/explain")
                    .route(web::get().to(explain::form))
                    .route(web::post().to(explain::submit)),
            )
            .service(resource("/identities").route(web::get().to(identities::search)))
            .service(resource("/identities/{identity_id}").route(web::get().to(identities::detail)))
            .service(
                resource("/identities/{identity_id}/revoke")
                    .route(web::post().to(identity_actions::revoke)),
            )
            .service(
                resource("/identities/{identity_id}/reenable")
                    .route(web::post().to(identity_actions::reenable)),
            )
            .service(
                resource("/identities/{identity_id}/delete")
                    .route(web::get().to(identity_actions::confirm_delete))
                    .route(web::post().to(identity_actions::delete)),
            )
            .service(resource("/keys").route(web::get().to(keys::timeline)))
            .service(resource("/keys/rotate").route(web::post().to(keys::rotate)))
            .service(resource("/audit").route(web::get().to(audit::list)))
            .service(resource("/providers").route(web::get().to(providers::list)))
            .service(resource("/saml-providers").route(web::get().to(saml::list)))
            .service(resource("/saml-providers/{name}").route(web::get().to(saml::detail)))
            .default_service(web::route().to(|| async {
                page::error_page(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "There is no such console page (or method).",
                )
            })),
    );
}

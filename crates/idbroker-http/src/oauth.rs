//! `POST /oauth2/token`: RFC 8693 token exchange, so clouds other than AWS can take idbroker's
//! identity (docs/other-clouds.md). An OAuth endpoint answers in OAuth's shapes: a form body in,
//! JSON out, errors as RFC 6749 §5.2 `{"error", "error_description"}` — never problem+json,
//! which OAuth clients do not read. A subject token is never echoed, in an answer or a log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use idbroker_service::{ExchangeError, ServiceError};
use serde::Serialize;

use crate::AppState;

/// Where the endpoint lives (the discovery document's `token_endpoint`).
pub const TOKEN_PATH: &str = "/oauth2/token";

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The largest subject token, as for a Logins value.
pub const MAX_SUBJECT_TOKEN: usize = 50_000;
/// Any other parameter: token-type URNs and pool ids are far shorter.
pub const MAX_FIELD: usize = 256;
/// The whole form: one subject token, percent-encoded, and a few short fields. Reading stops
/// past it, so a huge body costs no more than this.
pub const MAX_FORM_BYTES: usize = 3 * MAX_SUBJECT_TOKEN + 4096;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    /// A failure of ours or a neighbour's, worth retrying: RFC 6749 names
    /// `temporarily_unavailable` (for the authorization endpoint; token endpoints use it too).
    fn unavailable(status: StatusCode, description: String, retry_after: Option<u64>) -> Self {
        Self {
            status,
            code: "temporarily_unavailable",
            description,
            retry_after,
        }
    }

    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(ErrorBody {
            error: self.code,
            error_description: &self.description,
        })
    }
}

impl From<ServiceError> for OAuthError {
    fn from(err: ServiceError) -> Self {
        crate::failure::log(&err);
        let retry = err.retry_after();
        let description = err.to_string();
        match err {
            ServiceError::NotAuthorized(_) | ServiceError::ResourceNotFound(_) => {
                Self::new("invalid_grant", description)
            }
            ServiceError::InvalidParameter(_)
            | ServiceError::Validation(_)
            | ServiceError::LimitExceeded(_)
            | ServiceError::InvalidIdentityPoolConfiguration(..) => {
                Self::invalid_request(description)
            }
            ServiceError::TooManyRequests(_) | ServiceError::RateLimited(_) => {
                Self::unavailable(StatusCode::TOO_MANY_REQUESTS, description, retry)
            }
            ServiceError::ExternalService(..) => {
                Self::unavailable(StatusCode::BAD_GATEWAY, description, retry)
            }
            ServiceError::Unavailable(..)
            | ServiceError::ResourceConflict(_)
            | ServiceError::ConcurrentModification(_)
            | ServiceError::DeveloperUserAlreadyRegistered(_) => {
                Self::unavailable(StatusCode::SERVICE_UNAVAILABLE, description, retry)
            }
            ServiceError::Internal(_) => Self::new("server_error", description)
                .with_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl From<ExchangeError> for OAuthError {
    fn from(err: ExchangeError) -> Self {
        match err {
            ExchangeError::InvalidTarget(message) => Self::new("invalid_target", message),
            ExchangeError::InvalidGrant(message) => Self::new("invalid_grant", message),
            ExchangeError::Service(err) => err.into(),
        }
    }
}

/// The success answer (RFC 8693 §2.2.1). `token_type` is `N_A`: the token is an ID token to
/// present to another cloud, not an access token for idbroker.
#[derive(Serialize)]
struct ExchangeBody {
    access_token: String,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: i64,
}

/// The request's parameters, each at most once (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            OAuthError::invalid_request("The body is not application/x-www-form-urlencoded.")
        })?;
        // A set, not a scan of the pairs before each one: a body of many short parameters
        // must not cost quadratic time before anything is authenticated.
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        for (name, _) in &pairs {
            if !seen.insert(name.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "Parameter {} is repeated.",
                    printable(name)
                )));
            }
        }
        Ok(Self(pairs))
    }

    /// A parameter, absent if empty (RFC 6749 §3.2), refused if longer than `max` characters.
    fn get(&self, name: &'static str, max: usize) -> Result<Option<&str>, OAuthError> {
        let Some((_, value)) = self.0.iter().find(|(n, _)| n == name) else {
            return Ok(None);
        };
        if value.chars().count() > max {
            return Err(OAuthError::invalid_request(format!(
                "Parameter {name} is longer than {max} characters."
            )));
        }
        Ok(Some(value.as_str()).filter(|v| !v.is_empty()))
    }

    fn require(&self, name: &'static str, max: usize) -> Result<&str, OAuthError> {
        self.get(name, max)?
            .ok_or_else(|| OAuthError::invalid_request(format!("Parameter {name} is missing.")))
    }
}

/// A parameter name for an error message: short and plain, or not at all.
fn printable(name: &str) -> String {
    if name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_owned()
    } else {
        "(unprintable)".to_owned()
    }
}

fn is_token_type(value: &str) -> bool {
    value == ID_TOKEN_TYPE || value == JWT_TOKEN_TYPE
}

/// Reads the body, stopping at `MAX_FORM_BYTES`. A body that arrives too slowly fails here
/// and the deadline middleware answers for it.
async fn read_form(mut payload: web::Payload) -> Result<Vec<u8>, OAuthError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::invalid_request("The body could not be read."))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request(format!(
                "The body is larger than {MAX_FORM_BYTES} bytes."
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// `POST /oauth2/token`.
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    match exchange(&req, &state, payload).await {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(body),
        Err(err) => err.response(),
    }
}

async fn exchange(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<ExchangeBody, OAuthError> {
    state.limits.check_client(req).map_err(|retry| {
        OAuthError::unavailable(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate exceeded".into(),
            Some(retry.0),
        )
    })?;
    if !is_form(req) {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let form = Form::parse(&read_form(payload).await?)?;
    match form.require("grant_type", MAX_FIELD)? {
        TOKEN_EXCHANGE => {}
        _ => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("The only grant type is {TOKEN_EXCHANGE}."),
            ));
        }
    }
    let subject_token = form.require("subject_token", MAX_SUBJECT_TOKEN)?;
    if !is_token_type(form.require("subject_token_type", MAX_FIELD)?) {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ID_TOKEN_TYPE} or {JWT_TOKEN_TYPE}."
        )));
    }
    if form
        .get("requested_token_type", MAX_FIELD)?
        .is_some_and(|t| !is_token_type(t))
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ID_TOKEN_TYPE} or {JWT_TOKEN_TYPE}."
        )));
    }
    if form.get("actor_token", MAX_SUBJECT_TOKEN)?.is_some() {
        return Err(OAuthError::invalid_request(
            "Delegation (actor_token) is not supported.",
        ));
    }
    // `resource` may only name the identity pool, for an audience several pools accept.
    let resource = form.get("resource", MAX_FIELD)?;
    let audience = form.require("audience", MAX_FIELD)?;
    let exchanged = state
        .broker
        .exchange_token(audience, resource, subject_token, |pool| {
            state.limits.check_pool(pool).map_err(|r| r.0)
        })
        .await?;
    Ok(ExchangeBody {
        access_token: exchanged.token,
        issued_token_type: ID_TOKEN_TYPE,
        token_type: "N_A",
        expires_in: exchanged.expires_in,
    })
}

/// Any other method: 405 with `Allow`, in OAuth's error shape.
pub async fn method_not_allowed() -> HttpResponse {
    let mut res = OAuthError::invalid_request("Use POST.")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
        .response();
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

/// The answer when the body did not arrive in time (the deadline middleware's).
pub fn body_too_slow() -> HttpResponse {
    OAuthError::invalid_request(crate::deadline::BODY_TOO_SLOW)
        .with_status(StatusCode::REQUEST_TIMEOUT)
        .response()
}

/// The answer when the whole request ran past its deadline.
pub fn deadline_exceeded(err: ServiceError) -> HttpResponse {
    OAuthError::from(err).response()
}

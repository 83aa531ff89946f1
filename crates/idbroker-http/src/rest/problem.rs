//! Errors on the REST face: `application/problem+json` (RFC 9457). `title` is the error kind,
//! the same name the AWS face uses in `__type`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use idbroker_service::ServiceError;
use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

pub use idbroker_api::ProblemBody;

/// The one reusable error response of the OpenAPI document (`#/components/responses/Problem`):
/// every error status of every route points at it.
pub struct ProblemResponse;

impl<'r> utoipa::ToResponse<'r> for ProblemResponse {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "Problem",
            RefOr::T(
                ResponseBuilder::new()
                    .description("An error, as application/problem+json; `title` is its kind.")
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ProblemBody")))
                            .build(),
                    )
                    .build(),
            ),
        )
    }
}

/// Error statuses a route can answer, each one an `IntoResponses` type pointing at the shared
/// problem response: a route lists `responses((status = 200, ...), BadRequest, NotFound)`.
/// A set names several statuses that many routes answer together.
macro_rules! problem_statuses {
    ($($(#[$doc:meta])* $name:ident = $($status:literal)+),* $(,)?) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$((
                    $status.to_owned(),
                    RefOr::Ref(Ref::from_response_name("Problem")),
                )),+])
            }
        }
    )*};
}

problem_statuses!(
    BadRequest = "400",
    Unauthorized = "401",
    Forbidden = "403",
    NotFound = "404",
    Conflict = "409",
    TooManyRequests = "429",
    InternalError = "500",
    BadGateway = "502",
    /// An admin route on one resource: a bad request, no admin token, no such resource.
    AdminErrors = "400" "401" "404",
    /// A developer-identity route: an admin route whose call the pool may refuse or find in
    /// conflict.
    DeveloperErrors = "400" "401" "403" "404" "409",
    /// A public identity route: bad logins, a refused or unknown identity, a provider that
    /// did not answer, the rate limit.
    PublicErrors = "400" "403" "404" "429" "502",
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    /// Seconds, sent as Retry-After (rate limiting).
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            // Details may quote caller input: bounded before they reach a body or a log.
            detail: crate::echo::bounded(detail.into()),
            retry_after: None,
        }
    }

    pub fn too_many_requests(retry: crate::rate_limit::RetryAfter) -> Self {
        Self {
            retry_after: Some(retry.0),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                "Rate exceeded",
            )
        }
    }

    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameterException", detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            res.insert_header(("Retry-After", seconds.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header(("WWW-Authenticate", "Bearer realm=\"idbroker\""));
        }
        res.content_type("application/problem+json")
            .json(ProblemBody {
                kind_uri: format!("urn:idbroker:error:{}", self.kind),
                title: self.kind.to_owned(),
                status: self.status.as_u16(),
                detail: self.detail.clone(),
            })
    }
}

/// The REST face's status for each kind of service error (the name comes from
/// `ServiceError::kind`, shared with the AWS face).
fn status_of(err: &ServiceError) -> StatusCode {
    match err {
        ServiceError::InvalidParameter(_)
        | ServiceError::Validation(_)
        | ServiceError::LimitExceeded(_)
        | ServiceError::InvalidIdentityPoolConfiguration(..) => StatusCode::BAD_REQUEST,
        ServiceError::NotAuthorized(_) => StatusCode::FORBIDDEN,
        ServiceError::ResourceNotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::ResourceConflict(_)
        | ServiceError::ConcurrentModification(_)
        | ServiceError::DeveloperUserAlreadyRegistered(_) => StatusCode::CONFLICT,
        ServiceError::ExternalService(..) => StatusCode::BAD_GATEWAY,
        ServiceError::TooManyRequests(_) | ServiceError::RateLimited(_) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        ServiceError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for Problem {
    fn from(err: ServiceError) -> Self {
        // The cause goes to the log, once, here; the client gets the message only.
        crate::failure::log(&err);
        Self {
            retry_after: err.retry_after(),
            ..Self::new(status_of(&err), err.kind(), err.to_string())
        }
    }
}

/// 405 with the `Allow` header RFC 9110 requires.
pub async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut res = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "This method is not allowed on this resource.",
    )
    .error_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
        res.headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    res
}

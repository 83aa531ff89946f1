//! Errors on the AWS face, in the AWS JSON 1.1 shape the SDKs parse:
//! body `{"__type": "<Name>", "message": "…"}`, header `x-amzn-ErrorType: <Name>:`,
//! HTTP 400 for every modelled error and 500 only for InternalErrorException.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use idbroker_service::ServiceError;
use serde_json::json;

use super::CONTENT_TYPE;

const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
const ERROR_MESSAGE: HeaderName = HeaderName::from_static("x-amzn-errormessage");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct AwsError {
    pub kind: &'static str,
    pub message: String,
    /// Seconds, sent as Retry-After (rate limiting, unavailability).
    pub retry_after: Option<u64>,
    /// 400 for every modelled error, 500 for InternalErrorException, unless set otherwise.
    pub status: StatusCode,
}

impl AwsError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: if kind == "InternalErrorException" {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            },
            kind,
            // Messages may quote caller input: bounded before they reach a header or a log.
            message: crate::echo::bounded(message.into()),
            retry_after: None,
        }
    }

    pub fn too_many_requests(retry: crate::rate_limit::RetryAfter) -> Self {
        Self {
            retry_after: Some(retry.0),
            ..Self::new("TooManyRequestsException", "Rate exceeded")
        }
    }

    pub fn with_status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }

    pub fn with_retry_after(self, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..self
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    /// A violation of the API model, as the real service names it.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    pub fn internal() -> Self {
        Self::new("InternalErrorException", "An internal error occurred.")
    }
}

impl ResponseError for AwsError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.content_type(CONTENT_TYPE)
            .insert_header((ERROR_TYPE, format!("{}:", self.kind)));
        // Header values cannot carry every character a message may hold; the body always does.
        if let Some(seconds) = self.retry_after {
            res.insert_header(("Retry-After", seconds.to_string()));
        }
        if let Ok(value) = HeaderValue::from_str(&self.message) {
            res.insert_header((ERROR_MESSAGE, value));
        }
        res.json(json!({"__type": self.kind, "message": self.message}))
    }
}

impl From<ServiceError> for AwsError {
    fn from(err: ServiceError) -> Self {
        // The cause goes to the log, once, here; the client gets the message only.
        crate::failure::log(&err);
        if let ServiceError::Internal(_) = err {
            return Self::internal();
        }
        let mut out = Self::new(err.kind(), err.to_string());
        if let ServiceError::Unavailable(..) = err {
            out = out.with_status(StatusCode::SERVICE_UNAVAILABLE);
        }
        match err.retry_after() {
            Some(seconds) => out.with_retry_after(seconds),
            None => out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn an_error_renders_the_aws_json_shape_and_headers() {
        let res = AwsError::invalid_parameter("bad").error_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            res.headers().get("x-amzn-ErrorType").unwrap(),
            "InvalidParameterException:"
        );
        assert_eq!(res.headers().get("content-type").unwrap(), CONTENT_TYPE);
        let body = to_bytes(res.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            json!({"__type": "InvalidParameterException", "message": "bad"})
        );
    }

    #[test]
    fn only_internal_errors_are_500() {
        assert_eq!(
            AwsError::internal().status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let not_found: AwsError = ServiceError::ResourceNotFound("x".into()).into();
        assert_eq!(not_found.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(not_found.kind, "ResourceNotFoundException");
    }

    #[actix_web::test]
    async fn unavailable_is_a_retryable_503_with_retry_after() {
        let err: AwsError =
            ServiceError::Unavailable("try again".into(), idbroker_service::Cause::none()).into();
        assert_eq!(err.kind, "InternalErrorException");
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers().get("retry-after").unwrap(), "1");
        let body = to_bytes(res.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            json!({"__type": "InternalErrorException", "message": "try again"})
        );
    }
}

//! Time limits on the phases of a request that the server itself does not bound.
//!
//! actix-web already cuts a client that is slow to send its headers (`client_request_timeout`).
//! Here: the body must arrive within `body` of the request reaching the app (a client trickling
//! one byte a second otherwise holds a connection and a buffer for as long as it likes), and the
//! whole request — body and handler — must end within `body + handler` (`body + admin` for the
//! signed or token-holding admin operations). Every store method is
//! atomic, so a request cut off by the deadline leaves nothing half-written.
//!
//! The middleware wraps each resource rather than the app: it keeps a handle on the request to
//! answer with, and actix-web's router needs the only handle while it matches the path.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep_until};

use idbroker_service::ServiceError;

use crate::AppState;
use crate::aws::error::AwsError;
use crate::rest::problem::Problem;

/// How long each phase may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeouts {
    /// Receiving the request body.
    pub body: Duration,
    /// Handling a public operation once its body is in.
    pub handler: Duration,
    /// Handling an admin operation: deleting a large pool or paging through identities may
    /// take longer than a client of the public face should ever wait.
    pub admin: Duration,
}

impl Default for RequestTimeouts {
    fn default() -> Self {
        Self {
            body: Duration::from_secs(10),
            handler: Duration::from_secs(8),
            admin: Duration::from_secs(60),
        }
    }
}

/// Whether the request is one of the public operations (which the handler deadline bounds).
fn is_public(req: &ServiceRequest) -> bool {
    if req.path() == "/" {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        return crate::aws::operation::Operation::from_target(target)
            .map(|op| op.is_public())
            .unwrap_or(true);
    }
    crate::is_public_route(req.method().as_str(), req.path())
}

/// The message a handler sees when the body deadline passes (mapped to 408 by both faces).
pub const BODY_TOO_SLOW: &str = "The request body was not received in time.";

/// A request body that fails once its deadline has passed.
struct TimedPayload {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    /// Set when the deadline cut the body off; the middleware then answers 408.
    expired: Arc<AtomicBool>,
}

impl Stream for TimedPayload {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => {}
            ready => return ready,
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                BODY_TOO_SLOW,
            )))));
        }
        Poll::Pending
    }
}

pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let timeouts = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.timeouts)
        .unwrap_or_default();
    let started = Instant::now();
    let expired = Arc::new(AtomicBool::new(false));
    let payload = req.take_payload();
    req.set_payload(Payload::from(Box::pin(TimedPayload {
        inner: payload,
        deadline: Box::pin(sleep_until(started + timeouts.body)),
        expired: expired.clone(),
    })
        as Pin<Box<dyn Stream<Item = Result<web::Bytes, PayloadError>>>>));
    let aws_face = req.path() == "/";
    let oauth_face = req.path() == crate::oauth::TOKEN_PATH;
    let handler = if is_public(&req) {
        timeouts.handler
    } else {
        timeouts.admin
    };
    let request = req.request().clone();
    match tokio::time::timeout(timeouts.body + handler, next.call(req)).await {
        Ok(_) if expired.load(Ordering::Relaxed) => {
            metrics::counter!("idbroker_request_body_timeouts_total").increment(1);
            let mut res = if oauth_face {
                crate::oauth::body_too_slow()
            } else if aws_face {
                AwsError::new("RequestTimeoutException", BODY_TOO_SLOW)
                    .with_status(StatusCode::REQUEST_TIMEOUT)
                    .error_response()
            } else {
                Problem::new(StatusCode::REQUEST_TIMEOUT, "RequestTimeout", BODY_TOO_SLOW)
                    .error_response()
            };
            // The rest of the body was never read: the connection cannot be reused.
            res.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            Ok(ServiceResponse::new(request, res))
        }
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            metrics::counter!("idbroker_request_deadline_exceeded_total").increment(1);
            // Answered as any other "try again shortly": 503 with Retry-After, the same error
            // name on both faces.
            let err = ServiceError::Unavailable(
                "The request did not complete in time; retry later.".into(),
                idbroker_service::Cause::none(),
            );
            let res = if oauth_face {
                crate::oauth::deadline_exceeded(err)
            } else if aws_face {
                AwsError::from(err).error_response()
            } else {
                Problem::from(err).error_response()
            };
            Ok(ServiceResponse::new(request, res))
        }
    }
}

//! The root span of every request, as tracing-actix-web's default builds it, except for what a
//! client controls: the client address is the one the rate limiter uses (the peer, or the
//! trusted proxies' `X-Forwarded-For` entry — never a `Forwarded` header a client made up), and
//! the user agent, host and target are bounded and stripped of control characters.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage, web};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::AppState;
use crate::echo::bounded;

pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let hops = request
            .app_data::<web::Data<AppState>>()
            .map_or(0, |state| state.limits.trusted_proxy_hops());
        let client_ip = crate::rate_limit::request_client_ip(request.request(), hops)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| bounded(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .unwrap_or_default()
        };
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let method = request.method().as_str();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %bounded(method.to_owned()),
            http.route = %route,
            http.flavor = ?request.version(),
            http.scheme = %request.connection_info().scheme(),
            http.host = %header("host"),
            http.client_ip = %client_ip,
            http.user_agent = %header("user-agent"),
            http.target = %bounded(request.uri().path().to_owned()),
            otel.name = %format!("{} {route}", bounded(method.to_owned())),
            otel.kind = "server",
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    }

    /// Records the status on the span and logs nothing: the face that answered has logged a
    /// failure once already (`crate::failure`), and a caller's mistake is not ours to log
    /// (tracing-actix-web's default would log every error response again).
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(err) => err.as_response_error().status_code(),
        };
        span.record("http.status_code", status.as_u16());
        span.record(
            "otel.status_code",
            if status.is_server_error() {
                "ERROR"
            } else {
                "OK"
            },
        );
    }
}

//! Prometheus metrics at `GET /metrics`: every request by route pattern, method (from a fixed
//! set) and status with its latency; AWS-face operations by outcome (the error name); and what the service, the STS
//! client and the key cache count (identities created, tokens minted, credentials issued, STS
//! calls, JWKS fetches). Database connections are read at scrape time.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Latency buckets in seconds: most requests take milliseconds; STS calls up to seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process-wide recorder (one per process, shared by every server in it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// Folds recorded histogram samples into their buckets. The recorder keeps raw samples until
/// this runs (or a scrape renders them), so without it memory grows with every request when
/// nobody scrapes `/metrics`.
pub fn run_upkeep() {
    if let Some(handle) = handle() {
        handle.run_upkeep();
    }
}

/// Counts and times every request by route pattern, method and status.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    metrics::counter!("idbroker_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("idbroker_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// A method as a label from a fixed set: any token is a valid HTTP method, so a client could
/// otherwise mint one time series per request.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records one AWS-face operation: `outcome` is `ok` or the error name.
pub fn aws_operation(operation: &'static str, outcome: &str, started: Instant) {
    metrics::counter!("idbroker_aws_requests_total", "operation" => operation, "outcome" => outcome.to_owned()).increment(1);
    metrics::histogram!("idbroker_aws_request_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
}

pub async fn render(state: web::Data<AppState>) -> HttpResponse {
    let (size, idle) = state.broker.store_connections();
    metrics::gauge!("idbroker_db_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("idbroker_db_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    match handle() {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(handle.render()),
        None => {
            HttpResponse::ServiceUnavailable().body("metrics are not available in this process")
        }
    }
}

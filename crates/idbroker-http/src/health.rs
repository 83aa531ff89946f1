//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers).
//!
//! Readiness checks the database on the store's own health connection, never through the
//! request pool, and answers within `READY_DEADLINE` whatever the database does. It is 503
//! only when the database does not answer. A saturated request pool (every connection busy,
//! e.g. queued behind a table lock) is reported in the body and in metrics but stays 200: it
//! is a property of the shared database's load, so every replica would report it at once and
//! a 503 would take the whole fleet out of the load balancer, turning a slowdown into an
//! outage; the calls themselves already fail within their bounds with a retryable 503.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use idbroker_service::Readiness;
use serde_json::json;

use crate::AppState;

/// Load balancers get an answer within this, even if the check has not finished.
const READY_DEADLINE: Duration = Duration::from_millis(950);

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let readiness = actix_web::rt::time::timeout(READY_DEADLINE, state.broker.readiness())
        .await
        .unwrap_or(Readiness {
            database_answers: false,
            pool_saturated: false,
        });
    let pool = if readiness.pool_saturated {
        "saturated"
    } else {
        "ok"
    };
    metrics::gauge!("idbroker_db_pool_saturated").set(if readiness.pool_saturated {
        1.0
    } else {
        0.0
    });
    // (metric label, reason in the body, 200?)
    let (result, reason, ready) = if !readiness.database_answers {
        tracing::warn!("readiness: database unreachable");
        ("database_unreachable", Some("database unreachable"), false)
    } else if readiness.pool_saturated {
        ("pool_saturated", Some("pool saturated"), true)
    } else {
        ("ok", None, true)
    };
    metrics::counter!("idbroker_readiness_checks_total", "result" => result).increment(1);
    let mut body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": if readiness.database_answers { "ok" } else { "unreachable" },
        "pool": pool,
    });
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

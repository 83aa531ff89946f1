//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the store answers).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.broker.ready().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok"})),
        Err(err) => {
            tracing::warn!(error = ?err, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "reason": "store unreachable"}))
        }
    }
}

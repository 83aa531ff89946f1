//! `/v1/keys`: list idbroker's signing keys and force a rotation (admin token).

use actix_web::{HttpResponse, web};
use idbroker_service::{KeyInfo, KeyState};
use serde_json::{Value, json};

use super::auth::Admin;
use super::problem::Problem;
use crate::AppState;

fn render(key: &KeyInfo) -> Value {
    json!({
        "kid": key.kid,
        "alg": key.alg,
        "state": match key.state { KeyState::Next => "next", KeyState::Current => "current", KeyState::Retiring => "retiring" },
        "created_at": key.created_at.to_rfc3339(),
        "signs_from": key.signs_from.to_rfc3339(),
        "signs_until": key.signs_until.map(|t| t.to_rfc3339()),
        "published_until": key.published_until.map(|t| t.to_rfc3339()),
    })
}

fn keys_body(state: &AppState) -> Result<Value, Problem> {
    let keys = state.broker.signing_keys()?;
    Ok(json!({"keys": keys.iter().map(render).collect::<Vec<_>>()}))
}

#[utoipa::path(get, path = "/v1/keys", tag = "signing keys", security(("admin_token" = [])),
    responses((status = 200, body = Object, description = "The published signing keys (public data only)"),
        (status = 401, body = super::problem::ProblemBody, content_type = "application/problem+json")))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(keys_body(&state)?))
}

/// Schedules the next key now: it is published at once and signs after the pre-publication
/// period, so relying parties see it before any token carries it.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "signing keys", security(("admin_token" = [])),
    responses((status = 200, body = Object, description = "The keys after scheduling the next one"),
        (status = 401, body = super::problem::ProblemBody, content_type = "application/problem+json")))]
pub async fn rotate(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    state.broker.rotate_signing_keys().await?;
    Ok(HttpResponse::Ok().json(keys_body(&state)?))
}

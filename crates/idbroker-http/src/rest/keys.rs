//! `/v1/keys`: list idbroker's signing keys and force a rotation (admin token).

use actix_web::HttpResponse;
use idbroker_api::keys::{KeyBody, KeyList, KeyState as KeyStateBody};
use idbroker_service::{KeyInfo, KeyState};

use super::auth::Admin;
use super::problem::{Problem, Unauthorized};
use super::{Reply, State};
use crate::AppState;

fn render(key: &KeyInfo) -> KeyBody {
    KeyBody {
        kid: key.kid.clone(),
        alg: key.alg.clone(),
        state: match key.state {
            KeyState::Next => KeyStateBody::Next,
            KeyState::Current => KeyStateBody::Current,
            KeyState::Retiring => KeyStateBody::Retiring,
        },
        created_at: key.created_at.to_rfc3339(),
        signs_from: key.signs_from.to_rfc3339(),
        signs_until: key.signs_until.map(|t| t.to_rfc3339()),
        published_until: key.published_until.map(|t| t.to_rfc3339()),
    }
}

fn keys_body(state: &AppState) -> Result<KeyList, Problem> {
    let keys = state.broker.signing_keys()?;
    Ok(KeyList {
        keys: keys.iter().map(render).collect(),
    })
}

#[utoipa::path(get, path = "/v1/keys", tag = "signing keys", security(("admin_token" = [])),
    responses((status = 200, body = KeyList, description = "The published signing keys (public data only)"),
        Unauthorized))]
pub async fn list(_: Admin, state: State) -> Reply {
    Ok(HttpResponse::Ok().json(keys_body(&state)?))
}

/// Schedules the next key now: it is published at once and signs after the pre-publication
/// period, so relying parties see it before any token carries it.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "signing keys", security(("admin_token" = [])),
    responses((status = 200, body = KeyList, description = "The keys after scheduling the next one"),
        Unauthorized))]
pub async fn rotate(_: Admin, state: State) -> Reply {
    state.broker.rotate_signing_keys().await?;
    Ok(HttpResponse::Ok().json(keys_body(&state)?))
}

//! idbroker's own OpenID Connect documents: discovery and JWKS, served from memory (the key
//! ring prepares them on every reload), cacheable, cheap enough for STS to fetch on every call.

use actix_web::{HttpResponse, web};

use crate::AppState;

/// Relying parties may cache our documents this long; new keys are pre-published far longer.
const CACHE_CONTROL: &str = "public, max-age=300";

fn serve(body: Result<String, ()>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("Cache-Control", CACHE_CONTROL))
            .body(body),
        Err(()) => HttpResponse::ServiceUnavailable().finish(),
    }
}

pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    serve(
        state
            .broker
            .issuer()
            .published()
            .map(|p| p.discovery_json.clone())
            .map_err(|_| ()),
    )
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    serve(
        state
            .broker
            .issuer()
            .published()
            .map(|p| p.jwks_json.clone())
            .map_err(|_| ()),
    )
}

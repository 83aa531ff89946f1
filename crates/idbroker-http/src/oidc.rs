//! idbroker's own OpenID Connect documents: discovery and JWKS, served from memory (the key
//! ring prepares them on every reload), cacheable, cheap enough for STS to fetch on every call.

use actix_web::{HttpResponse, web};

use crate::AppState;

/// Relying parties may cache our documents this long; new keys are pre-published far longer.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The two documents the key ring prepares on every reload.
enum Document {
    Discovery,
    Jwks,
}

/// A prepared document, or 503 while the key ring cannot be read.
fn serve(state: &AppState, document: Document) -> HttpResponse {
    let Ok(published) = state.broker.issuer().published() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let body = match document {
        Document::Discovery => published.discovery_json.clone(),
        Document::Jwks => published.jwks_json.clone(),
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", CACHE_CONTROL))
        .body(body)
}

pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, Document::Discovery)
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, Document::Jwks)
}

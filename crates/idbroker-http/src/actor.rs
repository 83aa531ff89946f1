//! Names the author of admin changes for the service's audit (`idbroker_service::with_actor`),
//! in one place for both faces: a REST call with a bearer token acts as the admin token, a
//! SigV4-signed call on the AWS face as the configured access key, a request of the admin
//! console (`/console/…`, whose changes need a signed-in session) as `console`, anything
//! else as anonymous.
//! The client address is part of the name.
//!
//! The name is chosen before the call is authenticated, and that is enough: only an
//! authenticated call can change anything, so only such a call writes an audit entry, and the
//! only access key that verifies is the configured one. Nothing the caller wrote is copied into
//! the name.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::AppState;

pub async fn attach(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let from = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The console's changes are made in a session signed in with the admin token.
    let channel = if req.path().starts_with("/console/") {
        "console".to_owned()
    } else if authorization.starts_with("Bearer ") {
        "admin-token".to_owned()
    } else if authorization.starts_with(crate::aws::sigv4::ALGORITHM) {
        match req.app_data::<web::Data<AppState>>() {
            Some(state) => format!("aws:{}", state.verifier.access_key_id()),
            None => "aws".to_owned(),
        }
    } else {
        "anonymous".to_owned()
    };
    idbroker_service::with_actor(format!("{channel} from {from}"), next.call(req)).await
}

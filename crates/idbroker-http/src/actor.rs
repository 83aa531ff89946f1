//! Names the author of admin changes for the service's audit (`idbroker_service::with_actor`):
//! REST calls with a bearer token act as the admin token; the AWS face names the access key
//! that signed the call (see `aws::handle`). The client address is part of the name.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub async fn attach(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let from = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let actor = if bearer {
        format!("admin-token from {from}")
    } else {
        format!("anonymous from {from}")
    };
    idbroker_service::with_actor(actor, next.call(req)).await
}

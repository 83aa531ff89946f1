//! Who may call a REST route: `Admin` (the admin bearer token, compared in constant time) or
//! `PublicCaller` (anyone, within the per-client rate limit). Every handler takes one of them,
//! so a route cannot forget either check.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use subtle::ConstantTimeEq;

use super::problem::Problem;
use crate::AppState;

/// A bearer token that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(pub String);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Proof that the request carried the admin token; take it as a handler argument.
pub struct Admin;

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "NotAuthorizedException", detail)
}

impl FromRequest for Admin {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(unauthorized("The admin API is not configured.")));
        };
        let Some(expected) = &state.admin_token else {
            return ready(Err(unauthorized(
                "The REST admin API is disabled: IDBROKER_ADMIN_TOKEN is not set.",
            )));
        };
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        ready(match presented {
            Some(token) if bool::from(token.as_bytes().ct_eq(expected.0.as_bytes())) => Ok(Admin),
            Some(_) => Err(unauthorized("The admin token is not valid.")),
            None => Err(unauthorized(
                "This route needs Authorization: Bearer <admin token>.",
            )),
        })
    }
}

/// A caller of a public operation, admitted by the per-client rate limit; take it as a
/// handler argument (the AWS face checks the same limit for its public operations).
pub struct PublicCaller;

impl FromRequest for PublicCaller {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let admitted = match req.app_data::<web::Data<AppState>>() {
            Some(state) => state
                .limits
                .check_client(req)
                .map_err(Problem::too_many_requests),
            None => Ok(()),
        };
        ready(admitted.map(|()| PublicCaller))
    }
}

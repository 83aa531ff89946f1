//! `GET /v1/container-credentials`: the container-credentials endpoint AWS SDKs call when
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` names it, sending `AWS_CONTAINER_AUTHORIZATION_TOKEN`
//! as the raw `Authorization` header (no scheme). That value is an idbroker token for one
//! identity (GetOpenIdToken's); the answer is GetCredentialsForIdentity's credentials for it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use idbroker_api::identities::ContainerCredentialsBody;

use super::auth::PublicCaller;
use super::problem::{InternalError, Problem, PublicErrors, Unauthorized};
use super::{Reply, State};

/// 401: the token is missing or not a valid token of this broker. The token itself is never
/// quoted back.
fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "NotAuthorizedException", detail)
}

#[utoipa::path(get, path = "/v1/container-credentials", tag = "public",
    params(("Authorization" = String, Header,
        description = "An idbroker token for one identity (GetOpenIdToken's), as is: AWS_CONTAINER_AUTHORIZATION_TOKEN. A `Bearer ` prefix is also accepted.")),
    responses((status = 200, body = ContainerCredentialsBody,
            description = "GetCredentialsForIdentity for the token's identity, in the AWS SDKs' container-credentials format"),
        Unauthorized, PublicErrors, InternalError))]
pub async fn credentials(_: PublicCaller, state: State, req: HttpRequest) -> Reply {
    let Some(header) = req.headers().get("authorization") else {
        return Err(unauthorized(
            "This route needs an Authorization header: an idbroker token for the identity.",
        ));
    };
    let token = header.to_str().unwrap_or_default().trim();
    // The SDKs send the value as is; a person trying the route with curl may add the scheme.
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if state.broker.own_token_subject(token).is_none() {
        return Err(unauthorized(
            "The Authorization header is not a valid, unexpired idbroker token.",
        ));
    }
    let (_, c) = state.broker.get_credentials_with_own_token(token).await?;
    Ok(HttpResponse::Ok().json(ContainerCredentialsBody {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        token: c.session_token,
        expiration: c
            .expiration
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
}

//! `POST /v1/identity-pools/{pool_id}/explain` (admin token): a dry run of GetId and
//! GetCredentialsForIdentity for the logins a user sent (`Broker::explain`). Nothing changes
//! and STS is not called; the public routes stay as terse as before.

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path};
use idbroker_api::explain::{ExplainRequest, Explanation};

use super::auth::Admin;
use super::json_body;
use super::paths::PoolPath;
use super::problem::AdminErrors;
use super::{Reply, State};

/// Explains what GetId and GetCredentialsForIdentity would do with these logins: each token's
/// checks (expected and got; tokens are never echoed, only their bounded claims), the identity
/// they map to, the role decision, the session tags, the claims of the token idbroker would
/// issue, and the error the public call would answer.
#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/explain", operation_id = "explain", tag = "identity pools",
    request_body = ExplainRequest, params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = Explanation, description = "The diagnosis; `public_error` is what the public call would answer"), AdminErrors))]
pub async fn explain(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let request: ExplainRequest = json_body(&body)?;
    let explanation = state.broker.explain(&path.pool_id, &request).await?;
    Ok(HttpResponse::Ok().json(explanation))
}

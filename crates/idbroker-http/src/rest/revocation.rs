//! `/v1/identities/{identity_id}/revoke` and `/v1/identity-pools/{pool_id}/revoke` (admin
//! token): POST revokes (no more tokens or credentials, and the IAM deny policy for the
//! sessions already issued), DELETE re-enables. The rules are `Broker::revoke_identity`'s.

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path};
use idbroker_api::revocation::{RevocationBody, RevokeRequest};

use super::auth::Admin;
use super::json_body_or_default;
use super::paths::{IdentityPath, PoolPath};
use super::problem::AdminErrors;
use super::{Reply, State};

/// Revokes an identity: GetOpenIdToken and GetCredentialsForIdentity refuse it on both faces
/// and every replica until it is re-enabled. The answer holds the IAM policy that denies its
/// sessions issued before `before`, and the access keys the ledger recorded that may be live.
#[utoipa::path(post, path = "/v1/identities/{identity_id}/revoke", operation_id = "revoke_identity", tag = "identities",
    request_body = Option<RevokeRequest>, params(IdentityPath), security(("admin_token" = [])),
    responses((status = 200, body = RevocationBody, description = "Revoked (again, with the new instant, if it was)"), AdminErrors))]
pub async fn revoke_identity(
    _: Admin,
    state: State,
    path: Path<IdentityPath>,
    body: Bytes,
) -> Reply {
    let request: RevokeRequest = json_body_or_default(&body)?;
    let answer = state
        .broker
        .revoke_identity(&path.identity_id, &request)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Re-enables a revoked identity. The deny policy attached to the roles stays in force for
/// the sessions it names; new sessions are not affected by it.
#[utoipa::path(delete, path = "/v1/identities/{identity_id}/revoke", operation_id = "reenable_identity", tag = "identities",
    params(IdentityPath), security(("admin_token" = [])),
    responses((status = 204, description = "Re-enabled"), AdminErrors))]
pub async fn reenable_identity(_: Admin, state: State, path: Path<IdentityPath>) -> Reply {
    state.broker.reenable_identity(&path.identity_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes every identity of a pool (GetId still answers: it issues nothing).
#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/revoke", operation_id = "revoke_pool", tag = "identity pools",
    request_body = Option<RevokeRequest>, params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = RevocationBody, description = "Revoked (again, with the new instant, if it was)"), AdminErrors))]
pub async fn revoke_pool(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let request: RevokeRequest = json_body_or_default(&body)?;
    let answer = state.broker.revoke_pool(&path.pool_id, &request).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Re-enables a revoked pool (identities revoked one by one stay revoked).
#[utoipa::path(delete, path = "/v1/identity-pools/{pool_id}/revoke", operation_id = "reenable_pool", tag = "identity pools",
    params(PoolPath), security(("admin_token" = [])),
    responses((status = 204, description = "Re-enabled"), AdminErrors))]
pub async fn reenable_pool(_: Admin, state: State, path: Path<PoolPath>) -> Reply {
    state.broker.reenable_pool(&path.pool_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! `/v1/identity-pools/{pool_id}/trust-policy`: the IAM trust policy a pool's role needs, and a
//! check of an existing one (admin token). The rules are `idbroker_domain::trust_policy`'s.

use actix_web::HttpResponse;
use actix_web::web::{Bytes, Path, Query};
use idbroker_api::trust_policy::{
    Finding, FindingSeverity, PolicyDocument, TrustPolicyCheck, TrustPolicyCheckRequest,
    TrustPolicyQuery,
};
use idbroker_domain::trust_policy::{Severity, TrustPolicyDocument, refuse_duplicate_members};

use super::auth::Admin;
use super::json_body;
use super::paths::PoolPath;
use super::problem::{AdminErrors, Problem};
use super::{Reply, State};

fn document(policy: &TrustPolicyDocument) -> Result<PolicyDocument, Problem> {
    serde_json::to_value(policy)
        .map(PolicyDocument)
        .map_err(|e| Problem::from(idbroker_service::ServiceError::Internal(Box::new(e))))
}

/// The trust policy the role needs for this pool and this idbroker's issuer: its IAM OIDC
/// provider may call `sts:AssumeRoleWithWebIdentity` (and `sts:TagSession` when session tags
/// may apply) with a token whose `aud` is the pool and whose `amr` is the role's kind.
#[utoipa::path(get, path = "/v1/identity-pools/{pool_id}/trust-policy", operation_id = "get_trust_policy", tag = "identity pools",
    params(PoolPath, TrustPolicyQuery), security(("admin_token" = [])),
    responses((status = 200, body = PolicyDocument, description = "An IAM trust policy document"), AdminErrors))]
pub async fn get(
    _: Admin,
    state: State,
    path: Path<PoolPath>,
    query: Query<TrustPolicyQuery>,
) -> Reply {
    let policy = state
        .broker
        .trust_policy(&path.pool_id, query.role.as_str())
        .await?;
    Ok(HttpResponse::Ok().json(document(&policy)?))
}

/// Checks a role's existing trust policy against what this pool and issuer need. A policy IAM
/// would refuse as malformed (an unknown condition operator, say), one that names a member
/// twice, or one past the bounds, is a 400 problem.
#[utoipa::path(post, path = "/v1/identity-pools/{pool_id}/trust-policy/check", operation_id = "check_trust_policy", tag = "identity pools",
    request_body = TrustPolicyCheckRequest, params(PoolPath), security(("admin_token" = [])),
    responses((status = 200, body = TrustPolicyCheck, description = "Findings, errors first"), AdminErrors))]
pub async fn check(_: Admin, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let request: TrustPolicyCheckRequest = json_body(&body)?;
    // Parsing kept one of two repeated members; which one IAM would read is not ours to guess.
    refuse_duplicate_members(&body)
        .map_err(|e| Problem::from(idbroker_service::ServiceError::from(e)))?;
    let (findings, recommended) = state
        .broker
        .check_trust_policy(&path.pool_id, request.role.as_str(), &request.policy)
        .await?;
    let findings = findings
        .into_iter()
        .map(|f| Finding {
            severity: match f.severity {
                Severity::Error => FindingSeverity::Error,
                Severity::Warning => FindingSeverity::Warning,
            },
            code: f.code.to_owned(),
            message: f.message,
            statement: f.statement,
        })
        .collect();
    Ok(HttpResponse::Ok().json(TrustPolicyCheck {
        role: request.role,
        findings,
        recommended_policy: document(&recommended)?,
    }))
}

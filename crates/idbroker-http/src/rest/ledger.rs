//! `/v1/issuances`: the credential ledger (admin token).

use actix_web::{HttpResponse, web};
use idbroker_service::IssuanceFilter;
use idbroker_service::ServiceError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::problem::{Problem, ProblemBody};
use crate::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Exactly one of access_key_id, identity_id and pool_id.
    pub access_key_id: Option<String>,
    pub identity_id: Option<String>,
    pub pool_id: Option<String>,
    /// Page size, 1–60 (default 60).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IssuanceBody {
    pub issued_at: String,
    pub identity_id: String,
    pub identity_pool_id: String,
    pub role_arn: String,
    pub access_key_id: String,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct IssuanceList {
    pub issuances: Vec<IssuanceBody>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/issuances", tag = "credential ledger", params(LedgerQuery), security(("admin_token" = [])),
    responses((status = 200, body = IssuanceList, description = "Credentials handed out, newest first (never their secrets)"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<LedgerQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    let filter = match (query.access_key_id, query.identity_id, query.pool_id) {
        (Some(key), None, None) => IssuanceFilter::AccessKeyId(key),
        (None, Some(id), None) => IssuanceFilter::IdentityId(id),
        (None, None, Some(pool)) => IssuanceFilter::PoolId(pool),
        _ => {
            return Err(ServiceError::InvalidParameter(
                "Give exactly one of access_key_id, identity_id and pool_id.".into(),
            )
            .into());
        }
    };
    let page = state
        .broker
        .find_issuances(filter, query.limit.unwrap_or(60), query.cursor.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(IssuanceList {
        issuances: page
            .items
            .into_iter()
            .map(|i| IssuanceBody {
                issued_at: i.issued_at.to_rfc3339(),
                identity_id: i.identity_id,
                identity_pool_id: i.pool_id,
                role_arn: i.role_arn,
                access_key_id: i.access_key_id,
                expires_at: i.expires_at.to_rfc3339(),
            })
            .collect(),
        next_cursor: page.next_token,
    }))
}

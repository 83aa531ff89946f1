//! `/v1/issuances`: the credential ledger (admin token).

use actix_web::HttpResponse;
use actix_web::web::Query;
use idbroker_api::ledger::{IssuanceBody, IssuanceList, LedgerQuery};
use idbroker_service::ServiceError;
use idbroker_service::{IssuanceFilter, IssuanceWindow};

use super::auth::Admin;
use super::problem::{BadRequest, Unauthorized};
use super::{Reply, State, rendered};

#[utoipa::path(get, path = "/v1/issuances", tag = "credential ledger", params(LedgerQuery), security(("admin_token" = [])),
    responses((status = 200, body = IssuanceList, description = "Credentials handed out, newest first (never their secrets)"),
        BadRequest,
        Unauthorized))]
pub async fn list(_: Admin, state: State, query: Query<LedgerQuery>) -> Reply {
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
    let window = IssuanceWindow {
        issued_since: query
            .since
            .as_deref()
            .map(|since| idbroker_service::parse_instant("since", since))
            .transpose()?,
        live_at: None,
    };
    let page = state
        .broker
        .find_issuances(
            filter,
            window,
            query.limit.unwrap_or(60),
            query.cursor.as_deref(),
        )
        .await?;
    let (issuances, next_cursor) = rendered(page, |i| IssuanceBody {
        issued_at: i.issued_at.to_rfc3339(),
        identity_id: i.identity_id,
        identity_pool_id: i.pool_id,
        role_arn: i.role_arn,
        access_key_id: i.access_key_id,
        expires_at: i.expires_at.to_rfc3339(),
    });
    Ok(HttpResponse::Ok().json(IssuanceList {
        issuances,
        next_cursor,
    }))
}

//! `/v1/audit`: the admin changes, newest first (admin token).

use actix_web::HttpResponse;
use actix_web::web::Query;
use idbroker_api::audit::{AuditQuery, ChangeBody, ChangeList};
use idbroker_service::AuditFilter;
use serde_json::Value;

use super::auth::Admin;
use super::problem::{BadRequest, Unauthorized};
use super::{Reply, State, rendered};

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), security(("admin_token" = [])),
    responses((status = 200, body = ChangeList, description = "Admin changes, newest first"),
        BadRequest,
        Unauthorized))]
pub async fn list(_: Admin, state: State, query: Query<AuditQuery>) -> Reply {
    let instant = |field: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| idbroker_service::parse_instant(field, t))
            .transpose()
    };
    let filter = AuditFilter {
        resource: query.resource.clone(),
        actor: query.actor.clone(),
        action: query.action.clone(),
        since: instant("since", &query.since)?,
        until: instant("until", &query.until)?,
    };
    let page = state
        .broker
        .find_admin_changes(&filter, query.limit.unwrap_or(60), query.cursor.as_deref())
        .await?;
    let parse =
        |text: Option<String>| text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)));
    let (changes, next_cursor) = rendered(page, |c| ChangeBody {
        at: c.at.to_rfc3339(),
        actor: c.actor,
        action: c.action,
        resource: c.resource,
        before: parse(c.before),
        after: parse(c.after),
    });
    Ok(HttpResponse::Ok().json(ChangeList {
        changes,
        next_cursor,
    }))
}

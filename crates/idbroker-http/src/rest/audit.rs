//! `/v1/audit`: the admin changes, newest first (admin token).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::problem::{Problem, ProblemBody};
use crate::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only changes to this resource (a pool or identity id, a provider ARN, ...).
    pub resource: Option<String>,
    /// Page size, 1-60 (default 60).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeBody {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeList {
    pub changes: Vec<ChangeBody>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), security(("admin_token" = [])),
    responses((status = 200, body = ChangeList, description = "Admin changes, newest first"),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, Problem> {
    let page = state
        .broker
        .find_admin_changes(
            query.resource.as_deref(),
            query.limit.unwrap_or(60),
            query.cursor.as_deref(),
        )
        .await?;
    let parse =
        |text: Option<String>| text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)));
    Ok(HttpResponse::Ok().json(ChangeList {
        changes: page
            .items
            .into_iter()
            .map(|c| ChangeBody {
                at: c.at.to_rfc3339(),
                actor: c.actor,
                action: c.action,
                resource: c.resource,
                before: parse(c.before),
                after: parse(c.after),
            })
            .collect(),
        next_cursor: page.next_token,
    }))
}

//! The audit log: admin changes, newest first, a page at a time, filtered by resource (a pool
//! id, an identity id, a provider ARN, `signing-keys`, …), actor, action and a time range:
//! each an index lookup in the store. A table's actor or action is a link to its changes.

use actix_web::http::StatusCode;
use actix_web::web::Query;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use idbroker_service::{AdminChange, AuditFilter};
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{FormError, from_problem, invalid};
use super::page::{self, Section, notice, pager, urlencode, when};
use super::session::Session;
use super::{Reply, State};
use crate::echo::bounded;

/// At most this many characters of a before/after document are shown in the table.
const SHOWN_CHARS: usize = 400;

fn shorten(text: Option<&str>) -> String {
    let text = text.unwrap_or("");
    if text.chars().count() > SHOWN_CHARS {
        format!("{}…", text.chars().take(SHOWN_CHARS).collect::<String>())
    } else {
        text.to_owned()
    }
}

pub fn changes_table(changes: &[AdminChange]) -> Markup {
    html! {
        @if changes.is_empty() { p.muted { "No changes recorded." } }
        @else {
            div.table-wrap { table.audit {
                thead { tr { th { "When" } th { "Actor" } th { "Action" } th { "Resource" } th { "Before" } th { "After" } } }
                tbody {
                    @for c in changes {
                        tr {
                            td { (when(c.at)) }
                            td { a href={ "/console/audit?actor=" (urlencode(&c.actor)) } { (c.actor) } }
                            td { a href={ "/console/audit?action=" (urlencode(&c.action)) } { (c.action) } }
                            td.mono { a href={ "/console/audit?resource=" (urlencode(&c.resource)) } { (c.resource) } }
                            td.mono { (shorten(c.before.as_deref())) }
                            td.mono { (shorten(c.after.as_deref())) }
                        }
                    }
                }
            } }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuditQuery {
    resource: String,
    actor: String,
    action: String,
    since: String,
    until: String,
    cursor: Option<String>,
}

/// A time field: `2030-01-31`, `2030-01-31 12:00`, `2030-01-31T12:00:05` (UTC) or any RFC
/// 3339 instant. A day alone is its midnight.
fn instant(field: &str, text: &str) -> Result<Option<DateTime<Utc>>, FormError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    let spaced = text.replacen('T', " ", 1);
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(&spaced, format) {
            return Ok(Some(at.and_utc()));
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).map(|at| at.and_utc()));
    }
    Err(invalid(format!(
        "{field} must be a UTC time such as 2030-01-31 or 2030-01-31 12:00, not {}",
        bounded(text.to_owned())
    )))
}

/// A non-blank field, trimmed.
fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The query string of the filters (for the pager), ending in `&` when there are any.
fn filter_query(q: &AuditQuery) -> String {
    [
        ("resource", &q.resource),
        ("actor", &q.actor),
        ("action", &q.action),
        ("since", &q.since),
        ("until", &q.until),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(k, v)| format!("{k}={}&", urlencode(v.trim())))
    .collect()
}

fn filter_form(q: &AuditQuery) -> Markup {
    html! {
        form.filters #audit-filter method="get" action="/console/audit" {
            label { "Resource" small { "a pool id, identity id, provider ARN…" }
                input type="text" name="resource" value=(q.resource); }
            label { "Actor" small { "exactly as shown, e.g. console from 10.0.0.7" }
                input type="text" name="actor" value=(q.actor); }
            label { "Action" small { "e.g. RevokeIdentity" }
                input type="text" name="action" value=(q.action); }
            label { "Since (UTC)" small { "2030-01-31 or 2030-01-31 12:00" }
                input type="text" name="since" value=(q.since); }
            label { "Until (UTC)" small { "before this time" }
                input type="text" name="until" value=(q.until); }
            div.actions {
                button type="submit" { "Filter" }
                @if !filter_query(q).is_empty() { a href="/console/audit" { "All changes" } }
            }
        }
    }
}

pub async fn list(session: Session, state: State, query: Query<AuditQuery>) -> Reply {
    let q = query.into_inner();
    let filter = instant("since", &q.since).and_then(|since| {
        Ok(AuditFilter {
            resource: given(&q.resource),
            actor: given(&q.actor),
            action: given(&q.action),
            since,
            until: instant("until", &q.until)?,
        })
    });
    let found = match filter {
        Ok(filter) => state
            .broker
            .find_admin_changes(&filter, 50, q.cursor.as_deref())
            .await
            .map_err(|e| from_problem(e.into())),
        Err(error) => Err(error),
    };
    let (status, content) = match found {
        Ok(page) => (
            StatusCode::OK,
            html! {
                (filter_form(&q))
                (changes_table(&page.items))
                (pager(&format!("/console/audit?{}", filter_query(&q)), page.next_token.as_deref()))
            },
        ),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            html! { (notice(Some(&error))) (filter_form(&q)) },
        ),
    };
    let mut res = page::page(&session, Section::Audit, "Audit log", content);
    *res.status_mut() = status;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::instant;

    #[test]
    fn times_are_read_as_utc() {
        let at = |t: &str| instant("since", t).unwrap().map(|t| t.to_rfc3339());
        assert_eq!(at(" "), None);
        assert_eq!(at("2030-01-31").unwrap(), "2030-01-31T00:00:00+00:00");
        assert_eq!(at("2030-01-31 12:05").unwrap(), "2030-01-31T12:05:00+00:00");
        assert_eq!(
            at("2030-01-31T12:05:07").unwrap(),
            "2030-01-31T12:05:07+00:00"
        );
        assert_eq!(
            at("2030-01-31T12:05:07+02:00").unwrap(),
            "2030-01-31T10:05:07+00:00"
        );
        let error = instant("until", "yesterday").unwrap_err().1;
        assert!(error.starts_with("until must be a UTC time"), "{error}");
    }
}

//! The audit log: admin changes, newest first, all or one resource's (a pool id, an
//! identity id, a provider key, `signing-keys`, …), a page at a time.

use actix_web::web::Query;
use idbroker_service::AdminChange;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, Section, pager, urlencode, when};
use super::session::Session;
use super::{Reply, State};

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
                            td { (c.actor) }
                            td { (c.action) }
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
    cursor: Option<String>,
}

pub async fn list(session: Session, state: State, query: Query<AuditQuery>) -> Reply {
    let resource = Some(query.resource.trim()).filter(|r| !r.is_empty());
    let page = state
        .broker
        .find_admin_changes(resource, 50, query.cursor.as_deref())
        .await?;
    let base = match resource {
        Some(r) => format!("/console/audit?resource={}&", urlencode(r)),
        None => "/console/audit?".to_owned(),
    };
    Ok(page::page(
        &session,
        Section::Audit,
        "Audit log",
        html! {
            form.inline method="get" action="/console/audit" {
                label { "Resource" small { "a pool id, identity id, provider key…" }
                    input type="text" name="resource" value=(query.resource); }
                button type="submit" { "Filter" }
                @if resource.is_some() { a href="/console/audit" { "All changes" } }
            }
            (changes_table(&page.items))
            (pager(&base, page.next_token.as_deref()))
        },
    ))
}

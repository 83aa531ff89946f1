//! Identities: search (by identity id, by a login's provider and subject, by developer user
//! id: each one lookup by key; or a pool's identities, paged) and an identity's detail
//! (logins, disabled or revoked, the credential ledger, the audit entries).

use actix_web::http::StatusCode;
use actix_web::web::{Path, Query};
use idbroker_domain::Identity;
use idbroker_service::{AuditFilter, IssuanceFilter, IssuanceWindow, Page};
use maud::{Markup, html};
use serde::Deserialize;

use super::audit::changes_table;
use super::forms::{FormError, from_problem, invalid};
use super::page::{self, Section, notice, pager, urlencode, when};
use super::session::Session;
use super::{Reply, State, see_other};
use crate::echo::bounded;
use idbroker_service::RevocationScope;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SearchQuery {
    identity_id: String,
    pool_id: String,
    provider: String,
    subject: String,
    developer_user: String,
    /// Set by the redirect after a deletion from the console, to say so.
    deleted: String,
    cursor: Option<String>,
}

fn search_form(q: &SearchQuery, error: Option<&FormError>) -> Markup {
    html! {
        (notice(error))
        @if !q.deleted.is_empty() {
            p.done role="status" { "Identity " span.mono { (bounded(q.deleted.clone())) } " deleted." }
        }
        div.grid2 {
            section.card {
                h2 { "By identity id" }
                form.stack #by-id method="get" action="/console/identities" {
                    label { "Identity id" input type="text" name="identity_id" value=(q.identity_id) placeholder="us-east-1:…"; }
                    button type="submit" { "Find" }
                }
            }
            section.card {
                h2 { "In a pool" }
                form.stack #by-login method="get" action="/console/identities" {
                    label { "Pool id" input type="text" name="pool_id" value=(q.pool_id) required; }
                    label { "Login provider" small { "a Logins key, e.g. accounts.google.com" }
                        input type="text" name="provider" value=(q.provider); }
                    label { "Login subject" small { "the token's sub" }
                        input type="text" name="subject" value=(q.subject); }
                    label { "or developer user id" input type="text" name="developer_user" value=(q.developer_user); }
                    button type="submit" { "Find" }
                    p.muted { "With only a pool id: the pool's identities, a page at a time." }
                }
            }
        }
    }
}

fn search_page(
    session: &Session,
    status: StatusCode,
    q: &SearchQuery,
    error: Option<&FormError>,
    results: Markup,
) -> actix_web::HttpResponse {
    let mut res = page::page(
        session,
        Section::Identities,
        "Identities",
        html! { (search_form(q, error)) (results) },
    );
    *res.status_mut() = status;
    res
}

fn identity_link(id: &str) -> String {
    format!("/console/identities/{}", urlencode(id))
}

fn identities_table(page: &Page<Identity>, base: &str) -> Markup {
    html! {
        h2 { "Identities" }
        @if page.items.is_empty() { p.muted { "None." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Identity id" } th { "Logins" } th { "Created" } th { "State" } } }
                tbody {
                    @for identity in &page.items {
                        tr {
                            td.mono { a href=(identity_link(identity.id.as_str())) { (identity.id) } }
                            td { @if identity.logins.is_empty() { span.muted { "guest" } } @else { (identity.provider_keys().join(", ")) } }
                            td { (when(identity.created_at)) }
                            td { @if identity.disabled { span.badge.disabled { "disabled" } } @else { "enabled" } }
                        }
                    }
                }
            } }
        }
        (pager(base, page.next_token.as_deref()))
    }
}

pub async fn search(session: Session, state: State, query: Query<SearchQuery>) -> Reply {
    let q = query.into_inner();
    let (identity_id, pool_id) = (q.identity_id.trim(), q.pool_id.trim());
    let (provider, subject, user) = (q.provider.trim(), q.subject.trim(), q.developer_user.trim());
    let found = if !identity_id.is_empty() {
        Some(state.broker.describe_identity(identity_id).await)
    } else if !pool_id.is_empty() && (!provider.is_empty() || !subject.is_empty()) {
        if provider.is_empty() || subject.is_empty() {
            let error = invalid("Give both the login's provider and its subject.".into());
            return Ok(search_page(
                &session,
                StatusCode::BAD_REQUEST,
                &q,
                Some(&error),
                html! {},
            ));
        }
        Some(
            state
                .broker
                .find_identity_by_login(pool_id, provider, subject)
                .await,
        )
    } else if !pool_id.is_empty() && !user.is_empty() {
        Some(
            match state
                .broker
                .lookup_developer_identity(pool_id, None, Some(user), None, None)
                .await
            {
                Ok((id, _)) => state.broker.describe_identity(id.as_str()).await,
                Err(e) => Err(e),
            },
        )
    } else {
        None
    };
    match found {
        Some(Ok(identity)) => Ok(see_other(&identity_link(identity.id.as_str()))),
        Some(Err(err)) => {
            let error = from_problem(err.into());
            Ok(search_page(
                &session,
                StatusCode::NOT_FOUND,
                &q,
                Some(&error),
                html! {},
            ))
        }
        None if !pool_id.is_empty() => {
            match state
                .broker
                .list_identities(pool_id, 60, q.cursor.as_deref(), false)
                .await
            {
                Ok(page) => {
                    let base = format!("/console/identities?pool_id={}&", urlencode(pool_id));
                    let table = identities_table(&page, &base);
                    Ok(search_page(&session, StatusCode::OK, &q, None, table))
                }
                Err(err) => {
                    let error = from_problem(err.into());
                    Ok(search_page(
                        &session,
                        StatusCode::BAD_REQUEST,
                        &q,
                        Some(&error),
                        html! {},
                    ))
                }
            }
        }
        None => Ok(search_page(&session, StatusCode::OK, &q, None, html! {})),
    }
}

#[derive(Deserialize)]
pub struct IdentityPath {
    identity_id: String,
}

#[derive(Deserialize)]
pub struct LedgerPaging {
    ledger_cursor: Option<String>,
}

pub async fn detail(
    session: Session,
    state: State,
    path: Path<IdentityPath>,
    paging: Query<LedgerPaging>,
) -> Reply {
    let identity = state.broker.describe_identity(&path.identity_id).await?;
    let revocation = state.broker.revocation_of_identity(&identity).await?;
    let ledger = state
        .broker
        .find_issuances(
            IssuanceFilter::IdentityId(identity.id.to_string()),
            IssuanceWindow {
                issued_since: None,
                live_at: None,
            },
            20,
            paging.ledger_cursor.as_deref(),
        )
        .await?;
    let audit = state
        .broker
        .find_admin_changes(&AuditFilter::resource(identity.id.as_str()), 20, None)
        .await?;
    let id = urlencode(identity.id.as_str());
    let content = html! {
        section.card {
            dl.facts {
                dt { "Identity id" } dd.mono { (identity.id) }
                dt { "Pool" } dd.mono { a href={ "/console/pools/" (urlencode(identity.pool_id.as_str())) } { (identity.pool_id) } }
                dt { "Created" } dd { (when(identity.created_at)) }
                dt { "Last modified" } dd { (when(identity.last_modified_at)) }
                dt { "State" } dd {
                    @if identity.disabled { span.badge.disabled { "disabled" } " (merged away, or left without logins)" }
                    @else { "enabled" }
                }
                dt { "Revoked" } dd {
                    @match &revocation {
                        Some(r) => { span.badge.disabled { "revoked" } " (" (r.scope.as_str()) ", sessions issued before " (when(r.revoked_before)) " denied; by " (r.actor) ")" }
                        None => { "no" }
                    }
                }
            }
        }
        h2 { "Logins" }
        @if identity.logins.is_empty() { p.muted { "None: a guest." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "Provider" } th { "Subject" } } }
                tbody { @for login in &identity.logins { tr { td.mono { (login.provider) } td.mono { (login.subject) } } } }
            } }
        }
        h2 { "Credentials issued" }
        @if ledger.items.is_empty() { p.muted { "None in the ledger." } }
        @else {
            div.table-wrap { table id="ledger" {
                thead { tr { th { "Issued" } th { "Access key id" } th { "Role" } th { "Expires" } } }
                tbody {
                    @for i in &ledger.items {
                        tr { td { (when(i.issued_at)) } td.mono { (i.access_key_id) } td.mono { (i.role_arn) } td { (when(i.expires_at)) } }
                    }
                }
            } }
        }
        @if let Some(cursor) = &ledger.next_token {
            p.pager { a href={ "/console/identities/" (id) "?ledger_cursor=" (urlencode(cursor)) } { "Older credentials →" } }
        }
        (super::identity_actions::actions(&session, identity.id.as_str(), revocation.as_ref().is_some_and(|r| r.scope == RevocationScope::Identity)))
        h2 { "Audit" }
        (changes_table(&audit.items))
        @if audit.next_token.is_some() {
            p { a href={ "/console/audit?resource=" (id) } { "All of its audit entries →" } }
        }
    };
    Ok(page::page(
        &session,
        Section::Identities,
        "Identity",
        content,
    ))
}

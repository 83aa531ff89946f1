//! The explain form: a dry run of GetId and GetCredentialsForIdentity for one or two logins
//! (`Broker::explain`, as `POST /v1/identity-pools/{id}/explain`), each token check shown as
//! a row that passed or failed. Nothing changes and STS is not called.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Path};
use idbroker_api::explain::{ExplainRequest, Explanation, PublicError};
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{FormError, from_problem, optional};
use super::page::{self, Section, csrf, notice, urlencode};
use super::session::Session;
use super::{Reply, State};

#[derive(Deserialize)]
pub struct PoolPath {
    pool_id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ExplainForm {
    provider: String,
    token: String,
    provider2: String,
    token2: String,
    identity_id: String,
    custom_role_arn: String,
}

fn form_markup(
    session: &Session,
    pool_id: &str,
    form: &ExplainForm,
    error: Option<&FormError>,
) -> Markup {
    html! {
        (notice(error))
        form.stack method="post" action={ "/console/pools/" (urlencode(pool_id)) "/explain" } {
            (csrf(session))
            label { "Login provider" small { "a Logins key, e.g. accounts.google.com" }
                input type="text" name="provider" value=(form.provider); }
            label { "Token" textarea name="token" { (form.token) } }
            label { "Second login provider (optional)" input type="text" name="provider2" value=(form.provider2); }
            label { "Second token" textarea name="token2" { (form.token2) } }
            label { "Identity id (optional)" small { "as GetCredentialsForIdentity names it; else GetId's answer" }
                input type="text" name="identity_id" value=(form.identity_id); }
            label { "Custom role ARN (optional)" input type="text" name="custom_role_arn" value=(form.custom_role_arn); }
            button type="submit" { "Explain" }
        }
    }
}

pub async fn form(session: Session, path: Path<PoolPath>) -> actix_web::HttpResponse {
    page::page(
        &session,
        Section::Pools,
        "Explain a login",
        form_markup(&session, &path.pool_id, &ExplainForm::default(), None),
    )
}

fn public_error(error: Option<&PublicError>) -> Markup {
    html! {
        @if let Some(e) = error {
            div.error role="alert" { strong { (e.operation) " would answer " (e.kind) } ": " (e.message) }
        }
    }
}

fn verdict(passed: bool) -> Markup {
    html! { @if passed { span.passed { "✓ passed" } } @else { span.failed { "✗ failed" } } }
}

fn explanation(x: &Explanation) -> Markup {
    html! {
        h2 { "Result" }
        @match &x.public_error {
            Some(_) => (public_error(x.public_error.as_ref())),
            None => p.passed { "The public calls would succeed (up to STS, which is not called)." },
        }
        @for login in &x.logins {
            section.card {
                h3.mono { (login.provider_key) " " (verdict(login.accepted)) }
                p { "Pool entry: " (login.pool_entry.kind)
                    @if !login.pool_entry.closest.is_empty() { " (nearest: " (login.pool_entry.closest.join(", ")) ")" } }
                div.table-wrap { table.checks {
                    thead { tr { th { "Check" } th { "Result" } th { "Expected" } th { "Got" } } }
                    tbody {
                        @for c in &login.checks {
                            tr class=(if c.passed { "passed-row" } else { "failed-row" }) {
                                td { (c.name) } td { (verdict(c.passed)) } td.mono { (c.expected) } td.mono { (c.got) }
                            }
                        }
                    }
                } }
                (public_error(login.error.as_ref()))
            }
        }
        @if let Some(identity) = &x.identity {
            h3 { "Identity" }
            p { (serde_json::to_string(&identity.outcome).unwrap_or_default().trim_matches('"'))
                @if let Some(id) = &identity.identity_id { " → " a.mono href={ "/console/identities/" (urlencode(id)) } { (id) } } }
            (public_error(identity.error.as_ref()))
        }
        @if let Some(role) = &x.role {
            h3 { "Role" }
            p { "Decided by " (role.decided_by) ": " span.mono { (role.role_arn.as_deref().unwrap_or("none")) } }
            (public_error(role.error.as_ref()))
        }
        @if !x.principal_tags.is_empty() {
            h3 { "Session tags" }
            @for (k, v) in &x.principal_tags { div.mono { (k) "=" (v) } }
        }
    }
}

pub async fn submit(session: Session, state: State, path: Path<PoolPath>, body: Bytes) -> Reply {
    let form: ExplainForm = session.form(&body)?;
    let mut logins = BTreeMap::new();
    for (provider, token) in [
        (&form.provider, &form.token),
        (&form.provider2, &form.token2),
    ] {
        if let (Some(p), Some(t)) = (optional(provider), optional(token)) {
            logins.insert(p, t);
        }
    }
    let request = ExplainRequest {
        logins,
        identity_id: optional(&form.identity_id),
        custom_role_arn: optional(&form.custom_role_arn),
    };
    let (status, result, error) = match state.broker.explain(&path.pool_id, &request).await {
        Ok(x) => (StatusCode::OK, explanation(&x), None),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            html! {},
            Some(from_problem(err.into())),
        ),
    };
    // Tokens are not shown again: the form comes back empty but for the names.
    let shown = ExplainForm {
        token: String::new(),
        token2: String::new(),
        ..form
    };
    let mut res = page::page(
        &session,
        Section::Pools,
        "Explain a login",
        html! {
            (result)
            @if error.is_none() { h2 { "Explain another" } }
            (form_markup(&session, &path.pool_id, &shown, error.as_ref()))
        },
    );
    *res.status_mut() = status;
    Ok(res)
}

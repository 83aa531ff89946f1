//! What an admin does to one identity from its page, through the REST face's `Broker`
//! methods (so the rules, the errors and the audit, with `console` as the channel, are
//! theirs): revoke (the answer shows the revocation's effect: the instant, the IAM deny
//! policy to attach and to which roles, the live credentials it covers), re-enable, and
//! delete after a confirmation page. Every form carries the session's CSRF token.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Path};
use idbroker_api::revocation::{RevocationBody, RevokeRequest};
use idbroker_service::ServiceError;
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{FormError, optional};
use super::page::{self, Section, csrf, notice, urlencode, when};
use super::session::Session;
use super::{Reply, State, see_other};

#[derive(Deserialize)]
pub struct IdentityPath {
    identity_id: String,
}

fn identity_link(id: &str) -> String {
    format!("/console/identities/{}", urlencode(id))
}

/// The actions section of an identity's page: revoke or re-enable, and the way to delete.
pub fn actions(session: &Session, identity_id: &str, revoked_itself: bool) -> Markup {
    let base = identity_link(identity_id);
    html! {
        h2 { "Actions" }
        div.grid2 {
            @if revoked_itself {
                section.card {
                    h3 { "Re-enable" }
                    p.muted { "Tokens and credentials are served again. Sessions issued before the revocation stay denied by the policy as long as it is attached." }
                    form #reenable method="post" action={ (base) "/reenable" } {
                        (csrf(session))
                        button type="submit" { "Re-enable this identity" }
                    }
                }
            } @else {
                section.card {
                    h3 { "Revoke" }
                    p.muted { "No more tokens or credentials for this identity until it is re-enabled; the answer is the IAM policy that denies the sessions already issued." }
                    form.stack #revoke method="post" action={ (base) "/revoke" } {
                        (csrf(session))
                        label { "Deny sessions issued before" small { "RFC 3339, e.g. 2030-01-31T12:00:00Z; blank: now" }
                            input type="text" name="before"; }
                        button type="submit" { "Revoke this identity" }
                    }
                }
            }
            section.card {
                h3 { "Delete" }
                p.muted { "Removes the identity and its logins (DeleteIdentities); asks first." }
                p { a #delete href={ (base) "/delete" } { "Delete this identity…" } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    before: String,
}

pub async fn revoke(
    session: Session,
    state: State,
    path: Path<IdentityPath>,
    body: Bytes,
) -> Reply {
    let form: RevokeForm = session.form(&body)?;
    let request = RevokeRequest {
        before: optional(&form.before),
    };
    match state
        .broker
        .revoke_identity(&path.identity_id, &request)
        .await
    {
        Ok(answer) => Ok(page::page(
            &session,
            Section::Identities,
            "Identity revoked",
            effect(&answer),
        )),
        // A broken instant is the form's error, shown on a page with the form again.
        Err(ServiceError::InvalidParameter(detail)) => {
            let error: FormError = ("InvalidParameterException".into(), detail);
            let mut res = page::page(
                &session,
                Section::Identities,
                "Revoke identity",
                html! {
                    (notice(Some(&error)))
                    (actions(&session, &path.identity_id, false))
                    p { a href=(identity_link(&path.identity_id)) { "Back to the identity" } }
                },
            );
            *res.status_mut() = StatusCode::BAD_REQUEST;
            Ok(res)
        }
        Err(other) => Err(other.into()),
    }
}

/// The revocation's effect, as the REST answer states it.
fn effect(r: &RevocationBody) -> Markup {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let id = r.identity_id.as_deref().unwrap_or_default();
    html! {
        section.card #revocation {
            dl.facts {
                dt { "Identity" } dd.mono { a href=(identity_link(id)) { (id) } }
                dt { "Denied" } dd { "new tokens and credentials, at once; sessions issued before " strong { (r.revoked_before) } " once the policy below is attached" }
                dt { "Replaced an earlier revocation" } dd { @if r.replaced { "yes" } @else { "no" } }
                dt { "Roles to attach it to" } dd.mono {
                    @if r.roles.is_empty() { span.muted { "the pool names none" } }
                    @for role in &r.roles { div { (role) } }
                }
            }
        }
        @for note in &r.notes { p.error role="note" { (note) } }
        @if let Some(policy) = &r.deny_policy {
            h2 { "Deny policy" }
            p.muted { "aws iam put-role-policy --role-name … --policy-name idbroker-revocation --policy-document file://policy.json" }
            pre.policy #deny-policy { (pretty(policy)) }
        }
        @if let Some(policy) = &r.pool_deny_policy {
            h2 { "Pool-wide deny policy (offered)" }
            pre.policy #pool-deny-policy { (pretty(policy)) }
        }
        h2 { "Credentials still live when revoked" }
        @if r.live_credentials.is_empty() { p.muted { "None in the ledger." } }
        @else {
            div.table-wrap { table #live-credentials {
                thead { tr { th { "Access key id" } th { "Role" } th { "Issued" } th { "Expires" } } }
                tbody {
                    @for c in &r.live_credentials {
                        tr { td.mono { (c.access_key_id) } td.mono { (c.role_arn) } td { (c.issued_at) } td { (c.expires_at) } }
                    }
                }
            } }
            @if r.live_credentials_truncated { p.muted { "More than these are live; GET /v1/issuances lists them all." } }
        }
        p { a href=(identity_link(id)) { "Back to the identity" } }
    }
}

pub async fn reenable(
    session: Session,
    state: State,
    path: Path<IdentityPath>,
    body: Bytes,
) -> Reply {
    #[derive(Deserialize)]
    struct Empty {}
    let _: Empty = session.form(&body)?;
    state.broker.reenable_identity(&path.identity_id).await?;
    Ok(see_other(&identity_link(&path.identity_id)))
}

/// The confirmation step: what would be deleted, and the form that does it.
pub async fn confirm_delete(session: Session, state: State, path: Path<IdentityPath>) -> Reply {
    let identity = state.broker.describe_identity(&path.identity_id).await?;
    let id = identity.id.as_str();
    Ok(page::page(
        &session,
        Section::Identities,
        "Delete identity?",
        html! {
            section.card {
                dl.facts {
                    dt { "Identity id" } dd.mono { (id) }
                    dt { "Pool" } dd.mono { (identity.pool_id) }
                    dt { "Created" } dd { (when(identity.created_at)) }
                    dt { "Logins" } dd {
                        @if identity.logins.is_empty() { span.muted { "none: a guest" } }
                        @else { (identity.provider_keys().join(", ")) }
                    }
                }
            }
            p { "The identity and its logins are removed; its next sign-in gets a new identity id. The credential ledger and the audit keep their records. This cannot be undone." }
            form.inline #confirm-delete method="post" action={ (identity_link(id)) "/delete" } {
                (csrf(&session))
                input type="hidden" name="confirm" value=(id);
                button.danger type="submit" { "Delete it" }
                a href=(identity_link(id)) { "Cancel" }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    session: Session,
    state: State,
    path: Path<IdentityPath>,
    body: Bytes,
) -> Reply {
    let form: DeleteForm = session.form(&body)?;
    // Only the confirmation page's form names the identity again.
    if form.confirm != path.identity_id {
        return Err(ServiceError::InvalidParameter(
            "Confirm the deletion on the identity's delete page.".into(),
        )
        .into());
    }
    let identity = state.broker.describe_identity(&path.identity_id).await?;
    let unprocessed = state
        .broker
        .delete_identities(std::slice::from_ref(&path.identity_id))
        .await?;
    if !unprocessed.is_empty() {
        return Err(ServiceError::Internal("the identity could not be deleted".into()).into());
    }
    Ok(see_other(&format!(
        "/console/identities?pool_id={}&deleted={}",
        urlencode(identity.pool_id.as_str()),
        urlencode(identity.id.as_str())
    )))
}

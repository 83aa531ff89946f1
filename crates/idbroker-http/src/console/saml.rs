//! The registered SAML providers: a list (ARN, entity id, certificates, `validUntil`,
//! legacy SHA-1) and each provider's detail: its signing certificates with fingerprints and
//! validity, the pools whose `SamlProviderARNs` name it, and its audit.

use actix_web::web::Path;
use chrono::{DateTime, Utc};
use idbroker_service::{AuditFilter, CertificateInfo, RegisteredSamlProvider};
use maud::{Markup, html};
use serde::Deserialize;

use super::audit::changes_table;
use super::page::{self, Section, urlencode, when};
use super::session::Session;
use super::{Reply, State};

/// At most this many pools are listed on a provider's page.
const SHOWN_POOLS: u32 = 100;

fn detail_link(name: &str) -> String {
    format!("/console/saml-providers/{}", urlencode(name))
}

/// Whether `now` is inside a certificate's validity, as a badge.
fn validity(cert: &CertificateInfo, now: DateTime<Utc>) -> Markup {
    match (cert.not_before, cert.not_after) {
        (Some(from), _) if now < from => html! { span.badge.disabled { "not yet valid" } },
        (_, Some(until)) if until <= now => html! { span.badge.disabled { "expired" } },
        (Some(_), Some(until)) => {
            html! { span.badge.current { "valid" } " " span.muted { (days_left(until, now)) } }
        }
        _ => html! { span.muted { "unreadable dates" } },
    }
}

fn days_left(until: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match (until - now).num_days() {
        0 => "expires within a day".to_owned(),
        1 => "1 day left".to_owned(),
        days => format!("{days} days left"),
    }
}

fn valid_until(p: &RegisteredSamlProvider, now: DateTime<Utc>) -> Markup {
    html! {
        @match p.valid_until {
            Some(until) if until <= now => { (when(until)) " " span.badge.disabled { "passed" } }
            Some(until) => { (when(until)) }
            None => { span.muted { "not set" } }
        }
    }
}

/// The soonest a certificate of the provider stops being valid.
fn first_expiry(p: &RegisteredSamlProvider) -> Option<DateTime<Utc>> {
    p.certificates.iter().filter_map(|c| c.not_after).min()
}

pub async fn list(session: Session, state: State) -> Reply {
    let providers = state.broker.list_saml_providers().await?;
    let now = state.broker.now();
    Ok(page::page(
        &session,
        Section::Saml,
        "SAML providers",
        html! {
            @if providers.is_empty() { p.muted { "None registered (POST /v1/saml-providers registers one)." } }
            @else {
                div.table-wrap { table id="saml-providers" {
                    thead { tr { th { "Name" } th { "Entity id" } th { "ARN" } th { "Certificates" } th { "First certificate expiry" } th { "validUntil" } th { "Legacy SHA-1" } th { "Subject" } } }
                    tbody {
                        @for p in &providers {
                            tr {
                                td.mono { a href=(detail_link(&p.name)) { (p.name) } }
                                td.mono { (p.entity_id) }
                                td.mono { (p.arn) }
                                td { (p.certificates.len()) }
                                td { @match first_expiry(p) {
                                    Some(at) if at <= now => { (when(at)) " " span.badge.disabled { "expired" } }
                                    Some(at) => { (when(at)) }
                                    None => { span.muted { "—" } }
                                } }
                                td { (valid_until(p, now)) }
                                td { @if p.legacy_sha1 { span.badge.disabled { "accepted" } } @else { "refused" } }
                                td { (subject(p)) }
                            }
                        }
                    }
                } }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct ProviderPath {
    name: String,
}

pub async fn detail(session: Session, state: State, path: Path<ProviderPath>) -> Reply {
    let provider = state.broker.get_saml_provider(&path.name).await?;
    let pools = state
        .broker
        .pools_using_saml_provider(&provider.name, SHOWN_POOLS + 1)
        .await?;
    let audit = state
        .broker
        .find_admin_changes(&AuditFilter::resource(&provider.arn), 20, None)
        .await?;
    let now = state.broker.now();
    let more_pools = pools.len() > SHOWN_POOLS as usize;
    let content = html! {
        section.card {
            dl.facts {
                dt { "ARN" } dd.mono { (provider.arn) }
                dt { "Entity id" } dd.mono { (provider.entity_id) }
                dt { "validUntil" } dd { (valid_until(&provider, now)) }
                dt { "Legacy SHA-1" } dd {
                    @if provider.legacy_sha1 { span.badge.disabled { "accepted" } " RSA-SHA1 signatures and SHA-1 digests are accepted from this provider" }
                    @else { "refused (SHA-256 or better only)" }
                }
                dt { "Subject" } dd { (subject(&provider)) }
            }
        }
        h2 { "Signing certificates" }
        div.table-wrap { table id="certificates" {
            thead { tr { th { "SHA-256 fingerprint" } th { "Subject" } th { "Not before" } th { "Not after" } th { "Now" } } }
            tbody {
                @for c in &provider.certificates {
                    tr {
                        td.mono { (c.fingerprint) }
                        td.mono { (c.subject) }
                        td { @match c.not_before { Some(t) => (when(t)), None => "—" } }
                        td { @match c.not_after { Some(t) => (when(t)), None => "—" } }
                        td { (validity(c, now)) }
                    }
                }
            }
        } }
        p.muted { "xmlsec checks a response's signature against these certificates' keys; their dates are shown to plan a rotation." }
        h2 { "Pools that use it" }
        @if pools.is_empty() { p.muted { "None: no pool's SamlProviderARNs names it." } }
        @else {
            ul id="saml-pools" {
                @for (id, name) in pools.iter().take(SHOWN_POOLS as usize) {
                    li { a.mono href={ "/console/pools/" (urlencode(id)) } { (id) } " " (name) }
                }
            }
            @if more_pools { p.muted { "Only the first " (SHOWN_POOLS) " are listed." } }
        }
        h2 { "Audit" }
        (changes_table(&audit.items))
        @if audit.next_token.is_some() {
            p { a href={ "/console/audit?resource=" (urlencode(&provider.arn)) } { "All of its audit entries →" } }
        }
    };
    Ok(page::page(&session, Section::Saml, &provider.name, content))
}

/// Where a login's subject (the identity's key) comes from.
fn subject(provider: &RegisteredSamlProvider) -> Markup {
    match &provider.subject_attribute {
        None => html! { "NameID" },
        Some(name) => html! { "attribute " span.mono { (name) } },
    }
}

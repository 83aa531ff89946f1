//! The registered OpenID Connect providers: issuer, Logins key, client ids, ARN, and the state
//! of this replica's cache of their signing keys (last fetch, failures, backoff).

use idbroker_service::KeyCacheState;
use maud::{Markup, html};

use super::page::{self, Section, urlencode};
use super::session::Session;
use super::{Reply, State};

pub async fn list(session: Session, state: State) -> Reply {
    let providers = state.broker.list_oidc_providers().await?;
    Ok(page::page(
        &session,
        Section::Providers,
        "OpenID Connect providers",
        html! {
            @if providers.is_empty() { p.muted { "None registered (POST /v1/oidc-providers registers one)." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Issuer" } th { "Logins key" } th { "Client ids" } th { "ARN" } th { "Key cache (this replica)" } } }
                    tbody {
                        @for p in &providers {
                            tr {
                                td.mono { (p.issuer) }
                                td.mono { a href={ "/console/audit?resource=" (urlencode(&p.key)) } { (p.key) } }
                                td.mono { (p.client_ids.join(", ")) }
                                td.mono { (p.arn) }
                                td { (cache_state(state.broker.oidc_key_cache(&p.issuer).as_ref())) }
                            }
                        }
                    }
                } }
            }
        },
    ))
}

fn cache_state(state: Option<&KeyCacheState>) -> Markup {
    let Some(s) = state else {
        return html! { span.muted { "not used since start-up" } };
    };
    html! {
        @match s.fetched_ago {
            Some(ago) => { (s.keys) " keys, fetched " (ago.as_secs()) " s ago" }
            None => { span.muted { "no keys cached" } }
        }
        @if s.failures > 0 {
            div.failed {
                (s.failures) " failed fetch(es) in a row"
                @if s.in_backoff { ", in backoff" }
            }
            @if let Some(error) = &s.last_error {
                div.mono { (crate::echo::bounded(error.clone())) }
            }
        }
    }
}

//! The registered OpenID Connect providers: issuer, Logins key, client ids, ARN.

use maud::html;

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
                    thead { tr { th { "Issuer" } th { "Logins key" } th { "Client ids" } th { "ARN" } } }
                    tbody {
                        @for p in &providers {
                            tr {
                                td.mono { (p.issuer) }
                                td.mono { a href={ "/console/audit?resource=" (urlencode(&p.key)) } { (p.key) } }
                                td.mono { (p.client_ids.join(", ")) }
                                td.mono { (p.arn) }
                            }
                        }
                    }
                } }
            }
        },
    ))
}

//! idbroker's signing keys as a timeline: when each was published, signs, stops signing and
//! leaves the JWKS, and when the next rotation happens; a form schedules one now (as
//! `POST /v1/keys/rotate`).

use actix_web::web::Bytes;
use idbroker_service::{KeyInfo, KeyState};
use maud::html;
use serde::Deserialize;

use super::page::{self, Section, csrf, when};
use super::session::Session;
use super::{Reply, State, see_other};

fn state_badge(state: KeyState) -> maud::Markup {
    match state {
        KeyState::Next => html! { span.badge.next { "published, next" } },
        KeyState::Current => html! { span.badge.current { "signing" } },
        KeyState::Retiring => html! { span.badge.retiring { "retired, still published" } },
    }
}

pub async fn timeline(session: Session, state: State) -> Reply {
    let mut keys: Vec<KeyInfo> = state.broker.signing_keys()?;
    keys.sort_by_key(|k| k.signs_from);
    let next_rotation = keys
        .iter()
        .find(|k| k.state == KeyState::Next)
        .map(|k| k.signs_from)
        .or_else(|| {
            keys.iter()
                .find(|k| k.state == KeyState::Current)
                .and_then(|k| k.signs_until)
        });
    Ok(page::page(
        &session,
        Section::Keys,
        "Signing keys",
        html! {
            section.card {
                dl.facts {
                    dt { "Next rotation" }
                    dd { @match next_rotation { Some(at) => (when(at)), None => "not planned" } }
                    dt { "Published keys" } dd { (keys.len()) }
                }
            }
            div.table-wrap { table id="keys" {
                thead { tr { th { "Key id" } th { "Alg" } th { "State" } th { "Published" } th { "Signs from" } th { "Signs until" } th { "Published until" } } }
                tbody {
                    @for k in &keys {
                        tr {
                            td.mono { (k.kid) }
                            td { (k.alg) }
                            td { (state_badge(k.state)) }
                            td { (when(k.created_at)) }
                            td { (when(k.signs_from)) }
                            td { @match k.signs_until { Some(t) => (when(t)), None => "—" } }
                            td { @match k.published_until { Some(t) => (when(t)), None => "—" } }
                        }
                    }
                }
            } }
            h2 { "Rotate" }
            form.inline method="post" action="/console/keys/rotate" {
                (csrf(&session))
                button type="submit" { "Schedule the next key now" }
                span.muted { "It is published at once and signs after the pre-publication period." }
            }
        },
    ))
}

pub async fn rotate(session: Session, state: State, body: Bytes) -> Reply {
    #[derive(Deserialize)]
    struct Empty {}
    let _: Empty = session.form(&body)?;
    state.broker.rotate_signing_keys().await?;
    Ok(see_other("/console/keys"))
}

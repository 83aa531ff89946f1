//! The console's layout, stylesheet and error pages. Every value is escaped by maud; the
//! pages carry no script and no inline style (the Content-Security-Policy allows neither).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::session::Session;

const STYLESHEET: &str = include_str!("console.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}

/// The sections of the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Pools,
    Identities,
    Keys,
    Audit,
    Providers,
    Saml,
}

const SECTIONS: [(Section, &str, &str); 6] = [
    (Section::Pools, "/console/pools", "Pools"),
    (Section::Identities, "/console/identities", "Identities"),
    (Section::Keys, "/console/keys", "Signing keys"),
    (Section::Audit, "/console/audit", "Audit"),
    (Section::Providers, "/console/providers", "OIDC providers"),
    (Section::Saml, "/console/saml-providers", "SAML providers"),
];

fn document(title: &str, nav: Markup, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · idbroker console" }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header.top {
                    a.brand href="/console/" { "idbroker" }
                    (nav)
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A signed-in page: the navigation (with `section` marked) and the sign-out form.
pub fn page(session: &Session, section: Section, title: &str, content: Markup) -> HttpResponse {
    let nav = html! {
        nav {
            @for (s, href, label) in SECTIONS {
                @if s == section { a.current href=(href) aria-current="page" { (label) } }
                @else { a href=(href) { (label) } }
            }
            form.sign-out method="post" action="/console/sign-out" {
                (csrf(session))
                button type="submit" { "Sign out" }
            }
        }
    };
    html_response(StatusCode::OK, document(title, nav, content))
}

/// A page outside a session (sign-in, errors).
pub fn bare(status: StatusCode, title: &str, content: Markup) -> HttpResponse {
    html_response(status, document(title, html! {}, content))
}

pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

pub fn error_page(status: StatusCode, kind: &str, detail: &str) -> HttpResponse {
    bare(
        status,
        kind,
        html! {
            p.error role="alert" { (detail) }
            p { a href="/console/" { "Back to the console" } }
        },
    )
}

/// The hidden field every form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A failed call's kind and the API's message, above the form that made it.
pub fn notice(error: Option<&(String, String)>) -> Markup {
    html! {
        @if let Some((kind, detail)) = error {
            div.error role="alert" {
                strong { (kind) } ": " (detail)
            }
        }
    }
}

pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "Next page" when there is one; `base` already ends in `?` or `&`.
pub fn pager(base: &str, next: Option<&str>) -> Markup {
    html! {
        @if let Some(cursor) = next {
            p.pager { a href={ (base) "cursor=" (urlencode(cursor)) } { "Next page →" } }
        }
    }
}

/// Percent-encodes a query or path component (everything but unreserved characters).
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(
            super::urlencode("us-east-1:ab/c d&e"),
            "us-east-1%3Aab%2Fc%20d%26e"
        );
    }
}

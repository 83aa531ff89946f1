//! Sign-in with the admin token (compared in constant time, as the REST `Admin` extractor
//! does) and sign-out. The sign-in form is the one form without a session, so it has no CSRF
//! token; SameSite=Strict and the token itself guard it, and it is rate limited per client as
//! the public operations are.

use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::page;
use super::session::{Session, cookie_value};
use super::{ConsoleError, Reply, State};

fn sign_in_page(status: StatusCode, error: Option<&str>) -> HttpResponse {
    page::bare(
        status,
        "Sign in",
        html! {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.stack method="post" action="/console/sign-in" {
                label {
                    "Admin token"
                    small { "IDBROKER_ADMIN_TOKEN, the REST admin API's bearer token" }
                    input type="password" name="token" autocomplete="current-password" required autofocus;
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub async fn form(req: HttpRequest, state: State) -> HttpResponse {
    // Already signed in: straight to the console.
    let live = match (state.console.as_ref(), cookie_value(&req)) {
        (Some(console), Some(id)) => console.sessions.is_live(&id),
        _ => false,
    };
    if live {
        return super::see_other("/console/");
    }
    sign_in_page(StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

pub async fn submit(req: HttpRequest, state: State, body: Bytes) -> Reply {
    let Some(console) = state.console.as_ref() else {
        return Err(ConsoleError::Internal);
    };
    if let Err(limited) = state.limits.check_client(&req) {
        return Ok(page::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            &format!("Too many sign-in attempts; retry in {} s.", limited.0),
        ));
    }
    let Ok(form) = serde_urlencoded::from_bytes::<SignIn>(&body) else {
        return Ok(sign_in_page(
            StatusCode::BAD_REQUEST,
            Some("Enter the admin token."),
        ));
    };
    let valid = state.admin_token.as_ref().is_some_and(|expected| {
        bool::from(form.token.trim().as_bytes().ct_eq(expected.0.as_bytes()))
    });
    if !valid {
        tracing::info!("console sign-in refused: wrong admin token");
        return Ok(sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("The admin token is not valid."),
        ));
    }
    // A session id the browser brought is never reused: a fresh one per sign-in.
    if let Some(old) = cookie_value(&req) {
        console.sessions.close(&old);
    }
    let (id, _) = console.sessions.open()?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .insert_header((header::SET_COOKIE, console.sessions.cookie(&id)))
        .finish())
}

pub async fn sign_out(session: Session, state: State, body: Bytes) -> Reply {
    #[derive(Deserialize)]
    struct Empty {}
    let _: Empty = session.form(&body)?;
    let Some(console) = state.console.as_ref() else {
        return Err(ConsoleError::Internal);
    };
    console.sessions.close(&session.id);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/sign-in"))
        .insert_header((header::SET_COOKIE, console.sessions.expired_cookie()))
        .finish())
}

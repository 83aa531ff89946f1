//! A small STS front for the tests, on loopback: it records every AssumeRoleWithWebIdentity
//! call, checks the WebIdentityToken the way STS would (discovery + JWKS of the issuer, over
//! HTTP) and its `aud` against the audiences the test registered (as IAM's OIDC provider holds
//! the pool ids it trusts as client ids), can play STS failures (AccessDenied, throttling, 500s, slowness), and otherwise
//! forwards the call to moto's real STS server, started by the test command.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::Value;

/// moto's STS for this test run; the test command starts it.
pub fn moto_url() -> String {
    std::env::var("IDBROKER_TEST_STS_URL").unwrap_or_else(|_| {
        panic!("IDBROKER_TEST_STS_URL is not set: run the README's test command (scripts/test.sh), which starts moto's STS server")
    })
}

#[derive(Clone)]
pub enum Fault {
    /// Answer with an STS error document.
    Error {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
    /// Answer nothing for this long.
    Delay(Duration),
}

#[derive(Debug, Clone)]
pub struct Call {
    pub role_arn: String,
    pub session_name: String,
    pub duration: String,
    pub policy: Option<String>,
    /// The token's claims if it verified against the issuer's published keys for an audience
    /// the test trusts (`StsFront::trust_audience`).
    pub claims: Result<BTreeMap<String, Value>, String>,
}

struct State {
    issuer: String,
    /// The identity pools STS trusts: IAM's OIDC provider lists them as client ids, and STS
    /// refuses a token whose `aud` is not one of them.
    audiences: Vec<String>,
    moto: String,
    faults: Vec<Fault>,
    calls: Vec<Call>,
}

pub struct StsFront {
    pub url: String,
    state: Arc<Mutex<State>>,
    _handle: ServerHandle,
}

fn error_document(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>front-1</RequestId></ErrorResponse>"
    )
}

async fn handle(state: web::Data<Mutex<State>>, body: web::Bytes) -> HttpResponse {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (issuer, audiences, moto, fault) = {
        let mut s = state.lock().unwrap();
        let fault = if s.faults.is_empty() {
            None
        } else {
            Some(s.faults.remove(0))
        };
        (s.issuer.clone(), s.audiences.clone(), s.moto.clone(), fault)
    };
    if form.get("Action").map(String::as_str) == Some("AssumeRoleWithWebIdentity") {
        let token = form.get("WebIdentityToken").cloned().unwrap_or_default();
        let aud = jsonwebtoken::dangerous::insecure_decode::<BTreeMap<String, Value>>(&token)
            .ok()
            .and_then(|d| {
                d.claims
                    .get("aud")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        // The expected audience comes from the test (the pool it called for), never from the
        // token itself: checking a token's `aud` against its own `aud` proves nothing.
        let claims = match audiences.iter().find(|trusted| **trusted == aud) {
            Some(trusted) => crate::verify::verify(&issuer, &token, trusted).await,
            None => Err(format!(
                "aud {aud:?} is not a client id of the issuer's OIDC provider ({audiences:?})"
            )),
        };
        let verified = claims.is_ok();
        state.lock().unwrap().calls.push(Call {
            role_arn: form.get("RoleArn").cloned().unwrap_or_default(),
            session_name: form.get("RoleSessionName").cloned().unwrap_or_default(),
            duration: form.get("DurationSeconds").cloned().unwrap_or_default(),
            policy: form.get("Policy").cloned(),
            claims,
        });
        match fault {
            Some(Fault::Error {
                status,
                code,
                message,
            }) => {
                return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                    .content_type("text/xml")
                    .body(error_document(code, message));
            }
            Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
            None => {}
        }
        if !verified {
            return HttpResponse::BadRequest()
                .content_type("text/xml")
                .body(error_document(
                    "InvalidIdentityToken",
                    "Couldn't verify the token with the issuer's keys",
                ));
        }
    }
    let res = reqwest::Client::new()
        .post(format!("{moto}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/xml")
        .to_owned();
    let bytes = res.bytes().await.unwrap();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type(content_type)
        .body(bytes.to_vec())
}

impl StsFront {
    /// A front for tokens from `issuer` (idbroker's base URL).
    pub async fn start(issuer: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State {
            issuer: issuer.to_owned(),
            audiences: Vec::new(),
            moto: moto_url(),
            faults: Vec::new(),
            calls: Vec::new(),
        }));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::route().to(handle))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            state,
            _handle: handle,
        }
    }

    /// Trusts tokens for this identity pool from now on (adds it to the OIDC provider's client
    /// ids). Until a pool is trusted, every token is refused as STS would.
    pub fn trust_audience(&self, pool: &str) {
        self.state.lock().unwrap().audiences.push(pool.to_owned());
    }

    /// The next calls fail like this, in order.
    pub fn fail_next(&self, faults: Vec<Fault>) {
        self.state.lock().unwrap().faults = faults;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }
}

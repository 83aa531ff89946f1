//! A real identity provider for the tests, on loopback: it publishes an OpenID Connect
//! discovery document and a JWKS whose keys the test can rotate, mints ID tokens with those
//! keys, and stands in for the Facebook Graph `debug_token` and Login with Amazon `tokeninfo`
//! endpoints. Those two are fakes because the real APIs cannot be reached from this machine;
//! they answer in the documented shapes. Every request is counted, and the server can be
//! stopped to play an IdP outage.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub public_pem: Vec<u8>,
    jwk: Jwk,
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

impl TestKey {
    pub fn rsa(file: &str, kid: &str) -> Self {
        Self::from_files(file, kid, Algorithm::RS256, EncodingKey::from_rsa_pem)
    }

    pub fn ec(file: &str, kid: &str) -> Self {
        Self::from_files(file, kid, Algorithm::ES256, EncodingKey::from_ec_pem)
    }

    /// The key pair in the fixture files `{file}.pem` and `{file}.pub.pem`.
    fn from_files(
        file: &str,
        kid: &str,
        alg: Algorithm,
        private: fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>,
    ) -> Self {
        let encoding = private(&fixture(&format!("{file}.pem"))).unwrap();
        Self::new(encoding, alg, kid, fixture(&format!("{file}.pub.pem")))
    }

    fn new(encoding: EncodingKey, alg: Algorithm, kid: &str, public_pem: Vec<u8>) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.key_algorithm = Some(match alg {
            Algorithm::ES256 => KeyAlgorithm::ES256,
            _ => KeyAlgorithm::RS256,
        });
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            public_pem,
            jwk,
        }
    }

    /// A JWT with these claims, signed by this key, naming it by kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

#[derive(Default)]
struct State {
    issuer: String,
    keys: Vec<Jwk>,
    hits: HashMap<String, usize>,
    /// Facebook / Amazon access token → the provider's answer.
    access_tokens: HashMap<String, Value>,
    /// Facebook app id → app secret, for app access tokens (`APPID|APPSECRET`).
    app_secrets: HashMap<String, String>,
}

pub struct TestIdp {
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

async fn discovery(state: web::Data<Mutex<State>>) -> HttpResponse {
    let mut s = state.lock().unwrap();
    *s.hits.entry("discovery".into()).or_default() += 1;
    // A workload issuer's document (Kubernetes service accounts, CI systems): no
    // authorization_endpoint, response or subject types. idbroker must accept it, which is why
    // it does not parse provider metadata with `openidconnect` (docs/architecture.md).
    HttpResponse::Ok().json(json!({
        "issuer": s.issuer,
        "jwks_uri": format!("{}/jwks", s.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
}

async fn jwks(state: web::Data<Mutex<State>>) -> HttpResponse {
    let mut s = state.lock().unwrap();
    *s.hits.entry("jwks".into()).or_default() += 1;
    HttpResponse::Ok().json(JwkSet {
        keys: s.keys.clone(),
    })
}

/// A Graph API error answer.
fn graph_error(code: u16, message: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .json(json!({"error": {"message": message, "type": "OAuthException", "code": code}}))
}

/// Graph's `debug_token`, checking what Graph checks: the caller's `access_token` must be an
/// app access token (`APPID|APPSECRET`) or a valid user token, and its app must be the app of
/// the `input_token` inspected.
async fn debug_token(
    state: web::Data<Mutex<State>>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let mut s = state.lock().unwrap();
    *s.hits.entry("facebook".into()).or_default() += 1;
    let Some(access) = query.get("access_token") else {
        return graph_error(104, "An access token is required to request this resource.");
    };
    let viewing_app = match access.split_once('|') {
        Some((app, secret)) => {
            (s.app_secrets.get(app).map(String::as_str) == Some(secret)).then(|| app.to_owned())
        }
        None => s
            .access_tokens
            .get(access)
            .filter(|data| data["is_valid"] == json!(true))
            .and_then(|data| data["app_id"].as_str().map(str::to_owned)),
    };
    let Some(viewing_app) = viewing_app else {
        return graph_error(190, "Invalid OAuth access token.");
    };
    let input = query.get("input_token").cloned().unwrap_or_default();
    match s.access_tokens.get(&input) {
        Some(data) if data["app_id"].as_str() == Some(viewing_app.as_str()) => {
            HttpResponse::Ok().json(json!({ "data": data }))
        }
        Some(_) => graph_error(
            100,
            "(#100) The App_id in the input_token did not match the Viewing App",
        ),
        None => HttpResponse::Ok().json(json!({"data": {
            "is_valid": false,
            "error": {"code": 190, "message": "Invalid OAuth access token."},
            "scopes": [],
        }})),
    }
}

async fn tokeninfo(
    state: web::Data<Mutex<State>>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let mut s = state.lock().unwrap();
    *s.hits.entry("amazon".into()).or_default() += 1;
    let token = query.get("access_token").cloned().unwrap_or_default();
    match s.access_tokens.get(&token) {
        Some(info) => HttpResponse::Ok().json(info),
        None => HttpResponse::BadRequest().json(json!({"error": "invalid_token", "error_description": "The request has an invalid parameter : access_token"})),
    }
}

impl TestIdp {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State {
            issuer: base.clone(),
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
            ..State::default()
        }));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                // A Cognito user pool's keys live under its pool id.
                .route("/{pool}/.well-known/jwks.json", web::get().to(jwks))
                .route("/debug_token", web::get().to(debug_token))
                .route("/auth/o2/tokeninfo", web::get().to(tokeninfo))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base,
            state,
            handle,
        }
    }

    /// The issuer as a Logins key: the base URL without its scheme.
    pub fn key(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    pub fn publish(&self, keys: &[&TestKey]) {
        self.state.lock().unwrap().keys = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn hits(&self, what: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(what)
            .copied()
            .unwrap_or(0)
    }

    /// A Facebook app whose app access token (`APPID|APPSECRET`) `debug_token` accepts.
    pub fn register_facebook_app(&self, app_id: &str, secret: &str) {
        self.state
            .lock()
            .unwrap()
            .app_secrets
            .insert(app_id.to_owned(), secret.to_owned());
    }

    pub fn accept_access_token(&self, token: &str, answer: Value) {
        self.state
            .lock()
            .unwrap()
            .access_tokens
            .insert(token.to_owned(), answer);
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Standard claims for a token from `issuer` to `aud` about `sub`, valid for an hour.
pub fn claims(issuer: &str, aud: &str, sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": issuer, "aud": aud, "sub": sub, "iat": now, "exp": now + 3600})
}

impl TestKey {
    /// A fixture key (`rsa-*` for the RS and PS algorithms, `ec-a` for ES256, `ec384-a` for
    /// ES384) that signs with `alg` and is published declaring `alg`, as providers publish them.
    pub fn with_alg(file: &str, kid: &str, alg: Algorithm) -> Self {
        let private = fixture(&format!("{file}.pem"));
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&private),
            _ => EncodingKey::from_rsa_pem(&private),
        }
        .unwrap();
        let mut key = Self::new(encoding, alg, kid, fixture(&format!("{file}.pub.pem")));
        key.jwk.common.key_algorithm = Some(alg.into());
        key
    }
}

impl TestIdp {
    /// Every request this provider has answered, whatever it asked for.
    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }
}

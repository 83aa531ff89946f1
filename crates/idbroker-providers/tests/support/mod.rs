//! A hand-rolled identity provider on loopback for the outage tests: it serves an OpenID
//! Connect discovery document and a JWKS, can be switched to accept connections and never
//! answer (it holds the sockets, like a provider behind a black-holing load balancer), and
//! counts connections. Every answer closes its connection, so connections = requests.
#![allow(dead_code)] // each test binary uses a part

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use idbroker_domain::login::{KeySource, ProviderSpec};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct TestKey {
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Jwk,
}

impl TestKey {
    pub fn rsa(kid: &str) -> Self {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/rsa-a.pem"
        ))
        .unwrap();
        let encoding = EncodingKey::from_rsa_pem(&pem).unwrap();
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Self {
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    /// An ID token for `app` from `issuer`, signed with this key but naming `kid`.
    pub fn token_with_kid(&self, issuer: &str, kid: &str) -> String {
        let now = Utc::now().timestamp();
        let claims =
            json!({"iss": issuer, "aud": "app", "sub": "user-1", "iat": now, "exp": now + 600});
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }

    pub fn token(&self, issuer: &str) -> String {
        self.token_with_kid(issuer, &self.kid)
    }
}

pub struct FakeIdp {
    pub base: String,
    hang: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    /// The discovery document's `jwks_uri`; `None`: `<base>/jwks`.
    jwks_uri: Arc<Mutex<Option<String>>>,
    keys: Arc<Mutex<Vec<Jwk>>>,
}

impl FakeIdp {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let idp = Self {
            base: base.clone(),
            hang: Arc::default(),
            connections: Arc::default(),
            jwks_uri: Arc::default(),
            keys: Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect())),
        };
        let (hang, connections, jwks_uri, keys) = (
            idp.hang.clone(),
            idp.connections.clone(),
            idp.jwks_uri.clone(),
            idp.keys.clone(),
        );
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                if hang.load(Ordering::SeqCst) {
                    // Accepted, never answered: the socket lives as long as the task.
                    tokio::spawn(async move {
                        let _held = socket;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    });
                    continue;
                }
                let jwks = jwks_uri
                    .lock()
                    .unwrap()
                    .clone()
                    .unwrap_or_else(|| format!("{base}/jwks"));
                let discovery = json!({"issuer": base, "jwks_uri": jwks});
                let set = serde_json::to_value(JwkSet {
                    keys: keys.lock().unwrap().clone(),
                })
                .unwrap();
                tokio::spawn(answer(socket, discovery, set));
            }
        });
        idp
    }

    /// A freshly started provider that hangs from the first connection.
    pub async fn hanging() -> Self {
        let idp = Self::start(&[]).await;
        idp.set_hanging(true);
        idp
    }

    pub fn set_hanging(&self, hang: bool) {
        self.hang.store(hang, Ordering::SeqCst);
    }

    pub fn set_jwks_uri(&self, uri: &str) {
        *self.jwks_uri.lock().unwrap() = Some(uri.to_owned());
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// What a pool's configuration asks of a token from this provider.
    pub fn spec(&self) -> ProviderSpec {
        ProviderSpec::OidcIdToken {
            issuers: vec![self.base.clone()],
            client_ids: vec!["app".into()],
            keys: KeySource::Discovery {
                issuer: self.base.clone(),
            },
            require_id_token_use: false,
        }
    }

    pub fn key(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }
}

async fn answer(mut socket: TcpStream, discovery: Value, set: Value) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or_default();
    let (status, body) = match path {
        "/.well-known/openid-configuration" => ("200 OK", discovery.to_string()),
        "/jwks" => ("200 OK", set.to_string()),
        _ => ("404 Not Found", "{}".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

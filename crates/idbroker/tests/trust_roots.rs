//! Which certificate authorities the built binary's outbound HTTPS clients trust, with the
//! system trust store emptied (`SSL_CERT_FILE` and `SSL_CERT_DIR` pointing at nothing, as in
//! an image without `ca-certificates`): Mozilla's bundled roots are there, and a private CA
//! is trusted by STS and provider calls alike once `IDBROKER_EXTRA_CA_FILE` names it.
//!
//! The peers are real: HTTPS fronts on loopback with a certificate from a test CA
//! (`tests/fixtures`); the STS front passes the decrypted bytes to moto's server
//! (`IDBROKER_TEST_STS_URL`), so credentials come back through TLS; the provider front
//! records what it was asked and answers 404.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

mod support;

use support::{call, json_of};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// What an HTTPS front saw: completed handshakes (with the first request line of each) and
/// refused ones (with rustls's reason).
#[derive(Default, Debug)]
struct Seen {
    requests: Vec<String>,
    refused: Vec<String>,
}

/// An HTTPS server on loopback with the test CA's `localhost` certificate. With `upstream`,
/// each connection's decrypted bytes go there and back; without, each request is recorded
/// and answered 404.
struct TlsFront {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl TlsFront {
    fn start(runtime: &tokio::runtime::Runtime, upstream: Option<String>) -> Self {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixture("localhost.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(fixture("localhost.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorder = seen.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, seen, upstream) =
                    (acceptor.clone(), recorder.clone(), upstream.clone());
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            seen.lock().unwrap().refused.push(e.to_string());
                            return;
                        }
                    };
                    let mut head = vec![0u8; 16 * 1024];
                    let n = tls.read(&mut head).await.unwrap_or(0);
                    let first_line = String::from_utf8_lossy(&head[..n])
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock().unwrap().requests.push(first_line);
                    match upstream {
                        Some(addr) => {
                            let mut plain = TcpStream::connect(addr).await.unwrap();
                            plain.write_all(&head[..n]).await.unwrap();
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                        }
                        None => {
                            let _ = tls
                                .write_all(
                                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                                )
                                .await;
                            let _ = tls.shutdown().await;
                        }
                    }
                });
            }
        });
        Self { port, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().requests.clone()
    }

    fn refused(&self) -> Vec<String> {
        self.seen.lock().unwrap().refused.clone()
    }
}

/// moto's address (host:port).
fn moto_address() -> String {
    support::moto_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A system trust store with nothing in it, as in an image without `ca-certificates`.
fn empty_system_store(dir: &Path) -> [(String, String); 2] {
    std::fs::write(dir.join("no-roots.pem"), "").unwrap();
    std::fs::create_dir_all(dir.join("no-roots.d")).unwrap();
    [
        (
            "SSL_CERT_FILE".to_owned(),
            dir.join("no-roots.pem").display().to_string(),
        ),
        (
            "SSL_CERT_DIR".to_owned(),
            dir.join("no-roots.d").display().to_string(),
        ),
    ]
}

/// A token shaped like a provider's ID token (never verified: the keys are never reached).
fn unsigned_token(issuer: &str) -> String {
    use base64_url as b64;
    let header = b64::encode(br#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#);
    let claims = b64::encode(
        format!(
            r#"{{"iss":"{issuer}","aud":"my-app","sub":"alice","exp":4102444800,"iat":1700000000}}"#
        )
        .as_bytes(),
    );
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

/// Unpadded base64url, enough for the test token.
mod base64_url {
    pub fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

/// Sets up a pool trusting the provider behind `idp`, with a guest role; returns its id.
fn pool_trusting(server: &support::Server, idp_issuer: &str) -> String {
    let token = server.admin_token();
    let auth = format!("Authorization: Bearer {token}\r\ncontent-type: application/json\r\n");
    let (status, body) = call(
        server,
        "POST /v1/oidc-providers",
        &auth,
        &format!(r#"{{"issuer":"{idp_issuer}","client_ids":["my-app"]}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let arn = json_of(&body)["arn"].as_str().unwrap().to_owned();
    let (status, body) = call(
        server,
        "POST /v1/identity-pools",
        &auth,
        &format!(
            r#"{{"identity_pool_name":"trust","allow_unauthenticated_identities":true,"open_id_connect_provider_arns":["{arn}"]}}"#
        ),
    );
    assert_eq!(status, 201, "{body}");
    let pool = json_of(&body)["identity_pool_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = call(
        server,
        &format!("PUT /v1/identity-pools/{pool}/roles"),
        &auth,
        r#"{"roles":{"unauthenticated":"arn:aws:iam::123456789012:role/guest"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    pool
}

/// A guest's credentials call (it goes to STS); the status and body.
fn guest_credentials(server: &support::Server, pool: &str) -> (u16, String) {
    let (status, body) = call(
        server,
        &format!("POST /v1/identity-pools/{pool}/identities"),
        "",
        "",
    );
    assert_eq!(status, 200, "{body}");
    let id = json_of(&body)["identity_id"].as_str().unwrap().to_owned();
    call(
        server,
        &format!("POST /v1/identities/{id}/credentials"),
        "",
        "",
    )
}

/// A login with the provider: idbroker fetches its discovery document first.
fn login(server: &support::Server, pool: &str, idp_port: u16) -> (u16, String) {
    let key = format!("localhost:{idp_port}");
    let token = unsigned_token(&format!("https://{key}"));
    call(
        server,
        &format!("POST /v1/identity-pools/{pool}/identities"),
        "content-type: application/json\r\n",
        &format!(r#"{{"logins":{{"{key}":"{token}"}}}}"#),
    )
}

#[test]
fn with_an_empty_system_store_the_clients_trust_the_bundled_roots_and_the_extra_ca_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sts = TlsFront::start(&runtime, Some(moto_address()));
    let idp = TlsFront::start(&runtime, None);
    let scratch = tempfile::tempdir().unwrap();
    let mut env = empty_system_store(scratch.path()).to_vec();
    env.push((
        "IDBROKER_STS_ENDPOINT_URL".to_owned(),
        format!("https://localhost:{}", sts.port),
    ));
    env.push((
        "IDBROKER_EXTRA_CA_FILE".to_owned(),
        fixture("test-ca.pem").display().to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = support::start(&env);

    // The roots at start-up: Mozilla's, none from the (empty) system store, the extra CA.
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("trust roots for outbound HTTPS"))
        .expect("the trust roots are logged at start-up");
    assert!(
        line.contains("system=0") && line.contains("extra=1"),
        "{line}"
    );
    let bundled: usize = line
        .split("bundled=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a bundled count in {line}"));
    assert!(bundled > 100, "{line}");
    assert!(
        !logs.contains("no native root CA certificates found"),
        "the AWS client still reads the system store:\n{logs}"
    );

    // STS over HTTPS: real credentials from moto, through the front.
    let pool = pool_trusting(&server, &format!("https://localhost:{}", idp.port));
    let (status, body) = guest_credentials(&server, &pool);
    assert_eq!(status, 200, "{body}");
    assert!(
        json_of(&body)["access_key_id"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{body}"
    );
    assert!(
        sts.requests().iter().any(|l| l.starts_with("POST ")),
        "{:?}",
        sts.requests()
    );
    assert!(sts.refused().is_empty(), "{:?}", sts.refused());

    // The provider over HTTPS: the discovery document is asked for (the front answers 404,
    // so the login itself fails, as it should with a provider that has no keys).
    let (status, body) = login(&server, &pool, idp.port);
    assert_ne!(status, 200, "{body}");
    assert!(
        idp.requests()
            .iter()
            .any(|l| l.starts_with("GET /.well-known/openid-configuration")),
        "the provider was not reached over HTTPS: {:?} / refused {:?}; answer {status} {body}",
        idp.requests(),
        idp.refused()
    );
    assert!(idp.refused().is_empty(), "{:?}", idp.refused());
}

#[test]
fn without_the_extra_ca_file_a_private_ca_is_refused_by_both_clients() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sts = TlsFront::start(&runtime, Some(moto_address()));
    let idp = TlsFront::start(&runtime, None);
    let scratch = tempfile::tempdir().unwrap();
    let mut env = empty_system_store(scratch.path()).to_vec();
    env.push((
        "IDBROKER_STS_ENDPOINT_URL".to_owned(),
        format!("https://localhost:{}", sts.port),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = support::start(&env);

    let pool = pool_trusting(&server, &format!("https://localhost:{}", idp.port));
    let (status, body) = guest_credentials(&server, &pool);
    assert_ne!(status, 200, "{body}");
    let (status, body) = login(&server, &pool, idp.port);
    assert_ne!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(300));

    // Neither client got a request through: the handshakes were refused by the client
    // (rustls on the server side sees the client's alert).
    assert!(sts.requests().is_empty(), "{:?}", sts.requests());
    assert!(idp.requests().is_empty(), "{:?}", idp.requests());
    assert!(!sts.refused().is_empty() && !idp.refused().is_empty());
    // And the operator is told why, naming the endpoint, for both clients.
    let logs = server.logs();
    for port in [sts.port, idp.port] {
        assert!(
            logs.lines()
                .any(|l| l.contains(&format!("https://localhost:{port}"))
                    && l.contains("UnknownIssuer")),
            "no line names https://localhost:{port} and the certificate problem:\n{logs}"
        );
    }
}

#[test]
fn a_broken_extra_ca_file_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let output = support::serve_command(
        dir.path(),
        support::free_port(),
        &[("IDBROKER_EXTRA_CA_FILE", bad.to_str().unwrap())],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains(&bad.display().to_string()), "{log}");
    assert!(log.contains("IDBROKER_EXTRA_CA_FILE"), "{log}");
}

#[test]
fn the_command_line_reaches_an_idbroker_behind_a_private_ca_with_the_same_setting() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = support::start(&[]);
    let front = TlsFront::start(&runtime, Some(format!("127.0.0.1:{}", server.port)));
    let scratch = tempfile::tempdir().unwrap();
    let pools_list = |extra_ca: Option<PathBuf>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_idbroker"));
        command
            .args(["pools", "list"])
            .envs(empty_system_store(scratch.path()))
            .env(
                "IDBROKER_ENDPOINT",
                format!("https://localhost:{}", front.port),
            )
            .env("IDBROKER_ADMIN_TOKEN", server.admin_token())
            .env_remove("IDBROKER_EXTRA_CA_FILE");
        if let Some(path) = extra_ca {
            command.env("IDBROKER_EXTRA_CA_FILE", path);
        }
        command.output().unwrap()
    };

    let out = pools_list(None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UnknownIssuer"), "{err}");

    let out = pools_list(Some(fixture("test-ca.pem")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("IDENTITY_POOL_ID"));
}

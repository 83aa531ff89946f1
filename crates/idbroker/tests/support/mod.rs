//! The built binary, run as an operator runs it: `idbroker serve` in development mode on a free
//! port in a temporary folder, its log written to a file there (a pipe nobody reads while the
//! test runs would fill up and stall the server on its next log line).
#![allow(dead_code)] // each test binary uses its own part of this

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `idbroker serve` in development mode with its database in `dir` and its log (stderr) in
/// `dir/serve.log`, on `port`, with these settings besides.
pub fn serve_command(dir: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Command {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_idbroker"));
    command
        .arg("serve")
        .env(
            "IDBROKER_DATABASE_URL",
            format!("sqlite://{}/idbroker.db?mode=rwc", dir.display()),
        )
        .env("IDBROKER_LISTEN", format!("127.0.0.1:{port}"))
        .env("IDBROKER_SIGNING_ALG", "ES256")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log);
    command
}

/// Starts the binary with these settings besides the development-mode defaults, and waits
/// until it listens.
pub fn start(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = serve_command(dir.path(), port, env).spawn().unwrap();
    let server = Server { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "idbroker did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

impl Server {
    /// What the process has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap()
    }

    /// The REST admin token development mode generated (in `dev-secrets.toml`).
    pub fn admin_token(&self) -> String {
        let secrets = std::fs::read_to_string(self.dir.path().join("dev-secrets.toml")).unwrap();
        secrets
            .lines()
            .find_map(|l| l.strip_prefix("admin_token = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("the development admin token")
            .to_owned()
    }
}

/// One HTTP/1.1 call; the status code and the body.
pub fn call(server: &Server, request_line: &str, headers: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn json_of(body: &str) -> serde_json::Value {
    // The body may come chunked; the JSON object is the part between the outer braces.
    let start = body.find('{').unwrap();
    let end = body.rfind('}').unwrap();
    serde_json::from_str(&body[start..=end]).unwrap()
}

/// The binary run against a database only (like `migrate`, `export`, `import`): no other
/// `IDBROKER_*` or `AWS_*` variable of the test's environment, in a folder of its own.
pub fn run_on_database(url: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_idbroker"));
    for (var, _) in std::env::vars() {
        if var.starts_with("IDBROKER_") || var.starts_with("AWS_") {
            command.env_remove(var);
        }
    }
    command
        .args(args)
        .current_dir(dir.path())
        .env("IDBROKER_DATABASE_URL", url)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// A finished command's status and output, for assertion messages.
pub fn describe(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// moto's STS server the test run started (`IDBROKER_TEST_STS_URL`); fails loudly without it.
pub fn moto_url() -> String {
    std::env::var("IDBROKER_TEST_STS_URL").expect(
        "IDBROKER_TEST_STS_URL must name a running moto server (scripts/test.sh starts one)",
    )
}

/// idbroker in this process: development mode on a SQLite file in `dir`, account
/// 123456789012, STS at `sts` when given.
pub struct InProcess {
    pub endpoint: String,
    pub admin_token: String,
    pub admin: idbroker_api::client::Client,
    pub dir: tempfile::TempDir,
}

pub async fn in_process(sts: Option<String>) -> InProcess {
    use idbroker::settings::{RawSettings, Settings};
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_raw(RawSettings {
        database_url: Some(format!(
            "sqlite://{}/idbroker.db?mode=rwc",
            dir.path().display()
        )),
        listen: Some("127.0.0.1:0".into()),
        signing_alg: Some("ES256".into()),
        sts_endpoint_url: sts,
        account_id: "123456789012".into(),
        ..RawSettings::default()
    })
    .unwrap();
    let admin_token = settings.admin_token.0.clone();
    let app = idbroker::Application::build(settings).await.unwrap();
    let endpoint = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let admin = idbroker_api::client::Client::new(&endpoint, Some(admin_token.clone())).unwrap();
    InProcess {
        endpoint,
        admin_token,
        admin,
        dir,
    }
}

impl InProcess {
    /// A pool taking developer logins under `developer` (and guests if asked), with `roles`
    /// (`authenticated` / `unauthenticated` → ARN); its id.
    pub async fn developer_pool(
        &self,
        name: &str,
        developer: &str,
        allow_guests: bool,
        roles: &[(&str, &str)],
    ) -> String {
        use idbroker_api::pools::{PoolRequest, RolesBody};
        let pool = self
            .admin
            .create_pool(&PoolRequest {
                identity_pool_name: name.into(),
                allow_unauthenticated_identities: allow_guests,
                developer_provider_name: Some(developer.into()),
                ..PoolRequest::default()
            })
            .await
            .unwrap()
            .identity_pool_id;
        let roles = roles
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.admin
            .set_roles(
                &pool,
                &RolesBody {
                    roles,
                    ..RolesBody::default()
                },
            )
            .await
            .unwrap();
        pool
    }
}

/// IdP metadata naming `pem` (a certificate of tests/fixtures) as its signing certificate.
pub fn saml_metadata(entity: &str, pem: &str) -> String {
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(pem),
    )
    .unwrap();
    let base64: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{base64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

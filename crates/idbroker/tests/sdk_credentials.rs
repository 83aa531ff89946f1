//! AWS SDKs without the Cognito provider: boto3 (from `IDBROKER_TEST_AWS_TOOLS`, as in
//! credential_process.rs) reading credentials from idbroker's container-credentials endpoint
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI`), and assuming a role itself with the token file
//! `idbroker token-file` keeps (`AWS_WEB_IDENTITY_TOKEN_FILE`), and the AWS SDK for JavaScript
//! v3's HTTP credential provider (npm, in `IDBROKER_TEST_AWS_SDK_JS`) reading the same endpoint,
//! against a real idbroker whose STS is moto's server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use idbroker_api::client::Client;
use idbroker_api::developer::DeveloperTokenRequest;
use idbroker_api::ledger::LedgerQuery;
use idbroker_api::revocation::RevokeRequest;
use serde_json::Value;

mod support;

const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const DEVELOPER: &str = "login.sdk-test";

/// idbroker at moto with a pool that takes developer logins, its authenticated role set.
struct World {
    endpoint: String,
    admin: Client,
    pool: String,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let server = support::in_process(Some(support::moto_url())).await;
    let pool = server
        .developer_pool(
            "sdk credentials",
            DEVELOPER,
            false,
            &[("authenticated", AUTH)],
        )
        .await;
    World {
        endpoint: server.endpoint,
        admin: server.admin,
        pool,
        dir: server.dir,
    }
}

impl World {
    /// A developer user's identity and an idbroker token for it.
    async fn developer_login(&self, user: &str) -> (String, String) {
        let body = self
            .admin
            .developer_token(
                &self.pool,
                &DeveloperTokenRequest {
                    logins: BTreeMap::from([(DEVELOPER.to_owned(), user.to_owned())]),
                    ..DeveloperTokenRequest::default()
                },
            )
            .await
            .unwrap();
        (body.identity_id, body.token)
    }

    /// The ledger's entry for an access key: (identity, role).
    async fn issued(&self, access_key_id: &str) -> (String, String) {
        let list = self
            .admin
            .issuances(&LedgerQuery {
                access_key_id: Some(access_key_id.to_owned()),
                ..LedgerQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(list.issuances.len(), 1, "{access_key_id}: {list:?}");
        let entry = &list.issuances[0];
        (entry.identity_id.clone(), entry.role_arn.clone())
    }

    fn container_uri(&self) -> String {
        format!("{}/v1/container-credentials", self.endpoint)
    }
}

/// The virtual environment with boto3; fails loudly when it is missing.
fn aws_tools() -> PathBuf {
    let venv = std::env::var_os("IDBROKER_TEST_AWS_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "IDBROKER_TEST_AWS_TOOLS is not set: it names a virtual environment with the AWS CLI \
             (PyPI awscli) and boto3. scripts/test.sh installs one and sets it; by hand: \
             bash -c 'source scripts/lib.sh && install_aws_clients' and \
             IDBROKER_TEST_AWS_TOOLS=$PWD/target/test-tools/aws-clients-<version>"
        )
    });
    assert!(
        venv.join("bin/python").is_file(),
        "IDBROKER_TEST_AWS_TOOLS={}: there is no bin/python; install boto3 there \
         (scripts/lib.sh, install_aws_clients)",
        venv.display()
    );
    venv
}

/// The environment's python with no AWS_* or IDBROKER_* variable of the test's environment,
/// no config or credentials file, no instance metadata.
fn python(venv: &Path, dir: &Path) -> Command {
    let mut command = Command::new(venv.join("bin/python"));
    for (var, _) in std::env::vars() {
        if var.starts_with("IDBROKER_") || var.starts_with("AWS_") {
            command.env_remove(var);
        }
    }
    command
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1");
    command
}

/// Runs a command off the async runtime (the server answers on it).
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// boto3's default chain: which provider gave the credentials, their key, and who moto says
/// they are.
const RESOLVE: &str = "import boto3, json, sys\n\
    s = boto3.Session()\n\
    c = s.get_credentials()\n\
    f = c.get_frozen_credentials()\n\
    who = s.client('sts', endpoint_url=sys.argv[1]).get_caller_identity()\n\
    print(json.dumps({'method': c.method, 'key': f.access_key, 'token': bool(f.token), 'arn': who['Arn']}))\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_credentials_from_the_container_endpoint() {
    let venv = aws_tools();
    let w = world().await;
    let (alice, token) = w.developer_login("alice").await;

    let mut py = python(&venv, w.dir.path());
    py.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", w.container_uri())
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token)
        .args(["-c", RESOLVE, &support::moto_url()]);
    let out = run(py).await;
    assert!(out.status.success(), "{}", describe(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["method"], "container-role", "{seen}");
    assert_eq!(seen["token"], true, "{seen}");
    assert!(
        seen["arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::123456789012:assumed-role/authenticated/"),
        "{seen}"
    );
    assert_eq!(
        w.issued(seen["key"].as_str().unwrap()).await,
        (alice, AUTH.to_owned()),
        "the credentials boto3 used are the ones idbroker recorded"
    );
}

/// The folder where `@aws-sdk/credential-provider-http` is installed (its `node_modules`);
/// fails loudly when it is missing.
fn aws_sdk_js() -> PathBuf {
    let dir = std::env::var_os("IDBROKER_TEST_AWS_SDK_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "IDBROKER_TEST_AWS_SDK_JS is not set: it names a folder where npm installed \
             @aws-sdk/credential-provider-http. scripts/test.sh installs one and sets it; by \
             hand: bash -c 'source scripts/lib.sh && install_aws_sdk_js' and \
             IDBROKER_TEST_AWS_SDK_JS=$PWD/target/test-tools/aws-sdk-js-<version>"
            )
        });
    assert!(
        dir.join("node_modules/@aws-sdk/credential-provider-http")
            .is_dir(),
        "IDBROKER_TEST_AWS_SDK_JS={}: @aws-sdk/credential-provider-http is not installed there \
         (scripts/lib.sh, install_aws_sdk_js)",
        dir.display()
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_reads_credentials_from_the_container_endpoint() {
    let sdk = aws_sdk_js();
    let w = world().await;
    let (alice, token) = w.developer_login("alice").await;
    let script = "const { fromHttp } = require('@aws-sdk/credential-provider-http');\n\
        fromHttp({})().then(\n\
          (c) => console.log(JSON.stringify({ key: c.accessKeyId, secret: !!c.secretAccessKey,\n\
            token: !!c.sessionToken, expiration: c.expiration.toISOString() })),\n\
          (e) => { console.error(e); process.exit(1); });\n";
    let mut node = Command::new("node");
    for (var, _) in std::env::vars() {
        if var.starts_with("IDBROKER_") || var.starts_with("AWS_") {
            node.env_remove(var);
        }
    }
    node.current_dir(&sdk)
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", w.container_uri())
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token)
        .args(["-e", script]);
    let out = run(node).await;
    assert!(out.status.success(), "{}", describe(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["secret"], true, "{seen}");
    assert_eq!(seen["token"], true, "{seen}");
    let expiration = seen["expiration"].as_str().unwrap();
    let left = (chrono::DateTime::parse_from_rfc3339(expiration).unwrap()
        - chrono::Utc::now().fixed_offset())
    .num_seconds();
    assert!((3500..=3700).contains(&left), "about an hour: {left}");
    assert_eq!(
        w.issued(seen["key"].as_str().unwrap()).await,
        (alice, AUTH.to_owned()),
        "the credentials the SDK read are the ones idbroker recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_endpoint_refuses_without_a_valid_token_and_never_echoes_it() {
    let w = world().await;
    let (alice, token) = w.developer_login("alice").await;
    let http = reqwest::Client::new();
    let get = |auth: Option<&str>| {
        let mut request = http.get(w.container_uri());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };

    // The format the SDKs read, with the raw token as the header.
    let ok = get(Some(&token)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["AccessKeyId", "Expiration", "SecretAccessKey", "Token"]
    );
    let expiration = body["Expiration"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(expiration, "%Y-%m-%dT%H:%M:%SZ").is_ok(),
        "{expiration}"
    );

    // No header, a token that is not ours (our token with a character of its signature
    // changed, one whose bits all count): 401.
    let at = token.rfind('.').unwrap() + 10;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    for auth in [None, Some(forged.as_str()), Some("not a token")] {
        let res = get(auth).await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        let text = res.text().await.unwrap();
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["title"], "NotAuthorizedException", "{text}");
        assert!(
            !text.contains(&forged[..40]),
            "the token is not echoed: {text}"
        );
    }

    // A revoked identity's valid token: 403, as GetCredentialsForIdentity refuses it.
    w.admin
        .revoke_identity(&alice, &RevokeRequest::default())
        .await
        .unwrap();
    let res = get(Some(&token)).await.unwrap();
    assert_eq!(res.status(), 403);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&token[..40]), "{text}");
}

/// `idbroker token-file --pool POOL --endpoint … <args>`, with no IDBROKER_* or AWS_* variable
/// of the test's environment.
fn token_file_command(w: &World, pool: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idbroker"));
    for (var, _) in std::env::vars() {
        if var.starts_with("IDBROKER_") || var.starts_with("AWS_") {
            command.env_remove(var);
        }
    }
    command
        .args(["token-file", "--pool", pool, "--endpoint", &w.endpoint])
        .args(args)
        .stdin(Stdio::null());
    command
}

/// A JWT's claims, unverified (the test only reads what the file holds).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_assumes_the_role_itself_with_the_token_file() {
    let venv = aws_tools();
    let w = world().await;
    let (alice, login) = w.developer_login("alice").await;
    let login_file = w.dir.path().join("login.token");
    std::fs::write(&login_file, &login).unwrap();
    let out_file = w.dir.path().join("web-identity.token");
    let login_arg = format!("cognito-identity.amazonaws.com=@{}", login_file.display());

    let once = token_file_command(
        &w,
        &w.pool,
        &[
            "--identity-id",
            &alice,
            "--login",
            &login_arg,
            "--out",
            out_file.to_str().unwrap(),
            "--once",
        ],
    );
    let out = run(once).await;
    assert!(out.status.success(), "{}", describe(&out));
    let token = std::fs::read_to_string(&out_file).unwrap();
    let seen = claims(&token);
    assert_eq!(seen["aud"], w.pool.as_str(), "{seen}");
    assert_eq!(seen["sub"], alice.as_str(), "{seen}");
    assert_ne!(token, login, "a fresh token, not the login");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // boto3 calls AssumeRoleWithWebIdentity at moto itself: the credentials are moto's, and
    // idbroker's ledger never saw them.
    let mut py = python(&venv, w.dir.path());
    py.env("AWS_WEB_IDENTITY_TOKEN_FILE", &out_file)
        .env("AWS_ROLE_ARN", AUTH)
        .env("AWS_ROLE_SESSION_NAME", "token-file-test")
        .env("AWS_ENDPOINT_URL_STS", support::moto_url())
        .args(["-c", RESOLVE, &support::moto_url()]);
    let out = run(py).await;
    assert!(out.status.success(), "{}", describe(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["method"], "assume-role-with-web-identity", "{seen}");
    assert_eq!(
        seen["arn"], "arn:aws:sts::123456789012:assumed-role/authenticated/token-file-test",
        "{seen}"
    );
    let ledger = w
        .admin
        .issuances(&LedgerQuery {
            access_key_id: Some(seen["key"].as_str().unwrap().to_owned()),
            ..LedgerQuery::default()
        })
        .await
        .unwrap();
    assert!(ledger.issuances.is_empty(), "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_once_the_command_writes_a_token_and_keeps_running() {
    let w = world().await;
    let (alice, login) = w.developer_login("alice").await;
    let login_file = w.dir.path().join("login.token");
    std::fs::write(&login_file, &login).unwrap();
    let out_file = w.dir.path().join("web-identity.token");
    let login_arg = format!("cognito-identity.amazonaws.com=@{}", login_file.display());
    let mut child = token_file_command(
        &w,
        &w.pool,
        &[
            "--identity-id",
            &alice,
            "--login",
            &login_arg,
            "--out",
            out_file.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !out_file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no token file in 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Until the token's half-life it waits: still running after the first write.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(running, "the command keeps running to refresh the token");
    let seen = claims(&std::fs::read_to_string(&out_file).unwrap());
    assert_eq!(seen["sub"], alice.as_str(), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_the_container_token_from_the_file_token_file_keeps() {
    let venv = aws_tools();
    let w = world().await;
    let (alice, login) = w.developer_login("alice").await;
    let login_file = w.dir.path().join("login.token");
    std::fs::write(&login_file, &login).unwrap();
    let out_file = w.dir.path().join("container.token");
    let login_arg = format!("cognito-identity.amazonaws.com=@{}", login_file.display());
    let once = token_file_command(
        &w,
        &w.pool,
        &[
            "--identity-id",
            &alice,
            "--login",
            &login_arg,
            "--out",
            out_file.to_str().unwrap(),
            "--once",
        ],
    );
    let out = run(once).await;
    assert!(out.status.success(), "{}", describe(&out));

    // botocore refuses a token file with a line break in it: the file has none.
    let mut py = python(&venv, w.dir.path());
    py.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", w.container_uri())
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &out_file)
        .args(["-c", RESOLVE, &support::moto_url()]);
    let out = run(py).await;
    assert!(out.status.success(), "{}", describe(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["method"], "container-role", "{seen}");
    assert_eq!(
        w.issued(seen["key"].as_str().unwrap()).await,
        (alice, AUTH.to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_refuses_an_identity_of_another_pool_and_never_shows_the_login() {
    let w = world().await;
    let (alice, login) = w.developer_login("alice").await;
    let login_file = w.dir.path().join("login.token");
    std::fs::write(&login_file, &login).unwrap();
    let out_file = w.dir.path().join("web-identity.token");
    let login_arg = format!("cognito-identity.amazonaws.com=@{}", login_file.display());
    let args = [
        "--identity-id",
        &alice,
        "--login",
        &login_arg,
        "--out",
        out_file.to_str().unwrap(),
        "--once",
    ];
    // The identity named with another pool.
    let wrong = token_file_command(&w, "us-east-1:00000000-0000-4000-8000-000000000000", &args);
    let out = run(wrong).await;
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not in pool"), "{stderr}");
    assert!(!out_file.exists(), "nothing is written");

    // A login that is not a valid token: refused by the server, the token not repeated.
    std::fs::write(&login_file, format!("{login}x")).unwrap();
    let out = run(token_file_command(&w, &w.pool, &args)).await;
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NotAuthorized"), "{stderr}");
    assert!(!stderr.contains(&login[..40]), "{stderr}");
    assert!(!out_file.exists(), "nothing is written");
}

/// The pool's GetOpenIdToken lifetime set to `seconds` (a per-pool lifetime), the rest kept.
async fn set_token_lifetime(w: &World, seconds: i64) {
    let pool = w.admin.get_pool(&w.pool).await.unwrap();
    let request = idbroker_api::pools::PoolRequest {
        identity_pool_name: pool.identity_pool_name,
        allow_unauthenticated_identities: pool.allow_unauthenticated_identities,
        allow_classic_flow: pool.allow_classic_flow,
        supported_login_providers: pool.supported_login_providers,
        developer_provider_name: pool.developer_provider_name,
        open_id_connect_provider_arns: pool.open_id_connect_provider_arns,
        cognito_identity_providers: pool.cognito_identity_providers,
        saml_provider_arns: pool.saml_provider_arns,
        token_lifetime_seconds: Some(seconds),
        ..Default::default()
    };
    w.admin.replace_pool(&w.pool, &request).await.unwrap();
}

/// The token file's contents each time they change, with when the change was seen, until
/// `count` tokens were seen or `within` passed.
async fn watch_tokens(
    path: &Path,
    count: usize,
    within: std::time::Duration,
) -> Vec<(chrono::DateTime<chrono::Utc>, String)> {
    let deadline = std::time::Instant::now() + within;
    let mut seen: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
    while seen.len() < count && std::time::Instant::now() < deadline {
        if let Ok(token) = std::fs::read_to_string(path)
            && seen.last().is_none_or(|(_, last)| *last != token)
        {
            seen.push((chrono::Utc::now(), token));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    seen
}

/// The refresh schedule: a new token at half of each one's lifetime, so the file never holds
/// an expired token; a refresh that fails is reported and tried again (after 5 s) while the
/// old token stays in place; the login file is read again at each refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_is_refreshed_at_half_life_and_a_failed_refresh_is_retried() {
    let w = world().await;
    set_token_lifetime(&w, 4).await;
    let (alice, login) = w.developer_login("alice").await;
    let login_file = w.dir.path().join("login.token");
    std::fs::write(&login_file, &login).unwrap();
    let out_file = w.dir.path().join("web-identity.token");
    let errors = w.dir.path().join("stderr.log");
    let login_arg = format!("cognito-identity.amazonaws.com=@{}", login_file.display());
    let mut child = token_file_command(
        &w,
        &w.pool,
        &[
            "--identity-id",
            &alice,
            "--login",
            &login_arg,
            "--out",
            out_file.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&errors).unwrap())
    .spawn()
    .unwrap();

    // Three tokens: the first and two refreshes, each written while the one before was valid.
    let tokens = watch_tokens(&out_file, 3, std::time::Duration::from_secs(20)).await;
    assert_eq!(tokens.len(), 3, "tokens seen: {}", tokens.len());
    for pair in tokens.windows(2) {
        let (before, after) = (claims(&pair[0].1), claims(&pair[1].1));
        let (iat, exp) = (
            before["iat"].as_i64().unwrap(),
            before["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 4, "the pool's lifetime: {before}");
        let replaced_at = pair[1].0.timestamp();
        assert!(
            replaced_at < exp,
            "replaced at {replaced_at}, after the old token expired at {exp}"
        );
        // Half-life, not at once: at least a second after the old one was issued.
        assert!(
            replaced_at > iat,
            "replaced at {replaced_at}, issued at {iat}"
        );
        assert_eq!(after["sub"], alice.as_str(), "{after}");
        assert_ne!(before["jti"], after["jti"], "a new token each time");
    }

    // A refresh that fails (the login is no longer valid) leaves the last good token in place
    // and is reported; once the login file is good again, the next retry writes a new token.
    std::fs::write(&login_file, "not-a-token").unwrap();
    let last = tokens.last().unwrap().1.clone();
    let failed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let log = std::fs::read_to_string(&errors).unwrap_or_default();
            if log.contains("refresh failed, will retry") {
                return log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("no failed refresh reported in 10 s");
    assert!(
        !failed.contains("not-a-token"),
        "the login never shows: {failed}"
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), last, "kept");
    std::fs::write(&login_file, &login).unwrap();
    let after = watch_tokens(&out_file, 2, std::time::Duration::from_secs(15)).await;
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(running, "a failed refresh does not stop the command");
    assert_eq!(after.len(), 2, "a new token after the login came back");
    assert_eq!(claims(&after[1].1)["sub"], alice.as_str());
}

//! AWS SDKs without the Cognito provider: boto3 (from `IDBROKER_TEST_AWS_TOOLS`, as in
//! credential_process.rs) reading credentials from idbroker's container-credentials endpoint
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI`), against a real idbroker whose STS is moto's server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use idbroker::Application;
use idbroker::settings::{RawSettings, Settings};
use idbroker_api::client::Client;
use idbroker_api::developer::DeveloperTokenRequest;
use idbroker_api::ledger::LedgerQuery;
use idbroker_api::pools::{PoolRequest, RolesBody};
use idbroker_api::revocation::RevokeRequest;
use serde_json::Value;

const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const DEVELOPER: &str = "login.sdk-test";

fn moto_url() -> String {
    std::env::var("IDBROKER_TEST_STS_URL").expect(
        "IDBROKER_TEST_STS_URL must name a running moto server (scripts/test.sh starts one)",
    )
}

struct World {
    endpoint: String,
    admin: Client,
    pool: String,
    dir: tempfile::TempDir,
}

/// idbroker (development mode on a temporary SQLite file, STS at moto) with a pool that takes
/// developer logins, its authenticated role set.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_raw(RawSettings {
        database_url: Some(format!(
            "sqlite://{}/idbroker.db?mode=rwc",
            dir.path().display()
        )),
        listen: Some("127.0.0.1:0".into()),
        signing_alg: Some("ES256".into()),
        sts_endpoint_url: Some(moto_url()),
        account_id: "123456789012".into(),
        ..RawSettings::default()
    })
    .unwrap();
    let token = settings.admin_token.0.clone();
    let app = Application::build(settings).await.unwrap();
    let endpoint = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let admin = Client::new(&endpoint, Some(token)).unwrap();
    let pool = admin
        .create_pool(&PoolRequest {
            identity_pool_name: "sdk credentials".into(),
            developer_provider_name: Some(DEVELOPER.into()),
            ..PoolRequest::default()
        })
        .await
        .unwrap()
        .identity_pool_id;
    let roles = BTreeMap::from([("authenticated".to_owned(), AUTH.to_owned())]);
    admin
        .set_roles(
            &pool,
            &RolesBody {
                roles,
                ..RolesBody::default()
            },
        )
        .await
        .unwrap();
    World {
        endpoint,
        admin,
        pool,
        dir,
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
        .args(["-c", RESOLVE, &moto_url()]);
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

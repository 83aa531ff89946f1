//! `idbroker credentials` as an AWS `credential_process`: the built binary against a real
//! idbroker whose STS is moto's server (`IDBROKER_TEST_STS_URL`), and the AWS CLI and boto3
//! (from PyPI, in the virtual environment `IDBROKER_TEST_AWS_TOOLS` that scripts/test.sh
//! installs) reading credentials from a profile that runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use idbroker_api::client::Client;
use idbroker_api::developer::DeveloperTokenRequest;
use idbroker_api::ledger::LedgerQuery;
use serde_json::Value;

mod support;

const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST: &str = "arn:aws:iam::123456789012:role/guest";
const DEVELOPER: &str = "login.cli-test";
/// The Logins key of idbroker's own tokens (Cognito's name).
const OWN_KEY: &str = "cognito-identity.amazonaws.com";

/// idbroker at moto with a pool that takes guests and developer logins, both roles set.
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
            "credential process",
            DEVELOPER,
            true,
            &[("authenticated", AUTH), ("unauthenticated", GUEST)],
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
    /// A developer user's identity and an idbroker token for it (the login a backend hands
    /// its app), the token written to a file.
    async fn developer_login(&self, user: &str) -> (String, PathBuf) {
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
        let file = self.dir.path().join(format!("{user}.token"));
        std::fs::write(&file, format!("{}\n", body.token)).unwrap();
        (body.identity_id, file)
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

    /// `idbroker credentials --pool POOL --endpoint … <args>`, with no IDBROKER_* or AWS_*
    /// variable of the test's environment.
    fn credentials(&self, args: &[&str]) -> Command {
        credentials_command(&self.pool, &self.endpoint, args)
    }
}

fn credentials_command(pool: &str, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idbroker"));
    clean_env(&mut command);
    command
        .args(["credentials", "--pool", pool, "--endpoint", endpoint])
        .args(args);
    command
}

fn clean_env(command: &mut Command) {
    for (var, _) in std::env::vars() {
        if var.starts_with("IDBROKER_") || var.starts_with("AWS_") {
            command.env_remove(var);
        }
    }
}

/// Runs a command off the async runtime (the server answers on it), with `stdin` as input.
async fn run(mut command: Command, stdin: &str) -> Output {
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
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

/// The printed JSON, checked against the `credential_process` format.
fn process_credentials(out: &Output) -> Value {
    assert!(out.status.success(), "{}", describe(out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "AccessKeyId",
            "Expiration",
            "SecretAccessKey",
            "SessionToken",
            "Version"
        ]
    );
    assert_eq!(json["Version"], 1);
    let expiration = json["Expiration"].as_str().unwrap();
    let at = chrono::NaiveDateTime::parse_from_str(expiration, "%Y-%m-%dT%H:%M:%SZ")
        .unwrap_or_else(|e| panic!("{expiration}: {e}"))
        .and_utc();
    let left = (at - chrono::Utc::now()).num_seconds();
    assert!((3500..=3700).contains(&left), "about an hour: {left}");
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_credentials_from_sts_through_idbroker() {
    let w = world().await;
    // A guest: a new identity, credentials for the guest role, recorded in the ledger.
    let guest = process_credentials(&run(w.credentials(&[]), "").await);
    let (guest_id, role) = w.issued(guest["AccessKeyId"].as_str().unwrap()).await;
    assert_eq!(role, GUEST);
    // The same guest again, by its id.
    let again = process_credentials(&run(w.credentials(&["--identity-id", &guest_id]), "").await);
    let (again_id, _) = w.issued(again["AccessKeyId"].as_str().unwrap()).await;
    assert_eq!(again_id, guest_id);

    // A login from a file, and from stdin: the authenticated role.
    let (alice, token_file) = w.developer_login("alice").await;
    let login = format!("{OWN_KEY}=@{}", token_file.display());
    let from_file = run(
        w.credentials(&["--login", &login, "--identity-id", &alice]),
        "",
    )
    .await;
    let from_file = process_credentials(&from_file);
    assert_eq!(
        w.issued(from_file["AccessKeyId"].as_str().unwrap()).await,
        (alice.clone(), AUTH.to_owned())
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    let from_stdin = run(
        w.credentials(&["--login", &format!("{OWN_KEY}=-"), "--identity-id", &alice]),
        &token,
    )
    .await;
    let from_stdin = process_credentials(&from_stdin);
    assert_eq!(
        w.issued(from_stdin["AccessKeyId"].as_str().unwrap()).await,
        (alice.clone(), AUTH.to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_go_to_stderr_with_a_failing_status_and_never_show_a_token() {
    let w = world().await;
    let refused = |out: &Output, expected: &str| {
        assert!(!out.status.success(), "{}", describe(out));
        assert!(out.stdout.is_empty(), "{}", describe(out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{}", describe(out));
        stderr.into_owned()
    };

    let unknown = credentials_command(
        "us-east-1:00000000-0000-4000-8000-000000000000",
        &w.endpoint,
        &[],
    );
    refused(&run(unknown, "").await, "ResourceNotFoundException");

    // A token on the command line is refused without being repeated.
    let secret = "eyJhbGciOiJFUzI1NiJ9.secret-payload.sig";
    let stderr = refused(
        &run(
            w.credentials(&["--login", &format!("{OWN_KEY}={secret}")]),
            "",
        )
        .await,
        "@FILE",
    );
    assert!(!stderr.contains("secret-payload"), "{stderr}");

    // A token the server refuses: its error, without the token.
    let (alice, _) = w.developer_login("alice").await;
    let stderr = refused(
        &run(
            w.credentials(&["--login", &format!("{OWN_KEY}=-"), "--identity-id", &alice]),
            secret,
        )
        .await,
        "NotAuthorizedException",
    );
    assert!(!stderr.contains("secret-payload"), "{stderr}");

    // Nobody listening.
    let nowhere = credentials_command(&w.pool, "http://127.0.0.1:9", &[]);
    refused(&run(nowhere, "").await, "cannot reach idbroker");
}

/// The virtual environment with the AWS CLI and boto3; fails loudly when it is missing.
fn aws_tools() -> PathBuf {
    let venv = std::env::var_os("IDBROKER_TEST_AWS_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "IDBROKER_TEST_AWS_TOOLS is not set: it names a virtual environment with the AWS CLI \
             (PyPI awscli) and boto3. scripts/test.sh installs one and sets it; by hand: \
             bash -c 'source scripts/lib.sh && install_aws_clients' and \
             IDBROKER_TEST_AWS_TOOLS=$PWD/target/test-tools/aws-clients-<version>"
        )
    });
    for tool in ["bin/aws", "bin/python"] {
        assert!(
            venv.join(tool).is_file(),
            "IDBROKER_TEST_AWS_TOOLS={}: there is no {tool}; install the AWS CLI and boto3 \
             there (scripts/lib.sh, install_aws_clients)",
            venv.display()
        );
    }
    venv
}

/// A command of the virtual environment, with only the AWS config file written here.
fn aws_command(venv: &Path, tool: &str, config: &Path) -> Command {
    let mut command = Command::new(venv.join("bin").join(tool));
    clean_env(&mut command);
    command
        .env("AWS_CONFIG_FILE", config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            config.with_file_name("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_and_boto3_get_credentials_from_a_profile() {
    let venv = aws_tools();
    let w = world().await;
    let (alice, token_file) = w.developer_login("alice").await;
    let binary = env!("CARGO_BIN_EXE_idbroker");
    let base = format!(
        "{binary} credentials --pool {} --endpoint {}",
        w.pool, w.endpoint
    );
    let config = w.dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile guest]\ncredential_process = {base}\n\n\
             [profile alice]\ncredential_process = {base} --login {OWN_KEY}=@{} --identity-id {alice}\n\n\
             [profile broken]\ncredential_process = {binary} credentials --pool us-east-1:00000000-0000-4000-8000-000000000000 --endpoint {}\n",
            token_file.display(),
            w.endpoint
        ),
    )
    .unwrap();
    let moto = support::moto_url();

    // The AWS CLI: moto answers GetCallerIdentity for the guest's session.
    let mut cli = aws_command(&venv, "aws", &config);
    cli.args([
        "sts",
        "get-caller-identity",
        "--profile",
        "guest",
        "--endpoint-url",
        &moto,
        "--output",
        "json",
    ]);
    let out = run(cli, "").await;
    assert!(out.status.success(), "{}", describe(&out));
    let caller: Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = caller["Arn"].as_str().unwrap();
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/guest/"),
        "{arn}"
    );

    // boto3: the profile's frozen credentials, and who moto says they are.
    let script = "import boto3, json, sys\n\
        s = boto3.Session(profile_name='alice')\n\
        c = s.get_credentials().get_frozen_credentials()\n\
        who = s.client('sts', endpoint_url=sys.argv[1]).get_caller_identity()\n\
        print(json.dumps({'key': c.access_key, 'token': bool(c.token), 'arn': who['Arn']}))\n";
    let mut python = aws_command(&venv, "python", &config);
    python.args(["-c", script, &moto]);
    let out = run(python, "").await;
    assert!(out.status.success(), "{}", describe(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
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

    // A failing process: the AWS CLI fails and shows idbroker's message.
    let mut cli = aws_command(&venv, "aws", &config);
    cli.args([
        "sts",
        "get-caller-identity",
        "--profile",
        "broken",
        "--endpoint-url",
        &moto,
    ]);
    let out = run(cli, "").await;
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"),
        "{}",
        describe(&out)
    );
}

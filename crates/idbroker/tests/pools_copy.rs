//! `idbroker pools copy` as an operator runs it: from another idbroker (which serves every
//! operation the copy reads: roles, role mappings, principal-tag maps, tags) and from moto's
//! Cognito Identity server, which in 5.2.1 serves ListIdentityPools and DescribeIdentityPool
//! (with tags) but neither GetIdentityPoolRoles nor GetPrincipalTagAttributeMap (it answers
//! them with a 500), so that copy runs with `--skip roles --skip principal-tags`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::process::Output;

use aws_sdk_cognitoidentity::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
use idbroker_store::testing::TestDatabase;
use serde_json::{Value, json};

mod support;

const ACCOUNT: &str = "123456789012";
const USER_POOL: &str = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc";

/// The binary with only these settings (and the account id), in a folder of its own.
fn idbroker(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut with_account = vec![("IDBROKER_ACCOUNT_ID", ACCOUNT)];
    with_account.extend_from_slice(env);
    support::run_on_database(url, args, &with_account)
}

fn text(out: &Output) -> String {
    support::describe(out)
}

fn export(url: &str) -> String {
    let out = idbroker(url, &["export"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn secret(server: &support::Server, key: &str) -> String {
    let secrets = std::fs::read_to_string(server.dir.path().join("dev-secrets.toml")).unwrap();
    let prefix = format!("{key} = \"");
    secrets
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned()
}

/// One admin REST call that must succeed; its JSON body.
fn rest(server: &support::Server, request_line: &str, body: &Value) -> Value {
    let headers = format!(
        "Authorization: Bearer {}\r\nContent-Type: application/json\r\n",
        server.admin_token()
    );
    let (status, answer) = support::call(server, request_line, &headers, &body.to_string());
    assert!(
        (200..300).contains(&status),
        "{request_line}: {status} {answer}"
    );
    if answer.contains('{') {
        support::json_of(&answer)
    } else {
        Value::Null
    }
}

#[test]
fn pools_copied_from_another_idbroker_keep_ids_roles_mappings_maps_and_tags() {
    let source = support::start(&[("IDBROKER_ACCOUNT_ID", ACCOUNT)]);
    let full = rest(
        &source,
        "POST /v1/identity-pools",
        &json!({
            "identity_pool_name": "copied",
            "allow_unauthenticated_identities": true,
            "allow_classic_flow": true,
            "supported_login_providers": {"accounts.google.com": "google-app"},
            "developer_provider_name": "login.dev",
            "cognito_identity_providers": [
                {"provider_name": USER_POOL, "client_id": "upclient", "server_side_token_check": false}
            ],
            "identity_pool_tags": {"team": "identity", "env": "prod"}
        }),
    )["identity_pool_id"]
        .as_str()
        .unwrap()
        .to_owned();
    rest(
        &source,
        &format!("PUT /v1/identity-pools/{full}/roles"),
        &json!({
            "roles": {
                "authenticated": format!("arn:aws:iam::{ACCOUNT}:role/auth"),
                "unauthenticated": format!("arn:aws:iam::{ACCOUNT}:role/guest")
            },
            "role_mappings": {
                "accounts.google.com": {"type": "Rules", "ambiguous_role_resolution": "Deny",
                    "rules_configuration": {"rules": [
                        {"claim": "hd", "match_type": "Equals", "value": "example.com",
                         "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/staff")}
                    ]}},
                format!("{USER_POOL}:upclient"): {"type": "Token", "ambiguous_role_resolution": "AuthenticatedRole"}
            }
        }),
    );
    rest(
        &source,
        &format!("PUT /v1/identity-pools/{full}/principal-tags/accounts.google.com"),
        &json!({"use_defaults": true, "principal_tags": {"department": "hd"}}),
    );
    let plain = rest(
        &source,
        "POST /v1/identity-pools",
        &json!({"identity_pool_name": "plain", "allow_unauthenticated_identities": false}),
    )["identity_pool_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let source_db = format!(
        "sqlite://{}/idbroker.db?mode=rwc",
        source.dir.path().display()
    );
    let target = TestDatabase::sqlite();
    let endpoint = format!("http://127.0.0.1:{}", source.port);
    let (key, secret_key) = (
        secret(&source, "admin_access_key_id"),
        secret(&source, "admin_secret_access_key"),
    );
    let copy = |args: &[&str]| {
        let mut all = vec![
            "pools",
            "copy",
            "--from-endpoint",
            &endpoint,
            "--region",
            "us-east-1",
        ];
        all.extend_from_slice(args);
        idbroker(
            target.url(),
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", &key),
                ("AWS_SECRET_ACCESS_KEY", &secret_key),
            ],
        )
    };
    let out = copy(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{full}  copied  created")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{plain}  plain  created")),
        "{stdout}"
    );

    // Same ids, same configuration, roles, mappings, maps and tags: the two databases
    // export the same bytes (the source has no identities or providers).
    let copied = export(target.url());
    assert_eq!(copied, export(&source_db));
    let pool: Value = copied
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["identity_pool_id"] == full.as_str())
        .unwrap();
    assert_eq!(
        pool["roles"]["role_mappings"]["accounts.google.com"]["type"],
        "Rules"
    );
    assert_eq!(
        pool["principal_tags"],
        json!({"accounts.google.com": {"use_defaults": true, "principal_tags": {"department": "hd"}}})
    );
    assert_eq!(
        pool["pool"]["identity_pool_tags"],
        json!({"env": "prod", "team": "identity"})
    );

    // Again, for one pool: nothing to do.
    let out = copy(&["--pool", &full]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{full}  copied  unchanged")),
        "{stdout}"
    );
    assert!(!stdout.contains(&plain), "{stdout}");

    // Wrong credentials: the source's refusal, named.
    let out = idbroker(
        target.url(),
        &[
            "pools",
            "copy",
            "--from-endpoint",
            &endpoint,
            "--region",
            "us-east-1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", &key),
            ("AWS_SECRET_ACCESS_KEY", "wrong"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ListIdentityPools failed"), "{err}");
}

#[tokio::test]
async fn pools_copied_from_moto_keep_ids_configuration_and_tags() {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_cognitoidentity::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(support::moto_url())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .http_client(http)
        .build();
    let moto = aws_sdk_cognitoidentity::Client::from_conf(config);
    let social = moto
        .create_identity_pool()
        .identity_pool_name("moto social")
        .allow_unauthenticated_identities(true)
        .supported_login_providers("accounts.google.com", "google-app")
        .supported_login_providers("graph.facebook.com", "fb-app")
        .developer_provider_name("login.dev")
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(USER_POOL)
                .client_id("upclient")
                .server_side_token_check(true)
                .build(),
        )
        .identity_pool_tags("team", "mobile")
        .identity_pool_tags("cost-centre", "42")
        .send()
        .await
        .unwrap();
    let guests = moto
        .create_identity_pool()
        .identity_pool_name("moto guests")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap();
    let (social_id, guests_id) = (
        social.identity_pool_id().to_owned(),
        guests.identity_pool_id().to_owned(),
    );

    let target = TestDatabase::sqlite();
    let url = target.url().to_owned();
    let endpoint = support::moto_url();
    let exported = tokio::task::spawn_blocking(move || {
        // moto serves other tests too: copy only these two.
        let out = idbroker(
            &url,
            &[
                "pools",
                "copy",
                "--from-endpoint",
                &endpoint,
                "--region",
                "us-east-1",
                "--pool",
                &social_id,
                "--pool",
                &guests_id,
                "--skip",
                "roles",
                "--skip",
                "principal-tags",
            ],
            &[
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("{social_id}  moto social  created")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("{guests_id}  moto guests  created")),
            "{stdout}"
        );
        export(&url)
    })
    .await
    .unwrap();
    let pools: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "pool")
        .collect();
    let social_pool = pools
        .iter()
        .find(|p| p["identity_pool_id"] == social.identity_pool_id())
        .unwrap();
    assert_eq!(
        social_pool["pool"],
        json!({
            "identity_pool_name": "moto social",
            "allow_unauthenticated_identities": true,
            "supported_login_providers": {"accounts.google.com": "google-app", "graph.facebook.com": "fb-app"},
            "developer_provider_name": "login.dev",
            "open_id_connect_provider_arns": [],
            "cognito_identity_providers": [
                {"provider_name": USER_POOL, "client_id": "upclient", "server_side_token_check": true}
            ],
            "saml_provider_arns": [],
            "identity_pool_tags": {"cost-centre": "42", "team": "mobile"}
        })
    );
    let guests_pool = pools
        .iter()
        .find(|p| p["identity_pool_id"] == guests.identity_pool_id())
        .unwrap();
    // moto answers an unset developer provider with "": that is no developer provider.
    assert!(
        guests_pool["pool"].get("developer_provider_name").is_none(),
        "{guests_pool}"
    );
    assert_eq!(guests_pool["pool"]["identity_pool_tags"], json!({}));
    assert_eq!(
        guests_pool["roles"],
        json!({"roles": {}, "role_mappings": {}})
    );
}

/// How the misbehaving source answers.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Every ListIdentityPools page says there is a next one, with the same token.
    SameTokenForever,
    /// Reads the request and never answers.
    NeverAnswers,
    /// DescribeIdentityPool answers with a pool other than the one asked for.
    OtherPool,
}

const OTHER_POOL: &str = "us-east-1:0c000000-0000-4000-8000-00000000000c";

/// A Cognito Identity endpoint that misbehaves (a plain HTTP/1.1 server on a thread of its
/// own); returns its URL and how many requests it has read.
fn misbehaving_source(
    how: Misbehaviour,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let (mut length, mut target) = (0usize, String::new());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end().to_ascii_lowercase();
                        if line.is_empty() {
                            break;
                        }
                        if let Some(v) = line.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if let Some(v) = line.strip_prefix("x-amz-target:") {
                            target = v.trim().to_owned();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    let answer = match how {
                        Misbehaviour::NeverAnswers => {
                            std::thread::sleep(std::time::Duration::from_secs(600));
                            return;
                        }
                        Misbehaviour::SameTokenForever if target.ends_with("listidentitypools") => {
                            let pools: Vec<Value> = (0..60)
                                .map(|i| json!({"IdentityPoolId": format!("us-east-1:0a000000-0000-4000-8000-{i:012}"), "IdentityPoolName": "x"}))
                                .collect();
                            json!({"IdentityPools": pools, "NextToken": "same"})
                        }
                        Misbehaviour::OtherPool => json!({
                            "IdentityPoolId": OTHER_POOL,
                            "IdentityPoolName": "other",
                            "AllowUnauthenticatedIdentities": true
                        }),
                        _ => json!({}),
                    }
                    .to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n",
                        answer.len()
                    );
                    if stream.write_all(head.as_bytes()).is_err()
                        || stream.write_all(answer.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, requests)
}

fn copy_from(url: &str, source: &str, extra: &[&str]) -> (Output, std::time::Duration) {
    let mut args = vec![
        "pools",
        "copy",
        "--from-endpoint",
        source,
        "--region",
        "us-east-1",
    ];
    args.extend_from_slice(extra);
    let started = std::time::Instant::now();
    let out = idbroker(
        url,
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    (out, started.elapsed())
}

#[test]
fn a_listing_that_repeats_its_next_token_ends_with_an_error() {
    let db = TestDatabase::sqlite();
    let (source, requests) = misbehaving_source(Misbehaviour::SameTokenForever);
    let (out, _) = copy_from(db.url(), &source, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("returned a NextToken it had returned before"),
        "{err}"
    );
    // The first page, the second with the token; the third would be the loop.
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "{err}"
    );
}

#[test]
fn a_source_that_never_answers_ends_with_a_timeout() {
    let db = TestDatabase::sqlite();
    let (source, _) = misbehaving_source(Misbehaviour::NeverAnswers);
    let (out, took) = copy_from(db.url(), &source, &["--timeout", "2"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ListIdentityPools failed") && err.to_lowercase().contains("timeout"),
        "{err}"
    );
}

#[test]
fn a_source_answering_with_another_pool_is_refused() {
    let db = TestDatabase::sqlite();
    let (source, _) = misbehaving_source(Misbehaviour::OtherPool);
    let asked = "us-east-1:0a000000-0000-4000-8000-00000000000a";
    let (out, _) = copy_from(
        db.url(),
        &source,
        &[
            "--pool",
            asked,
            "--skip",
            "roles",
            "--skip",
            "principal-tags",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "DescribeIdentityPool for {asked} answered with pool {OTHER_POOL}"
        )),
        "{err}"
    );
    assert!(!export(db.url()).contains(OTHER_POOL));
}

/// A pool naming a SAML provider is copied once a provider of that name is registered here
/// (its ARN names it; the copy does not read IdP metadata, which Cognito's API does not
/// serve), with the principal-tag map keyed by that ARN; before, the copy stops naming the ARN.
#[tokio::test]
async fn a_pool_naming_a_saml_provider_is_copied_once_the_provider_is_registered_here() {
    const ARN: &str = "arn:aws:iam::123456789012:saml-provider/corp";
    let source = support::start(&[("IDBROKER_ACCOUNT_ID", ACCOUNT)]);
    let metadata = support::saml_metadata("https://corp.example.test/saml", "localhost.pem");
    rest(
        &source,
        "POST /v1/saml-providers",
        &json!({"name": "corp", "metadata": metadata}),
    );
    let pool = rest(
        &source,
        "POST /v1/identity-pools",
        &json!({
            "identity_pool_name": "saml",
            "allow_unauthenticated_identities": false,
            "saml_provider_arns": [ARN]
        }),
    )["identity_pool_id"]
        .as_str()
        .unwrap()
        .to_owned();
    rest(
        &source,
        &format!(
            "PUT /v1/identity-pools/{pool}/principal-tags/arn%3Aaws%3Aiam%3A%3A123456789012%3Asaml-provider%2Fcorp"
        ),
        &json!({"use_defaults": false, "principal_tags": {"department": "urn:test:department"}}),
    );
    let source_db = format!(
        "sqlite://{}/idbroker.db?mode=rwc",
        source.dir.path().display()
    );
    let target = TestDatabase::sqlite();
    let endpoint = format!("http://127.0.0.1:{}", source.port);
    let (key, secret_key) = (
        secret(&source, "admin_access_key_id"),
        secret(&source, "admin_secret_access_key"),
    );
    let target_url = target.url().to_owned();
    let copy = move || {
        idbroker(
            &target_url,
            &[
                "pools",
                "copy",
                "--from-endpoint",
                &endpoint,
                "--region",
                "us-east-1",
            ],
            &[
                ("AWS_ACCESS_KEY_ID", &key),
                ("AWS_SECRET_ACCESS_KEY", &secret_key),
            ],
        )
    };
    let first = tokio::task::spawn_blocking(copy.clone()).await.unwrap();
    assert!(!first.status.success(), "{}", text(&first));
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(
        err.contains(&format!(
            "{ARN} is not a registered SAML provider; import or register it first"
        )),
        "{err}"
    );

    let store = idbroker_store::SqlStore::connect(target.url())
        .await
        .unwrap();
    idbroker_store::SamlProviderStore::create_saml_provider(
        &store,
        &idbroker_domain::saml_provider::SamlProvider {
            name: "corp".into(),
            entity_id: "https://corp.example.test/saml".into(),
            metadata,
            legacy_sha1: false,
            subject_attribute: None,
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    store.close().await;
    let out = tokio::task::spawn_blocking(copy).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{pool}  saml  created")),
        "{}",
        text(&out)
    );
    let (copied, original) =
        tokio::task::spawn_blocking(move || (export(target.url()), export(&source_db)))
            .await
            .unwrap();
    assert_eq!(
        copied, original,
        "the same provider, pool and principal-tag map"
    );
    assert!(
        copied.contains("\"principal_tags\":{\"arn:aws:iam::123456789012:saml-provider/corp\""),
        "{copied}"
    );
}

//! End to end against an OpenID provider nobody here wrote: panva/oidc-provider from npm,
//! started on loopback, signing in through a real authorization-code + PKCE flow. The test
//! command installs it (`npm ci --prefix tests/oidc-provider`); if it is missing, this test
//! fails and says so.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use idbroker_store::Backend;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::spawn_app;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc-provider");

async fn start_provider() -> (Child, String) {
    assert!(
        Path::new(DIR).join("node_modules/oidc-provider").exists(),
        "the test OpenID provider is not installed: run `npm ci --prefix tests/oidc-provider` (scripts/test.sh does)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(DIR)
        .env("OP_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (needed for the test OpenID provider): {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(issuer) = line.strip_prefix("listening ") {
                return issuer.to_owned();
            }
        }
        panic!("the test OpenID provider exited before listening");
    })
    .await
    .expect("the test OpenID provider did not start within 30 s");
    // Keep reading, so the provider never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, issuer)
}

async fn sign_in(issuer: &str, user: &str) -> String {
    let out = Command::new("node")
        .arg("get-token.mjs")
        .arg(user)
        .current_dir(DIR)
        .env("ISSUER", issuer)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "sign-in failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_at_a_real_openid_provider_gets_a_stable_identity() {
    let (_provider, issuer) = start_provider().await;
    let app = spawn_app(Backend::Sqlite).await;
    let arn = app.register_oidc(&issuer, &["broker-test"]).await;
    let pool = app
        .create_pool_with("real op", false, |pool| {
            pool.open_id_connect_provider_arns(arn)
        })
        .await;
    let key = issuer.trim_start_matches("http://");
    let get_id = |token: String| {
        app.sdk
            .get_id()
            .identity_pool_id(&pool)
            .logins(key, token)
            .send()
    };

    let alice = get_id(sign_in(&issuer, "alice").await)
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let again = get_id(sign_in(&issuer, "alice").await)
        .await
        .unwrap()
        .identity_id
        .unwrap();
    assert_eq!(alice, again, "a second sign-in of alice finds her identity");
    let bob = get_id(sign_in(&issuer, "bob").await)
        .await
        .unwrap()
        .identity_id
        .unwrap();
    assert_ne!(alice, bob);
    let described = app.describe_identity(&alice).await.unwrap();
    assert_eq!(described.logins(), [key.to_owned()]);
}

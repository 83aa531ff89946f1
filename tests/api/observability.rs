//! Metrics at /metrics, and logs that never carry secrets.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use idbroker_store::Backend;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// Every log line of this test process, captured once for all tests (tracing has one
/// global subscriber), at debug level for idbroker, actix and the AWS SDK.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,h2=info,hyper=info,rustls=info,sqlx=info")
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(move || SharedWriter(writer.clone()))
            .try_init();
        buffer
    })
    .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every series on /metrics with its value.
async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(series, value)| (series.to_owned(), value.parse().unwrap()))
        .collect()
}

/// The metrics recorder is one per process, shared by every test running beside this one, so
/// a series merely being there proves nothing: each counter must have grown by at least what
/// this test did between two scrapes (others can only add to it, never take away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_operations_and_what_they_produced() {
    let app = spawn_app(Backend::Sqlite).await;
    let pool = app.create_pool("metrics", true).await;
    let before = scrape(&app).await;
    let id = app.guest(&pool).await;
    app.sdk
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    app.raw(
        "GetId",
        json!({"IdentityPoolId": "us-east-1:00000000-0000-0000-0000-000000000000"}).to_string(),
        &[],
    )
    .await;

    let after = scrape(&app).await;
    for (series, at_least) in [
        (
            r#"idbroker_aws_requests_total{operation="GetId",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"idbroker_aws_requests_total{operation="GetId",outcome="ResourceNotFoundException"}"#,
            1.0,
        ),
        (
            r#"idbroker_aws_requests_total{operation="GetOpenIdToken",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"idbroker_aws_request_duration_seconds_count{operation="GetId"}"#,
            2.0,
        ),
        (r#"idbroker_identities_created_total{kind="guest"}"#, 1.0),
        ("idbroker_tokens_minted_total", 1.0),
        (
            r#"idbroker_http_requests_total{route="/",method="POST",status="200"}"#,
            2.0,
        ),
        (
            r#"idbroker_http_requests_total{route="/",method="POST",status="400"}"#,
            1.0,
        ),
    ] {
        let grew =
            after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0);
        assert!(grew >= at_least, "{series} grew by {grew}, not {at_least}");
    }
    // A gauge: its value is whichever app reported last, so only its presence is ours to check.
    assert!(after.contains_key(r#"idbroker_db_connections{state="idle"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_credentials_never_reach_the_logs() {
    let logs = captured_logs();
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |url| {
        let mut s = crate::helpers::settings(url);
        s.sts_endpoint_url = Some(crate::sts_front::moto_url());
        s
    })
    .await;
    let pool = app.create_pool("secrets", true).await;
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("unauthenticated", "arn:aws:iam::123456789012:role/guest")
        .send()
        .await
        .unwrap();
    let id = app.guest(&pool).await;
    let token = app
        .sdk
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let dev = app
        .create_pool_with("dev", false, |pool| {
            pool.developer_provider_name("login.dev")
        })
        .await;
    let dev_token = app
        .developer_login(&dev, "login.dev", "user-1")
        .send()
        .await
        .unwrap()
        .token
        .unwrap();

    let credentials = app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let (secret_key, session_token) = (
        credentials.secret_key().unwrap().to_owned(),
        credentials.session_token().unwrap().to_owned(),
    );

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains(credentials.access_key_id().unwrap()),
        "the access key id is logged, for audits"
    );
    assert!(
        text.contains(&id),
        "the capture works: the identity id is logged"
    );
    for secret in [
        &token,
        &dev_token,
        &secret_key,
        &session_token,
        crate::helpers::SECRET_ACCESS_KEY,
        crate::helpers::ADMIN_TOKEN,
    ] {
        let probe = &secret[secret.len().saturating_sub(24)..];
        assert!(!text.contains(probe), "a secret reached the logs");
    }
    // The signature part of a token is what makes it usable; never logged either.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature));
}

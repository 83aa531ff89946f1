//! A registered OpenID Connect provider whose endpoints accept connections and never answer:
//! concurrent logins share one bounded key fetch and all answer ExternalServiceException in
//! about one fetch timeout (3 s by default), instead of queueing one behind the other.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;

use crate::helpers::{TestApp, code, on_both_stores};
use crate::idp::TestKey;

on_both_stores!(concurrent_logins_against_a_hanging_provider_fail_fast_together);

/// The default fetch timeout (the setting is not wired yet, so the app uses the default).
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Accepts connections and holds them, answering nothing. Returns its base URL.
async fn hanging_provider() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    base
}

async fn concurrent_logins_against_a_hanging_provider_fail_fast_together(app: TestApp) {
    let issuer = hanging_provider().await;
    let arn = app.register_oidc(&issuer, &["app"]).await;
    let pool = app
        .create_pool_with("outage", false, |pool| {
            pool.open_id_connect_provider_arns(arn)
        })
        .await;
    let key = TestKey::rsa("rsa-a", "k1");
    let now = chrono::Utc::now().timestamp();
    let token = key.sign(&json!({
        "iss": issuer, "aud": "app", "sub": "user-1", "iat": now, "exp": now + 600,
    }));
    let login_key = issuer.trim_start_matches("http://").to_owned();

    let calls: Vec<_> = (0..6)
        .map(|_| {
            let (sdk, pool, login_key, token) = (
                app.sdk.clone(),
                pool.clone(),
                login_key.clone(),
                token.clone(),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                let result = sdk
                    .get_id()
                    .identity_pool_id(pool)
                    .logins(login_key, token)
                    .send()
                    .await;
                (started.elapsed(), result)
            })
        })
        .collect();
    let bound = 2 * FETCH_TIMEOUT + Duration::from_secs(1);
    for call in calls {
        let (took, result) = call.await.unwrap();
        let err = result.expect_err("the provider never answers");
        assert_eq!(code(&err), "ExternalServiceException");
        assert!(took < bound, "took {took:?}, bound {bound:?}");
    }
}

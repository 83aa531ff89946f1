//! idbroker's signing keys: rotation with a controllable clock, replicas that rotate once,
//! restarts, a wrong master key, and the admin routes.

use chrono::Duration;
use idbroker::Application;
use idbroker::settings::MasterKey;
use idbroker_domain::signing::KeyPolicy;
use idbroker_issuer::SigningAlg;
use idbroker_store::Backend;
use idbroker_store::testing::TestDatabase;
use reqwest::Method;

use crate::helpers::{
    ACCESS_KEY_ID, ManualClock, SECRET_ACCESS_KEY, free_port, sdk_client, settings_on, spawn_app,
    start, start_with_clock,
};
use crate::verify::{published_keys, verify};

crate::helpers::on_both_backends!(
    tokens_minted_before_a_rotation_verify_until_they_expire,
    two_replicas_rotate_once,
    keys_survive_a_restart_and_a_wrong_master_key_changes_nothing,
    admins_list_and_rotate_keys,
);

/// The shortest valid rotation period: the JWKS then churns as fast as the rules allow.
fn fast_policy() -> KeyPolicy {
    KeyPolicy {
        rotation_period: Duration::seconds(86_400 + 300),
        prepublish: Duration::hours(1),
    }
}

async fn guest_token(address: &str, pool: &str) -> (String, String) {
    let sdk = sdk_client(address, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    let id = sdk
        .get_id()
        .identity_pool_id(pool)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let out = sdk
        .get_open_id_token()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    (id, out.token.unwrap())
}

async fn new_pool(address: &str) -> String {
    sdk_client(address, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .create_identity_pool()
        .identity_pool_name("keys")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn tokens_minted_before_a_rotation_verify_until_they_expire(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let port = free_port();
    let mut settings = settings_on(db.url(), port);
    settings.key_policy = fast_policy();
    settings.signing_alg = SigningAlg::RS256;
    let clock = ManualClock::new();
    let (address, broker) = start_with_clock(settings, clock.clone()).await;
    let pool = new_pool(&address).await;

    let (_, first) = guest_token(&address, &pool).await;
    let mut seen_kids = vec![kid(&first)];
    let mut live_tokens = vec![(first, clock.now())];
    // Forty simulated days, one step every six hours, with upkeep at each step.
    for _ in 0..160 {
        clock.advance(Duration::hours(6));
        broker.maintain_signing_keys().await.unwrap();
        let keys = published_keys(&address).await;
        assert!(keys <= 3, "the JWKS holds {keys} keys");
        let (_, token) = guest_token(&address, &pool).await;
        if !seen_kids.contains(&kid(&token)) {
            seen_kids.push(kid(&token));
        }
        live_tokens.push((token, clock.now()));
        // Every token still within its lifetime must verify against the published keys.
        live_tokens.retain(|(_, minted)| clock.now() < *minted + Duration::seconds(600));
        for (token, _) in &live_tokens {
            verify(&address, token, &pool).await.unwrap();
        }
    }
    assert!(
        seen_kids.len() >= 30,
        "keys rotated about daily: {} kids",
        seen_kids.len()
    );
}

async fn two_replicas_rotate_once(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let clock = ManualClock::new();
    let (a, broker_a) = start_with_clock(settings_on(db.url(), free_port()), clock.clone()).await;
    let (b, broker_b) = start_with_clock(settings_on(db.url(), free_port()), clock.clone()).await;
    assert_eq!(
        published_keys(&a).await,
        1,
        "the second replica reused the first key"
    );
    assert_eq!(published_keys(&b).await, 1);
    // Both reach the rotation time together.
    clock.advance(Duration::days(30) - Duration::days(1));
    let (ra, rb) = tokio::join!(
        broker_a.maintain_signing_keys(),
        broker_b.maintain_signing_keys()
    );
    ra.unwrap();
    rb.unwrap();
    broker_a.maintain_signing_keys().await.unwrap();
    assert_eq!(published_keys(&a).await, 2, "exactly one new key");
    assert_eq!(published_keys(&b).await, 2);
    // Forced rotations at once: still one pending key.
    let (ra, rb) = tokio::join!(
        broker_a.rotate_signing_keys(),
        broker_b.rotate_signing_keys()
    );
    ra.unwrap();
    rb.unwrap();
    broker_b.maintain_signing_keys().await.unwrap();
    assert_eq!(published_keys(&b).await, 2);
}

async fn keys_survive_a_restart_and_a_wrong_master_key_changes_nothing(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let port = free_port();
    let address = start(settings_on(db.url(), port)).await;
    let pool = new_pool(&address).await;
    let (_, token) = guest_token(&address, &pool).await;

    let mut wrong = settings_on(db.url(), free_port());
    wrong.master_key = MasterKey([9; 32]);
    let err = Application::build(wrong)
        .await
        .err()
        .expect("a wrong master key stops start-up");
    let text = format!("{err:#}");
    assert!(text.contains("IDBROKER_MASTER_KEY"), "{text}");

    // A restart (another process, same database, same master key) serves the same keys.
    let restarted_port = free_port();
    let restarted = start(settings_on(db.url(), restarted_port)).await;
    let original_issuer = format!("http://127.0.0.1:{port}");
    verify(&original_issuer, &token, &pool).await.unwrap();
    let jwks_a: serde_json::Value = reqwest::get(format!("{address}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_b: serde_json::Value = reqwest::get(format!("{restarted}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks_a, jwks_b,
        "the restarted process publishes the same keys"
    );
    let (_, after) = guest_token(&restarted, &pool).await;
    assert_eq!(kid(&after), kid(&token));
}

async fn admins_list_and_rotate_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .http
        .get(format!("{}/v1/keys", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (status, listed) = app.admin(Method::GET, "/v1/keys", None).await;
    assert_eq!(status, 200);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["state"], "current");
    assert!(keys[0].get("sealed_private").is_none() && keys[0].get("d").is_none());
    let (status, rotated) = app.admin(Method::POST, "/v1/keys/rotate", None).await;
    assert_eq!(status, 200, "{rotated}");
    let states: Vec<&str> = rotated["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        vec!["current", "next"],
        "the next key is published before it signs"
    );
}

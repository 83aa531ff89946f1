//! idbroker's signing keys: rotation with a controllable clock, replicas that rotate once,
//! restarts, a wrong master key, and the admin routes.

use chrono::Duration;
use idbroker::Application;
use idbroker::settings::MasterKey;
use idbroker_api::keys::KeyState;
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
    a_retired_key_is_published_until_its_last_token_expired_plus_five_minutes,
    two_replicas_rotate_once,
    keys_survive_a_restart_and_a_wrong_master_key_changes_nothing,
    admins_list_and_rotate_keys,
    a_second_replica_picks_up_a_rotated_key_through_its_upkeep_loop,
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

/// The promise of `docs/behaviour.md` ("a retired key stays published until every token it
/// signed has expired, plus 5 minutes"), end to end: the longest-lived token (a developer
/// token of 24 h) minted one second before its key stops signing still verifies through
/// discovery + JWKS 299 s after its `exp`, and no longer once the key's publication ends.
/// (The test above steps 6 h at a time, past every 600 s guest token, so it never sees this.)
async fn a_retired_key_is_published_until_its_last_token_expired_plus_five_minutes(
    backend: Backend,
) {
    let db = TestDatabase::new(backend).await;
    let mut settings = settings_on(db.url(), free_port());
    settings.key_policy = fast_policy();
    settings.signing_alg = SigningAlg::RS256;
    let clock = ManualClock::new();
    let start_at = clock.now();
    let (address, broker) = start_with_clock(settings, clock.clone()).await;
    let sdk = sdk_client(&address, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    let pool = sdk
        .create_identity_pool()
        .identity_pool_name("keys")
        .allow_unauthenticated_identities(false)
        .developer_provider_name("login.keys.test")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let dev_token = |user: &'static str| {
        let (sdk, pool) = (sdk.clone(), pool.clone());
        async move {
            sdk.get_open_id_token_for_developer_identity()
                .identity_pool_id(pool)
                .logins("login.keys.test", user)
                .token_duration(86_400)
                .send()
                .await
                .unwrap()
                .token
                .unwrap()
        }
    };
    let first_kid = kid(&dev_token("user-0").await);

    // The first key signs from start-up for one rotation period; upkeep creates its successor
    // `prepublish` before the switch, to sign from the switch on.
    let switch = start_at + fast_policy().rotation_period;
    clock.advance(switch - fast_policy().prepublish - clock.now());
    broker.maintain_signing_keys().await.unwrap();
    clock.advance(switch - Duration::seconds(1) - clock.now());
    broker.maintain_signing_keys().await.unwrap();
    let last_old = dev_token("user-1").await;
    assert_eq!(
        kid(&last_old),
        first_kid,
        "minted by the key about to retire"
    );
    let exp = verify(&address, &last_old, &pool).await.unwrap()["exp"]
        .as_i64()
        .unwrap();

    clock.advance(Duration::seconds(2));
    broker.maintain_signing_keys().await.unwrap();
    assert_ne!(
        kid(&dev_token("user-2").await),
        first_kid,
        "the next key signs after the switch"
    );

    // Just before the promised instant: expired 299 s ago, still verifiable.
    clock.advance(Duration::seconds(exp + 299 - clock.now().timestamp()));
    broker.maintain_signing_keys().await.unwrap();
    assert!(clock.now().timestamp() > exp, "the token has expired");
    verify(&address, &last_old, &pool)
        .await
        .expect("a retired key's last token verifies until 5 minutes past its expiry");

    // Past it (expiry + 5 minutes, and the second between the mint and the switch): gone.
    clock.advance(Duration::seconds(3));
    broker.maintain_signing_keys().await.unwrap();
    let refused = verify(&address, &last_old, &pool).await.unwrap_err();
    assert!(
        refused.contains("is not in the JWKS"),
        "the retired key is no longer published: {refused}"
    );
    assert!(published_keys(&address).await <= 3);
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
    let res = app.get("/v1/keys").await;
    assert_eq!(res.status(), 401);
    // Public data only: the raw body has no private member anywhere.
    let (status, raw) = app.admin(Method::GET, "/v1/keys", None).await;
    assert_eq!(status, 200);
    assert!(raw["keys"][0].get("sealed_private").is_none() && raw["keys"][0].get("d").is_none());
    let listed = app.rest().list_keys().await.unwrap();
    assert_eq!(listed.keys.len(), 1);
    assert_eq!(listed.keys[0].state, KeyState::Current);
    let rotated = app.rest().rotate_keys().await.unwrap();
    let states: Vec<KeyState> = rotated.keys.iter().map(|k| k.state).collect();
    assert_eq!(
        states,
        vec![KeyState::Current, KeyState::Next],
        "the next key is published before it signs"
    );
}

/// `docs/behaviour.md`: replicas "pick up each other's keys within" the upkeep interval, by
/// their own upkeep loop (nothing here calls `maintain_signing_keys`). Replica A rotates
/// through the admin API; replica B, whose upkeep runs every second, must publish A's new
/// key and, once the shared clock passes the pre-publication period, sign with it.
async fn a_second_replica_picks_up_a_rotated_key_through_its_upkeep_loop(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let clock = ManualClock::new();
    let (a, _) = start_with_clock(settings_on(db.url(), free_port()), clock.clone()).await;
    let mut settings_b = settings_on(db.url(), free_port());
    settings_b.key_upkeep_interval = std::time::Duration::from_secs(1);
    let (b, _) = start_with_clock(settings_b, clock.clone()).await;
    let pool = new_pool(&a).await;
    let (_, before) = guest_token(&b, &pool).await;
    let old_kid = kid(&before);
    assert_eq!(published_keys(&b).await, 1);

    let res = reqwest::Client::new()
        .post(format!("{a}/v1/keys/rotate"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        published_keys(&a).await,
        2,
        "A publishes its new key at once"
    );

    // Polled with a generous deadline: the loop ticks every second, the machine may be slow.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while published_keys(&b).await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "B never published A's new key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let jwks = |address: String| async move {
        reqwest::get(format!("{address}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    assert_eq!(jwks(a.clone()).await, jwks(b.clone()).await);

    // The new key signs once its pre-publication day is over; B knows it from its own reload.
    clock.advance(Duration::days(1) + Duration::seconds(1));
    let (_, after) = guest_token(&b, &pool).await;
    assert_ne!(kid(&after), old_kid, "B signs with the rotated key");
    verify(&b, &after, &pool).await.unwrap();
}

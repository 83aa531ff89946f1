//! The issuer over `MemoryKeys`: the first key, signing and checking, a forced rotation and
//! the retired key's publication, as `idbroker_domain::signing` plans them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use idbroker_domain::signing::{KeyPolicy, RotationPlan};
use idbroker_issuer::{Issuer, IssuerConfig, KeyState, MasterKey, MemoryKeys, SigningAlg};
use serde_json::json;

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
}

fn policy() -> KeyPolicy {
    KeyPolicy {
        rotation_period: Duration::days(7),
        prepublish: Duration::hours(24),
    }
}

fn issuer() -> Issuer {
    Issuer::new(
        Arc::new(MemoryKeys::new()),
        MasterKey::new([7; 32]),
        IssuerConfig {
            issuer: "https://idbroker.example.test".into(),
            alg: SigningAlg::ES256,
            policy: policy(),
        },
    )
}

fn token(issuer: &Issuer, at: DateTime<Utc>) -> String {
    let claims = json!({"iss": issuer.issuer(), "sub": "s", "aud": "a", "exp": (at + Duration::minutes(10)).timestamp()});
    issuer.sign(&claims, at).unwrap()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn keys_in_memory_sign_rotate_and_retire_as_planned() {
    let issuer = issuer();
    assert!(
        issuer.sign(&json!({}), t(0)).is_err(),
        "no key before upkeep"
    );
    assert_eq!(
        issuer.maintain(t(0), false).await.unwrap(),
        RotationPlan::First { signs_from: t(0) }
    );
    let first = token(&issuer, t(0));
    assert!(issuer.verify_own(&first, t(0)).is_some());

    // A forced rotation publishes the next key at once; it signs a day later.
    let plan = issuer.maintain(t(1), true).await.unwrap();
    assert!(matches!(plan, RotationPlan::Next { signs_from, .. } if signs_from == t(25)));
    let states: Vec<KeyState> = issuer.keys().unwrap().iter().map(|k| k.state).collect();
    assert_eq!(states, [KeyState::Current, KeyState::Next]);
    assert_eq!(kid(&token(&issuer, t(2))), kid(&first));

    issuer.reload(t(25)).await.unwrap();
    let second = token(&issuer, t(25));
    assert_ne!(kid(&second), kid(&first));
    // Retention: the longest token lifetime plus skew after the old key stopped signing.
    let retire_at = t(25) + policy().retention();
    issuer
        .reload(retire_at - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        issuer.keys().unwrap().len(),
        2,
        "the old key is still published"
    );
    issuer.reload(retire_at).await.unwrap();
    let left: Vec<String> = issuer.keys().unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(
        left,
        [kid(&second)],
        "the old key is gone once its tokens have expired"
    );
}

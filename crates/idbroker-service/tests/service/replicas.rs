//! Per-replica caches across replicas: two `Broker`s on one store stand in for two replicas
//! (the SQLite store delivers its change events in-process to every subscriber, as
//! PostgreSQL's listener does to every replica; tests/api/coherence.rs runs real ones).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use idbroker_domain::signing::KeyPolicy;
use idbroker_domain::{AccountId, PoolLifetimes, Region};
use idbroker_issuer::{Issuer, IssuerConfig, MasterKey, MemoryKeys, SigningAlg};
use idbroker_providers::{CachePolicy, ProviderEndpoints, UpstreamPolicy, Verifier};
use idbroker_service::testing::TestBroker;
use idbroker_service::{Broker, BrokerSettings, Clock, StsSettings};

/// A second replica over the same store, clock, provider and STS as `t.broker`.
async fn second_replica(t: &TestBroker) -> Broker {
    let verifier = Verifier::with_key_source(
        ProviderEndpoints::default(),
        CachePolicy::default(),
        UpstreamPolicy::default(),
        t.idp.clone(),
    )
    .unwrap();
    let issuer = Issuer::new(
        Arc::new(MemoryKeys::new()),
        MasterKey::new([1; 32]),
        IssuerConfig {
            issuer: "https://idbroker.test.example".into(),
            alg: SigningAlg::ES256,
            policy: KeyPolicy {
                rotation_period: TimeDelta::days(7),
                prepublish: TimeDelta::hours(24),
            },
        },
    );
    issuer.maintain(t.clock.now(), false).await.unwrap();
    Broker::new(
        t.store.clone(),
        t.clock.clone(),
        Arc::new(verifier),
        Arc::new(issuer),
        t.sts.clone(),
        BrokerSettings {
            region: Region::parse("us-east-1").unwrap(),
            account_id: AccountId::parse("123456789012").unwrap(),
            allow_http_issuers: false,
            sts: StsSettings::default(),
            ledger_retention: TimeDelta::days(30),
            guest_idle: None,
            pool_cache_ttl: Duration::from_secs(300),
        },
    )
}

/// The reuse window hears of another replica's revocation: once A re-enables the identity, B
/// does not hand out the credentials it kept from before the revocation (the revocation's deny
/// policy, which may stay attached after re-enabling, refuses every session issued before
/// `revoked_before`).
#[tokio::test]
async fn a_reenabled_identity_never_gets_pre_revocation_credentials_from_another_replica() {
    let t = TestBroker::new().await;
    let b = second_replica(&t).await;
    let pool = t.guest_pool().await;
    let config = t
        .broker
        .describe_identity_pool(pool.id.as_str())
        .await
        .unwrap()
        .config;
    let lifetimes = PoolLifetimes {
        credential_reuse_seconds: Some(900),
        ..PoolLifetimes::default()
    };
    t.broker
        .update_identity_pool(pool.id.as_str(), config, None, Some(lifetimes.into()))
        .await
        .unwrap();
    let guest = t.guest(&pool).await;
    let none = BTreeMap::new();

    // Replica B hands out credentials and keeps them for reuse.
    let before = b
        .get_credentials_for_identity(guest.as_str(), &none, None)
        .await
        .unwrap()
        .1;

    // 10 s later an admin revokes the identity through replica A, then re-enables it.
    t.clock.advance(TimeDelta::seconds(10));
    let revocation = t
        .broker
        .revoke_identity(guest.as_str(), &Default::default())
        .await
        .unwrap();
    let revoked_before = revocation.revoked_before.clone();
    t.clock.advance(TimeDelta::seconds(10));
    t.broker.reenable_identity(guest.as_str()).await.unwrap();
    // Let B's follower apply the change events (it would have by now in production).
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Replica A: fresh credentials (its entry was dropped by the revocation).
    // Replica B: must not return the pre-revocation credentials either.
    let after_b = b
        .get_credentials_for_identity(guest.as_str(), &none, None)
        .await
        .unwrap()
        .1;
    assert_ne!(
        after_b.access_key_id, before.access_key_id,
        "replica B handed out credentials issued before the revocation ({revoked_before}); \
         the revocation's deny policy refuses them"
    );
}

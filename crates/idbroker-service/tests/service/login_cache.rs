//! The copy of login owners that serves a returning user's GetId (`coherence::Caches::logins`):
//! used while it may be, and dropped by this broker's own unlinks, merges and deletions at once
//! and by the store's events (on SQLite, in-process) for changes made elsewhere.

use std::collections::BTreeMap;
use std::time::Duration;

use idbroker_domain::{IdentityId, IdentityPool, PoolConfig};
use idbroker_service::testing::{DEVELOPER_PROVIDER, TestBroker, guest_config};
use idbroker_store::IdentityStore;

const LONG: Duration = Duration::from_secs(3600);

/// A pool that trusts the test provider and has a developer provider.
async fn pool(t: &TestBroker) -> IdentityPool {
    let provider = t
        .broker
        .create_oidc_provider(
            idbroker_service::testing::IDP_ISSUER,
            vec![idbroker_service::testing::IDP_CLIENT_ID.into()],
        )
        .await
        .unwrap();
    t.pool(PoolConfig {
        allow_unauthenticated_identities: false,
        open_id_connect_provider_arns: vec![provider.arn],
        developer_provider_name: Some(DEVELOPER_PROVIDER.into()),
        ..guest_config("login copies")
    })
    .await
}

async fn owner(t: &TestBroker, pool: &IdentityPool, subject: &str) -> IdentityId {
    t.get_id(pool, &t.idp_login(subject)).await.unwrap()
}

/// Deletes a login behind the store's back (no event announces it).
async fn delete_login_by_hand(t: &TestBroker, subject: &str) {
    let db = sqlx::SqlitePool::connect(t.database_url()).await.unwrap();
    let deleted = sqlx::query("DELETE FROM identity_logins WHERE subject = $1")
        .bind(subject)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
}

#[tokio::test]
async fn a_returning_login_is_answered_from_the_copy() {
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = pool(&t).await;
    let first = owner(&t, &pool, "alice").await;
    assert_eq!(owner(&t, &pool, "alice").await, first);
    // Only a copy can still know a login deleted behind the store's back.
    delete_login_by_hand(&t, "alice").await;
    assert_eq!(owner(&t, &pool, "alice").await, first);
}

#[tokio::test]
async fn with_a_lifetime_of_zero_every_getid_reads_the_store() {
    let t = TestBroker::builder()
        .pool_cache_ttl(Duration::ZERO)
        .build()
        .await;
    let pool = pool(&t).await;
    let first = owner(&t, &pool, "alice").await;
    delete_login_by_hand(&t, "alice").await;
    assert_ne!(owner(&t, &pool, "alice").await, first, "a new identity");
}

#[tokio::test]
async fn an_unlink_through_the_broker_is_seen_by_the_next_getid() {
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = pool(&t).await;
    let first = owner(&t, &pool, "alice").await;
    t.broker
        .unlink_identity(
            first.as_str(),
            &t.idp_login("alice"),
            &[t.idp.login_key().to_owned()],
        )
        .await
        .unwrap();
    assert_ne!(owner(&t, &pool, "alice").await, first, "a new identity");
}

#[tokio::test]
async fn a_merge_moves_the_login_to_the_survivor_at_once() {
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = pool(&t).await;
    // Developer user "a" with alice's provider login, then alice's GetId (copied).
    let logins = BTreeMap::from([
        (DEVELOPER_PROVIDER.to_owned(), "a".to_owned()),
        (t.idp.login_key().to_owned(), t.id_token("alice")),
    ]);
    let (merged_away, _) = t
        .broker
        .get_open_id_token_for_developer_identity(
            pool.id.as_str(),
            None,
            &logins,
            BTreeMap::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(owner(&t, &pool, "alice").await, merged_away);
    let only_b = BTreeMap::from([(DEVELOPER_PROVIDER.to_owned(), "b".to_owned())]);
    let (survivor, _) = t
        .broker
        .get_open_id_token_for_developer_identity(
            pool.id.as_str(),
            None,
            &only_b,
            BTreeMap::new(),
            None,
        )
        .await
        .unwrap();
    let merged = t
        .broker
        .merge_developer_identities(pool.id.as_str(), DEVELOPER_PROVIDER, "a", "b")
        .await
        .unwrap();
    assert_eq!(merged, survivor);
    assert_eq!(owner(&t, &pool, "alice").await, survivor);
}

#[tokio::test]
async fn a_deletion_committed_through_the_store_elsewhere_is_seen_at_once() {
    // On SQLite every writer is this process: the store announces the change in-process.
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = pool(&t).await;
    let first = owner(&t, &pool, "alice").await;
    t.store.delete_identity(&first).await.unwrap();
    let mut now = owner(&t, &pool, "alice").await;
    for _ in 0..100 {
        if now != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        now = owner(&t, &pool, "alice").await;
    }
    assert_ne!(now, first, "the deleted identity is not served");
}

//! The public operations' copies of pools and registered providers (`cache`): dropped when
//! this broker changes the pool, and when the store announces a change (on SQLite,
//! in-process); a change made by hand in SQL is seen once the copy is older than its lifetime;
//! admin operations always read the store.

use std::time::Duration;

use idbroker_domain::IdentityPool;
use idbroker_service::testing::{TestBroker, guest_config, pool_roles};
use idbroker_store::{OidcProviderStore, PoolStore};

use super::{admit, none};

const LONG: Duration = Duration::from_secs(3600);

/// Closes the pool to guests behind the broker's back, as another replica would.
async fn close_to_guests_elsewhere(t: &TestBroker, pool: &IdentityPool) {
    let stored = t.store.get_pool(&pool.id).await.unwrap().unwrap();
    let config = idbroker_domain::PoolConfig {
        allow_unauthenticated_identities: false,
        ..stored.pool.config
    };
    t.store
        .update_pool(
            &pool.id,
            stored.version,
            &config,
            None,
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
}

async fn guest_get_id(t: &TestBroker, pool: &IdentityPool) -> Result<(), &'static str> {
    t.broker
        .get_id(pool.id.as_str(), None, &none(), admit)
        .await
        .map(drop)
        .map_err(|e| e.kind())
}

#[tokio::test]
async fn an_update_through_the_broker_is_seen_by_the_next_public_call() {
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = t.guest_pool().await;
    guest_get_id(&t, &pool).await.unwrap(); // the copy is now cached for an hour

    let closed = idbroker_domain::PoolConfig {
        allow_unauthenticated_identities: false,
        ..pool.config.clone()
    };
    t.broker
        .update_identity_pool(pool.id.as_str(), closed, None, None)
        .await
        .unwrap();
    assert_eq!(
        guest_get_id(&t, &pool).await,
        Err("NotAuthorizedException"),
        "the cached copy was dropped by the update"
    );
}

#[tokio::test]
async fn roles_set_and_pools_deleted_through_the_broker_are_seen_at_once() {
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = t.guest_pool().await;
    let guest = t.guest(&pool).await;
    let other_role = "arn:aws:iam::123456789012:role/OtherGuest";
    t.broker
        .set_identity_pool_roles(pool.id.as_str(), pool_roles(other_role))
        .await
        .unwrap();
    t.guest_credentials(&guest).await.unwrap();
    assert_eq!(
        t.sts.calls()[0].role_arn,
        other_role,
        "the new role is used"
    );

    t.broker
        .delete_identity_pool(pool.id.as_str())
        .await
        .unwrap();
    assert_eq!(
        guest_get_id(&t, &pool).await,
        Err("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn a_change_committed_through_the_store_elsewhere_is_seen_at_once() {
    // On SQLite every writer is this process: the store announces the change in-process.
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = t.guest_pool().await;
    guest_get_id(&t, &pool).await.unwrap();
    close_to_guests_elsewhere(&t, &pool).await;
    assert_eq!(
        wait_for_refusal(&t, &pool).await,
        Err("NotAuthorizedException")
    );
}

#[tokio::test]
async fn a_change_made_by_hand_in_sql_is_seen_once_the_copy_is_older_than_its_lifetime() {
    // No event for a change made behind the store's back: the copy is used for its lifetime.
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = t.guest_pool().await;
    guest_get_id(&t, &pool).await.unwrap();
    close_to_guests_by_hand(&t, &pool).await;
    assert_eq!(
        guest_get_id(&t, &pool).await,
        Ok(()),
        "the copy is still used"
    );
    // Admin operations read the store, whatever the copy says.
    let described = t
        .broker
        .describe_identity_pool(pool.id.as_str())
        .await
        .unwrap();
    assert!(!described.config.allow_unauthenticated_identities);

    // Past the lifetime the store is read again. (The lifetime is measured on the monotonic
    // clock, not the broker's; sleeping past it can only make the copy older.)
    let ttl = Duration::from_millis(50);
    let t = TestBroker::builder().pool_cache_ttl(ttl).build().await;
    let pool = t.guest_pool().await;
    guest_get_id(&t, &pool).await.unwrap();
    close_to_guests_by_hand(&t, &pool).await;
    tokio::time::sleep(ttl * 2).await;
    assert_eq!(guest_get_id(&t, &pool).await, Err("NotAuthorizedException"));
}

#[tokio::test]
async fn a_lifetime_of_zero_always_reads_the_store() {
    let t = TestBroker::builder()
        .pool_cache_ttl(Duration::ZERO)
        .build()
        .await;
    let pool = t.pool(guest_config("no-copy")).await;
    guest_get_id(&t, &pool).await.unwrap();
    close_to_guests_by_hand(&t, &pool).await;
    assert_eq!(guest_get_id(&t, &pool).await, Err("NotAuthorizedException"));
}

#[tokio::test]
async fn a_registered_provider_is_copied_and_dropped_by_its_change_event() {
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = t.federated_pool().await;
    t.get_id(&pool, &t.idp_login("alice")).await.unwrap();

    // The registry row changed by hand: the copy is used, so logins no longer read the row.
    let sql = open_by_hand(&t).await;
    sqlx::query("UPDATE oidc_providers SET client_ids = '[\"someone-else\"]' WHERE key = $1")
        .bind(t.idp.login_key())
        .execute(&sql)
        .await
        .unwrap();
    t.get_id(&pool, &t.idp_login("alice"))
        .await
        .expect("the copy of the registration is used");

    // The same change through the store (as another replica makes it) is announced.
    t.store
        .update_oidc_client_ids(
            t.idp.login_key(),
            &["someone-else".into()],
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let refused =
        wait_until(|| async { t.get_id(&pool, &t.idp_login("alice")).await.is_err() }).await;
    assert!(refused, "the token's audience is no longer registered");
}

/// GetId for a guest until it is refused (events are delivered by a task: give it a moment).
async fn wait_for_refusal(t: &TestBroker, pool: &IdentityPool) -> Result<(), &'static str> {
    wait_until(|| async { guest_get_id(t, pool).await.is_err() }).await;
    guest_get_id(t, pool).await
}

/// Runs `check` until it holds, for at most a second.
async fn wait_until<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// A connection to the broker's SQLite file of its own, for changes no event announces.
async fn open_by_hand(t: &TestBroker) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(t.database_url()).await.unwrap()
}

/// Closes the pool to guests in SQL, behind the store's back.
async fn close_to_guests_by_hand(t: &TestBroker, pool: &IdentityPool) {
    let stored = t.store.get_pool(&pool.id).await.unwrap().unwrap();
    let config = idbroker_domain::PoolConfig {
        allow_unauthenticated_identities: false,
        ..stored.pool.config
    };
    sqlx::query("UPDATE identity_pools SET config = $1 WHERE id = $2")
        .bind(serde_json::to_string(&config).unwrap())
        .bind(pool.id.as_str())
        .execute(&open_by_hand(t).await)
        .await
        .unwrap();
}

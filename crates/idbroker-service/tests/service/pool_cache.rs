//! The public operations' copy of a pool (`pool_cache`): dropped when this broker changes
//! the pool, otherwise used for at most its lifetime; admin operations always read the store.

use std::time::Duration;

use idbroker_domain::IdentityPool;
use idbroker_service::testing::{TestBroker, guest_config, pool_roles};
use idbroker_store::PoolStore;

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
async fn a_change_made_elsewhere_is_seen_once_the_copy_is_older_than_its_lifetime() {
    // Within the lifetime the copy is used: another replica's change is not seen yet.
    let t = TestBroker::builder().pool_cache_ttl(LONG).build().await;
    let pool = t.guest_pool().await;
    guest_get_id(&t, &pool).await.unwrap();
    close_to_guests_elsewhere(&t, &pool).await;
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
    close_to_guests_elsewhere(&t, &pool).await;
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
    close_to_guests_elsewhere(&t, &pool).await;
    assert_eq!(guest_get_id(&t, &pool).await, Err("NotAuthorizedException"));
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point
//! Bounded database work on PostgreSQL: a lock wait ends as a typed timeout, a pool with no
//! free connection is "saturated" (not "unreachable"), and readiness, on its own connection,
//! still sees the database answer.

use std::time::{Duration, Instant};

use chrono::Utc;
use idbroker_domain::{Identity, IdentityId, IdentityPool, IdentityPoolId, PoolConfig, Region};
use idbroker_store::testing::TestDatabase;
use idbroker_store::{
    Backend, Health, IdentityStore, PoolStore, SqlStore, StoreOptions, Unavailability,
};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

fn region() -> Region {
    Region::parse("us-east-1").unwrap()
}

fn identity_in(pool: &IdentityPoolId) -> Identity {
    let now = Utc::now();
    Identity {
        id: IdentityId::new(&region(), Uuid::new_v4()),
        pool_id: pool.clone(),
        logins: vec![],
        created_at: now,
        last_modified_at: now,
        disabled: false,
        last_used_at: None,
    }
}

/// A migrated store with the given options and one pool in it.
async fn store_with(options: StoreOptions) -> (TestDatabase, SqlStore, IdentityPoolId) {
    let db = TestDatabase::new(Backend::Postgres).await;
    let store = SqlStore::connect_with(db.url(), options).await.unwrap();
    store.migrate().await.unwrap();
    let pool = IdentityPool {
        id: IdentityPoolId::new(&region(), Uuid::new_v4()),
        config: PoolConfig {
            identity_pool_name: "p".into(),
            allow_unauthenticated_identities: true,
            ..PoolConfig::default()
        },
        tags: Default::default(),
        lifetimes: Default::default(),
        exchange_audiences: Vec::new(),
    };
    store.create_pool(&pool, Utc::now()).await.unwrap();
    (db, store, pool.id)
}

/// Another session holding `LOCK TABLE identities` until it is dropped.
async fn lock_identities(url: &str) -> PgConnection {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("LOCK TABLE identities IN ACCESS EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

#[tokio::test]
async fn a_lock_wait_ends_as_a_timeout_within_the_lock_timeout() {
    let (db, store, pool) = store_with(StoreOptions {
        lock_timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    })
    .await;
    let _lock = lock_identities(db.url()).await;

    let started = Instant::now();
    let err = store
        .create_identity(&identity_in(&pool))
        .await
        .unwrap_err();
    assert_eq!(
        err.unavailability(),
        Some(Unavailability::TimedOut),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The database itself answers, on the health connection, within its deadline.
    let started = Instant::now();
    let readiness = store.readiness().await;
    assert!(readiness.database_answers);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn every_connection_busy_is_saturation_not_an_outage() {
    let (db, store, pool) = store_with(StoreOptions {
        max_connections: Some(1),
        acquire_timeout: Duration::from_millis(300),
        lock_timeout: Duration::from_secs(3),
        ..StoreOptions::default()
    })
    .await;
    let lock = lock_identities(db.url()).await;
    // The pool's only connection waits behind the lock.
    let blocked = {
        let (store, identity) = (store.clone(), identity_in(&pool));
        tokio::spawn(async move { store.create_identity(&identity).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let readiness = store.readiness().await;
    assert!(readiness.pool_saturated, "{readiness:?}");
    assert!(readiness.database_answers, "{readiness:?}");

    let started = Instant::now();
    let err = store.get_pool(&pool).await.unwrap_err();
    assert_eq!(
        err.unavailability(),
        Some(Unavailability::Saturated),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Saturation is not an outage: as soon as a connection is free, calls go through.
    drop(lock);
    blocked.await.unwrap().unwrap();
    assert!(store.get_pool(&pool).await.unwrap().is_some());
}

#[tokio::test]
async fn migrations_run_without_the_request_timeouts() {
    // A statement timeout far below what any migration takes: migrating must still work,
    // and the pool's connections must keep their timeouts afterwards.
    let db = TestDatabase::new(Backend::Postgres).await;
    let store = SqlStore::connect_with(
        db.url(),
        StoreOptions {
            statement_timeout: Duration::from_millis(1),
            lock_timeout: Duration::from_millis(1),
            max_connections: Some(1),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let pool = IdentityPoolId::new(&region(), Uuid::new_v4());
    let _lock = lock_identities(db.url()).await;
    let err = store
        .create_identity(&identity_in(&pool))
        .await
        .unwrap_err();
    assert_eq!(err.unavailability(), Some(Unavailability::TimedOut));
}

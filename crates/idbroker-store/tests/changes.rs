#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point
//! Change events (`idbroker_store::changes`): every write a cache could hide announces what it
//! changed, on PostgreSQL through NOTIFY to every store on the database (here: two stores, as
//! two replicas), on SQLite in-process; a rolled-back write announces nothing; on PostgreSQL a
//! killed listener makes the feed incoherent until it listens again, in a new session.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use idbroker_domain::linking::LinkRules;
use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::signing::KeyPolicy;
use idbroker_domain::{
    IdentityId, IdentityPool, IdentityPoolId, PoolConfig, PoolLifetimes, PoolRoles,
    PrincipalTagMap, Region, Tags,
};
use idbroker_store::testing::TestDatabase;
use idbroker_store::{
    Backend, Change, ChangeFeed, IdentityStore, LISTENER_APPLICATION_NAME, LoginStore, NewKey,
    OidcProviderStore, PoolStore, Revocation, RevocationScope, RevocationStore, Signal,
    SigningKeyStore, SqlStore, StoreError,
};
use tokio::sync::broadcast::Receiver;
use uuid::Uuid;

/// Far more than delivery takes (milliseconds); only a missing event waits this long.
const DEADLINE: Duration = Duration::from_secs(5);

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(idbroker_store::Backend::Postgres).await; })*
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(idbroker_store::Backend::Sqlite).await; })*
        }
    };
}

on_both!(
    pool_writes_announce_the_pool,
    provider_writes_announce_the_provider,
    identity_writes_announce_the_identity,
    a_key_rotation_announces_the_keys,
    a_refused_write_announces_nothing,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

fn region() -> Region {
    Region::parse("us-east-1").unwrap()
}

/// Two stores on one database, as two replicas: `a` writes, `b` listens (on SQLite, where
/// there is one process, `b` is `a`).
struct Replicas {
    a: SqlStore,
    b: SqlStore,
    _db: TestDatabase,
}

async fn replicas(backend: Backend) -> Replicas {
    let db = TestDatabase::new(backend).await;
    let a = SqlStore::connect(db.url()).await.unwrap();
    a.migrate().await.unwrap();
    let b = match backend {
        Backend::Postgres => SqlStore::connect(db.url()).await.unwrap(),
        Backend::Sqlite => a.clone(),
    };
    b.listen_for_changes();
    wait_coherent(&b).await;
    Replicas { a, b, _db: db }
}

async fn wait_coherent(store: &SqlStore) -> u64 {
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(session) = store.coherence() {
                return session;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the listener listens")
}

/// The next change event (session signals are skipped).
async fn next_change(rx: &mut Receiver<Signal>) -> Change {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match rx.recv().await.expect("the feed is open") {
                Signal::Changed(change) => return change,
                Signal::Lost | Signal::Restored => {}
            }
        }
    })
    .await
    .expect("a change event arrives")
}

/// Nothing is announced for a while.
async fn no_change(rx: &mut Receiver<Signal>) {
    let got = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Signal::Changed(change) = rx.recv().await.expect("the feed is open") {
                return change;
            }
        }
    })
    .await;
    assert!(got.is_err(), "unexpected event {got:?}");
}

fn new_pool() -> IdentityPool {
    IdentityPool {
        id: IdentityPoolId::new(&region(), Uuid::new_v4()),
        config: PoolConfig {
            identity_pool_name: "events".into(),
            allow_unauthenticated_identities: true,
            ..PoolConfig::default()
        },
        tags: Tags::new(),
        lifetimes: PoolLifetimes::default(),
        exchange_audiences: Vec::new(),
    }
}

fn login(provider: &str, subject: &str) -> LoginRef {
    LoginRef {
        provider: provider.to_owned(),
        subject: subject.to_owned(),
    }
}

async fn pool_writes_announce_the_pool(backend: Backend) {
    let r = replicas(backend).await;
    let pool = new_pool();
    r.a.create_pool(&pool, t0()).await.unwrap();
    let mut rx = r.b.subscribe();
    let announced = Change::Pool(pool.id.clone());

    let closed = PoolConfig {
        allow_unauthenticated_identities: false,
        ..pool.config.clone()
    };
    r.a.update_pool(&pool.id, 1, &closed, None, None, t0())
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx).await, announced, "update_pool");
    r.a.set_roles(&pool.id, 2, &PoolRoles::default(), t0())
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx).await, announced, "set_roles");
    let tags: Tags = [("team".to_owned(), "a".to_owned())].into_iter().collect();
    r.a.add_tags(&pool.id, &tags, 50).await.unwrap();
    assert_eq!(next_change(&mut rx).await, announced, "add_tags");
    r.a.remove_tags(&pool.id, &["team".into()]).await.unwrap();
    assert_eq!(next_change(&mut rx).await, announced, "remove_tags");
    r.a.put_principal_tag_map(&pool.id, "accounts.google.com", &PrincipalTagMap::default())
        .await
        .unwrap();
    assert_eq!(
        next_change(&mut rx).await,
        announced,
        "put_principal_tag_map"
    );
    r.a.delete_pool(&pool.id).await.unwrap();
    assert_eq!(next_change(&mut rx).await, announced, "delete_pool");
}

async fn provider_writes_announce_the_provider(backend: Backend) {
    let r = replicas(backend).await;
    let provider =
        OidcProvider::new("https://login.example.com", vec!["app1".into()], false).unwrap();
    r.a.create_oidc_provider(&provider, t0()).await.unwrap();
    let mut rx = r.b.subscribe();
    let announced = Change::OidcProvider("login.example.com".into());
    r.a.update_oidc_client_ids("login.example.com", &["app2".into()], t0())
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx).await, announced);
    r.a.delete_oidc_provider("login.example.com").await.unwrap();
    assert_eq!(next_change(&mut rx).await, announced);
}

async fn identity_writes_announce_the_identity(backend: Backend) {
    let r = replicas(backend).await;
    let pool = new_pool();
    r.a.create_pool(&pool, t0()).await.unwrap();
    let link = |presented: Vec<LoginRef>, target: Option<IdentityId>| {
        let a = &r.a;
        let pool = pool.id.clone();
        async move {
            let new_id = IdentityId::new(&region(), Uuid::new_v4());
            a.resolve_logins(
                &pool,
                &presented,
                target.as_ref(),
                &LinkRules::default(),
                &new_id,
                t0(),
            )
            .await
            .unwrap()
            .identity
        }
    };
    let (fb, g) = (
        login("graph.facebook.com", "f1"),
        login("accounts.google.com", "u1"),
    );
    let loser = link(vec![fb.clone()], None).await;
    let survivor = link(vec![g.clone()], None).await;
    let mut rx = r.b.subscribe();

    // A merge: the identity merged away (disabled) and the survivor.
    let merged = link(vec![g.clone(), fb.clone()], None).await;
    assert_eq!(merged.id, survivor.id);
    let mut heard = vec![next_change(&mut rx).await, next_change(&mut rx).await];
    heard.sort_by_key(|c| c.encode());
    let mut expected = vec![
        Change::Identity(loser.id.clone()),
        Change::Identity(survivor.id.clone()),
    ];
    expected.sort_by_key(|c| c.encode());
    assert_eq!(heard, expected, "merge");

    // Unlinking its last login disables it.
    r.a.unlink_logins(
        &survivor.id,
        &["accounts.google.com".into(), "graph.facebook.com".into()],
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(
        next_change(&mut rx).await,
        Change::Identity(survivor.id.clone()),
        "unlink"
    );

    r.a.put_revocation(&Revocation {
        scope: RevocationScope::Identity,
        target: loser.id.to_string(),
        revoked_before: t0(),
        created_at: t0(),
        actor: "test".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        next_change(&mut rx).await,
        Change::Identity(loser.id.clone()),
        "revocation"
    );

    r.a.delete_identity(&loser.id).await.unwrap();
    assert_eq!(
        next_change(&mut rx).await,
        Change::Identity(loser.id.clone()),
        "delete"
    );

    // Idle guests deleted by the clean-up.
    let guest = idbroker_domain::Identity {
        id: IdentityId::new(&region(), Uuid::new_v4()),
        pool_id: pool.id.clone(),
        logins: vec![],
        created_at: t0(),
        last_modified_at: t0(),
        disabled: false,
        last_used_at: None,
    };
    r.a.create_identity(&guest).await.unwrap();
    let deleted =
        r.a.delete_idle_guests(t0() + chrono::Duration::days(1), 100)
            .await
            .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        next_change(&mut rx).await,
        Change::Identity(guest.id.clone()),
        "idle guest"
    );
}

async fn a_key_rotation_announces_the_keys(backend: Backend) {
    let r = replicas(backend).await;
    let mut rx = r.b.subscribe();
    let candidate = NewKey {
        kid: "k1".into(),
        alg: "ES256".into(),
        public_jwk: "{}".into(),
        sealed_private: "sealed".into(),
        kek_id: "kek".into(),
    };
    let policy = KeyPolicy {
        rotation_period: chrono::Duration::days(7),
        prepublish: chrono::Duration::hours(24),
    };
    r.a.rotate_signing_keys(t0(), &policy, true, &candidate)
        .await
        .unwrap();
    assert_eq!(next_change(&mut rx).await, Change::SigningKeys);
}

async fn a_refused_write_announces_nothing(backend: Backend) {
    let r = replicas(backend).await;
    let pool = new_pool();
    r.a.create_pool(&pool, t0()).await.unwrap();
    let mut rx = r.b.subscribe();
    // A stale version: rolled back, so nothing may be announced.
    let err =
        r.a.set_roles(&pool.id, 41, &PoolRoles::default(), t0())
            .await
            .unwrap_err();
    assert!(matches!(err, StoreError::ConcurrentModification), "{err:?}");
    let tags: Tags = (0..3).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let err = r.a.add_tags(&pool.id, &tags, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::LimitExceeded(_)), "{err:?}");
    no_change(&mut rx).await;
}

/// The listener's connection, killed by an operator (or a failover), is noticed at once: the
/// feed is incoherent, the listener connects again, and a new session begins; a change made
/// after that is heard again.
#[tokio::test]
async fn a_killed_listener_connection_is_noticed_and_listens_again() {
    let r = replicas(Backend::Postgres).await;
    let first = r.b.coherence().expect("coherent");
    let mut rx = r.b.subscribe();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(&admin_pool(&r).await)
    .await
    .unwrap();
    assert_eq!(
        killed,
        vec![true],
        "one listener (b's) was found and killed"
    );
    let signals = tokio::time::timeout(DEADLINE, async {
        let mut seen = Vec::new();
        while seen.last() != Some(&Signal::Restored) {
            seen.push(rx.recv().await.unwrap());
        }
        seen
    })
    .await
    .expect("the loss and the new session are signalled");
    assert_eq!(signals, vec![Signal::Lost, Signal::Restored]);
    let second = r.b.coherence().expect("coherent again");
    assert_ne!(
        first, second,
        "a new session, so older cache entries are void"
    );

    let pool = new_pool();
    r.a.create_pool(&pool, t0()).await.unwrap();
    r.a.delete_pool(&pool.id).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::Pool(pool.id));
}

/// A PostgreSQL store that never started its listener is never coherent: caches stay off
/// rather than serve what they cannot hear about.
#[tokio::test]
async fn without_a_listener_postgresql_is_never_coherent() {
    let db = TestDatabase::postgres().await;
    let store = SqlStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.coherence(), None);
}

async fn admin_pool(r: &Replicas) -> sqlx::PgPool {
    sqlx::PgPool::connect(r._db.url()).await.unwrap()
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary
//! A change listener whose connection goes silent without an error (a half-open TCP
//! connection after a failover, a flow dropped by NAT or a proxy, a pooler that swallows
//! notifications) must stop caches within its lease, not serve them while committed changes
//! go undelivered; once the connection delivers again, the listener listens anew on a new
//! session.
//!
//! A TCP proxy in front of PostgreSQL forwards every connection of replica B and, on demand,
//! stops forwarding (without closing) the ones whose start-up packet names the listener's
//! `application_name`. Replica A then commits a pool change.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use idbroker_domain::{IdentityPool, IdentityPoolId, PoolConfig, PoolLifetimes, Region, Tags};
use idbroker_store::testing::TestDatabase;
use idbroker_store::{Backend, ChangeFeed, LISTENER_APPLICATION_NAME, PoolStore, Signal, SqlStore};
use uuid::Uuid;

/// Copies `from` to `to`; once `frozen` is set and this is the listener's connection, stops
/// copying but keeps both sockets open (a silent connection, not a closed one).
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    listener_conn: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 16384];
    let mut seen = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if seen.len() < 4096 {
            seen.extend_from_slice(&buf[..n]);
            let name = LISTENER_APPLICATION_NAME.as_bytes();
            if seen.windows(name.len()).any(|w| w == name) {
                listener_conn.store(true, Ordering::SeqCst);
            }
        }
        while listener_conn.load(Ordering::SeqCst) && frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if to.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// A proxy to `upstream`; returns its port.
fn proxy(upstream: String, frozen: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let is_listener = Arc::new(AtomicBool::new(false));
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (l1, l2) = (is_listener.clone(), is_listener);
            let (f1, f2) = (frozen.clone(), frozen.clone());
            std::thread::spawn(move || pump(client, server, l1, f1));
            std::thread::spawn(move || pump(s2, c2, l2, f2));
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_listener_connection_stops_caches_within_its_lease() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let a = SqlStore::connect(db.url()).await.unwrap();
    a.migrate().await.unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let upstream = "127.0.0.1:5432";
    assert!(
        db.url().contains(upstream),
        "the test database is at {upstream}"
    );
    let port = proxy(upstream.to_owned(), frozen.clone());
    // Plain text through the proxy, so it can tell the listener's connection by its start-up.
    let via_proxy = db.url().replace(upstream, &format!("127.0.0.1:{port}"));
    let sep = if via_proxy.contains('?') { '&' } else { '?' };
    let b = SqlStore::connect(&format!("{via_proxy}{sep}sslmode=disable"))
        .await
        .unwrap();
    b.listen_for_changes();
    let session = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(s) = b.coherence() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("b listens");
    let mut rx = b.subscribe();

    let pool = IdentityPool {
        id: IdentityPoolId::new(&Region::parse("us-east-1").unwrap(), Uuid::new_v4()),
        config: PoolConfig {
            identity_pool_name: "silent".into(),
            allow_unauthenticated_identities: true,
            ..PoolConfig::default()
        },
        tags: Tags::new(),
        lifetimes: PoolLifetimes::default(),
        exchange_audiences: Vec::new(),
    };
    let t0 = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    a.create_pool(&pool, t0).await.unwrap();

    // B's listening connection goes silent; B's request connections keep working.
    frozen.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A turns guests off: committed, and announced with pg_notify.
    let closed = PoolConfig {
        allow_unauthenticated_identities: false,
        ..pool.config.clone()
    };
    a.update_pool(&pool.id, 1, &closed, None, None, t0)
        .await
        .unwrap();
    assert!(
        !b.get_pool(&pool.id)
            .await
            .unwrap()
            .unwrap()
            .pool
            .config
            .allow_unauthenticated_identities,
        "B's own reads see the change (only its listener is cut off)"
    );

    // Within its lease (1.5 s) and a margin, B stops trusting every copy of `session`, even
    // though it has heard nothing and its connection reported no error.
    let stopped = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if b.coherence() != Some(session) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let heard = rx.try_recv();
    assert!(
        stopped.is_ok() || matches!(heard, Ok(Signal::Changed(_))),
        "3 s after a committed change B neither heard it ({heard:?}) nor stopped trusting its \
         copies (coherence {:?}, the session they were loaded in: {session})",
        b.coherence()
    );

    // Delivering again: B listens anew, on a new session (copies of the old one stay void).
    frozen.store(false, Ordering::SeqCst);
    let again = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(s) = b.coherence() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("B listens again once its connection delivers");
    assert_ne!(again, session);
}

//! Not a test: prints how long six concurrent logins take against a provider whose endpoints
//! accept connections and never answer, on a cold cache and with expired keys cached.
//! `cargo test -p idbroker-providers --test measure -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use idbroker_providers::{CachePolicy, ProviderEndpoints, Verifier};
use support::{FakeIdp, TestKey, now};

async fn six_logins(verifier: &Arc<Verifier>, idp: &FakeIdp, token: &str) -> Vec<String> {
    let started = Instant::now();
    let calls = (0..6).map(|_| {
        let (verifier, spec, key, token) =
            (verifier.clone(), idp.spec(), idp.key(), token.to_owned());
        tokio::spawn(async move {
            let outcome = verifier.verify(&key, &spec, &token, now()).await;
            (started.elapsed(), outcome.map(|_| ()))
        })
    });
    let mut lines = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        let (took, outcome) = call.await.unwrap();
        lines.push(format!(
            "{:>6.2} s  {:?}",
            took.as_secs_f64(),
            outcome.map_err(|e| format!("{e:?}").chars().take(60).collect::<String>())
        ));
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test: run with --ignored --nocapture"]
async fn six_logins_against_a_hanging_provider() {
    let key = TestKey::rsa("k1");
    let policy = CachePolicy {
        ttl: Duration::from_secs(1),
        refresh_after: Duration::from_secs(1),
        unknown_kid_cooldown: Duration::from_secs(30),
    };

    let idp = FakeIdp::hanging().await;
    let verifier = Arc::new(Verifier::new(ProviderEndpoints::default(), policy).unwrap());
    println!("cold cache, hanging provider:");
    for line in six_logins(&verifier, &idp, &key.token(&idp.base)).await {
        println!("  {line}");
    }
    println!("  connections: {}", idp.connections());

    let idp = FakeIdp::start(&[&key]).await;
    let verifier = Arc::new(Verifier::new(ProviderEndpoints::default(), policy).unwrap());
    let token = key.token(&idp.base);
    verifier
        .verify(&idp.key(), &idp.spec(), &token, now())
        .await
        .unwrap();
    idp.set_hanging(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = idp.connections();
    println!("expired keys cached, hanging provider:");
    for line in six_logins(&verifier, &idp, &token).await {
        println!("  {line}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // let a background refresh connect
    println!("  connections: {}", idp.connections() - before);
}

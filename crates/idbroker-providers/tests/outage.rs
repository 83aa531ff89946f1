//! A provider that accepts connections and never answers, against the real `Verifier`: logins
//! share one bounded fetch, stale keys keep working, failures are remembered, and one
//! provider's outage is not another's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use idbroker_providers::{
    BackoffPolicy, CachePolicy, ProviderEndpoints, UpstreamPolicy, Verifier, VerifyError,
};
use support::{FakeIdp, TestKey, now};

const TIMEOUT: Duration = Duration::from_secs(1);

fn verifier(cache: CachePolicy, backoff_initial: Duration) -> Arc<Verifier> {
    let upstream = UpstreamPolicy {
        fetch_timeout: TIMEOUT,
        backoff: BackoffPolicy {
            initial: backoff_initial,
            max: Duration::from_secs(60),
        },
        ..UpstreamPolicy::default()
    };
    Arc::new(Verifier::with_upstream(ProviderEndpoints::default(), cache, upstream).unwrap())
}

fn short_lived_keys() -> CachePolicy {
    CachePolicy {
        ttl: Duration::from_secs(1),
        refresh_after: Duration::from_millis(500),
        unknown_kid_cooldown: Duration::from_secs(30),
    }
}

/// `n` concurrent logins with `token`; each one's time and outcome.
async fn logins(
    verifier: &Arc<Verifier>,
    idp: &FakeIdp,
    token: &str,
    n: usize,
) -> Vec<(Duration, Result<(), VerifyError>)> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let (verifier, spec, key, token) =
                (verifier.clone(), idp.spec(), idp.key(), token.to_owned());
            tokio::spawn(async move {
                let started = Instant::now();
                let outcome = verifier.verify(&key, &spec, &token, now()).await;
                (started.elapsed(), outcome.map(|_| ()))
            })
        })
        .collect();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap());
    }
    results
}

/// One login with `token` that must succeed (it leaves the provider's keys cached).
async fn login_ok(verifier: &Arc<Verifier>, idp: &FakeIdp, token: &str) {
    let (_, outcome) = logins(verifier, idp, token, 1).await.remove(0);
    outcome.unwrap();
}

fn assert_unreachable(results: &[(Duration, Result<(), VerifyError>)], within: Duration) {
    for (took, outcome) in results {
        assert!(
            matches!(outcome, Err(VerifyError::Unreachable(_))),
            "{outcome:?}"
        );
        assert!(*took < within, "took {took:?}, bound {within:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_on_a_cold_cache_share_one_bounded_fetch() {
    let key = TestKey::rsa("k1");
    let idp = FakeIdp::hanging().await;
    let v = verifier(CachePolicy::default(), Duration::from_secs(10));
    let results = logins(&v, &idp, &key.token(&idp.base), 6).await;
    assert_unreachable(&results, 2 * TIMEOUT);
    assert_eq!(idp.connections(), 1, "one fetch for all six");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_used_at_once_while_one_refresh_runs() {
    let key = TestKey::rsa("k1");
    let idp = FakeIdp::start(&[&key]).await;
    let v = verifier(short_lived_keys(), Duration::from_secs(10));
    let token = key.token(&idp.base);
    login_ok(&v, &idp, &token).await;
    let warm = idp.connections();

    idp.set_hanging(true);
    tokio::time::sleep(Duration::from_millis(1200)).await; // past the ttl
    for (took, outcome) in logins(&v, &idp, &token, 6).await {
        assert_eq!(outcome, Ok(()));
        assert!(took < Duration::from_millis(500), "took {took:?}");
    }
    // The refresh times out meanwhile; the logins go on with the old keys and do not retry.
    tokio::time::sleep(TIMEOUT + Duration::from_millis(300)).await;
    for (took, outcome) in logins(&v, &idp, &token, 6).await {
        assert_eq!(outcome, Ok(()));
        assert!(took < Duration::from_millis(500), "took {took:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(idp.connections() - warm, 1, "one background refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_too_stale_are_not_used() {
    let key = TestKey::rsa("k1");
    let idp = FakeIdp::start(&[&key]).await;
    let upstream = UpstreamPolicy {
        fetch_timeout: TIMEOUT,
        max_stale: Duration::from_millis(500),
        ..UpstreamPolicy::default()
    };
    let v = Arc::new(
        Verifier::with_upstream(ProviderEndpoints::default(), short_lived_keys(), upstream)
            .unwrap(),
    );
    let token = key.token(&idp.base);
    login_ok(&v, &idp, &token).await;
    idp.set_hanging(true);
    tokio::time::sleep(Duration::from_millis(1600)).await; // past ttl + max_stale
    assert_unreachable(&logins(&v, &idp, &token, 2).await, 2 * TIMEOUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_remembered_for_the_backoff() {
    let key = TestKey::rsa("k1");
    let idp = FakeIdp::hanging().await;
    let v = verifier(CachePolicy::default(), Duration::from_secs(2));
    let token = key.token(&idp.base);
    assert_unreachable(&logins(&v, &idp, &token, 1).await, 2 * TIMEOUT);
    assert_eq!(idp.connections(), 1);

    // Within the backoff: an answer at once, and nobody asks the provider.
    let results = logins(&v, &idp, &token, 6).await;
    assert_unreachable(&results, Duration::from_millis(300));
    assert_eq!(idp.connections(), 1);

    // After it, one caller tries again (and the provider is back).
    idp.set_hanging(false);
    tokio::time::sleep(Duration::from_millis(2500)).await; // the 2 s backoff, with margin
    // The provider answers now, but with no keys: it was started hanging with none. A
    // login with an unknown kid after a good fetch is the token's fault. (One login: a second
    // one arriving after the fetch may use its one forced look for the unknown kid.)
    let results = logins(&v, &idp, &token, 1).await;
    for (_, outcome) in &results {
        assert!(
            matches!(outcome, Err(VerifyError::Rejected(_))),
            "{outcome:?}"
        );
    }
    assert_eq!(idp.connections(), 3, "discovery and JWKS, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_during_an_outage_is_the_providers_failure() {
    let key = TestKey::rsa("k1");
    let idp = FakeIdp::start(&[&key]).await;
    let v = verifier(CachePolicy::default(), Duration::from_secs(10));
    login_ok(&v, &idp, &key.token(&idp.base)).await;

    idp.set_hanging(true);
    let rotated = key.token_with_kid(&idp.base, "k2");
    assert_unreachable(&logins(&v, &idp, &rotated, 3).await, 2 * TIMEOUT);
    let before = idp.connections();
    // In backoff and within the cool-down: at once, still the provider's failure, no fetch.
    assert_unreachable(
        &logins(&v, &idp, &rotated, 3).await,
        Duration::from_millis(300),
    );
    assert_eq!(idp.connections(), before);
    // The known kid still verifies with the cached keys.
    assert_eq!(
        logins(&v, &idp, &key.token(&idp.base), 1).await[0].1,
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown() {
    let key = TestKey::rsa("k1");
    let idp = FakeIdp::start(&[&key]).await;
    let v = verifier(CachePolicy::default(), Duration::from_secs(10));
    login_ok(&v, &idp, &key.token(&idp.base)).await;
    let before = idp.connections();
    for i in 0..10 {
        let token = key.token_with_kid(&idp.base, &format!("random-{i}"));
        let (_, outcome) = logins(&v, &idp, &token, 1).await.remove(0);
        assert!(
            matches!(outcome, Err(VerifyError::Rejected(_))),
            "{outcome:?}"
        );
    }
    assert!(
        idp.connections() - before <= 2,
        "one refresh (discovery + JWKS)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_provider_does_not_slow_another() {
    let key = TestKey::rsa("k1");
    let dead = FakeIdp::hanging().await;
    let alive = FakeIdp::start(&[&key]).await;
    let v = verifier(CachePolicy::default(), Duration::from_secs(10));
    let (dead_token, alive_token) = (key.token(&dead.base), key.token(&alive.base));
    let stuck = {
        let v = v.clone();
        let (spec, k) = (dead.spec(), dead.key());
        tokio::spawn(async move {
            let calls = (0..4).map(|_| v.verify(&k, &spec, &dead_token, now()));
            futures_join(calls).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await; // the dead provider's fetch is on
    let results = logins(&v, &alive, &alive_token, 6).await;
    for (took, outcome) in results {
        assert_eq!(outcome, Ok(()));
        assert!(took < Duration::from_millis(500), "took {took:?}");
    }
    assert!(
        !stuck.is_finished(),
        "the dead provider's logins were still waiting"
    );
    stuck.await.unwrap();
}

/// Awaits all the futures (in turn: they run concurrently on their shared fetch anyway).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futures.collect::<Vec<_>>() {
        out.push(f.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_jwks_uri_off_loopback_is_refused() {
    let key = TestKey::rsa("k1");
    let idp = FakeIdp::start(&[&key]).await;
    // The issuer is loopback http; its discovery points keys at a host that is not loopback,
    // though it looks like it.
    idp.set_jwks_uri("http://127.0.0.1.nip.io/jwks");
    let v = verifier(CachePolicy::default(), Duration::from_secs(10));
    let (_, outcome) = logins(&v, &idp, &key.token(&idp.base), 1).await.remove(0);
    match outcome {
        Err(VerifyError::Unreachable(msg)) => assert!(msg.contains("jwks_uri"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        idp.connections(),
        1,
        "only the discovery document was fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_token_api_fails_fast_but_a_refusal_is_no_failure() {
    use idbroker_domain::login::ProviderSpec;
    let dead = FakeIdp::hanging().await;
    // The fake answers 404 to /debug_token and /auth/o2/tokeninfo: a refusal of the token.
    let refusing = FakeIdp::start(&[]).await;
    let endpoints = ProviderEndpoints {
        facebook_graph_url: dead.base.clone(),
        amazon_api_url: refusing.base.clone(),
        ..ProviderEndpoints::default()
    };
    let upstream = UpstreamPolicy {
        fetch_timeout: TIMEOUT,
        ..UpstreamPolicy::default()
    };
    let v = Verifier::with_upstream(endpoints, CachePolicy::default(), upstream).unwrap();
    let facebook = ProviderSpec::Facebook {
        app_id: "app".into(),
    };
    let amazon = ProviderSpec::Amazon {
        client_id: "app".into(),
    };

    let started = Instant::now();
    let first = v
        .verify("graph.facebook.com", &facebook, "EAAB", now())
        .await;
    assert!(
        matches!(first, Err(VerifyError::Unreachable(_))),
        "{first:?}"
    );
    assert!(started.elapsed() < 2 * TIMEOUT);
    for _ in 0..5 {
        let started = Instant::now();
        let again = v
            .verify("graph.facebook.com", &facebook, "EAAB", now())
            .await;
        assert!(
            matches!(again, Err(VerifyError::Unreachable(_))),
            "{again:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(300));
    }
    assert_eq!(dead.connections(), 1, "asked once per backoff");

    for _ in 0..3 {
        let refused = v.verify("www.amazon.com", &amazon, "Atza|x", now()).await;
        assert!(
            matches!(refused, Err(VerifyError::Rejected(_))),
            "{refused:?}"
        );
    }
    assert_eq!(
        refusing.connections(),
        3,
        "a refusal does not close the gate"
    );
}

//! Abuse controls: per-client and per-pool token buckets on the public operations.
//!
//! The app runs on a clock the test moves by hand, so no bucket refills between two calls
//! however slowly the machine runs them: the counts below are exact.

use std::sync::Arc;

use idbroker_http::rate_limit::RateLimitSettings;
use idbroker_store::Backend;
use serde_json::json;

use crate::helpers::{ManualClock, TestApp, settings, spawn_app_on_clock};

async fn app(per_ip: u32, per_pool: u32) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let app = spawn_app_on_clock(
        Backend::Sqlite,
        |url| {
            let mut s = settings(url);
            s.rate_limits = RateLimitSettings {
                per_ip,
                per_pool,
                trusted_proxy_hops: 0,
            };
            s
        },
        clock.clone(),
    )
    .await;
    (app, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_rate_is_told_to_retry_later() {
    let (app, clock) = app(5, 0).await;
    let pool = app.create_pool("limited", true).await;
    let get_id = || app.raw("GetId", json!({"IdentityPoolId": pool}).to_string(), &[]);
    let mut refused = 0;
    for _ in 0..20 {
        let raw = get_id().await;
        if raw.status != 200 {
            raw.assert_error("TooManyRequestsException");
            // The next token is 200 ms away: rounded up to a whole second.
            assert_eq!(raw.headers["retry-after"], "1");
            refused += 1;
        }
    }
    assert_eq!(
        refused, 15,
        "20 calls with a bucket of 5 and no time passing"
    );
    // Admin operations are not limited.
    app.describe_pool(&pool).await.unwrap();
    // REST shares the bucket and answers 429 with Retry-After.
    let res = app
        .post(&format!("/v1/identity-pools/{pool}/identities"))
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    // The bucket refills with time: one token per 200 ms.
    clock.advance(chrono::Duration::milliseconds(199));
    get_id().await.assert_error("TooManyRequestsException");
    clock.advance(chrono::Duration::milliseconds(1));
    assert_eq!(get_id().await.status, 200);
    get_id().await.assert_error("TooManyRequestsException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_busy_pool_does_not_starve_another() {
    let (app, _clock) = app(0, 3).await;
    let (busy, quiet) = (
        app.create_pool("busy", true).await,
        app.create_pool("quiet", true).await,
    );
    let mut refused = 0;
    for _ in 0..10 {
        if app.get_id(&busy, &[]).await.is_err() {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 7,
        "10 calls with a bucket of 3 and no time passing"
    );
    app.get_id(&quiet, &[])
        .await
        .expect("another pool has its own bucket");
}

/// A pool's GetId budget is charged only by calls that are valid: failing calls from a few
/// addresses cannot lock every user of a pool out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_calls_do_not_use_up_a_pools_budget() {
    let (app, _clock) = app(0, 3).await;
    let pool = app.create_pool("budget", true).await;
    for _ in 0..10 {
        app.raw(
            "GetId",
            json!({"IdentityPoolId": pool, "Logins": {"nope.example": "x"}}).to_string(),
            &[],
        )
        .await
        .assert_error("NotAuthorizedException");
    }
    // The whole budget is left, and no more: the clock has not moved.
    let get_id = || app.raw("GetId", json!({"IdentityPoolId": pool}).to_string(), &[]);
    for _ in 0..3 {
        let guest = get_id().await;
        assert_eq!(guest.status, 200, "{}", guest.json);
    }
    get_id().await.assert_error("TooManyRequestsException");
}

/// One-shot credentials charge the pool's GetId budget as GetId does: once a call is valid,
/// whatever happens after GetId (here: the pool has no role for guests), and never for a call
/// refused before it; naming an identity is GetCredentialsForIdentity, which the budget does
/// not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_credentials_charge_the_pools_get_id_budget() {
    let (app, _clock) = app(0, 3).await;
    let pool = app.create_pool("one-shot budget", true).await;
    let one_shot = |body: serde_json::Value| {
        app.http
            .post(format!(
                "{}/v1/identity-pools/{pool}/credentials",
                app.address
            ))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let title = |res: reqwest::Response| async move {
        let body: serde_json::Value = res.json().await.unwrap();
        body["title"].as_str().unwrap().to_owned()
    };
    for _ in 0..5 {
        let res = one_shot(json!({"logins": {"nope.example": "x"}}))
            .await
            .unwrap();
        assert_eq!(title(res).await, "NotAuthorizedException");
    }
    let guest = app.guest(&pool).await; // one of the three
    for _ in 0..2 {
        let res = one_shot(json!({})).await.unwrap();
        assert_eq!(
            title(res).await,
            "InvalidIdentityPoolConfigurationException"
        );
    }
    let res = one_shot(json!({})).await.unwrap();
    assert_eq!(res.status(), 429);
    let res = one_shot(json!({"identity_id": guest})).await.unwrap();
    assert_eq!(
        title(res).await,
        "InvalidIdentityPoolConfigurationException",
        "not refused by the pool's limit"
    );
}

/// Every route of the public face goes through the per-client limit: each operation the
/// OpenAPI description lists without the admin token, and each public AWS operation. A new
/// public route that forgot the limit (its handler takes neither `Admin` nor `PublicCaller`)
/// fails here; so does one the CORS and deadline rules (`is_public_route`) do not know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_route_is_rate_limited() {
    let (app, clock) = app(1, 0).await;
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let id = "us-east-1:00000000-0000-4000-8000-000000000000";
    let mut public = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let concrete = path.replace("{pool_id}", id).replace("{identity_id}", id);
            assert_eq!(
                !secured,
                idbroker_http::is_public_route(&method.to_uppercase(), &concrete),
                "{method} {path}: the route table and the public-route rule disagree"
            );
            if !secured {
                public.push((method.to_uppercase(), concrete));
            }
        }
    }
    assert_eq!(public.len(), 6, "{public:?}");
    for (method, path) in &public {
        clock.advance(chrono::Duration::seconds(1)); // a full bucket
        let call = || {
            let request = app.http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", app.address),
            );
            // A GET takes no body (one would be refused before the limit is asked).
            if method == "GET" {
                request.send()
            } else {
                request
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
            }
        };
        assert_ne!(call().await.unwrap().status(), 429, "{method} {path}");
        assert_eq!(
            call().await.unwrap().status(),
            429,
            "{method} {path} is not limited"
        );
    }
    for operation in [
        "GetId",
        "GetOpenIdToken",
        "GetCredentialsForIdentity",
        "UnlinkIdentity",
    ] {
        clock.advance(chrono::Duration::seconds(1));
        assert_ne!(
            app.raw(operation, "{}", &[]).await.status,
            429,
            "{operation}"
        );
        app.raw(operation, "{}", &[])
            .await
            .assert_error("TooManyRequestsException");
    }
    // The token endpoint (not in the OpenAPI description, which covers `/v1` only) shares the
    // bucket and answers in OAuth's shape, with Retry-After.
    clock.advance(chrono::Duration::seconds(1));
    let exchange = || {
        app.http
            .post(format!("{}/oauth2/token", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=password")
            .send()
    };
    let first = exchange().await.unwrap();
    assert_eq!(first.status(), 400, "unsupported_grant_type, not limited");
    let limited = exchange().await.unwrap();
    assert_eq!(limited.status(), 429, "the token endpoint is not limited");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "one token a second: {retry}");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(idbroker_http::is_public_route("POST", "/oauth2/token"));
}

//! The public face against hostile input (issue: "hold on the open internet"): replayed
//! signatures, trickled bodies, spoofed X-Forwarded-For, junk methods, huge echoes, and
//! browsers on the admin routes. Each of these once went through.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use idbroker_http::rate_limit::RateLimitSettings;
use idbroker_store::Backend;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    ACCESS_KEY_ID, ADMIN_TOKEN, ManualClock, REGION, SECRET_ACCESS_KEY, TARGET_PREFIX, TestApp,
    settings, spawn_app, spawn_app_on_clock, spawn_app_with,
};

/// A DescribeIdentityPool request signed the way a careless client might: over `host` and
/// `x-amz-date` only. Returns the two signing headers.
fn signed_without_target(app: &TestApp, body: &str) -> Vec<(&'static str, String)> {
    let host = app.address.trim_start_matches("http://").to_owned();
    let identity: Identity =
        Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "tests").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("cognito-identity")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let request = SignableRequest::new(
        "POST",
        format!("{}/", app.address),
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params.into()).unwrap().into_parts();
    instructions
        .headers()
        .map(|(name, value)| match name {
            "authorization" => ("authorization", value.to_owned()),
            "x-amz-date" => ("x-amz-date", value.to_owned()),
            other => panic!("unexpected signing header {other}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_that_does_not_cover_the_target_cannot_be_replayed_as_another_operation() {
    let app = spawn_app(Backend::Sqlite).await;
    let pool = app.create_pool("kept", true).await;
    let body = json!({"IdentityPoolId": pool}).to_string();
    let headers = signed_without_target(&app, &body);
    // The captured request, replayed with another target: the signature still matches the
    // signed headers, so only the rule "x-amz-target must be signed" stops it.
    let replay = app.raw("DeleteIdentityPool", body.clone(), &headers).await;
    replay.assert_error("IncompleteSignatureException");
    assert!(replay.message().contains("x-amz-target"), "{}", replay.json);
    assert_eq!(app.pool_count().await, 1, "the pool survived");
    // Another x-amz-* header that was not signed is refused too.
    let mut signed = crate::helpers::sign_headers(
        &app.address,
        "DescribeIdentityPool",
        &body,
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        SystemTime::now(),
        REGION,
    );
    signed.push(("x-amz-security-token", "smuggled".to_owned()));
    app.raw("DescribeIdentityPool", body, &signed)
        .await
        .assert_error("IncompleteSignatureException");
}

/// Sends headers announcing `length` bytes, then one byte a second; returns the response and
/// how long it took to come.
async fn trickle(
    address: &str,
    path: &str,
    target: Option<&str>,
    length: usize,
) -> (String, Duration) {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let target = target
        .map(|t| format!("X-Amz-Target: {TARGET_PREFIX}{t}\r\n"))
        .unwrap_or_default();
    // The token endpoint refuses any other type before it reads the body.
    let content_type = if path == "/oauth2/token" {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    stream
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
                 {target}Content-Length: {length}\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                assert!(started.elapsed() < Duration::from_secs(20), "still connected after 20 s");
                // Keep trickling; a closed connection ends the loop on the next read.
                let _ = stream.write_all(b" ").await;
            }
        }
    }
    (
        String::from_utf8_lossy(&response).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_at_the_body_deadline() {
    let app = spawn_app_with(Backend::Sqlite, |url| {
        let mut s = settings(url);
        s.timeouts.body = Duration::from_secs(2);
        s
    })
    .await;
    for (path, target, kind) in [
        ("/", Some("GetId"), "RequestTimeoutException"),
        (
            "/v1/identity-pools/us-east-1:00000000-0000-0000-0000-000000000000/identities",
            None,
            "RequestTimeout",
        ),
        // OAuth's error shape on the token endpoint.
        ("/oauth2/token", None, "\"error\":\"invalid_request\""),
    ] {
        let (response, took) = trickle(&app.address, path, target, 1000).await;
        assert!(response.starts_with("HTTP/1.1 408"), "{path}: {response}");
        assert!(response.contains(kind), "{path}: {response}");
        assert!(
            took < Duration::from_secs(6),
            "{path}: answered after {took:?}, the deadline is 2 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_neither_escapes_the_limit_nor_mints_keys() {
    // A clock that stands still: no bucket refills between calls, so the counts are exact.
    let app = spawn_app_on_clock(
        Backend::Sqlite,
        |url| {
            let mut s = settings(url);
            s.rate_limits = RateLimitSettings {
                per_ip: 3,
                per_pool: 0,
                trusted_proxy_hops: 1,
            };
            s
        },
        ManualClock::new(),
    )
    .await;
    let pool = app.create_pool("xff", true).await;
    let body = json!({"IdentityPoolId": pool}).to_string();
    let mut refused = 0;
    for n in 0..20 {
        // The client controls everything left of what our one proxy appended.
        let xff = format!("10.{}.{}.1, 203.0.113.9", n / 256, n % 256);
        let raw = app
            .raw("GetId", body.clone(), &[("x-forwarded-for", xff)])
            .await;
        if raw.status != 200 {
            raw.assert_error("TooManyRequestsException");
            refused += 1;
        }
    }
    assert_eq!(
        refused, 17,
        "20 calls with a bucket of 3: the spoofed addresses were trusted"
    );
    // A proxy that adds its own header line (HAProxy) rather than appending: the lines count
    // together, so the client's own line changes nothing.
    let mut refused_lines = 0;
    for n in 0..10 {
        let res = app
            .http
            .post(format!("{}/", app.address))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{TARGET_PREFIX}GetId"))
            .header("x-forwarded-for", format!("10.9.{n}.1"))
            .header("x-forwarded-for", "203.0.113.10")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            refused_lines += 1;
        }
    }
    assert_eq!(refused_lines, 7, "10 calls with a bucket of 3");
    // A different client, as the proxy saw it, has its own bucket.
    let other = app
        .raw(
            "GetId",
            body,
            &[("x-forwarded-for", "198.51.100.4".to_owned())],
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_methods_do_not_mint_metric_series() {
    let app = spawn_app(Backend::Sqlite).await;
    for n in 0..150 {
        let method = reqwest::Method::from_bytes(format!("JUNK{n}").as_bytes()).unwrap();
        let _ = app
            .http
            .request(method, format!("{}/v1/identity-pools", app.address))
            .send()
            .await
            .unwrap();
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("method=\"JUNK"),
        "junk methods became labels"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_input_is_not_echoed_back() {
    let app = spawn_app(Backend::Sqlite).await;
    let pool = app.create_pool("echo", true).await;
    let logins = "t".repeat(900_000);
    let raw = app
        .raw(
            "GetId",
            json!({"IdentityPoolId": pool, "Logins": logins}).to_string(),
            &[],
        )
        .await;
    raw.assert_error("SerializationException");
    let header = raw.headers.get("x-amzn-errormessage").unwrap();
    assert!(
        header.len() < 400,
        "{} bytes echoed in a header",
        header.len()
    );
    assert!(
        raw.message().len() < 400,
        "{} bytes echoed",
        raw.message().len()
    );
    assert!(
        !raw.message().contains(&"t".repeat(100)),
        "the value was echoed"
    );
    // The REST face too.
    let res = app
        .http
        .post(format!(
            "{}/v1/identity-pools/{pool}/identities",
            app.address
        ))
        .header("content-type", "application/json")
        .body(json!({"logins": logins}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().len() < 600);
}

/// The CORS answer to a preflight for `method path` from `origin`.
async fn preflight(app: &TestApp, method: &str, path: &str, origin: &str) -> Option<String> {
    app.http
        .request(reqwest::Method::OPTIONS, format!("{}{path}", app.address))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_reach_the_public_operations_but_admin_routes_only_from_listed_origins() {
    let app = spawn_app_with(Backend::Sqlite, |url| {
        let mut s = settings(url);
        s.admin_cors_origins = vec!["https://admin.example.com".to_owned()];
        s
    })
    .await;
    let anywhere = "https://app.example.net";
    for (method, path) in [
        ("POST", "/"),
        ("POST", "/v1/identity-pools/us-east-1:x/identities"),
        ("POST", "/v1/identities/us-east-1:x/credentials"),
    ] {
        assert_eq!(
            preflight(&app, method, path, anywhere).await.as_deref(),
            Some(anywhere),
            "{method} {path}"
        );
    }
    for (method, path) in [
        ("GET", "/v1/identity-pools"),
        ("GET", "/v1/identity-pools/us-east-1:x/identities"),
        ("DELETE", "/v1/identities/us-east-1:x"),
        ("POST", "/v1/keys/rotate"),
    ] {
        assert_eq!(
            preflight(&app, method, path, anywhere).await,
            None,
            "{method} {path} is open to any origin"
        );
        assert_eq!(
            preflight(&app, method, path, "https://admin.example.com")
                .await
                .as_deref(),
            Some("https://admin.example.com"),
            "{method} {path}"
        );
    }
    // An actual admin call from an unlisted origin gets no CORS grant either.
    let res = app
        .http
        .get(format!("{}/v1/identity-pools", app.address))
        .header("origin", anywhere)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_real_loopback_host_may_be_a_plain_http_issuer() {
    let app = spawn_app(Backend::Sqlite).await;
    for lookalike in [
        "http://127.evil.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://127.0.0.1@evil.example",
    ] {
        let refused = app
            .rest()
            .create_oidc_provider(&idbroker_api::oidc_providers::CreateProvider {
                issuer: lookalike.to_owned(),
                client_ids: vec!["app".to_owned()],
            })
            .await;
        assert_eq!(
            refused.as_ref().err().and_then(|e| e.status()),
            Some(400),
            "{lookalike} was accepted: {refused:?}"
        );
    }
    for loopback in [
        "http://127.0.0.2:4000",
        "http://localhost:4001",
        "http://[::1]:4002",
    ] {
        app.register_oidc(loopback, &["app"]).await;
    }
}

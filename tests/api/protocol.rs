//! The AWS JSON 1.1 wire format itself, with raw requests: error shapes, malformed bodies,
//! unknown operations, size limits, request ids, CORS and health checks.

use idbroker_store::Backend;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

async fn app() -> TestApp {
    spawn_app(Backend::Sqlite).await
}

#[tokio::test]
async fn public_operations_need_no_signature_and_carry_a_request_id() {
    let app = app().await;
    let pool = app.create_pool("p", true).await;
    let raw = app
        .raw("GetId", json!({"IdentityPoolId": pool}).to_string(), &[])
        .await;
    assert_eq!(raw.status, 200, "{}", raw.json);
    assert!(
        raw.json["IdentityId"]
            .as_str()
            .unwrap()
            .starts_with("us-east-1:")
    );
    assert_eq!(
        raw.headers.get("content-type").unwrap(),
        "application/x-amz-json-1.1"
    );
    let id = raw
        .headers
        .get("x-amzn-requestid")
        .unwrap()
        .to_str()
        .unwrap();
    uuid::Uuid::parse_str(id).unwrap();
}

#[tokio::test]
async fn unknown_or_missing_operations_are_refused() {
    let app = app().await;
    app.raw("DropAllTables", "{}", &[])
        .await
        .assert_error("UnknownOperationException");
    let res = app
        .http
        .post(format!("{}/", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.headers().get("x-amzn-errortype").unwrap(),
        "UnknownOperationException:"
    );
}

#[tokio::test]
async fn malformed_bodies_are_clear_400s() {
    let app = app().await;
    app.raw("GetId", "{not json", &[])
        .await
        .assert_error("SerializationException");
    app.raw("GetId", "[1, 2]", &[])
        .await
        .assert_error("SerializationException");
    app.raw("GetId", "\"text\"", &[])
        .await
        .assert_error("SerializationException");
    app.raw("GetId", "{}", &[])
        .await
        .assert_error("ValidationException");
    app.raw("GetId", r#"{"IdentityPoolId": 42}"#, &[])
        .await
        .assert_error("SerializationException");
    let raw = app
        .raw("GetId", r#"{"IdentityPoolId": "no-colon"}"#, &[])
        .await;
    raw.assert_error("ValidationException");
    assert!(
        raw.message().starts_with("1 validation error detected"),
        "{}",
        raw.message()
    );
    let raw = app
        .raw(
            "GetId",
            r#"{"IdentityPoolId": "us-east-1:abc", "AccountId": "12ab"}"#,
            &[],
        )
        .await;
    raw.assert_error("ValidationException");
    let eleven: serde_json::Map<_, _> = (0..11).map(|i| (format!("p{i}"), json!("t"))).collect();
    let raw = app
        .raw(
            "GetId",
            json!({"IdentityPoolId": "us-east-1:abc", "Logins": eleven}).to_string(),
            &[],
        )
        .await;
    raw.assert_error("ValidationException");
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_parsing() {
    let app = app().await;
    let body = format!(
        r#"{{"IdentityPoolId": "us-east-1:abc", "Pad": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let raw = app.raw("GetId", body, &[]).await;
    raw.assert_error("InvalidParameterException");
    assert!(raw.message().contains("larger than"), "{}", raw.message());
}

#[tokio::test]
async fn tokens_in_logins_are_never_echoed_in_errors() {
    let app = app().await;
    let secret = "s".repeat(50_001);
    let raw = app
        .raw(
            "GetId",
            json!({"IdentityPoolId": "us-east-1:abc", "Logins": {"accounts.google.com": secret}})
                .to_string(),
            &[],
        )
        .await;
    raw.assert_error("ValidationException");
    assert!(!raw.message().contains("sss"), "{}", raw.message());
}

#[tokio::test]
async fn the_aws_endpoint_answers_get_with_pointers_and_other_methods_with_405() {
    let app = app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["docs"], "/docs/");
    assert_eq!(body["openapi"], "/openapi.json");
    let res = app
        .http
        .delete(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "GET, POST");
    // `/docs` leads to the API page.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 301);
    assert_eq!(res.headers().get("location").unwrap(), "/docs/");
}

#[tokio::test]
async fn browsers_may_call_the_public_operations() {
    let app = app().await;
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/", app.address))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-amz-target,x-amz-user-agent,amz-sdk-invocation-id,amz-sdk-request",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let allowed = res
        .headers()
        .get("access-control-allow-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "content-type",
        "x-amz-target",
        "x-amz-user-agent",
        "amz-sdk-invocation-id",
    ] {
        assert!(allowed.contains(header), "{header} not in {allowed}");
    }

    let pool = app.create_pool("p", true).await;
    let res = app
        .http
        .post(format!("{}/", app.address))
        .header("origin", "https://app.example.com")
        .header("x-amz-target", "AWSCognitoIdentityService.GetId")
        .body(json!({"IdentityPoolId": pool}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let exposed = res
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["x-amzn-requestid", "x-amzn-errortype"] {
        assert!(exposed.contains(header), "{header} not in {exposed}");
    }
}

#[tokio::test]
async fn health_checks_answer() {
    let app = app().await;
    for path in ["/healthz", "/readyz"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

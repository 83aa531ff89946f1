//! SigV4 on the admin operations: real SDK signatures pass; missing, malformed, wrong-key,
//! tampered and stale signatures are refused with AWS's error names and change nothing.

use std::time::{Duration, SystemTime};

use idbroker_store::Backend;
use serde_json::json;

use crate::helpers::{
    ACCESS_KEY_ID, REGION, Raw, SECRET_ACCESS_KEY, TestApp, code, sdk_client, sign_headers,
    spawn_app,
};

const CREATE: &str = r#"{"IdentityPoolName": "sneaky", "AllowUnauthenticatedIdentities": true}"#;

async fn app() -> TestApp {
    spawn_app(Backend::Sqlite).await
}

/// The admin's key and secret.
const ADMIN: (&str, &str) = (ACCESS_KEY_ID, SECRET_ACCESS_KEY);

/// `CREATE` signed with `key` at `at`, as an SDK would sign it.
async fn create_signed(app: &TestApp, key: (&str, &str), at: SystemTime) -> Raw {
    app.signed("CreateIdentityPool", CREATE, key, at).await
}

/// SigV4 headers with the admin's key over `CREATE` as `operation`, signed now in `region`.
fn admin_headers(app: &TestApp, operation: &str, region: &str) -> Vec<(&'static str, String)> {
    sign_headers(
        &app.address,
        operation,
        CREATE,
        ADMIN,
        SystemTime::now(),
        region,
    )
}

/// Sends `CREATE` with these headers and asserts the AWS error `kind`.
async fn assert_create_refused(app: &TestApp, headers: &[(&str, String)], kind: &str) {
    app.raw("CreateIdentityPool", CREATE, headers)
        .await
        .assert_error(kind);
}

async fn assert_nothing_created(app: &TestApp) {
    assert_eq!(
        app.pool_count().await,
        0,
        "a refused call must change nothing"
    );
}

#[tokio::test]
async fn a_correctly_signed_raw_request_is_accepted() {
    let app = app().await;
    let raw = create_signed(&app, ADMIN, SystemTime::now()).await;
    assert_eq!(raw.status, 200, "{}", raw.json);
    assert_eq!(app.pool_count().await, 1);
}

#[tokio::test]
async fn an_unsigned_admin_call_is_refused() {
    let app = app().await;
    assert_create_refused(&app, &[], "MissingAuthenticationTokenException").await;
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature() {
    let app = app().await;
    let raw = create_signed(
        &app,
        (ACCESS_KEY_ID, "not-the-secret-at-all"),
        SystemTime::now(),
    )
    .await;
    raw.assert_error("InvalidSignatureException");
    let sdk = sdk_client(&app.address, ACCESS_KEY_ID, "not-the-secret-at-all");
    let err = crate::helpers::create_pool_on(&sdk, "x", true)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn an_unknown_access_key_is_an_unrecognized_client() {
    let app = app().await;
    let sdk = sdk_client(&app.address, "AKIDSOMEONEELSE00", SECRET_ACCESS_KEY);
    let err = sdk
        .list_identity_pools()
        .max_results(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnrecognizedClientException");
    let raw = create_signed(
        &app,
        ("AKIDSOMEONEELSE00", SECRET_ACCESS_KEY),
        SystemTime::now(),
    )
    .await;
    raw.assert_error("UnrecognizedClientException");
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn a_tampered_body_or_signature_is_refused() {
    let app = app().await;
    let headers = admin_headers(&app, "CreateIdentityPool", REGION);
    let tampered_body = CREATE.replace("sneaky", "evil");
    app.raw("CreateIdentityPool", tampered_body, &headers)
        .await
        .assert_error("InvalidSignatureException");

    let flipped: Vec<(&str, String)> = headers
        .iter()
        .map(|(name, value)| {
            let value = if *name == "authorization" {
                let last = value.chars().last().unwrap();
                format!(
                    "{}{}",
                    &value[..value.len() - 1],
                    if last == '0' { '1' } else { '0' }
                )
            } else {
                value.clone()
            };
            (*name, value)
        })
        .collect();
    assert_create_refused(&app, &flipped, "InvalidSignatureException").await;

    // Signed for another operation, replayed against this one.
    let other = admin_headers(&app, "ListIdentityPools", REGION);
    assert_create_refused(&app, &other, "InvalidSignatureException").await;
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn stale_and_future_signatures_are_refused() {
    let app = app().await;
    let stale = SystemTime::now() - Duration::from_secs(16 * 60);
    let raw = create_signed(&app, ADMIN, stale).await;
    raw.assert_error("InvalidSignatureException");
    assert!(
        raw.message().starts_with("Signature expired"),
        "{}",
        raw.message()
    );

    let future = SystemTime::now() + Duration::from_secs(16 * 60);
    let raw = create_signed(&app, ADMIN, future).await;
    raw.assert_error("InvalidSignatureException");

    let slightly_old = SystemTime::now() - Duration::from_secs(5 * 60);
    let raw = app
        .signed(
            "ListIdentityPools",
            r#"{"MaxResults": 5}"#,
            (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
            slightly_old,
        )
        .await;
    assert_eq!(raw.status, 200, "within the 15-minute window: {}", raw.json);
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn a_signature_for_another_region_is_refused() {
    let app = app().await;
    let headers = admin_headers(&app, "CreateIdentityPool", "eu-west-1");
    assert_create_refused(&app, &headers, "InvalidSignatureException").await;
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn malformed_authorization_headers_are_incomplete_signatures() {
    let app = app().await;
    for value in [
        "AWS4-HMAC-SHA256 garbage",
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=AKIDTESTADMIN0001/20260101/us-east-1/cognito-identity/aws4_request, SignedHeaders=host",
    ] {
        let raw = app
            .raw(
                "CreateIdentityPool",
                CREATE,
                &[("authorization", value.to_owned())],
            )
            .await;
        raw.assert_error("IncompleteSignatureException");
    }
    // A well-formed header without X-Amz-Date.
    let value = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/cognito-identity/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
    );
    assert_create_refused(
        &app,
        &[("authorization", value)],
        "IncompleteSignatureException",
    )
    .await;
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn every_admin_operation_requires_a_signature() {
    let app = app().await;
    let pool = app.create_pool("p", true).await;
    for op in [
        "CreateIdentityPool",
        "DeleteIdentities",
        "DeleteIdentityPool",
        "DescribeIdentity",
        "DescribeIdentityPool",
        "GetIdentityPoolRoles",
        "GetOpenIdTokenForDeveloperIdentity",
        "GetPrincipalTagAttributeMap",
        "ListIdentities",
        "ListIdentityPools",
        "ListTagsForResource",
        "LookupDeveloperIdentity",
        "MergeDeveloperIdentities",
        "SetIdentityPoolRoles",
        "SetPrincipalTagAttributeMap",
        "TagResource",
        "UnlinkDeveloperIdentity",
        "UntagResource",
        "UpdateIdentityPool",
    ] {
        let raw = app
            .raw(op, json!({"IdentityPoolId": pool}).to_string(), &[])
            .await;
        assert_eq!(
            raw.error_type(),
            "MissingAuthenticationTokenException",
            "{op}: {}",
            raw.json
        );
    }
    app.describe_pool(&pool)
        .await
        .expect("the pool is untouched");
}

//! The REST registry of OpenID Connect providers, behind the admin token.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, code, message, on_both_stores};

on_both_stores!(
    providers_are_registered_listed_updated_and_deleted,
    the_registry_needs_the_admin_token,
    bad_issuers_and_duplicates_are_refused,
    pools_may_only_name_registered_providers_and_keep_them_in_use,
);

async fn providers_are_registered_listed_updated_and_deleted(app: TestApp) {
    let res = app
        .http
        .post(format!("{}/v1/oidc-providers", app.address))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(
            &json!({"issuer": "https://login.example.com/realms/x", "client_ids": ["web", "ios"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/v1/oidc-providers/login.example.com/realms/x"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["arn"],
        "arn:aws:iam::123456789012:oidc-provider/login.example.com/realms/x"
    );
    assert_eq!(body["issuer"], "https://login.example.com/realms/x");
    assert_eq!(body["client_ids"], json!(["web", "ios"]));

    let (status, listed) = app.admin(Method::GET, "/v1/oidc-providers", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["oidc_providers"].as_array().unwrap().len(), 1);

    let (status, got) = app
        .admin(
            Method::GET,
            "/v1/oidc-providers/login.example.com/realms/x",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["key"], "login.example.com/realms/x");

    let (status, updated) = app
        .admin(
            Method::PATCH,
            "/v1/oidc-providers/login.example.com/realms/x",
            Some(json!({"client_ids": ["android"]})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_ids"], json!(["android"]));

    let (status, _) = app
        .admin(
            Method::DELETE,
            "/v1/oidc-providers/login.example.com/realms/x",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = app
        .admin(
            Method::GET,
            "/v1/oidc-providers/login.example.com/realms/x",
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(problem["title"], "ResourceNotFoundException");
}

async fn the_registry_needs_the_admin_token(app: TestApp) {
    for auth in [
        None,
        Some("Bearer wrong-token-wrong-token"),
        Some("Basic YWRtaW46YWRtaW4="),
    ] {
        let mut req = app
            .http
            .post(format!("{}/v1/oidc-providers", app.address))
            .json(&json!({"issuer": "https://login.example.com", "client_ids": ["a"]}));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert!(
            res.headers()
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
    }
    let (_, listed) = app.admin(Method::GET, "/v1/oidc-providers", None).await;
    assert!(
        listed["oidc_providers"].as_array().unwrap().is_empty(),
        "refused calls registered nothing"
    );
}

async fn bad_issuers_and_duplicates_are_refused(app: TestApp) {
    for issuer in [
        "http://login.example.com",
        "login.example.com",
        "https://x.com/?a=1",
        "https://x.com/",
    ] {
        let (status, problem) = app
            .admin(
                Method::POST,
                "/v1/oidc-providers",
                Some(json!({"issuer": issuer, "client_ids": ["a"]})),
            )
            .await;
        assert_eq!(status, 400, "{issuer}: {problem}");
        assert_eq!(problem["title"], "InvalidParameterException");
    }
    let (status, _) = app
        .admin(
            Method::POST,
            "/v1/oidc-providers",
            Some(json!({"issuer": "https://x.com", "client_ids": []})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .admin(
            Method::POST,
            "/v1/oidc-providers",
            Some(json!({"issuer": 5})),
        )
        .await;
    assert_eq!(status, 400);
    app.register_oidc("http://127.0.0.1:4000", &["a"]).await;
    let (status, problem) = app
        .admin(
            Method::POST,
            "/v1/oidc-providers",
            Some(json!({"issuer": "http://127.0.0.1:4000", "client_ids": ["b"]})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
}

async fn pools_may_only_name_registered_providers_and_keep_them_in_use(app: TestApp) {
    let err = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(false)
        .open_id_connect_provider_arns("arn:aws:iam::123456789012:oidc-provider/nobody.example.com")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    assert!(
        message(&err).contains("not a registered OpenID Connect provider"),
        "{}",
        message(&err)
    );
    assert_eq!(app.pool_count().await, 0);

    let arn = app.register_oidc("https://login.example.com", &["a"]).await;
    let pool = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(false)
        .open_id_connect_provider_arns(&arn)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let (status, problem) = app
        .admin(Method::DELETE, "/v1/oidc-providers/login.example.com", None)
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["title"], "ResourceConflictException");

    app.sdk
        .delete_identity_pool()
        .identity_pool_id(pool)
        .send()
        .await
        .unwrap();
    let (status, _) = app
        .admin(Method::DELETE, "/v1/oidc-providers/login.example.com", None)
        .await;
    assert_eq!(status, 204);
}

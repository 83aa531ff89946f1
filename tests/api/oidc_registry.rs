//! The REST registry of OpenID Connect providers, behind the admin token.

use idbroker_api::client::ClientError;
use idbroker_api::oidc_providers::{CreateProvider, UpdateProvider};
use serde_json::json;

use crate::helpers::{TestApp, code, message, on_both_stores};

fn provider(issuer: &str, client_ids: &[&str]) -> CreateProvider {
    CreateProvider {
        issuer: issuer.to_owned(),
        client_ids: client_ids.iter().map(|c| (*c).to_owned()).collect(),
    }
}

/// The status and kind of a refused call.
fn refusal(err: ClientError) -> (u16, String) {
    (
        err.status().unwrap_or_default(),
        err.kind().unwrap_or_default().to_owned(),
    )
}

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
    let body: idbroker_api::oidc_providers::ProviderBody = res.json().await.unwrap();
    assert_eq!(
        body.arn,
        "arn:aws:iam::123456789012:oidc-provider/login.example.com/realms/x"
    );
    assert_eq!(body.issuer, "https://login.example.com/realms/x");
    assert_eq!(body.client_ids, vec!["web", "ios"]);

    let rest = app.rest();
    let listed = rest.list_oidc_providers().await.unwrap();
    assert_eq!(listed.oidc_providers.len(), 1);

    let got = rest
        .get_oidc_provider("login.example.com/realms/x")
        .await
        .unwrap();
    assert_eq!(got.key, "login.example.com/realms/x");

    let updated = rest
        .update_oidc_provider(
            "login.example.com/realms/x",
            &UpdateProvider {
                client_ids: vec!["android".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.client_ids, vec!["android"]);

    rest.delete_oidc_provider("login.example.com/realms/x")
        .await
        .unwrap();
    let err = rest
        .get_oidc_provider("login.example.com/realms/x")
        .await
        .unwrap_err();
    assert_eq!(refusal(err), (404, "ResourceNotFoundException".into()));
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
    let listed = app.rest().list_oidc_providers().await.unwrap();
    assert!(
        listed.oidc_providers.is_empty(),
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
        let err = app
            .rest()
            .create_oidc_provider(&provider(issuer, &["a"]))
            .await
            .unwrap_err();
        assert_eq!(
            refusal(err),
            (400, "InvalidParameterException".into()),
            "{issuer}"
        );
    }
    let err = app
        .rest()
        .create_oidc_provider(&provider("https://x.com", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    // A malformed body: the typed client cannot send one, so a raw call.
    let (status, _) = app
        .admin(
            reqwest::Method::POST,
            "/v1/oidc-providers",
            Some(json!({"issuer": 5})),
        )
        .await;
    assert_eq!(status, 400);
    app.register_oidc("http://127.0.0.1:4000", &["a"]).await;
    let err = app
        .rest()
        .create_oidc_provider(&provider("http://127.0.0.1:4000", &["b"]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
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
    let err = app
        .rest()
        .delete_oidc_provider("login.example.com")
        .await
        .unwrap_err();
    assert_eq!(refusal(err), (409, "ResourceConflictException".into()));

    app.sdk
        .delete_identity_pool()
        .identity_pool_id(pool)
        .send()
        .await
        .unwrap();
    app.rest()
        .delete_oidc_provider("login.example.com")
        .await
        .unwrap();
}

//! The REST face: pools, identities and the public operations over `/v1`, problem+json
//! errors, the admin token, and the OpenAPI description.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, on_both_stores};

on_both_stores!(
    pools_are_managed_over_rest,
    guests_get_ids_and_tokens_over_rest,
    rest_errors_are_problems,
);

async fn pools_are_managed_over_rest(app: TestApp) {
    let res = app
        .http
        .post(format!("{}/v1/identity-pools", app.address))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&json!({"IdentityPoolName": "rest", "AllowUnauthenticatedIdentities": true, "IdentityPoolTags": {"team": "web"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let pool: serde_json::Value = res.json().await.unwrap();
    let id = pool["IdentityPoolId"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/identity-pools/{id}"));

    let (status, got) = app.admin(Method::GET, &location, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["IdentityPoolName"], "rest");
    // The same pool through the AWS face: one implementation behind both.
    let described = app
        .sdk
        .describe_identity_pool()
        .identity_pool_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described
            .identity_pool_tags()
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("web")
    );

    let (status, replaced) = app
        .admin(
            Method::PUT,
            &location,
            Some(json!({"IdentityPoolName": "renamed", "AllowUnauthenticatedIdentities": false})),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        replaced["IdentityPoolTags"],
        json!({"team": "web"}),
        "omitted tags are kept"
    );

    let (status, roles) = app
        .admin(
            Method::PUT,
            &format!("{location}/roles"),
            Some(json!({"Roles": {"authenticated": "arn:aws:iam::123456789012:role/a"}})),
        )
        .await;
    assert_eq!(status, 200, "{roles}");
    assert_eq!(
        roles["Roles"]["authenticated"],
        "arn:aws:iam::123456789012:role/a"
    );

    let (status, tags) = app
        .admin(
            Method::POST,
            &format!("{location}/tags"),
            Some(json!({"tags": {"env": "dev"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tags["tags"], json!({"team": "web", "env": "dev"}));
    let (status, _) = app
        .admin(Method::DELETE, &format!("{location}/tags/team"), None)
        .await;
    assert_eq!(status, 204);

    let (status, page) = app
        .admin(Method::GET, "/v1/identity-pools?limit=1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["identity_pools"].as_array().unwrap().len(), 1);

    let (status, _) = app.admin(Method::DELETE, &location, None).await;
    assert_eq!(status, 204);

    // Every change is in the audit: who, what, before and after.
    let (status, audit) = app
        .admin(Method::GET, &format!("/v1/audit?resource={id}"), None)
        .await;
    assert_eq!(status, 200, "{audit}");
    let changes = audit["changes"].as_array().unwrap();
    let actions: Vec<&str> = changes
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "DeleteIdentityPool",
            "UntagResource",
            "TagResource",
            "SetIdentityPoolRoles",
            "UpdateIdentityPool",
            "CreateIdentityPool"
        ],
        "newest first"
    );
    let update = &changes[4];
    assert_eq!(update["before"]["IdentityPoolName"], "rest");
    assert_eq!(update["after"]["IdentityPoolName"], "renamed");
    assert!(
        update["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin-token from 127.0.0.1"),
        "{update}"
    );
    assert!(changes[0]["after"].is_null() && changes[0]["before"]["IdentityPoolId"] == id.as_str());
    // Through the AWS face, the actor is the access key that signed the call.
    let pool = app.create_pool("audited", true).await;
    let (_, audit) = app
        .admin(Method::GET, &format!("/v1/audit?resource={pool}"), None)
        .await;
    assert!(
        audit["changes"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with(&format!("aws:{}", crate::helpers::ACCESS_KEY_ID))
    );

    let (status, problem) = app.admin(Method::GET, &location, None).await;
    assert_eq!(status, 404);
    assert_eq!(problem["title"], "ResourceNotFoundException");
}

async fn guests_get_ids_and_tokens_over_rest(app: TestApp) {
    let pool = app.create_pool("public", true).await;
    let res = app
        .http
        .post(format!(
            "{}/v1/identity-pools/{pool}/identities",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "public routes need no token");
    let id = res.json::<serde_json::Value>().await.unwrap()["identity_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .http
        .post(format!("{}/v1/identities/{id}/token", app.address))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["identity_id"], id.as_str());
    assert_eq!(body["token"].as_str().unwrap().split('.').count(), 3);

    let (status, listed) = app
        .admin(
            Method::GET,
            &format!("/v1/identity-pools/{pool}/identities"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["identities"][0]["identity_id"], id.as_str());
    let (status, _) = app
        .admin(Method::DELETE, &format!("/v1/identities/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .admin(Method::GET, &format!("/v1/identities/{id}"), None)
        .await;
    assert_eq!(status, 404);
}

async fn rest_errors_are_problems(app: TestApp) {
    let res = app
        .http
        .get(format!("{}/v1/identity-pools", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (status, problem) = app
        .admin(Method::GET, "/v1/identity-pools?limit=abc", None)
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["title"], "InvalidParameterException");
    let (status, _) = app
        .admin(Method::GET, "/v1/identity-pools?limit=61", None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .admin(
            Method::POST,
            "/v1/identity-pools",
            Some(json!({"IdentityPoolName": "bad/name", "AllowUnauthenticatedIdentities": true})),
        )
        .await;
    assert_eq!(status, 400);
    let res = app
        .http
        .patch(format!("{}/v1/identity-pools", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "GET, POST");
    let doc: serde_json::Value = app
        .http
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/v1/identity-pools"].is_object());
    let page = app
        .http
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        200,
        "the human page is served from the binary"
    );
}

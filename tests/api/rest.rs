//! The REST face: pools, identities and the public operations over `/v1`, problem+json
//! errors, unknown members refused, the admin token, and the OpenAPI description.

use std::collections::BTreeMap;

use idbroker_api::audit::AuditQuery;
use idbroker_api::client::ClientError;
use idbroker_api::identities::{IdentityPaging, LoginsBody};
use idbroker_api::pools::{Paging, PoolRequest, RolesBody, TagsBody};
use serde_json::json;

use crate::helpers::{TestApp, on_both_stores};

on_both_stores!(
    pools_are_managed_over_rest,
    guests_get_ids_and_tokens_over_rest,
    rest_errors_are_problems,
    an_unknown_member_is_refused_naming_the_nearest_known_one,
    input_a_route_does_not_take_is_refused,
);

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The problem of a refused call: its status, kind and detail.
fn problem(err: ClientError) -> (u16, String, String) {
    match err {
        ClientError::Status {
            status,
            problem: Some(p),
            ..
        } => (status, p.title, p.detail),
        other => panic!("not a problem answer: {other}"),
    }
}

/// GetId over REST without the typed client: no body at all, or one the client cannot send.
async fn get_id_raw(
    app: &TestApp,
    pool: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let request = app.http.post(format!(
        "{}/v1/identity-pools/{pool}/identities",
        app.address
    ));
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

async fn pools_are_managed_over_rest(app: TestApp) {
    let rest = app.rest();
    // The Location header is not part of the typed answer: checked on a raw call.
    let res = app
        .http
        .post(format!("{}/v1/identity-pools", app.address))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&PoolRequest {
            identity_pool_name: "rest".into(),
            allow_unauthenticated_identities: true,
            identity_pool_tags: Some(pairs(&[("team", "web")])),
            ..PoolRequest::default()
        })
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
    let pool: idbroker_api::pools::PoolResponse = res.json().await.unwrap();
    let id = pool.identity_pool_id.clone();
    assert_eq!(location, format!("/v1/identity-pools/{id}"));

    let got = rest.get_pool(&id).await.unwrap();
    assert_eq!(got.identity_pool_name, "rest");
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

    let replaced = rest
        .replace_pool(
            &id,
            &PoolRequest {
                identity_pool_name: "renamed".into(),
                ..PoolRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        replaced.identity_pool_tags,
        pairs(&[("team", "web")]),
        "omitted tags are kept"
    );

    let roles = rest
        .set_roles(
            &id,
            &RolesBody {
                roles: pairs(&[("authenticated", "arn:aws:iam::123456789012:role/a")]),
                ..RolesBody::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        roles.roles["authenticated"],
        "arn:aws:iam::123456789012:role/a"
    );
    assert_eq!(rest.get_roles(&id).await.unwrap(), roles);

    let tags = rest
        .add_tags(
            &id,
            &TagsBody {
                tags: pairs(&[("env", "dev")]),
            },
        )
        .await
        .unwrap();
    assert_eq!(tags.tags, pairs(&[("team", "web"), ("env", "dev")]));
    rest.remove_tag(&id, "team").await.unwrap();
    assert_eq!(
        rest.get_tags(&id).await.unwrap().tags,
        pairs(&[("env", "dev")])
    );

    let page = rest
        .list_pools(&Paging {
            limit: Some(1),
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(page.identity_pools.len(), 1);

    rest.delete_pool(&id).await.unwrap();

    // Every change is in the audit: who, what, before and after.
    let audit = rest
        .audit(&AuditQuery {
            resource: Some(id.clone()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.changes.iter().map(|c| c.action.as_str()).collect();
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
    let update = &audit.changes[4];
    // The audit keeps the stored (Cognito) shape of the pool.
    assert_eq!(update.before.as_ref().unwrap()["IdentityPoolName"], "rest");
    assert_eq!(
        update.after.as_ref().unwrap()["IdentityPoolName"],
        "renamed"
    );
    assert!(
        update.actor.starts_with("admin-token from 127.0.0.1"),
        "{update:?}"
    );
    assert!(
        audit.changes[0].after.is_none()
            && audit.changes[0].before.as_ref().unwrap()["IdentityPoolId"] == id.as_str()
    );
    // Filtered by action, actor and time too (each an index lookup); a time that is not RFC
    // 3339 is the caller's error.
    let first = audit.changes.last().unwrap();
    let filtered = rest
        .audit(&AuditQuery {
            action: Some("UpdateIdentityPool".into()),
            actor: Some(first.actor.clone()),
            since: Some(first.at.clone()),
            until: Some("2100-01-01T00:00:00Z".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(
        filtered
            .changes
            .iter()
            .all(|c| c.action == "UpdateIdentityPool" && c.actor == first.actor),
        "{filtered:?}"
    );
    assert!(filtered.changes.iter().any(|c| c.resource == id));
    let (status, body) = app
        .admin(reqwest::Method::GET, "/v1/audit?since=yesterday", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("RFC 3339"), "{body}");
    // Through the AWS face, the actor is the access key that signed the call.
    let pool = app.create_pool("audited", true).await;
    let audit = rest
        .audit(&AuditQuery {
            resource: Some(pool),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(
        audit.changes[0]
            .actor
            .starts_with(&format!("aws:{}", crate::helpers::ACCESS_KEY_ID))
    );

    let (status, kind, _) = problem(rest.get_pool(&id).await.unwrap_err());
    assert_eq!(status, 404);
    assert_eq!(kind, "ResourceNotFoundException");
}

async fn guests_get_ids_and_tokens_over_rest(app: TestApp) {
    let rest = app.rest();
    let pool = app.create_pool("public", true).await;
    // Public routes need no token; an empty body means no logins.
    let res = get_id_raw(&app, &pool, None).await;
    assert_eq!(res.status(), 200, "public routes need no token");
    let id = res
        .json::<idbroker_api::identities::IdentityIdBody>()
        .await
        .unwrap()
        .identity_id;
    let body = rest
        .public()
        .token(&id, &LoginsBody::default())
        .await
        .unwrap();
    assert_eq!(body.identity_id, id);
    assert_eq!(body.token.split('.').count(), 3);

    let listed = rest
        .list_identities(&pool, &IdentityPaging::default())
        .await
        .unwrap();
    assert_eq!(listed.identities[0].identity_id, id);
    rest.delete_identity(&id).await.unwrap();
    let (status, _, _) = problem(rest.get_identity(&id).await.unwrap_err());
    assert_eq!(status, 404);
}

async fn rest_errors_are_problems(app: TestApp) {
    let res = app.get("/v1/identity-pools").await;
    assert_eq!(res.status(), 401);
    let (status, problem_body) = app
        .admin(reqwest::Method::GET, "/v1/identity-pools?limit=abc", None)
        .await;
    assert_eq!(status, 400, "{problem_body}");
    assert_eq!(problem_body["title"], "InvalidParameterException");
    let (status, _, _) = problem(
        app.rest()
            .list_pools(&Paging {
                limit: Some(61),
                cursor: None,
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    let (status, _, _) = problem(
        app.rest()
            .create_pool(&PoolRequest {
                identity_pool_name: "bad/name".into(),
                allow_unauthenticated_identities: true,
                ..PoolRequest::default()
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    let res = app
        .http
        .patch(format!("{}/v1/identity-pools", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "GET, POST");
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/v1/identity-pools"].is_object());
    let page = app.get("/docs/").await;
    assert_eq!(
        page.status(),
        200,
        "the human page is served from the binary"
    );
}

/// A new user's mistakes, as the issue found them: a PascalCase member (the Cognito shape, or
/// the README of the day) was silently ignored. Now it is a 400 naming the member and the
/// nearest known one, and nothing is done.
async fn an_unknown_member_is_refused_naming_the_nearest_known_one(app: TestApp) {
    let rest = app.rest();
    let pool = app.create_pool("strict", true).await;
    // A junk token under `Logins` used to get a brand-new guest identity.
    let res = get_id_raw(
        &app,
        &pool,
        Some(json!({"Logins": {"accounts.google.com": "junk"}})),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: idbroker_api::ProblemBody = res.json().await.unwrap();
    assert_eq!(body.title, "InvalidParameterException");
    assert!(
        body.detail
            .contains("unknown field `Logins`; did you mean `logins`?"),
        "{}",
        body.detail
    );
    let identities = rest
        .list_identities(&pool, &IdentityPaging::default())
        .await
        .unwrap();
    assert!(identities.identities.is_empty(), "no identity created");

    // A pool naming its providers in the wrong case used to get no provider and no error.
    let before = rest.list_pools(&Paging::default()).await.unwrap();
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/v1/identity-pools",
            Some(json!({
                "identity_pool_name": "typo",
                "allow_unauthenticated_identities": false,
                "OpenIdConnectProviderArns": ["arn:aws:iam::123456789012:oidc-provider/login.example.com"],
            })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains(
            "unknown field `OpenIdConnectProviderArns`; did you mean `open_id_connect_provider_arns`?"
        ),
        "{body}"
    );
    let after = rest.list_pools(&Paging::default()).await.unwrap();
    assert_eq!(after, before, "no pool created");

    // A caller's member name is quoted back bounded, not whole.
    let long = "x".repeat(10_000);
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/identity-pools/{pool}/identities"),
            Some(json!({ long: {} })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().len() < 300, "{body}");
}

/// A positional array for an object, a query string on a route without query parameters and
/// a body on a route without one are refused, and change nothing.
async fn input_a_route_does_not_take_is_refused(app: TestApp) {
    let rest = app.rest();
    let pool = app.create_pool("strict-input", true).await;
    let pools_before = rest.list_pools(&Paging::default()).await.unwrap();
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/v1/identity-pools",
            Some(json!(["array-pool", true])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("expected a JSON object"),
        "{body}"
    );
    assert_eq!(
        rest.list_pools(&Paging::default()).await.unwrap(),
        pools_before
    );

    let keys_before = rest.list_keys().await.unwrap();
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/v1/keys/rotate",
            Some(json!({"force": true, "kid": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"], "This route takes no request body.");
    assert_eq!(rest.list_keys().await.unwrap(), keys_before, "no rotation");

    for path in [
        "/v1/keys?all=1".to_owned(),
        "/v1/oidc-providers?limit=1".to_owned(),
        format!("/v1/identity-pools/{pool}?verbose=1"),
    ] {
        let (status, body) = app.admin(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["detail"], "This route takes no query parameters.");
    }
    // GetId's body is optional, as the document says: absent or `null` is a guest.
    for body in [None, Some(serde_json::Value::Null)] {
        let res = get_id_raw(&app, &pool, body.clone()).await;
        assert_eq!(res.status(), 200, "{body:?}");
    }
    // A route that takes a query refuses an unknown parameter as it does a body member.
    let (status, body) = app
        .admin(reqwest::Method::GET, "/v1/identity-pools?limt=1", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["detail"],
        "Invalid query string: unknown field `limt`; did you mean `limit`?"
    );
    // A route that takes a query still takes it.
    let (status, body) = app
        .admin(reqwest::Method::GET, "/v1/identity-pools?limit=1", None)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The REST contract as served, against the committed `docs/openapi.json`: a change to any
/// route, body or member is a visible diff in review. `IDBROKER_UPDATE_SNAPSHOTS=1` rewrites
/// the file after an intended change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_committed_snapshot() {
    let app = crate::helpers::spawn_app(idbroker_store::Backend::Sqlite).await;
    let served: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let served = serde_json::to_string_pretty(&served).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    if std::env::var_os("IDBROKER_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &served).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != served {
        let diff = similar::TextDiff::from_lines(&committed, &served)
            .unified_diff()
            .context_radius(3)
            .header("docs/openapi.json (committed)", "/openapi.json (served)")
            .to_string();
        panic!(
            "the served OpenAPI document differs from docs/openapi.json; if the change is intended, \
             rerun with IDBROKER_UPDATE_SNAPSHOTS=1 and commit the file.\n{diff}"
        );
    }
}

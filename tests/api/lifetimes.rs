//! Per-pool lifetimes, idbroker's extension of the REST face: set and described there, checked
//! against their bounds (STS's for credentials, the signing keys' retention for tokens), left
//! alone by the AWS face, and used: STS receives the pool's `DurationSeconds` and the tokens'
//! `exp` follows the pool's lifetimes.

use idbroker_api::pools::{PoolRequest, PoolResponse};
use idbroker_store::Backend;
use serde_json::{Value, json};

use crate::helpers::{free_port, settings_on, spawn_app, spawn_app_with};
use crate::sts_front::StsFront;
use crate::verify::verify;

const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST: &str = "arn:aws:iam::123456789012:role/guest";
const DEV: &str = "login.myapp";

crate::helpers::on_both_backends!(
    lifetimes_are_set_checked_and_kept_over_rest,
    a_pools_lifetimes_reach_sts_and_its_tokens,
);

fn timed_pool(name: &str) -> PoolRequest {
    PoolRequest {
        identity_pool_name: name.into(),
        allow_unauthenticated_identities: true,
        developer_provider_name: Some(DEV.into()),
        credential_duration_seconds: Some(900),
        token_lifetime_seconds: Some(120),
        max_token_lifetime_seconds: Some(1800),
        ..PoolRequest::default()
    }
}

fn lifetimes(pool: &PoolResponse) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        pool.credential_duration_seconds,
        pool.token_lifetime_seconds,
        pool.max_token_lifetime_seconds,
    )
}

async fn lifetimes_are_set_checked_and_kept_over_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let rest = app.rest();
    let created = rest.create_pool(&timed_pool("timed")).await.unwrap();
    let set = (Some(900), Some(120), Some(1800));
    assert_eq!(lifetimes(&created), set);
    let id = created.identity_pool_id.clone();
    assert_eq!(lifetimes(&rest.get_pool(&id).await.unwrap()), set);

    // Each bound, on create and on replace: a 400 naming the field and the bound.
    let refused = [
        (
            json!({"credential_duration_seconds": 899}),
            "credential_duration_seconds",
            "between 900 and 43200",
        ),
        (
            json!({"credential_duration_seconds": 43_201}),
            "credential_duration_seconds",
            "between 900 and 43200",
        ),
        (
            json!({"token_lifetime_seconds": 0}),
            "token_lifetime_seconds",
            "between 1 and 86400",
        ),
        (
            json!({"token_lifetime_seconds": 86_401}),
            "token_lifetime_seconds",
            "between 1 and 86400",
        ),
        (
            json!({"max_token_lifetime_seconds": 0}),
            "max_token_lifetime_seconds",
            "between 1 and 86400",
        ),
        (
            json!({"max_token_lifetime_seconds": 86_401}),
            "max_token_lifetime_seconds",
            "between 1 and 86400",
        ),
        (
            json!({"credential_reuse_seconds": -1}),
            "credential_reuse_seconds",
            "between 0 and 900",
        ),
        (
            json!({"credential_reuse_seconds": 901}),
            "credential_reuse_seconds",
            "between 0 and 900",
        ),
        // The extra token-exchange audiences share the path (and the 400 naming the member).
        (
            json!({"exchange_audiences": (0..11).map(|i| format!("api://{i}")).collect::<Vec<_>>()}),
            "exchange_audiences",
            "at most 10 entries",
        ),
        (
            json!({"exchange_audiences": ["api://a", "api://a"]}),
            "exchange_audiences",
            "twice",
        ),
        (
            json!({"exchange_audiences": ["has space"]}),
            "exchange_audiences[0]",
            "printable ASCII",
        ),
        (
            json!({"exchange_audiences": [""]}),
            "exchange_audiences[0]",
            "1 to 256",
        ),
        (
            json!({"exchange_audiences": ["a".repeat(257)]}),
            "exchange_audiences[0]",
            "1 to 256",
        ),
        (
            json!({"exchange_audiences": ["us-east-1:00000000-0000-4000-8000-000000000001"]}),
            "exchange_audiences[0]",
            "identity pool id",
        ),
        (
            json!({"token_lifetime_seconds": 601, "max_token_lifetime_seconds": 600}),
            "max_token_lifetime_seconds",
            "(600)",
        ),
    ];
    for (lifetime, field, bound) in refused {
        let mut body =
            json!({"identity_pool_name": "bad", "allow_unauthenticated_identities": true});
        body.as_object_mut()
            .unwrap()
            .extend(lifetime.as_object().unwrap().clone());
        for (method, path) in [
            (reqwest::Method::POST, "/v1/identity-pools".to_owned()),
            (reqwest::Method::PUT, format!("/v1/identity-pools/{id}")),
        ] {
            let (status, problem) = app.admin(method.clone(), &path, Some(body.clone())).await;
            assert_eq!(status, 400, "{method} {body}: {problem}");
            assert_eq!(problem["title"], "InvalidParameterException", "{problem}");
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains(field) && detail.contains(bound),
                "{body}: {detail}"
            );
        }
    }
    let unchanged = rest.get_pool(&id).await.unwrap();
    assert_eq!(unchanged.identity_pool_name, "timed");
    assert_eq!(
        lifetimes(&unchanged),
        set,
        "a refused replace changes nothing"
    );
    // The key policy's bound itself is accepted.
    let mut longest = timed_pool("longest");
    longest.token_lifetime_seconds = Some(86_400);
    longest.max_token_lifetime_seconds = Some(86_400);
    longest.credential_duration_seconds = Some(43_200);
    longest.credential_reuse_seconds = Some(900);
    longest.exchange_audiences = (0..10).map(|i| format!("api://{i}")).collect();
    longest.exchange_audiences[0] = "a".repeat(256);
    rest.create_pool(&longest).await.unwrap();
    // A reuse window of 0 is accepted, and means off.
    let mut off = timed_pool("no reuse");
    off.credential_reuse_seconds = Some(0);
    let off = rest.create_pool(&off).await.unwrap();
    assert_eq!(off.credential_reuse_seconds, Some(0));

    // The AWS face has no such members, and its full replace keeps them.
    let described = app
        .signed_json("DescribeIdentityPool", &json!({"IdentityPoolId": id}))
        .await;
    assert_eq!(described.status, 200, "{}", described.json);
    let text = described.json.to_string();
    assert!(
        !text.contains("lifetime") && !text.contains("duration"),
        "{text}"
    );
    let updated = app
        .signed_json(
            "UpdateIdentityPool",
            &json!({"IdentityPoolId": id, "IdentityPoolName": "renamed",
                    "AllowUnauthenticatedIdentities": false}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.json);
    let after = rest.get_pool(&id).await.unwrap();
    assert_eq!(after.identity_pool_name, "renamed");
    assert_eq!(lifetimes(&after), set, "the AWS face keeps the lifetimes");

    // A REST replace without them unsets them (PUT replaces the pool), and the members go.
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
    assert_eq!(lifetimes(&replaced), (None, None, None));
    let (_, body) = app
        .admin(
            reqwest::Method::GET,
            &format!("/v1/identity-pools/{id}"),
            None,
        )
        .await;
    assert!(body.get("token_lifetime_seconds").is_none(), "{body}");
}

fn lifetime_of(claims: &std::collections::BTreeMap<String, Value>) -> i64 {
    claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
}

async fn a_pools_lifetimes_reach_sts_and_its_tokens(backend: Backend) {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let front = StsFront::start(&issuer).await;
    let front_url = front.url.clone();
    let app = spawn_app_with(backend, |url| {
        let mut s = settings_on(url, port);
        s.sts_endpoint_url = Some(front_url);
        s
    })
    .await;
    let pool = app
        .rest()
        .create_pool(&timed_pool("timed"))
        .await
        .unwrap()
        .identity_pool_id;
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", AUTH)
        .roles("unauthenticated", GUEST)
        .send()
        .await
        .unwrap();
    front.trust_audience(&pool);
    let guest = app.guest(&pool).await;

    // Credentials: STS is asked for the pool's 900 s, and moto's Expiration says so.
    let raw = app
        .raw(
            "GetCredentialsForIdentity",
            json!({"IdentityId": guest}).to_string(),
            &[],
        )
        .await;
    assert_eq!(raw.status, 200, "{}", raw.json);
    let expires_in = raw.json["Credentials"]["Expiration"].as_f64().unwrap()
        - chrono::Utc::now().timestamp() as f64;
    assert!(
        (840.0..=960.0).contains(&expires_in),
        "about 15 minutes: {expires_in}"
    );
    let call = front.calls().pop().unwrap();
    assert_eq!(call.duration, "900");
    let claims = call.claims.expect("the token STS received verifies");
    assert_eq!(
        lifetime_of(&claims),
        120,
        "the token for STS has the pool's lifetime"
    );

    // GetOpenIdToken: the pool's 120 s instead of 10 minutes.
    let raw = app
        .raw(
            "GetOpenIdToken",
            json!({"IdentityId": guest}).to_string(),
            &[],
        )
        .await;
    assert_eq!(raw.status, 200, "{}", raw.json);
    let claims = verify(&issuer, raw.json["Token"].as_str().unwrap(), &pool)
        .await
        .unwrap();
    assert_eq!(lifetime_of(&claims), 120);

    // Developer tokens: up to the pool's cap, refused above it.
    let token = app
        .developer_login(&pool, DEV, "user-1")
        .token_duration(1800)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    assert_eq!(
        lifetime_of(&verify(&issuer, &token, &pool).await.unwrap()),
        1800
    );
    let err = app
        .developer_login(&pool, DEV, "user-1")
        .token_duration(1801)
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::helpers::code(&err), "InvalidParameterException");
    assert!(crate::helpers::message(&err).contains("1800"), "{err:?}");
}

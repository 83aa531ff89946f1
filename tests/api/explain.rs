//! Explain (`POST /v1/identity-pools/{pool_id}/explain`, `docs/operations.md` "Explain a
//! login"): for every rejection of the login table (`logins.rs`) the failing check says what
//! was expected and what the token had, and the public error is exactly what GetId answers;
//! role rules that match and that fall through to Deny; a login linked elsewhere; nothing is
//! ever written and no token is ever echoed.

use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idbroker_store::Backend;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::Row;

use crate::helpers::{ManualClock, TestApp, code, message, settings_with_idp, spawn_app_on_clock};
use crate::idp::{TestIdp, TestKey, claims};

const GOOGLE: &str = "accounts.google.com";
const GOOGLE_ISS: &str = "https://accounts.google.com";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";
const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST: &str = "arn:aws:iam::123456789012:role/guest";
const ADMINS: &str = "arn:aws:iam::123456789012:role/admins";
const STAFF: &str = "arn:aws:iam::123456789012:role/staff";

crate::helpers::on_both_backends!(
    every_rejection_is_diagnosed_and_answered_as_get_id_answers,
    a_rules_mapping_that_matches_and_one_that_falls_through_to_deny,
    a_login_linked_elsewhere_is_a_merge_or_a_refusal_as_the_real_call_says,
    explain_writes_nothing_and_never_echoes_a_token,
);

struct World {
    app: TestApp,
    idp: TestIdp,
    key: TestKey,
    other_key: TestKey,
    pool: String,
    now: i64,
}

async fn world(backend: Backend) -> World {
    let key = TestKey::rsa("rsa-a", "key-a");
    let other_key = TestKey::rsa("rsa-b", "key-b");
    let idp = TestIdp::start(&[&key]).await;
    let base = idp.base.clone();
    // A still clock: a message that quotes the time is the same for explain and GetId.
    let clock = ManualClock::new();
    let now = clock.now().timestamp();
    let app = spawn_app_on_clock(backend, |url| settings_with_idp(url, &base), clock).await;
    let oidc_arn = app.register_oidc(&idp.base, &["oidc-client"]).await;
    let pool = app
        .create_pool_with("explained", true, |pool| {
            pool.supported_login_providers(GOOGLE, "google-client")
                .developer_provider_name("login.dev")
                .open_id_connect_provider_arns(oidc_arn)
                .cognito_identity_providers(
                    CognitoIdentityProvider::builder()
                        .provider_name(USER_POOL)
                        .client_id("upclient1")
                        .build(),
                )
        })
        .await;
    let (status, body) = app
        .admin(
            reqwest::Method::PUT,
            &format!("/v1/identity-pools/{pool}/roles"),
            Some(json!({
                "roles": {"authenticated": AUTH, "unauthenticated": GUEST},
                "role_mappings": {(idp.key()): {
                    "type": "Rules",
                    "ambiguous_role_resolution": "Deny",
                    "rules_configuration": {"rules": [
                        {"claim": "groups", "match_type": "Contains", "value": "admin", "role_arn": ADMINS},
                        {"claim": "email", "match_type": "StartsWith", "value": "staff@", "role_arn": STAFF},
                    ]},
                }},
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    World {
        app,
        idp,
        key,
        other_key,
        pool,
        now,
    }
}

impl World {
    /// The explanation as JSON, and the raw body (to look for tokens in).
    async fn explain(&self, body: Value) -> (Value, String) {
        let res = self
            .app
            .http
            .post(format!(
                "{}/v1/identity-pools/{}/explain",
                self.app.address, self.pool
            ))
            .header(
                "authorization",
                format!("Bearer {}", crate::helpers::ADMIN_TOKEN),
            )
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        (serde_json::from_str(&text).unwrap(), text)
    }

    async fn get_id(&self, logins: &[(&str, &str)]) -> Result<String, (String, String)> {
        self.app
            .get_id(&self.pool, logins)
            .await
            .map(|o| o.identity_id.unwrap())
            .map_err(|e| (code(&e), message(&e)))
    }

    fn google_with(&self, changes: Value) -> Value {
        let mut c = claims(GOOGLE_ISS, "google-client", "mallory");
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn oidc(&self, sub: &str, extra: Value) -> String {
        let mut c = claims(&self.idp.base, "oidc-client", sub);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.key.sign(&c)
    }
}

fn unsigned(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

/// The first failed check of the only login: (name, expected, got).
fn failing_check(explanation: &Value) -> (String, String, String) {
    let check = explanation["logins"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["passed"] == json!(false))
        .unwrap_or_else(|| panic!("no failed check in {explanation:#}"));
    let text = |name: &str| check[name].as_str().unwrap().to_owned();
    (text("name"), text("expected"), text("got"))
}

/// The rows of the rejection table in `logins.rs` (the same token builders), each with the
/// check that must fail and what its `expected` and `got` must say.
async fn every_rejection_is_diagnosed_and_answered_as_get_id_answers(backend: Backend) {
    let w = world(backend).await;
    let now = w.now;
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-a".into());
        jsonwebtoken::encode(
            &header,
            &w.google_with(json!({})),
            &EncodingKey::from_secret(&w.key.public_pem),
        )
        .unwrap()
    };
    let forged = {
        // Signed by a key the IdP never published, but claiming the published kid.
        let token = w.other_key.sign(&w.google_with(json!({})));
        let (_, rest) = token.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "kid": "key-a", "typ": "JWT"}).to_string());
        format!("{header}.{rest}")
    };
    // (row, Logins key, token, failing check, in its expected, in its got)
    let cases: Vec<(&str, &str, String, &str, String, String)> = vec![
        (
            "wrong aud",
            GOOGLE,
            w.key.sign(&w.google_with(json!({"aud": "not-ours"}))),
            "audience",
            "google-client".into(),
            "not-ours".into(),
        ),
        (
            "expired past the grace",
            GOOGLE,
            w.key.sign(&w.google_with(json!({"exp": now - 301}))),
            "expiry",
            format!("exp > {} (now {now} minus 300 s of skew)", now - 300),
            (now - 301).to_string(),
        ),
        (
            "bad signature",
            GOOGLE,
            forged,
            "signature",
            "signature by key key-a".into(),
            "invalid".into(),
        ),
        (
            "wrong iss",
            GOOGLE,
            w.key
                .sign(&w.google_with(json!({"iss": "https://evil.example.com"}))),
            "issuer",
            format!("one of {GOOGLE_ISS}, accounts.google.com"),
            "https://evil.example.com".into(),
        ),
        (
            "alg none",
            GOOGLE,
            unsigned(
                &json!({"alg": "none", "kid": "key-a"}),
                &w.google_with(json!({})),
            ),
            "algorithm",
            "RS256".into(),
            "none".into(),
        ),
        (
            "HS256 with the public key",
            GOOGLE,
            hs256_with_public_key,
            "algorithm",
            "ES384".into(),
            "HS256".into(),
        ),
        (
            "unknown kid",
            GOOGLE,
            w.other_key.sign(&w.google_with(json!({}))),
            "key",
            "a key with kid key-b".into(),
            "no key with this kid".into(),
        ),
        (
            "garbage",
            GOOGLE,
            "not-a-token-at-all".into(),
            "format",
            "three base64url segments".into(),
            "1 segment(s)".into(),
        ),
        (
            "future nbf",
            GOOGLE,
            w.key.sign(&w.google_with(json!({"nbf": now + 3600}))),
            "not_before",
            format!("≤ {}", now + 60),
            (now + 3600).to_string(),
        ),
        (
            "user-pool token that is not an ID token",
            USER_POOL,
            w.key.sign(&json!({
                "iss": format!("https://{USER_POOL}"), "aud": "upclient1", "sub": "mallory",
                "exp": now + 3600, "token_use": "access",
            })),
            "token_use",
            "id".into(),
            "access".into(),
        ),
    ];
    for (row, provider, token, check, expected, got) in &cases {
        let (explanation, body) = w.explain(json!({"logins": {*provider: token}})).await;
        assert!(!body.contains(token.as_str()), "{row}: the token is echoed");
        let real = w.get_id(&[(provider, token)]).await.unwrap_err();
        let public = &explanation["public_error"];
        assert_eq!(
            (
                public["kind"].as_str().unwrap(),
                public["message"].as_str().unwrap()
            ),
            (real.0.as_str(), real.1.as_str()),
            "{row}: explain's public error is GetId's answer"
        );
        assert_eq!(public["operation"], "GetId", "{row}");
        let login = &explanation["logins"][0];
        assert_eq!(login["accepted"], false, "{row}");
        assert_eq!(login["error"], *public, "{row}");
        let (name, expected_text, got_text) = failing_check(&explanation);
        assert_eq!(name, *check, "{row}: {explanation:#}");
        assert!(
            expected_text.contains(expected.as_str()),
            "{row}: expected {expected_text:?} lacks {expected:?}"
        );
        assert!(
            got_text.contains(got.as_str()),
            "{row}: got {got_text:?} lacks {got:?}"
        );
        assert!(explanation.get("identity").is_none(), "{row}");
    }

    // A wrong issuer is found before any key is fetched, as verification does; its claims are
    // shown unverified.
    let (explanation, _) = w
        .explain(json!({"logins": {GOOGLE: w.key.sign(&w.google_with(json!({"iss": "https://evil.example.com"})))}}))
        .await;
    let names: Vec<&str> = explanation["logins"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"key") && !names.contains(&"signature"),
        "{names:?}"
    );
    assert!(
        names.contains(&"expiry"),
        "later claim checks still run: {names:?}"
    );
    assert_eq!(explanation["logins"][0]["claims"]["sub"], "mallory");
    assert_eq!(explanation["logins"][0]["claims_verified"], false);

    // Keys: the forged token's kid was found in the cached set.
    let mut row = w.key.sign(&w.google_with(json!({})));
    row.push('x'); // a broken signature on a published kid
    let (explanation, _) = w.explain(json!({"logins": {GOOGLE: row}})).await;
    assert_eq!(explanation["logins"][0]["key_set"], "cached");

    // Provider keys the pool does not have: no checks, the nearest configured keys.
    for (key, nearest) in [
        ("appleid.apple.com", None),
        ("accounts.gogle.com", Some(GOOGLE)),
    ] {
        let token = w
            .key
            .sign(&w.google_with(json!({"iss": "https://appleid.apple.com"})));
        let (explanation, body) = w.explain(json!({"logins": {key: &token}})).await;
        assert!(!body.contains(&token));
        let real = w.get_id(&[(key, &token)]).await.unwrap_err();
        assert_eq!(explanation["public_error"]["kind"], real.0);
        assert_eq!(explanation["public_error"]["message"], real.1);
        let entry = &explanation["logins"][0]["pool_entry"];
        assert_eq!(entry["matched"], false);
        assert_eq!(entry["kind"], "not_configured");
        assert_eq!(entry["closest"].as_array().unwrap().len(), 3, "{entry}");
        if let Some(nearest) = nearest {
            assert_eq!(entry["closest"][0], nearest);
        }
        assert!(
            explanation["logins"][0]["checks"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    assert!(
        w.app.identity_ids(&w.pool).await.is_empty(),
        "nothing created"
    );
}

async fn a_rules_mapping_that_matches_and_one_that_falls_through_to_deny(backend: Backend) {
    let w = world(backend).await;
    let key = w.idp.key();

    // groups ["x", "site-admins"] Contains "admin": the first rule matches.
    let admin = w.oidc("ann", json!({"groups": ["x", "site-admins"]}));
    let (explanation, _) = w.explain(json!({"logins": {&key: admin}})).await;
    assert!(explanation.get("public_error").is_none(), "{explanation:#}");
    assert_eq!(explanation["identity"]["outcome"], "new");
    let role = &explanation["role"];
    assert_eq!(role["decided_by"], "mapping");
    assert_eq!(role["mapping_key"], key);
    assert_eq!(role["mapping_type"], "Rules");
    assert_eq!(role["role_arn"], ADMINS);
    assert_eq!(
        role["rules"],
        json!([{"claim": "groups", "match_type": "Contains", "value": "admin",
                "claim_values": ["x", "site-admins"], "matched": true, "role_arn": ADMINS}]),
        "rules after the first match are not compared"
    );
    // The token idbroker would sign for STS: its claims, no token.
    let claims = &explanation["token_claims"];
    assert_eq!(claims["aud"], w.pool);
    assert_eq!(claims["sub"], "(the new identity's id)");
    assert_eq!(claims["amr"][0], "authenticated");
    assert!(
        claims["amr"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().ends_with(":OIDC:ann")),
        "{claims}"
    );

    // Neither rule matches and the mapping says Deny.
    let nobody = w.oidc(
        "bob",
        json!({"groups": ["users"], "email": "bob@example.com"}),
    );
    let (explanation, _) = w.explain(json!({"logins": {&key: &nobody}})).await;
    let role = &explanation["role"];
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["claim_values"], json!(["users"]));
    assert_eq!(rules[1]["claim_values"], json!(["bob@example.com"]));
    assert!(rules.iter().all(|r| r["matched"] == false));
    assert_eq!(role["ambiguous_role_resolution"], "Deny");
    assert!(role.get("role_arn").is_none());
    assert!(explanation.get("token_claims").is_none());
    let public = &explanation["public_error"];
    assert_eq!(public["operation"], "GetCredentialsForIdentity");
    assert_eq!(role["error"], *public);

    // The real call says the same (it is refused before STS is asked).
    let id = w.get_id(&[(&key, &nobody)]).await.unwrap();
    let err = w
        .app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins(&key, &nobody)
        .send()
        .await
        .unwrap_err();
    assert_eq!(public["kind"], code(&err));
    assert_eq!(public["message"], message(&err));

    // A Google login has no mapping: the authenticated role.
    let (explanation, _) = w
        .explain(json!({"logins": {GOOGLE: w.key.sign(&w.google_with(json!({})))}}))
        .await;
    assert_eq!(explanation["role"]["decided_by"], "default");
    assert_eq!(explanation["role"]["role_arn"], AUTH);
    // No logins: a guest, the unauthenticated role.
    let (explanation, _) = w.explain(json!({})).await;
    assert_eq!(explanation["identity"]["outcome"], "new");
    assert_eq!(explanation["identity"]["guest"], true);
    assert_eq!(explanation["role"]["role_arn"], GUEST);
    assert_eq!(
        explanation["token_claims"]["amr"],
        json!(["unauthenticated"])
    );
}

async fn a_login_linked_elsewhere_is_a_merge_or_a_refusal_as_the_real_call_says(backend: Backend) {
    let w = world(backend).await;
    let alice = w.key.sign(&claims(GOOGLE_ISS, "google-client", "alice"));
    let owner = w.get_id(&[(GOOGLE, &alice)]).await.unwrap();

    // GetId: the login's owner, unchanged.
    let (explanation, _) = w.explain(json!({"logins": {GOOGLE: &alice}})).await;
    assert_eq!(explanation["identity"]["outcome"], "existing");
    assert_eq!(explanation["identity"]["identity_id"], owner);
    assert_eq!(explanation["identity"]["owners"][GOOGLE], owner);

    // Another authenticated identity naming alice's login without one of its own: refused.
    let carol = w.oidc("carol", json!({}));
    let other = w.get_id(&[(&w.idp.key(), &carol)]).await.unwrap();
    let (explanation, body) = w
        .explain(json!({"identity_id": &other, "logins": {GOOGLE: &alice}}))
        .await;
    assert!(!body.contains(&alice));
    let identity = &explanation["identity"];
    assert_eq!(identity["outcome"], "refused");
    assert_eq!(identity["owners"][GOOGLE], owner, "who holds the login");
    let real = w
        .app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&other)
        .logins(GOOGLE, &alice)
        .send()
        .await
        .unwrap_err();
    let public = &explanation["public_error"];
    assert_eq!(public["kind"], code(&real));
    assert_eq!(public["message"], message(&real));
    assert_eq!(identity["error"], *public);
    assert!(explanation.get("role").is_none());

    // A guest presenting alice's login is merged into alice's identity, which survives.
    let guest = w.app.guest(&w.pool).await;
    let (explanation, _) = w
        .explain(json!({"identity_id": &guest, "logins": {GOOGLE: &alice}}))
        .await;
    let identity = &explanation["identity"];
    assert_eq!(identity["outcome"], "merge", "{explanation:#}");
    assert_eq!(identity["identity_id"], owner);
    assert_eq!(identity["merged"], json!([guest]));
    assert_eq!(explanation["role"]["role_arn"], AUTH);
    assert_eq!(explanation["token_claims"]["sub"], owner);
    // And the guest is still a guest: explain merged nothing.
    let described = w.app.describe_identity(&guest).await.unwrap();
    assert!(described.logins().is_empty());
}

/// Row counts of every table explain could touch.
async fn counts(url: &str) -> Vec<(String, i64)> {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let mut out = Vec::new();
    for (name, query) in [
        ("identities", "SELECT COUNT(*) AS n FROM identities"),
        (
            "identity updates",
            "SELECT CAST(COALESCE(SUM(updated_at), 0) + COALESCE(SUM(last_used_at), 0) + COALESCE(SUM(CASE WHEN disabled_at IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS n FROM identities",
        ),
        ("logins", "SELECT COUNT(*) AS n FROM identity_logins"),
        ("audit", "SELECT COUNT(*) AS n FROM admin_audit"),
        ("ledger", "SELECT COUNT(*) AS n FROM credential_issuances"),
    ] {
        let row = sqlx::query(query).fetch_one(&mut conn).await.unwrap();
        out.push((name.to_owned(), row.try_get::<i64, _>("n").unwrap()));
    }
    out
}

async fn explain_writes_nothing_and_never_echoes_a_token(backend: Backend) {
    let w = world(backend).await;
    let alice = w.key.sign(&claims(GOOGLE_ISS, "google-client", "alice"));
    w.get_id(&[(GOOGLE, &alice)]).await.unwrap();
    let guest = w.app.guest(&w.pool).await;
    let before = counts(w.app.database_url()).await;

    let dave = w.oidc("dave", json!({"groups": ["admin"]}));
    let long = w.oidc(
        &"d".repeat(200),
        json!({"note": "n".repeat(5000), "groups": ["admin"]}),
    );
    let calls = [
        json!({"logins": {&w.idp.key(): &dave}}),
        json!({"logins": {GOOGLE: &alice, &w.idp.key(): &dave}}),
        json!({"identity_id": &guest, "logins": {GOOGLE: &alice}}),
        json!({"identity_id": &guest, "logins": {&w.idp.key(): &dave}}),
        json!({"identity_id": &guest}),
        json!({}),
        json!({"logins": {&w.idp.key(): &long}}),
    ];
    for call in &calls {
        let (explanation, body) = w.explain(call.clone()).await;
        for token in [&alice, &dave, &long] {
            assert!(!body.contains(token.as_str()), "a token is echoed: {call}");
        }
        assert!(
            body.len() < 20_000,
            "claims are bounded: {} bytes",
            body.len()
        );
        assert!(explanation.get("public_error").is_none(), "{explanation:#}");
    }
    let (explanation, _) = w.explain(calls[6].clone()).await;
    let note = explanation["logins"][0]["claims"]["note"].as_str().unwrap();
    assert_eq!(note.chars().count(), 257, "256 characters and an ellipsis");

    assert_eq!(
        counts(w.app.database_url()).await,
        before,
        "explain wrote nothing"
    );
    // The same logins for real do write: the counts can tell.
    w.get_id(&[(&w.idp.key(), &dave)]).await.unwrap();
    assert_ne!(counts(w.app.database_url()).await, before);

    // Admin only.
    let res = w
        .app
        .http
        .post(format!(
            "{}/v1/identity-pools/{}/explain",
            w.app.address, w.pool
        ))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

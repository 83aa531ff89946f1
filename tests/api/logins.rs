//! Federated logins through the AWS face: strict verification against a real JWKS on
//! loopback (`docs/spec.md` behaviours 19–29, 31–32, 34, 75–76), key rotation and outages, and races.

use std::collections::HashSet;

use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idbroker_store::Backend;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{REGION, TestApp, code, message, settings_with_idp, spawn_app_with};
use crate::idp::{TestIdp, TestKey, claims};

const GOOGLE: &str = "accounts.google.com";
const GOOGLE_ISS: &str = "https://accounts.google.com";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";

crate::helpers::on_both_backends!(
    the_same_login_always_returns_the_same_identity,
    two_new_logins_make_one_identity_with_both,
    registered_issuers_user_pools_and_ec_keys_are_verified,
    every_kind_of_bad_token_is_refused_and_creates_nothing,
    one_bad_token_fails_the_whole_call,
    logins_of_two_identities_merge_into_one,
    a_second_user_of_one_provider_is_a_conflict,
    unlink_removes_a_login_with_proof_of_ownership,
    facebook_and_amazon_access_tokens_are_checked_with_their_apis,
    rotated_keys_verify_without_a_restart,
    unknown_kids_cannot_make_idbroker_hammer_the_idp,
    cached_keys_survive_an_outage_and_no_keys_is_an_external_service_error,
    concurrent_first_logins_on_two_replicas_make_one_identity,
);

struct World {
    app: TestApp,
    idp: TestIdp,
    key: TestKey,
    other_key: TestKey,
    ec: TestKey,
    pool: String,
}

async fn world(backend: Backend) -> World {
    let key = TestKey::rsa("rsa-a", "key-a");
    let other_key = TestKey::rsa("rsa-b", "key-b");
    let ec = TestKey::ec("ec-a", "key-ec");
    let idp = TestIdp::start(&[&key, &ec]).await;
    let base = idp.base.clone();
    let app = spawn_app_with(backend, |url| settings_with_idp(url, &base)).await;
    let oidc_arn = app.register_oidc(&idp.base, &["oidc-client"]).await;
    let pool = app
        .create_pool_with("federated", true, |pool| {
            pool.supported_login_providers(GOOGLE, "google-client")
                .supported_login_providers("graph.facebook.com", "fb-app")
                .supported_login_providers("www.amazon.com", "amzn-client")
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
    World {
        app,
        idp,
        key,
        other_key,
        ec,
        pool,
    }
}

impl World {
    fn google(&self, sub: &str) -> String {
        self.key.sign(&claims(GOOGLE_ISS, "google-client", sub))
    }

    async fn get_id(&self, logins: &[(&str, String)]) -> Result<String, (String, String)> {
        let mut call = self.app.sdk.get_id().identity_pool_id(&self.pool);
        for (k, v) in logins {
            call = call.logins(*k, v);
        }
        call.send()
            .await
            .map(|o| o.identity_id.unwrap())
            .map_err(|e| (code(&e), message(&e)))
    }

    async fn logins_of(&self, identity: &str) -> Vec<String> {
        let d = self.app.describe_identity(identity).await.unwrap();
        d.logins().to_vec()
    }

    async fn identity_count(&self, hide_disabled: bool) -> usize {
        self.app
            .sdk
            .list_identities()
            .identity_pool_id(&self.pool)
            .max_results(60)
            .hide_disabled(hide_disabled)
            .send()
            .await
            .unwrap()
            .identities()
            .len()
    }
}

async fn the_same_login_always_returns_the_same_identity(backend: Backend) {
    let w = world(backend).await;
    let first = w.get_id(&[(GOOGLE, w.google("alice"))]).await.unwrap();
    let again = w.get_id(&[(GOOGLE, w.google("alice"))]).await.unwrap();
    assert_eq!(first, again);
    let bob = w.get_id(&[(GOOGLE, w.google("bob"))]).await.unwrap();
    assert_ne!(first, bob);
    assert_eq!(w.logins_of(&first).await, vec![GOOGLE]);
    assert!(first.starts_with(&format!("{REGION}:")));
}

async fn two_new_logins_make_one_identity_with_both(backend: Backend) {
    let w = world(backend).await;
    let oidc = w.key.sign(&claims(&w.idp.base, "oidc-client", "carol"));
    let id = w
        .get_id(&[(GOOGLE, w.google("carol")), (&w.idp.key(), oidc)])
        .await
        .unwrap();
    let mut expected = vec![GOOGLE.to_owned(), w.idp.key()];
    expected.sort();
    assert_eq!(w.logins_of(&id).await, expected);
    assert_eq!(w.identity_count(false).await, 1);
}

async fn registered_issuers_user_pools_and_ec_keys_are_verified(backend: Backend) {
    let w = world(backend).await;
    let oidc = w.ec.sign(&claims(&w.idp.base, "oidc-client", "dave"));
    w.get_id(&[(&w.idp.key(), oidc)]).await.unwrap();
    let mut up = claims(&format!("https://{USER_POOL}"), "upclient1", "erin");
    up["token_use"] = json!("id");
    w.get_id(&[(USER_POOL, w.key.sign(&up))]).await.unwrap();
    // Several client ids are fine: azp names ours.
    let mut multi = claims(GOOGLE_ISS, "someone-else", "frank");
    multi["aud"] = json!(["someone-else", "google-client"]);
    w.get_id(&[(GOOGLE, w.key.sign(&multi))]).await.unwrap();
    assert!(
        w.idp.hits("discovery") >= 1,
        "registered issuers are found through discovery"
    );
}

fn unsigned(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

async fn every_kind_of_bad_token_is_refused_and_creates_nothing(backend: Backend) {
    let w = world(backend).await;
    let now = chrono::Utc::now().timestamp();
    let with = |changes: Value| {
        let mut c = claims(GOOGLE_ISS, "google-client", "mallory");
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-a".into());
        jsonwebtoken::encode(
            &header,
            &with(json!({})),
            &EncodingKey::from_secret(&w.key.public_pem),
        )
        .unwrap()
    };
    let forged = {
        // Signed by a key the IdP never published, but claiming the published kid.
        let token = w.other_key.sign(&with(json!({})));
        let (_, rest) = token.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "kid": "key-a", "typ": "JWT"}).to_string());
        format!("{header}.{rest}")
    };
    let mut access = claims(&format!("https://{USER_POOL}"), "upclient1", "mallory");
    access.as_object_mut().unwrap().remove("aud");
    access["token_use"] = json!("access");
    access["client_id"] = json!("upclient1");
    let mut wrong_client_up = claims(&format!("https://{USER_POOL}"), "otherclient", "mallory");
    wrong_client_up["token_use"] = json!("id");

    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "wrong aud",
            GOOGLE,
            w.key.sign(&with(json!({"aud": "not-ours"}))),
            "Token is not from a supported provider",
        ),
        (
            "azp not ours",
            GOOGLE,
            w.key.sign(&with(json!({"azp": "not-ours"}))),
            "Token is not from a supported provider",
        ),
        (
            "expired past the grace",
            GOOGLE,
            w.key.sign(&with(json!({"exp": now - 301}))),
            "Invalid login token. Token expired: ",
        ),
        (
            "wrong iss",
            GOOGLE,
            w.key
                .sign(&with(json!({"iss": "https://evil.example.com"}))),
            "Issuer doesn't match providerName",
        ),
        (
            "bad signature",
            GOOGLE,
            forged,
            "Couldn't verify signed token",
        ),
        (
            "alg none",
            GOOGLE,
            unsigned(&json!({"alg": "none", "kid": "key-a"}), &with(json!({}))),
            "Invalid login token",
        ),
        (
            "HS256 with the public key",
            GOOGLE,
            hs256_with_public_key,
            "is not allowed",
        ),
        (
            "unknown kid",
            GOOGLE,
            w.other_key.sign(&with(json!({}))),
            "Couldn't verify signed token",
        ),
        (
            "garbage",
            GOOGLE,
            "not-a-token-at-all".into(),
            "Invalid login token",
        ),
        (
            "future nbf",
            GOOGLE,
            w.key.sign(&with(json!({"nbf": now + 3600}))),
            "Invalid login token",
        ),
        (
            "future iat",
            GOOGLE,
            w.key.sign(&with(json!({"iat": now + 3600}))),
            "Invalid login token",
        ),
        (
            "no sub",
            GOOGLE,
            w.key.sign(&with(json!({"sub": null}))),
            "Invalid login token",
        ),
        (
            "provider not on the pool",
            "appleid.apple.com",
            w.key
                .sign(&with(json!({"iss": "https://appleid.apple.com"}))),
            "Token is not from a supported provider",
        ),
        (
            "developer provider in GetId",
            "login.dev",
            "user-1".into(),
            "developer provider",
        ),
        (
            "user-pool access token",
            USER_POOL,
            w.key.sign(&access),
            "Missing a required claim: aud",
        ),
        (
            "user-pool token for another client",
            USER_POOL,
            w.key.sign(&wrong_client_up),
            "Token is not from a supported provider",
        ),
        (
            "legacy provider",
            "api.twitter.com",
            "token;secret".into(),
            "not supported",
        ),
    ];
    for (name, provider, token, expected) in cases {
        let (code, message) = w.get_id(&[(provider, token)]).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException", "{name}: {message}");
        assert!(
            message.contains(expected),
            "{name}: {message:?} lacks {expected:?}"
        );
    }
    assert_eq!(
        w.identity_count(false).await,
        0,
        "no refused token created an identity"
    );

    // Expired by less than the 5-minute grace is still fine (behaviour 24).
    w.get_id(&[(GOOGLE, w.key.sign(&with(json!({"exp": now - 120}))))])
        .await
        .unwrap();
}

async fn one_bad_token_fails_the_whole_call(backend: Backend) {
    let w = world(backend).await;
    let bad_oidc = w.key.sign(&claims(&w.idp.base, "not-ours", "gina"));
    let err = w
        .get_id(&[(GOOGLE, w.google("gina")), (&w.idp.key(), bad_oidc)])
        .await
        .unwrap_err();
    assert_eq!(err.0, "NotAuthorizedException");
    assert_eq!(
        w.identity_count(false).await,
        0,
        "the valid login was not linked either"
    );
}

async fn logins_of_two_identities_merge_into_one(backend: Backend) {
    let w = world(backend).await;
    w.idp.accept_access_token(
        "EAAfb-hank",
        json!({"app_id": "fb-app", "is_valid": true, "user_id": "20001"}),
    );
    let facebook = || ("graph.facebook.com", "EAAfb-hank".to_owned());
    let a = w.get_id(&[(GOOGLE, w.google("hank"))]).await.unwrap();
    let b = w.get_id(&[facebook()]).await.unwrap();
    assert_ne!(a, b);
    // Keys are presented in sorted order; accounts.google.com comes first, so its owner survives.
    let merged = w
        .get_id(&[(GOOGLE, w.google("hank")), facebook()])
        .await
        .unwrap();
    assert_eq!(merged, a);
    assert_eq!(w.logins_of(&a).await, vec![GOOGLE, "graph.facebook.com"]);
    assert_eq!(
        w.identity_count(false).await,
        2,
        "the merged identity is still listed"
    );
    assert_eq!(
        w.identity_count(true).await,
        1,
        "but hidden with HideDisabled"
    );
    // GetId for the moved login now answers the survivor.
    assert_eq!(w.get_id(&[facebook()]).await.unwrap(), a);
    // The merged-away identity is forbidden (behaviour 34).
    let (code, msg) = w
        .app
        .sdk
        .unlink_identity()
        .identity_id(&b)
        .logins(GOOGLE, w.google("hank"))
        .logins_to_remove(GOOGLE)
        .send()
        .await
        .map_err(|e| (crate::helpers::code(&e), crate::helpers::message(&e)))
        .unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert_eq!(msg, format!("Access to identity '{b}' is forbidden."));
}

async fn a_second_user_of_one_provider_is_a_conflict(backend: Backend) {
    let w = world(backend).await;
    let oidc = |sub: &str| w.key.sign(&claims(&w.idp.base, "oidc-client", sub));
    let a = w
        .get_id(&[(GOOGLE, w.google("ivy")), (&w.idp.key(), oidc("ivy-1"))])
        .await
        .unwrap();
    let (code, _) = w
        .get_id(&[(GOOGLE, w.google("ivy")), (&w.idp.key(), oidc("ivy-2"))])
        .await
        .unwrap_err();
    assert_eq!(code, "ResourceConflictException");
    assert_eq!(w.logins_of(&a).await.len(), 2);
    assert_eq!(
        w.identity_count(false).await,
        1,
        "nothing was created or moved"
    );
}

async fn unlink_removes_a_login_with_proof_of_ownership(backend: Backend) {
    let w = world(backend).await;
    let oidc = |sub: &str| w.key.sign(&claims(&w.idp.base, "oidc-client", sub));
    let a = w
        .get_id(&[
            (GOOGLE, w.google("jack")),
            (&w.idp.key(), oidc("jack-oidc")),
        ])
        .await
        .unwrap();

    let err = w
        .app
        .sdk
        .unlink_identity()
        .identity_id(&a)
        .logins(GOOGLE, w.google("someone-else"))
        .logins_to_remove(w.idp.key())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        "NotAuthorizedException",
        "a valid token of another user proves nothing"
    );

    w.app
        .sdk
        .unlink_identity()
        .identity_id(&a)
        .logins(GOOGLE, w.google("jack"))
        .logins_to_remove(w.idp.key())
        .send()
        .await
        .unwrap();
    assert_eq!(w.logins_of(&a).await, vec![GOOGLE]);
    let fresh = w
        .get_id(&[(&w.idp.key(), oidc("jack-oidc"))])
        .await
        .unwrap();
    assert_ne!(fresh, a, "an unlinked login is a new identity next time");
}

async fn facebook_and_amazon_access_tokens_are_checked_with_their_apis(backend: Backend) {
    let w = world(backend).await;
    w.idp.accept_access_token(
        "EAAfb-kim",
        json!({"app_id": "fb-app", "is_valid": true, "user_id": "10001"}),
    );
    w.idp.accept_access_token(
        "EAAfb-other-app",
        json!({"app_id": "not-ours", "is_valid": true, "user_id": "10002"}),
    );
    w.idp.accept_access_token(
        "Atza|kim",
        json!({"aud": "amzn-client", "user_id": "amzn1.account.KIM", "exp": 3600}),
    );
    let fb = w
        .get_id(&[("graph.facebook.com", "EAAfb-kim".into())])
        .await
        .unwrap();
    assert_eq!(
        w.get_id(&[("graph.facebook.com", "EAAfb-kim".into())])
            .await
            .unwrap(),
        fb
    );
    let amzn = w
        .get_id(&[("www.amazon.com", "Atza|kim".into())])
        .await
        .unwrap();
    assert_ne!(fb, amzn);
    for (provider, token) in [
        ("graph.facebook.com", "EAAfb-other-app"),
        ("graph.facebook.com", "EAAfb-unknown"),
        ("www.amazon.com", "Atza|unknown"),
    ] {
        let (code, _) = w.get_id(&[(provider, token.into())]).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException", "{provider} {token}");
    }
    // Facebook Limited Login tokens are OIDC ID tokens from www.facebook.com.
    let limited = w.key.sign(&claims(
        "https://www.facebook.com",
        "fb-app",
        "10001-limited",
    ));
    w.get_id(&[("graph.facebook.com", limited)]).await.unwrap();
}

async fn rotated_keys_verify_without_a_restart(backend: Backend) {
    let w = world(backend).await;
    w.get_id(&[(GOOGLE, w.google("kate"))]).await.unwrap();
    assert_eq!(w.idp.hits("jwks"), 1);
    w.get_id(&[(GOOGLE, w.google("kate"))]).await.unwrap();
    assert_eq!(w.idp.hits("jwks"), 1, "keys are cached");
    w.idp.publish(&[&w.key, &w.other_key]);
    let rotated = w
        .other_key
        .sign(&claims(GOOGLE_ISS, "google-client", "kate"));
    let id = w.get_id(&[(GOOGLE, rotated)]).await.unwrap();
    assert_eq!(id, w.get_id(&[(GOOGLE, w.google("kate"))]).await.unwrap());
    assert_eq!(w.idp.hits("jwks"), 2, "one refresh for the new kid");
}

async fn unknown_kids_cannot_make_idbroker_hammer_the_idp(backend: Backend) {
    let w = world(backend).await;
    w.get_id(&[(GOOGLE, w.google("leo"))]).await.unwrap();
    for i in 0..20 {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("random-{i}"));
        let token = jsonwebtoken::encode(
            &header,
            &claims(GOOGLE_ISS, "google-client", "leo"),
            &w.key.encoding,
        )
        .unwrap();
        let (code, _) = w.get_id(&[(GOOGLE, token)]).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException");
    }
    assert!(
        w.idp.hits("jwks") <= 2,
        "at most one forced refresh per cool-down, saw {}",
        w.idp.hits("jwks")
    );
}

async fn cached_keys_survive_an_outage_and_no_keys_is_an_external_service_error(backend: Backend) {
    let w = world(backend).await;
    let id = w.get_id(&[(GOOGLE, w.google("mia"))]).await.unwrap();
    w.idp.stop().await;
    assert_eq!(
        w.get_id(&[(GOOGLE, w.google("mia"))]).await.unwrap(),
        id,
        "served from the cache"
    );
    // A replica that never saw the keys cannot verify while the IdP is down.
    let (_, replica) = w
        .app
        .replica(settings_with_idp(w.app.database_url(), &w.idp.base))
        .await;
    let err = replica
        .get_id()
        .identity_pool_id(&w.pool)
        .logins(GOOGLE, w.google("mia"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ExternalServiceException");
}

async fn concurrent_first_logins_on_two_replicas_make_one_identity(backend: Backend) {
    let w = world(backend).await;
    let (_, replica) = w
        .app
        .replica(settings_with_idp(w.app.database_url(), &w.idp.base))
        .await;
    let clients = [&w.app.sdk, &replica];
    let calls = (0..48).map(|i| {
        clients[i % 2]
            .get_id()
            .identity_pool_id(&w.pool)
            .logins(GOOGLE, w.google("nina"))
            .send()
    });
    let ids: HashSet<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().identity_id.unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "48 first logins of one user, one identity");
    assert_eq!(w.identity_count(false).await, 1, "and no orphans");
}

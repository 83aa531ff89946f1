//! Federated logins through the AWS face: strict verification against a real JWKS on
//! loopback (`docs/spec.md` behaviours 19–29, 31–32, 34, 75–76), key rotation and outages, and races.

use std::collections::HashSet;

use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idbroker_store::Backend;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{
    ManualClock, REGION, TestApp, code, free_port, message, settings_on, settings_with_idp,
    spawn_app_on_clock, spawn_app_with,
};
use crate::idp::{TestIdp, TestKey, claims};
use crate::sts_front::StsFront;

const GOOGLE: &str = "accounts.google.com";
const GOOGLE_ISS: &str = "https://accounts.google.com";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";

crate::helpers::on_both_backends!(
    the_same_login_always_returns_the_same_identity,
    two_new_logins_make_one_identity_with_both,
    registered_issuers_user_pools_and_ec_keys_are_verified,
    a_remembered_token_is_judged_against_the_current_configuration,
    every_kind_of_bad_token_is_refused_and_creates_nothing,
    one_bad_token_fails_the_whole_call,
    a_token_that_is_not_a_jwt_is_not_an_openid_connect_token,
    logins_of_two_identities_merge_into_one,
    a_second_user_of_one_provider_is_a_conflict,
    unlink_removes_a_login_with_proof_of_ownership,
    facebook_and_amazon_access_tokens_are_checked_with_their_apis,
    rotated_keys_verify_without_a_restart,
    unknown_kids_cannot_make_idbroker_hammer_the_idp,
    cached_keys_survive_an_outage_and_no_keys_is_an_external_service_error,
    concurrent_first_logins_on_two_replicas_make_one_identity,
    tokens_signed_with_every_allowed_algorithm_are_accepted_and_no_other,
    a_sign_in_with_apple_gets_a_stable_identity_a_token_and_credentials,
    the_issuer_is_checked_before_any_request_reaches_the_provider,
    nbf_and_iat_up_to_sixty_seconds_ahead_are_accepted_and_no_further,
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

/// Verified tokens are remembered (`IDBROKER_VERIFIED_TOKEN_CACHE_ENTRIES`, on by default),
/// but only as the answer to the question that was asked: once the provider no longer lists
/// the token's client id, the same token is refused.
async fn a_remembered_token_is_judged_against_the_current_configuration(backend: Backend) {
    let w = world(backend).await;
    let token = w.ec.sign(&claims(&w.idp.base, "oidc-client", "gina"));
    let first = w.get_id(&[(&w.idp.key(), token.clone())]).await.unwrap();
    let again = w.get_id(&[(&w.idp.key(), token.clone())]).await.unwrap();
    assert_eq!(first, again);
    w.app
        .rest()
        .update_oidc_provider(
            &w.idp.key(),
            &idbroker_api::oidc_providers::UpdateProvider {
                client_ids: vec!["another-client".into()],
            },
        )
        .await
        .unwrap();
    let (code, message) = w.get_id(&[(&w.idp.key(), token)]).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException", "{message}");
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

/// `docs/behaviour.md`, "Answers the way the real service gives them": under a configured
/// OpenID Connect provider's key, a token that is not a JWT gets Cognito's exact answer
/// (flutter_cognito_plugin#13), decided from the token alone, before any key is fetched; under
/// a key the pool does not trust, the provider is refused first, whatever the token (behaviour
/// 20).
async fn a_token_that_is_not_a_jwt_is_not_an_openid_connect_token(backend: Backend) {
    let w = world(backend).await;
    let payload = URL_SAFE_NO_PAD.encode(b"not json");
    let not_jwts = [
        "not-a-jwt".to_owned(),
        "a.b.c".to_owned(),
        format!("eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS1hIn0.{payload}.sig"),
    ];
    for token in not_jwts {
        let (code, message) = w
            .get_id(&[(&w.idp.key(), token.clone())])
            .await
            .unwrap_err();
        assert_eq!(
            (code.as_str(), message.as_str()),
            (
                "NotAuthorizedException",
                "Invalid login token. Not a valid OpenId Connect identity token."
            ),
            "{token}"
        );
    }
    assert_eq!(w.idp.total_hits(), 0, "nothing was fetched for a non-token");

    let (code, message) = w
        .get_id(&[("login.unknown.example", "not-a-jwt".to_owned())])
        .await
        .unwrap_err();
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "NotAuthorizedException",
            "Token is not from a supported provider of this identity pool."
        )
    );
    assert_eq!(w.identity_count(false).await, 0);
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
    assert_eq!(msg, format!("Access to Identity '{b}' is forbidden."));
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

    // UnlinkIdentity of the OpenID login, proven with a Google token.
    let unlink = |proof: String| {
        let call = w.app.sdk.unlink_identity().identity_id(&a);
        call.logins(GOOGLE, proof)
            .logins_to_remove(w.idp.key())
            .send()
    };
    let err = unlink(w.google("someone-else")).await.unwrap_err();
    assert_eq!(
        code(&err),
        "NotAuthorizedException",
        "a valid token of another user proves nothing"
    );

    unlink(w.google("jack")).await.unwrap();
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

/// `docs/behaviour.md`: "RS256/384/512, PS256/384/512, ES256/384 only; never `none` or HMAC".
/// One key per algorithm, each published declaring its algorithm, through both ways keys are
/// found: a built-in provider's JWKS URL (Google) and a registered issuer's discovery.
async fn tokens_signed_with_every_allowed_algorithm_are_accepted_and_no_other(backend: Backend) {
    let keys = [
        TestKey::with_alg("rsa-a", "rs256", Algorithm::RS256),
        TestKey::with_alg("rsa-a", "rs384", Algorithm::RS384),
        TestKey::with_alg("rsa-a", "rs512", Algorithm::RS512),
        TestKey::with_alg("rsa-b", "ps256", Algorithm::PS256),
        TestKey::with_alg("rsa-b", "ps384", Algorithm::PS384),
        TestKey::with_alg("rsa-b", "ps512", Algorithm::PS512),
        TestKey::with_alg("ec-a", "es256", Algorithm::ES256),
        TestKey::with_alg("ec384-a", "es384", Algorithm::ES384),
    ];
    let idp = TestIdp::start(&keys.iter().collect::<Vec<_>>()).await;
    let base = idp.base.clone();
    let app = spawn_app_with(backend, |url| settings_with_idp(url, &base)).await;
    let arn = app.register_oidc(&idp.base, &["oidc-client"]).await;
    let pool = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("algorithms")
        .allow_unauthenticated_identities(false)
        .supported_login_providers(GOOGLE, "google-client")
        .open_id_connect_provider_arns(arn)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let get_id = |provider: String, token: String| {
        app.sdk
            .get_id()
            .identity_pool_id(&pool)
            .logins(provider, token)
            .send()
    };
    let providers = [
        (GOOGLE.to_owned(), GOOGLE_ISS.to_owned(), "google-client"),
        (idp.key(), idp.base.clone(), "oidc-client"),
    ];

    let mut identities = HashSet::new();
    for (provider, iss, client) in &providers {
        for key in &keys {
            let token = key.sign(&claims(iss, client, &format!("user-{}", key.kid)));
            assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, key.alg);
            let id = get_id(provider.clone(), token)
                .await
                .unwrap_or_else(|e| panic!("{provider} {:?}: {}", key.alg, message(&e)))
                .identity_id
                .unwrap();
            identities.insert(id);
        }
    }
    assert_eq!(identities.len(), 2 * keys.len(), "one identity per login");

    let (rs256, ps256) = (&keys[0], &keys[3]);
    let with_header = |alg: Algorithm, kid: &str, signing: &EncodingKey| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &header,
            &claims(GOOGLE_ISS, "google-client", "mallory"),
            signing,
        )
        .unwrap()
    };
    let hmac_with_public_key = EncodingKey::from_secret(&rs256.public_pem);
    let refused = [
        (
            "HS256 keyed with the public key",
            with_header(Algorithm::HS256, "rs256", &hmac_with_public_key),
            "is not allowed",
        ),
        (
            "HS384 keyed with the public key",
            with_header(Algorithm::HS384, "rs256", &hmac_with_public_key),
            "is not allowed",
        ),
        (
            "HS512 keyed with the public key",
            with_header(Algorithm::HS512, "rs256", &hmac_with_public_key),
            "is not allowed",
        ),
        (
            "alg none",
            unsigned(
                &json!({"alg": "none", "kid": "rs256"}),
                &claims(GOOGLE_ISS, "google-client", "mallory"),
            ),
            "Invalid login token",
        ),
        (
            "an allowed algorithm other than the one the key declares",
            with_header(Algorithm::RS256, "ps256", &ps256.encoding),
            "does not fit the algorithm",
        ),
    ];
    for (name, token, expected) in refused {
        let err = get_id(GOOGLE.to_owned(), token).await.unwrap_err();
        assert_eq!(code(&err), "NotAuthorizedException", "{name}");
        assert!(
            message(&err).contains(expected),
            "{name}: {:?} lacks {expected:?}",
            message(&err)
        );
    }
    assert_eq!(
        app.identity_ids(&pool).await.len(),
        identities.len(),
        "no refused token created an identity"
    );
}

/// A successful Sign in with Apple login (`docs/behaviour.md`, the providers table): Apple's
/// keys come from a stand-in JWKS server (`IDBROKER_APPLE_JWKS_URL` pointed at it; every other
/// provider stays unreachable), the token carries Apple's claims, and the identity it gets is
/// the same for the same `sub`, takes a token a relying party verifies, and gets credentials
/// from STS (moto, through the front that verifies what idbroker sends).
async fn a_sign_in_with_apple_gets_a_stable_identity_a_token_and_credentials(backend: Backend) {
    const APPLE: &str = "appleid.apple.com";
    const BUNDLE: &str = "com.example.app";
    const ROLE: &str = "arn:aws:iam::123456789012:role/authenticated";
    let key = TestKey::rsa("rsa-a", "apple-key");
    let apple = TestIdp::start(&[&key]).await;
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let front = StsFront::start(&issuer).await;
    let (jwks, front_url) = (format!("{}/jwks", apple.base), front.url.clone());
    let app = spawn_app_with(backend, |url| {
        let mut s = settings_on(url, port);
        s.providers.apple_jwks_url = jwks;
        s.sts_endpoint_url = Some(front_url);
        s
    })
    .await;
    let pool = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("apple")
        .allow_unauthenticated_identities(false)
        .supported_login_providers(APPLE, BUNDLE)
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", ROLE)
        .send()
        .await
        .unwrap();
    front.trust_audience(&pool);
    // What Apple's ID tokens carry besides the standard claims.
    let apple_token = |sub: &str| {
        let mut c = claims("https://appleid.apple.com", BUNDLE, sub);
        c["auth_time"] = c["iat"].clone();
        c["email"] = json!("x7k2@privaterelay.appleid.com");
        c["email_verified"] = json!("true");
        c["is_private_email"] = json!("true");
        c["nonce_supported"] = json!(true);
        c["real_user_status"] = json!(2);
        key.sign(&c)
    };
    let get_id = |token: String| {
        app.sdk
            .get_id()
            .identity_pool_id(&pool)
            .logins(APPLE, token)
            .send()
    };
    let sub = "001234.8f2c9a0d1b3e4f5a6b7c8d9e0f1a2b3c.1234";

    let id = get_id(apple_token(sub)).await.unwrap().identity_id.unwrap();
    assert!(
        apple.hits("jwks") >= 1,
        "Apple's keys came from the stand-in"
    );
    assert_eq!(
        get_id(apple_token(sub)).await.unwrap().identity_id.unwrap(),
        id,
        "the same Apple user, the same identity"
    );
    let other = get_id(apple_token("000999.0123456789abcdef0123456789abcdef.0999"))
        .await
        .unwrap()
        .identity_id
        .unwrap();
    assert_ne!(other, id);
    let described = app
        .sdk
        .describe_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.logins(), [APPLE.to_owned()]);

    let token = app
        .sdk
        .get_open_id_token()
        .identity_id(&id)
        .logins(APPLE, apple_token(sub))
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let verified = crate::verify::verify(&issuer, &token, &pool)
        .await
        .expect("idbroker's token verifies against its published keys");
    assert_eq!(verified["sub"], id.as_str());
    let amr = verified["amr"].as_array().unwrap();
    assert!(
        amr.contains(&json!("authenticated")) && amr.contains(&json!(APPLE)),
        "{amr:?}"
    );

    let credentials = app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins(APPLE, apple_token(sub))
        .send()
        .await
        .unwrap();
    assert_eq!(credentials.identity_id(), Some(id.as_str()));
    let credentials = credentials.credentials.unwrap();
    assert!(credentials.access_key_id().is_some() && credentials.session_token().is_some());
    let calls = front.calls();
    let call = calls.last().expect("STS was called");
    assert_eq!(call.role_arn, ROLE);
    let sent = call.claims.as_ref().expect("STS could verify the token");
    assert_eq!(sent["sub"], id.as_str());
    assert_eq!(sent["amr"], verified["amr"]);
}

/// `docs/behaviour.md`: "the issuer must be the one configured for the Logins key (checked
/// before any network call)". Nothing is cached yet, so verifying any of these tokens would
/// have to fetch keys or discovery from the stand-in; it must not receive a single request.
async fn the_issuer_is_checked_before_any_request_reaches_the_provider(backend: Backend) {
    let w = world(backend).await;
    let before = w.idp.total_hits();
    let mut up = claims("https://evil.example.com", "upclient1", "mallory");
    up["token_use"] = json!("id");
    let cases = [
        (
            "Google key, the registered issuer's iss",
            GOOGLE.to_owned(),
            w.key.sign(&claims(&w.idp.base, "google-client", "mallory")),
        ),
        (
            "registered issuer, Google's iss",
            w.idp.key(),
            w.key.sign(&claims(GOOGLE_ISS, "oidc-client", "mallory")),
        ),
        (
            "user pool, another issuer",
            USER_POOL.to_owned(),
            w.key.sign(&up),
        ),
        (
            "Facebook Limited Login, Google's iss",
            "graph.facebook.com".to_owned(),
            w.key.sign(&claims(GOOGLE_ISS, "fb-app", "mallory")),
        ),
        (
            "no iss at all",
            GOOGLE.to_owned(),
            w.key
                .sign(&json!({"aud": "google-client", "sub": "mallory", "exp": 4_000_000_000u64})),
        ),
    ];
    for (name, provider, token) in cases {
        let (code, message) = w.get_id(&[(provider.as_str(), token)]).await.unwrap_err();
        assert_eq!(code, "NotAuthorizedException", "{name}: {message}");
        assert!(
            message.contains("Issuer doesn't match providerName"),
            "{name}: {message}"
        );
    }
    assert_eq!(
        w.idp.total_hits(),
        before,
        "no request reached the provider for a token from the wrong issuer"
    );
    // The count can move: a token from the right issuer needs the keys.
    w.get_id(&[(GOOGLE, w.google("mallory"))]).await.unwrap();
    assert!(w.idp.total_hits() > before);
}

/// `docs/behaviour.md`: "`nbf`/`iat` at most 60 seconds ahead", judged by the broker's clock
/// (a clock the test holds still and moves, so the edges are exact).
async fn nbf_and_iat_up_to_sixty_seconds_ahead_are_accepted_and_no_further(backend: Backend) {
    let key = TestKey::rsa("rsa-a", "key-a");
    let idp = TestIdp::start(&[&key]).await;
    let clock = ManualClock::new();
    let base = idp.base.clone();
    let app = spawn_app_on_clock(backend, |url| settings_with_idp(url, &base), clock.clone()).await;
    let pool = app
        .create_pool_with("skew", false, |pool| {
            pool.supported_login_providers(GOOGLE, "google-client")
        })
        .await;
    let now = clock.now().timestamp();
    let token = |sub: &str, claim: &str, ahead: i64| {
        key.sign(&json!({
            "iss": GOOGLE_ISS, "aud": "google-client", "sub": sub,
            "iat": now, "exp": now + 3600, claim: now + ahead,
        }))
    };
    let get_id = |token: String| {
        app.sdk
            .get_id()
            .identity_pool_id(&pool)
            .logins(GOOGLE, token)
            .send()
    };

    for (claim, refusal) in [
        ("nbf", "Token is not valid before"),
        ("iat", "Token was issued in the future"),
    ] {
        for ahead in [50, 60] {
            get_id(token(&format!("{claim}-{ahead}"), claim, ahead))
                .await
                .unwrap_or_else(|e| panic!("{claim} {ahead} s ahead: {}", message(&e)));
        }
        for ahead in [61, 120] {
            let err = get_id(token(&format!("{claim}-{ahead}"), claim, ahead))
                .await
                .unwrap_err();
            assert_eq!(code(&err), "NotAuthorizedException", "{claim} {ahead} s");
            assert!(message(&err).contains(refusal), "{}", message(&err));
        }
    }
    // The same token 120 s ahead is fine once the broker's clock has caught up to 60 s.
    clock.advance(chrono::Duration::seconds(60));
    get_id(token("nbf-120", "nbf", 120)).await.unwrap();
    get_id(token("iat-120", "iat", 120)).await.unwrap();
    assert_eq!(app.identity_ids(&pool).await.len(), 6);
}

//! The `amr` of idbroker's tokens for an OpenID Connect login: as Cognito writes it,
//! `["authenticated", "<provider>", "<IAM OIDC provider ARN>:OIDC:<sub>"]`, in GetOpenIdToken,
//! the token GetCredentialsForIdentity gives STS, and GetOpenIdTokenForDeveloperIdentity.

use std::collections::BTreeMap;

use idbroker_domain::PoolConfig;
use idbroker_service::testing::{
    ACCOUNT, DEVELOPER_PROVIDER, IDP_CLIENT_ID, IDP_ISSUER, TestBroker, guest_config,
};
use serde_json::{Value, json};

use super::kind;

/// A GitHub-Actions-like subject: colons and slashes are kept as they are.
const SUB: &str = "repo:org/repo:ref:refs/heads/main";

fn claims(t: &TestBroker, token: &str) -> BTreeMap<String, Value> {
    t.broker
        .issuer()
        .verify_own(token, idbroker_service::Clock::now(&*t.clock))
        .expect("a token idbroker signed")
}

fn oidc_entry(sub: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.test:OIDC:{sub}")
}

#[tokio::test]
async fn an_oidc_login_puts_its_provider_arn_and_sub_in_amr() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    let logins = t.idp_login(SUB);
    let identity = t.get_id(&pool, &logins).await.unwrap();

    let (_, token) = t
        .broker
        .get_open_id_token(identity.as_str(), &logins)
        .await
        .unwrap();
    let expected = json!(["authenticated", "idp.example.test", oidc_entry(SUB)]);
    assert_eq!(claims(&t, &token)["amr"], expected);

    // The token STS is given carries the same.
    t.broker
        .get_credentials_for_identity(identity.as_str(), &logins, None)
        .await
        .unwrap();
    let [call] = t.sts.calls().try_into().expect("one STS call");
    assert_eq!(claims(&t, &call.web_identity_token)["amr"], expected);
}

#[tokio::test]
async fn a_developer_token_with_an_oidc_login_carries_both_entries() {
    let t = TestBroker::new().await;
    let provider = t
        .broker
        .create_oidc_provider(IDP_ISSUER, vec![IDP_CLIENT_ID.into()])
        .await
        .unwrap();
    let pool = t
        .pool(PoolConfig {
            developer_provider_name: Some(DEVELOPER_PROVIDER.into()),
            open_id_connect_provider_arns: vec![provider.arn],
            ..guest_config("both")
        })
        .await;
    let mut logins = t.idp_login("alice");
    logins.insert(DEVELOPER_PROVIDER.into(), "user-1".into());
    let (_, token) = t
        .broker
        .get_open_id_token_for_developer_identity(
            pool.id.as_str(),
            None,
            &logins,
            BTreeMap::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        claims(&t, &token)["amr"],
        json!([
            "authenticated",
            DEVELOPER_PROVIDER,
            format!("{DEVELOPER_PROVIDER}:{}:user-1", pool.id),
            "idp.example.test",
            oidc_entry("alice"),
        ])
    );
}

/// The entry holds the token's `sub`, so its size is the verifier's bound on `sub`: 255
/// characters (OpenID Connect Core), and a longer one is refused before anything is linked.
#[tokio::test]
async fn the_sub_in_amr_is_bounded_by_the_verifier() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    let longest = "s".repeat(255);
    let identity = t.get_id(&pool, &t.idp_login(&longest)).await.unwrap();
    let (_, token) = t
        .broker
        .get_open_id_token(identity.as_str(), &t.idp_login(&longest))
        .await
        .unwrap();
    assert_eq!(claims(&t, &token)["amr"][2], oidc_entry(&longest));

    let too_long = t.idp_login(&"s".repeat(256));
    let refused = t.get_id(&pool, &too_long).await;
    assert_eq!(
        refused.as_ref().map_err(ToString::to_string).unwrap_err(),
        "Invalid login token. Claim sub is longer than 255 characters."
    );
    assert_eq!(kind(refused), "NotAuthorizedException");
}

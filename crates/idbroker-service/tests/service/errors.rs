//! Which `ServiceError` kind each failure becomes (`ServiceError::kind`, the name both faces
//! send): store outcomes, provider and STS failures, role resolution, our own limits.

use std::collections::BTreeMap;

use idbroker_domain::Tags;
use idbroker_service::ServiceError;
use idbroker_service::testing::{StsAnswer, TestBroker, guest_config};
use idbroker_store::StoreError;
use idbroker_sts::StsError;

use super::{admit, kind, none};

const UNKNOWN_POOL: &str = "us-east-1:00000000-0000-4000-8000-000000000000";
const UNKNOWN_IDENTITY: &str = "us-east-1:11111111-1111-4111-8111-111111111111";

#[tokio::test]
async fn what_the_store_does_not_have_is_resource_not_found() {
    let t = TestBroker::new().await;
    let b = &t.broker;
    assert_eq!(
        kind(b.describe_identity_pool(UNKNOWN_POOL).await),
        "ResourceNotFoundException"
    );
    assert_eq!(
        kind(
            b.update_identity_pool(UNKNOWN_POOL, guest_config("x"), None, None)
                .await
        ),
        "ResourceNotFoundException"
    );
    assert_eq!(
        kind(b.delete_identity_pool(UNKNOWN_POOL).await),
        "ResourceNotFoundException"
    );
    assert_eq!(
        kind(b.get_id(UNKNOWN_POOL, None, &none(), admit).await),
        "ResourceNotFoundException"
    );
    assert_eq!(
        kind(b.describe_identity(UNKNOWN_IDENTITY).await),
        "ResourceNotFoundException"
    );
    assert_eq!(
        kind(
            b.get_credentials_for_identity(UNKNOWN_IDENTITY, &none(), None)
                .await
        ),
        "ResourceNotFoundException"
    );
    assert_eq!(
        kind(b.get_oidc_provider("nobody.example").await),
        "ResourceNotFoundException"
    );
    assert_eq!(
        kind(b.pool_tags(UNKNOWN_POOL).await),
        "ResourceNotFoundException"
    );
    // A malformed id breaks the model's pattern before anything is looked up.
    assert_eq!(
        kind(b.describe_identity_pool("not-an-id").await),
        "ValidationException"
    );
}

#[tokio::test]
async fn conflicts_and_limits_have_their_own_kinds() {
    let t = TestBroker::new().await;
    let b = &t.broker;
    let pool = t.federated_pool().await;
    let issuer = idbroker_service::testing::IDP_ISSUER;
    assert_eq!(
        kind(b.create_oidc_provider(issuer, vec!["c".into()]).await),
        "ResourceConflictException",
        "the provider is registered already"
    );
    assert_eq!(
        kind(b.delete_oidc_provider(t.idp.login_key()).await),
        "ResourceConflictException",
        "a pool uses it"
    );
    // An OIDC provider of our account that was never registered.
    let unregistered = idbroker_domain::PoolConfig {
        open_id_connect_provider_arns: vec![
            "arn:aws:iam::123456789012:oidc-provider/never.example".into(),
        ],
        ..guest_config("unregistered")
    };
    assert_eq!(
        kind(
            b.create_identity_pool(unregistered, Tags::default(), Default::default())
                .await
        ),
        "InvalidParameterException"
    );

    // The store's tag limit: TagResource has no LimitExceededException in its model.
    let fifty: Tags = (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    b.tag_pool(pool.id.as_str(), fifty).await.unwrap();
    let one_more = Tags::from([("k50".to_owned(), "v".to_owned())]);
    assert_eq!(
        kind(b.tag_pool(pool.id.as_str(), one_more).await),
        "InvalidParameterException"
    );
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_an_external_service_failure() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    t.idp.set_reachable(false);
    let logins = t.idp_login("alice");
    assert_eq!(
        kind(t.get_id(&pool, &logins).await),
        "ExternalServiceException"
    );
}

#[tokio::test]
async fn a_token_that_does_not_verify_is_not_authorized() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    let now = idbroker_service::Clock::now(&*t.clock);
    // Signed by the provider, but for another client.
    let other_client = t
        .idp
        .id_token("alice", now, serde_json::json!({"aud": "someone-else"}));
    // Expired past the 5 minutes of skew.
    let hour_ago = (now - chrono::Duration::hours(1)).timestamp();
    let expired = t.idp.id_token(
        "alice",
        now,
        serde_json::json!({"iat": hour_ago, "exp": hour_ago}),
    );
    for token in [other_client, expired, "not.a.token".to_owned()] {
        let logins = BTreeMap::from([(t.idp.login_key().to_owned(), token)]);
        assert_eq!(
            kind(t.get_id(&pool, &logins).await),
            "NotAuthorizedException"
        );
    }
    // A Logins key the pool does not trust is refused before any key is looked for.
    t.idp.set_reachable(false);
    let stranger = BTreeMap::from([("accounts.google.com".to_owned(), t.id_token("alice"))]);
    assert_eq!(
        kind(t.get_id(&pool, &stranger).await),
        "NotAuthorizedException"
    );
}

#[tokio::test]
async fn sts_failures_map_to_the_documented_kinds() {
    let t = TestBroker::new().await;
    let pool = t.guest_pool().await;
    let guest = t.guest(&pool).await;
    for (answer, expected) in [
        (
            StsAnswer::refused("AccessDenied"),
            "InvalidIdentityPoolConfigurationException",
        ),
        (
            StsAnswer::Error(StsError::Throttled),
            "TooManyRequestsException",
        ),
        (StsAnswer::unreachable(), "ExternalServiceException"),
        (
            StsAnswer::Error(StsError::Malformed("bad policy".into())),
            "InternalErrorException",
        ),
    ] {
        t.sts.then([answer]);
        let result = t.guest_credentials(&guest).await;
        assert_eq!(kind(result), expected);
    }
}

#[tokio::test]
async fn role_resolution_and_our_own_limits_have_their_kinds() {
    let t = TestBroker::new().await;
    // A pool without roles: nothing to assume.
    let bare = t.bare_pool("bare").await;
    let guest = t.guest(&bare).await;
    assert_eq!(
        kind(t.guest_credentials(&guest).await),
        "InvalidIdentityPoolConfigurationException"
    );
    assert!(t.sts.calls().is_empty(), "STS is not asked without a role");

    // GetId's per-pool limit refused the call: TooManyRequests, with when to retry.
    let refused = t
        .broker
        .get_id(bare.id.as_str(), None, &none(), |_| Err(7))
        .await
        .expect_err("the limit refuses");
    assert_eq!(
        (refused.kind(), refused.retry_after()),
        ("TooManyRequestsException", Some(7))
    );
}

#[test]
fn store_failures_map_by_kind() {
    let cases: [(StoreError, &str); 4] = [
        (StoreError::NotFound, "ResourceNotFoundException"),
        (
            StoreError::ConcurrentModification,
            "ConcurrentModificationException",
        ),
        (
            StoreError::LimitExceeded("too many".into()),
            "LimitExceededException",
        ),
        (
            StoreError::Corrupt("bad row".into()),
            "InternalErrorException",
        ),
    ];
    for (store, expected) in cases {
        assert_eq!(ServiceError::from(store).kind(), expected);
    }
}

#[tokio::test]
async fn a_database_that_is_gone_is_unavailable_and_says_when_to_retry() {
    let t = TestBroker::new().await;
    let pool = t.guest_pool().await;
    t.store.close().await;
    let err = t
        .broker
        .describe_identity_pool(pool.id.as_str())
        .await
        .expect_err("no database");
    assert_eq!(
        (err.kind(), err.retry_after()),
        ("InternalErrorException", Some(1))
    );
}

/// GetId with one of idbroker's own tokens (under the key the SDKs use for them, or our
/// issuer's) is refused in the real service's words, before any token is looked at.
#[tokio::test]
async fn an_own_token_in_get_id_is_refused_like_the_real_service() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    let issuer_key = t
        .broker
        .issuer()
        .issuer()
        .split_once("://")
        .map_or(String::new(), |(_, rest)| rest.to_owned());
    for key in [
        idbroker_service::COGNITO_IDENTITY_KEY.to_owned(),
        issuer_key,
    ] {
        let logins = BTreeMap::from([(key.clone(), "not even a token".to_owned())]);
        match t.get_id(&pool, &logins).await {
            Err(ServiceError::NotAuthorized(message)) => assert_eq!(
                message, "Invalid login token. Can't pass in a Cognito token.",
                "{key}"
            ),
            other => panic!("{key}: {other:?}"),
        }
    }
}

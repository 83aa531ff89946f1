//! GetCredentialsForIdentity around STS: the happy paths and their ledger entry, the one
//! retry with a fresh token on `TokenExpired`, and failures that change nothing.

use std::collections::BTreeMap;

use idbroker_domain::Identity;
use idbroker_service::testing::{
    AUTHENTICATED_ROLE, DEVELOPER_PROVIDER, GUEST_ROLE, StsAnswer, TestBroker,
};
use idbroker_service::{
    COGNITO_IDENTITY_KEY, Issuance, IssuanceFilter, IssuanceWindow, StsSettings,
};
use idbroker_sts::StsError;
use serde_json::Value;

use super::{admit, kind};

const GUEST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[]}"#;

/// A broker that gives guests' credentials a scope-down session policy.
async fn scoped_guests() -> TestBroker {
    TestBroker::builder()
        .sts_settings(StsSettings {
            guest_session_policy: Some(GUEST_POLICY.to_owned()),
            ..StsSettings::default()
        })
        .build()
        .await
}

async fn ledger(t: &TestBroker, identity: &str) -> Vec<Issuance> {
    t.broker
        .find_issuances(
            IssuanceFilter::IdentityId(identity.to_owned()),
            IssuanceWindow::default(),
            60,
            None,
        )
        .await
        .unwrap()
        .items
}

async fn describe(t: &TestBroker, identity: &str) -> Identity {
    t.broker.describe_identity(identity).await.unwrap()
}

/// The claims of a token idbroker signed, checked with its own keys.
fn claims(t: &TestBroker, token: &str) -> BTreeMap<String, Value> {
    t.broker
        .issuer()
        .verify_own(token, idbroker_service::Clock::now(&*t.clock))
        .expect("a token idbroker signed")
}

#[tokio::test]
async fn a_guest_gets_credentials_and_the_ledger_records_them() {
    let t = scoped_guests().await;
    let pool = t.guest_pool().await;
    let guest = t.guest(&pool).await;

    let (id, creds) = t.guest_credentials(&guest).await.unwrap();
    assert_eq!(id, guest);

    let [call] = t.sts.calls().try_into().expect("one STS call");
    assert_eq!(call.role_arn, GUEST_ROLE);
    assert_eq!(call.session_name, "CognitoIdentityCredentials");
    assert_eq!(call.duration_seconds, 3600);
    assert_eq!(
        call.policy.as_deref(),
        Some(GUEST_POLICY),
        "guests are scoped down"
    );
    let token = claims(&t, &call.web_identity_token);
    assert_eq!(token["aud"], pool.id.as_str());
    assert_eq!(token["sub"], guest.as_str());
    assert_eq!(token["amr"], serde_json::json!(["unauthenticated"]));

    let [entry] = ledger(&t, guest.as_str())
        .await
        .try_into()
        .expect("one ledger entry");
    assert_eq!(entry.access_key_id, creds.access_key_id);
    assert_eq!(entry.role_arn, GUEST_ROLE);
    assert_eq!(entry.pool_id, pool.id.as_str());
    assert_eq!(entry.expires_at, creds.expiration);
}

#[tokio::test]
async fn a_developer_identity_gets_the_authenticated_role() {
    let t = scoped_guests().await;
    let pool = t.developer_pool().await;
    let users = BTreeMap::from([(DEVELOPER_PROVIDER.to_owned(), "user-1".to_owned())]);
    let (identity, token) = t
        .broker
        .get_open_id_token_for_developer_identity(
            pool.id.as_str(),
            None,
            &users,
            BTreeMap::new(),
            None,
        )
        .await
        .unwrap();
    let logins = BTreeMap::from([(COGNITO_IDENTITY_KEY.to_owned(), token)]);
    let (_, creds) = t
        .broker
        .get_credentials_for_identity(identity.as_str(), &logins, None)
        .await
        .unwrap();

    let [call] = t.sts.calls().try_into().expect("one STS call");
    assert_eq!(call.role_arn, AUTHENTICATED_ROLE);
    assert_eq!(call.policy, None, "only guests are scoped down");
    let amr = claims(&t, &call.web_identity_token)["amr"].clone();
    assert!(
        amr.as_array()
            .unwrap()
            .iter()
            .any(|a| a == DEVELOPER_PROVIDER),
        "{amr}"
    );
    let [entry] = ledger(&t, identity.as_str())
        .await
        .try_into()
        .expect("one ledger entry");
    assert_eq!(
        (entry.role_arn.as_str(), entry.access_key_id.as_str()),
        (AUTHENTICATED_ROLE, creds.access_key_id.as_str())
    );
}

#[tokio::test]
async fn an_expired_token_is_retried_once_with_a_fresh_one() {
    let t = TestBroker::new().await;
    let pool = t.guest_pool().await;
    let guest = t.guest(&pool).await;
    t.sts.then([StsAnswer::Error(StsError::TokenExpired)]);

    t.guest_credentials(&guest)
        .await
        .expect("the second try succeeds");
    let calls = t.sts.calls();
    assert_eq!(calls.len(), 2);
    let jti = |i: usize| claims(&t, &calls[i].web_identity_token)["jti"].clone();
    assert_ne!(jti(0), jti(1), "the retry carries a newly minted token");
    assert_eq!(ledger(&t, guest.as_str()).await.len(), 1);
}

#[tokio::test]
async fn a_token_expired_twice_is_an_internal_error_and_nothing_is_recorded() {
    let t = TestBroker::new().await;
    let pool = t.guest_pool().await;
    let guest = t.guest(&pool).await;
    t.sts.otherwise(StsAnswer::Error(StsError::TokenExpired));

    let result = t.guest_credentials(&guest).await;
    assert_eq!(kind(result), "InternalErrorException");
    assert_eq!(t.sts.calls().len(), 2, "one retry, not more");
    assert!(ledger(&t, guest.as_str()).await.is_empty());
}

#[tokio::test]
async fn the_service_does_not_retry_what_the_sts_client_already_retried() {
    // IDPCommunicationError and outages are retried inside `idbroker_sts::Sts`, within its
    // budget; what reaches the service is final.
    let t = TestBroker::new().await;
    let pool = t.guest_pool().await;
    let guest = t.guest(&pool).await;
    t.sts.then([StsAnswer::idp_communication_error()]);
    let first = t.guest_credentials(&guest).await;
    assert_eq!(kind(first), "ExternalServiceException");
    assert_eq!(t.sts.calls().len(), 1);
    assert!(ledger(&t, guest.as_str()).await.is_empty());

    // The next call finds STS answering again.
    t.guest_credentials(&guest).await.unwrap();
    assert_eq!(ledger(&t, guest.as_str()).await.len(), 1);
}

#[tokio::test]
async fn an_sts_refusal_changes_nothing() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    let identity = t
        .broker
        .get_id(pool.id.as_str(), None, &t.idp_login("alice"), admit)
        .await
        .unwrap();
    let before = describe(&t, identity.as_str()).await;
    assert_eq!(before.provider_keys(), [t.idp.login_key()]);

    for code in ["AccessDenied", "InvalidIdentityToken", "IDPRejectedClaim"] {
        t.sts.then([StsAnswer::refused(code)]);
        let refused = t
            .broker
            .get_credentials_for_identity(identity.as_str(), &t.idp_login("alice"), None)
            .await;
        assert_eq!(
            kind(refused),
            "InvalidIdentityPoolConfigurationException",
            "{code}"
        );
    }
    assert!(
        ledger(&t, identity.as_str()).await.is_empty(),
        "no credentials, no ledger entry"
    );
    assert_eq!(
        describe(&t, identity.as_str()).await,
        before,
        "the identity is as it was"
    );

    t.broker
        .get_credentials_for_identity(identity.as_str(), &t.idp_login("alice"), None)
        .await
        .expect("the next call works");
    assert_eq!(ledger(&t, identity.as_str()).await.len(), 1);
}

/// A login presented for the first time is linked before STS is asked (docs/behaviour.md), so
/// a refusal leaves it linked and writes no ledger entry; the next call needs no new link.
#[tokio::test]
async fn a_login_new_to_a_refused_call_stays_linked_and_nothing_is_recorded() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    let mut open = pool.config.clone();
    open.allow_unauthenticated_identities = true;
    t.broker
        .update_identity_pool(pool.id.as_str(), open, None, None)
        .await
        .unwrap();
    let guest = t.guest(&pool).await;
    assert!(
        describe(&t, guest.as_str())
            .await
            .provider_keys()
            .is_empty()
    );

    t.sts.then([StsAnswer::refused("AccessDenied")]);
    let refused = t
        .broker
        .get_credentials_for_identity(guest.as_str(), &t.idp_login("bob"), None)
        .await;
    assert_eq!(kind(refused), "InvalidIdentityPoolConfigurationException");
    assert_eq!(
        describe(&t, guest.as_str()).await.provider_keys(),
        [t.idp.login_key()],
        "the verified login is linked"
    );
    assert!(ledger(&t, guest.as_str()).await.is_empty());

    t.broker
        .get_credentials_for_identity(guest.as_str(), &t.idp_login("bob"), None)
        .await
        .expect("the next call works");
    let issued = ledger(&t, guest.as_str()).await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].role_arn, AUTHENTICATED_ROLE);
}

/// One-shot credentials: GetId then GetCredentialsForIdentity, one STS call and one ledger
/// entry; a named identity must belong to the pool, checked before anything happens.
#[tokio::test]
async fn one_shot_credentials_run_get_id_then_get_credentials() {
    let t = scoped_guests().await;
    let pool = t.guest_pool().await;
    let none = BTreeMap::new();

    let (guest, creds) = t
        .broker
        .get_credentials_for_pool(pool.id.as_str(), None, &none, None, super::admit)
        .await
        .unwrap();
    assert_eq!(describe(&t, guest.as_str()).await.pool_id, pool.id);
    let [call] = t.sts.calls().try_into().expect("one STS call");
    assert_eq!(call.role_arn, GUEST_ROLE);
    let [entry] = ledger(&t, guest.as_str())
        .await
        .try_into()
        .expect("one ledger entry");
    assert_eq!(entry.access_key_id, creds.access_key_id);

    // The guest again, by its id: no GetId, so the pool's budget is not asked.
    let (again, _) = t
        .broker
        .get_credentials_for_pool(pool.id.as_str(), Some(guest.as_str()), &none, None, |_| {
            Err(60)
        })
        .await
        .unwrap();
    assert_eq!(again, guest);
    assert_eq!(ledger(&t, guest.as_str()).await.len(), 2);

    // Another pool's identity: refused before STS or the store are touched.
    let other = t.guest_pool().await;
    let result = t
        .broker
        .get_credentials_for_pool(
            other.id.as_str(),
            Some(guest.as_str()),
            &none,
            None,
            super::admit,
        )
        .await;
    assert_eq!(kind(result), "ResourceNotFoundException");
    assert_eq!(t.sts.calls().len(), 2);

    // GetId's budget refuses a new guest before it is created.
    let result = t
        .broker
        .get_credentials_for_pool(pool.id.as_str(), None, &none, None, |_| Err(3))
        .await;
    assert_eq!(kind(result), "TooManyRequestsException");

    // STS refusing the role after GetId: the new guest stays, as with the two calls.
    t.sts.then([StsAnswer::Error(StsError::Refused {
        code: "AccessDenied".into(),
        detail: "not trusted".into(),
    })]);
    let result = t
        .broker
        .get_credentials_for_pool(pool.id.as_str(), None, &none, None, super::admit)
        .await;
    assert_eq!(kind(result), "InvalidIdentityPoolConfigurationException");
    let identities = t
        .broker
        .list_identities(pool.id.as_str(), 60, None, false)
        .await
        .unwrap()
        .items;
    assert_eq!(
        identities.len(),
        2,
        "the first guest and the one STS refused"
    );
}

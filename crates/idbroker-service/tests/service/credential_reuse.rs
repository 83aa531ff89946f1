//! The per-pool credential reuse window (`credential_reuse_seconds`): within it the same
//! identity and session get the same credentials back without an STS call (the scripted STS
//! counts calls), never within 5 minutes of their expiry, never for another role, other
//! session tags or another `amr`, never once the pool turns it off, and never for an identity
//! refused by the checks that come first.

use std::collections::BTreeMap;

use chrono::Duration;
use idbroker_domain::{
    IdentityId, IdentityPool, PoolConfig, PoolLifetimes, PoolRoles, PrincipalTagMap,
};
use idbroker_service::testing::{
    AUTHENTICATED_ROLE, DEVELOPER_PROVIDER, GUEST_ROLE, IDP_CLIENT_ID, IDP_ISSUER, TestBroker,
    guest_config,
};
use idbroker_service::{AwsCredentials, COGNITO_IDENTITY_KEY, IssuanceFilter, IssuanceWindow};
use idbroker_store::{LoginStore, Revocation, RevocationScope, RevocationStore};
use serde_json::json;

use super::{admit, kind, none};

const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/TestOther";

fn reuse(seconds: i64) -> PoolLifetimes {
    PoolLifetimes {
        credential_reuse_seconds: Some(seconds),
        ..PoolLifetimes::default()
    }
}

/// Sets the pool's lifetimes over the REST face's path (the AWS face keeps them).
async fn set_lifetimes(t: &TestBroker, pool: &IdentityPool, lifetimes: PoolLifetimes) {
    let config = t
        .broker
        .describe_identity_pool(pool.id.as_str())
        .await
        .unwrap()
        .config;
    t.broker
        .update_identity_pool(pool.id.as_str(), config, None, Some(lifetimes.into()))
        .await
        .unwrap();
}

async fn guest_pool_with(t: &TestBroker, lifetimes: PoolLifetimes) -> IdentityPool {
    let pool = t.guest_pool().await;
    set_lifetimes(t, &pool, lifetimes).await;
    pool
}

async fn credentials(t: &TestBroker, identity: &IdentityId) -> AwsCredentials {
    t.guest_credentials(identity).await.unwrap().1
}

async fn ledger_len(t: &TestBroker, identity: &IdentityId) -> usize {
    t.broker
        .find_issuances(
            IssuanceFilter::IdentityId(identity.to_string()),
            IssuanceWindow::default(),
            60,
            None,
        )
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn within_the_window_the_same_credentials_come_back_without_sts() {
    let t = TestBroker::new().await;
    let pool = guest_pool_with(&t, reuse(600)).await;
    let guest = t.guest(&pool).await;

    let first = credentials(&t, &guest).await;
    t.clock.advance(Duration::seconds(30));
    let second = credentials(&t, &guest).await;
    assert_eq!(t.sts.calls().len(), 1, "one STS call for two requests");
    assert_eq!(second.access_key_id, first.access_key_id);
    assert_eq!(second.secret_access_key, first.secret_access_key);
    assert_eq!(second.session_token, first.session_token);
    assert_eq!(second.expiration, first.expiration);
    assert_eq!(
        ledger_len(&t, &guest).await,
        1,
        "reused credentials are not new: no second ledger row"
    );

    // Another identity of the pool has credentials of its own.
    let other = t.guest(&pool).await;
    let theirs = credentials(&t, &other).await;
    assert_ne!(theirs.access_key_id, first.access_key_id);
    assert_eq!(t.sts.calls().len(), 2);
}

#[tokio::test]
async fn reuse_is_off_by_default() {
    let t = TestBroker::new().await;
    let pool = t.guest_pool().await;
    let guest = t.guest(&pool).await;
    let first = credentials(&t, &guest).await;
    let second = credentials(&t, &guest).await;
    assert_eq!(t.sts.calls().len(), 2);
    assert_ne!(second.access_key_id, first.access_key_id);
    assert_eq!(ledger_len(&t, &guest).await, 2);

    // 0 is off too.
    set_lifetimes(&t, &pool, reuse(0)).await;
    credentials(&t, &guest).await;
    credentials(&t, &guest).await;
    assert_eq!(t.sts.calls().len(), 4);
}

#[tokio::test]
async fn the_window_ends_when_it_says() {
    let t = TestBroker::new().await;
    let pool = guest_pool_with(&t, reuse(60)).await;
    let guest = t.guest(&pool).await;
    let first = credentials(&t, &guest).await;

    t.clock.advance(Duration::seconds(59));
    assert_eq!(
        credentials(&t, &guest).await.access_key_id,
        first.access_key_id
    );
    assert_eq!(t.sts.calls().len(), 1);

    t.clock.advance(Duration::seconds(1));
    let after = credentials(&t, &guest).await;
    assert_ne!(
        after.access_key_id, first.access_key_id,
        "the window is over"
    );
    assert_eq!(t.sts.calls().len(), 2);
    // The new credentials start a window of their own.
    assert_eq!(
        credentials(&t, &guest).await.access_key_id,
        after.access_key_id
    );
    assert_eq!(t.sts.calls().len(), 2);
}

#[tokio::test]
async fn credentials_are_never_reused_within_5_minutes_of_their_expiry() {
    let t = TestBroker::new().await;
    // 15-minute credentials and a 15-minute window: expiry decides, at 10 minutes.
    let pool = guest_pool_with(
        &t,
        PoolLifetimes {
            credential_duration_seconds: Some(900),
            credential_reuse_seconds: Some(900),
            ..PoolLifetimes::default()
        },
    )
    .await;
    let guest = t.guest(&pool).await;
    let first = credentials(&t, &guest).await;
    assert_eq!(t.sts.calls()[0].duration_seconds, 900);

    t.clock.advance(Duration::seconds(599));
    assert_eq!(
        credentials(&t, &guest).await.access_key_id,
        first.access_key_id
    );
    assert_eq!(t.sts.calls().len(), 1);

    t.clock.advance(Duration::seconds(1));
    let fresh = credentials(&t, &guest).await;
    assert_ne!(fresh.access_key_id, first.access_key_id);
    assert_eq!(t.sts.calls().len(), 2);
    assert!(fresh.expiration > first.expiration);
}

#[tokio::test]
async fn another_role_or_custom_role_is_a_new_sts_call() {
    let t = TestBroker::new().await;
    let pool = guest_pool_with(&t, reuse(600)).await;
    let guest = t.guest(&pool).await;
    credentials(&t, &guest).await;

    // The pool's guest role changes: the next call asks STS for the new one.
    let (_, mut roles) = t
        .broker
        .get_identity_pool_roles(pool.id.as_str())
        .await
        .unwrap();
    roles
        .roles
        .insert("unauthenticated".into(), OTHER_ROLE.into());
    t.broker
        .set_identity_pool_roles(pool.id.as_str(), roles)
        .await
        .unwrap();
    credentials(&t, &guest).await;
    let calls = t.sts.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].role_arn.as_str(), calls[1].role_arn.as_str()),
        (GUEST_ROLE, OTHER_ROLE)
    );

    // A custom role picked among the rules that match.
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    set_lifetimes(&t, &pool, reuse(600)).await;
    let provider = t.idp.login_key().to_owned();
    let roles: PoolRoles = serde_json::from_value(json!({
        "Roles": {"authenticated": AUTHENTICATED_ROLE},
        "RoleMappings": {provider: {"Type": "Rules", "AmbiguousRoleResolution": "Deny",
            "RulesConfiguration": {"Rules": [
                {"Claim": "sub", "MatchType": "Equals", "Value": "alice", "RoleARN": AUTHENTICATED_ROLE},
                {"Claim": "sub", "MatchType": "Equals", "Value": "alice", "RoleARN": OTHER_ROLE},
            ]}}},
    }))
    .unwrap();
    t.broker
        .set_identity_pool_roles(pool.id.as_str(), roles)
        .await
        .unwrap();
    let alice = t.get_id(&pool, &t.idp_login("alice")).await.unwrap();
    let get = |custom: Option<&'static str>| {
        let (t, alice) = (&t, &alice);
        async move {
            t.broker
                .get_credentials_for_identity(alice.as_str(), &t.idp_login("alice"), custom)
                .await
                .unwrap()
                .1
        }
    };
    let default = get(None).await;
    let custom = get(Some(OTHER_ROLE)).await;
    assert_ne!(custom.access_key_id, default.access_key_id);
    assert_eq!(
        get(Some(OTHER_ROLE)).await.access_key_id,
        custom.access_key_id
    );
    assert_eq!(get(None).await.access_key_id, default.access_key_id);
    let roles: Vec<String> = t.sts.calls().into_iter().map(|c| c.role_arn).collect();
    assert_eq!(roles, [AUTHENTICATED_ROLE, OTHER_ROLE]);
}

#[tokio::test]
async fn other_session_tags_or_amr_are_a_new_sts_call() {
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
            ..guest_config("tagged")
        })
        .await;
    set_lifetimes(&t, &pool, reuse(600)).await;
    let key = t.idp.login_key().to_owned();
    t.broker
        .set_principal_tag_attribute_map(
            pool.id.as_str(),
            &key,
            PrincipalTagMap {
                use_defaults: false,
                principal_tags: BTreeMap::from([("team".to_owned(), "team".to_owned())]),
            },
        )
        .await
        .unwrap();
    let login = |team: &str| {
        let token = t.idp.id_token(
            "alice",
            idbroker_service::Clock::now(&*t.clock),
            json!({"team": team}),
        );
        BTreeMap::from([(key.clone(), token)])
    };
    let alice = t.get_id(&pool, &login("red")).await.unwrap();
    let get = |logins: BTreeMap<String, String>| {
        let (t, alice) = (&t, &alice);
        async move {
            t.broker
                .get_credentials_for_identity(alice.as_str(), &logins, None)
                .await
                .unwrap()
                .1
        }
    };
    let red = get(login("red")).await;
    // A new token with the same claims: the same session.
    t.clock.advance(Duration::seconds(1));
    assert_eq!(get(login("red")).await.access_key_id, red.access_key_id);
    assert_eq!(t.sts.calls().len(), 1);
    let blue = get(login("blue")).await;
    assert_ne!(blue.access_key_id, red.access_key_id, "another tag value");
    assert_eq!(t.sts.calls().len(), 2);

    // The same identity proven by a developer token: another amr (and no tags).
    let users = BTreeMap::from([(DEVELOPER_PROVIDER.to_owned(), "user-1".to_owned())]);
    let mut both = users.clone();
    both.extend(login("red"));
    let (same, token) = t
        .broker
        .get_open_id_token_for_developer_identity(
            pool.id.as_str(),
            Some(alice.as_str()),
            &both,
            BTreeMap::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(same, alice);
    let developer = get(BTreeMap::from([(COGNITO_IDENTITY_KEY.to_owned(), token)])).await;
    assert_ne!(developer.access_key_id, red.access_key_id);
    assert_ne!(developer.access_key_id, blue.access_key_id);
    let calls = t.sts.calls();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.role_arn == AUTHENTICATED_ROLE));
}

#[tokio::test]
async fn a_disabled_or_revoked_identity_is_refused_even_with_an_entry() {
    let t = TestBroker::new().await;
    let pool = t.federated_pool().await;
    set_lifetimes(&t, &pool, reuse(600)).await;
    let alice = t.get_id(&pool, &t.idp_login("alice")).await.unwrap();
    let get = || async {
        t.broker
            .get_credentials_for_identity(alice.as_str(), &t.idp_login("alice"), None)
            .await
    };
    let first = get().await.unwrap().1;

    // Revoked by another replica (through the store): the check that comes first refuses, and
    // the revocation's change event drops the entry, so a re-enabled identity never gets back
    // credentials from before its revocation (which the deny policy refuses).
    let revocation = Revocation {
        scope: RevocationScope::Identity,
        target: alice.to_string(),
        revoked_before: idbroker_service::Clock::now(&*t.clock),
        created_at: idbroker_service::Clock::now(&*t.clock),
        actor: "test".into(),
    };
    t.store.put_revocation(&revocation).await.unwrap();
    assert_eq!(kind(get().await), "NotAuthorizedException");
    t.store
        .delete_revocation(RevocationScope::Identity, alice.as_str())
        .await
        .unwrap();
    // The event is delivered in-process by a task: give it its turn.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = get().await.unwrap().1;
    assert_ne!(second.access_key_id, first.access_key_id);
    assert_eq!(t.sts.calls().len(), 2);

    // A revocation through the broker drops the entry at once: after re-enabling, STS again.
    t.broker
        .revoke_identity(alice.as_str(), &Default::default())
        .await
        .unwrap();
    assert_eq!(kind(get().await), "NotAuthorizedException");
    t.broker.reenable_identity(alice.as_str()).await.unwrap();
    let after = get().await.unwrap().1;
    assert_ne!(after.access_key_id, second.access_key_id);
    assert_eq!(t.sts.calls().len(), 3);

    // Disabled behind the broker's back (its last login unlinked in the store).
    let login = t
        .broker
        .describe_identity(alice.as_str())
        .await
        .unwrap()
        .logins
        .remove(0);
    t.store
        .remove_login(&alice, &login, idbroker_service::Clock::now(&*t.clock))
        .await
        .unwrap();
    assert_eq!(kind(get().await), "NotAuthorizedException");
    assert_eq!(t.sts.calls().len(), 3, "refused before STS");
}

#[tokio::test]
async fn turning_the_pool_setting_off_stops_reuse_at_once() {
    let t = TestBroker::new().await;
    let pool = guest_pool_with(&t, reuse(600)).await;
    let guest = t.guest(&pool).await;
    let first = credentials(&t, &guest).await;
    assert_eq!(
        credentials(&t, &guest).await.access_key_id,
        first.access_key_id
    );

    set_lifetimes(&t, &pool, PoolLifetimes::default()).await;
    assert_ne!(
        credentials(&t, &guest).await.access_key_id,
        first.access_key_id
    );
    assert_eq!(t.sts.calls().len(), 2);

    // A change of the pool drops what was kept for it (its change event), so turned on again
    // the window starts over; nothing was kept while it was off.
    set_lifetimes(&t, &pool, reuse(600)).await;
    let third = credentials(&t, &guest).await;
    assert_ne!(third.access_key_id, first.access_key_id);
    assert_eq!(t.sts.calls().len(), 3);
    assert_eq!(
        credentials(&t, &guest).await.access_key_id,
        third.access_key_id
    );
    // Shortened: the change drops what was kept (the window is also read again at every
    // call, so an entry could never outlive a shorter window anyway).
    t.clock.advance(Duration::seconds(120));
    assert_eq!(
        credentials(&t, &guest).await.access_key_id,
        third.access_key_id
    );
    set_lifetimes(&t, &pool, reuse(60)).await;
    assert_ne!(
        credentials(&t, &guest).await.access_key_id,
        third.access_key_id
    );
    assert_eq!(t.sts.calls().len(), 4);
}

#[tokio::test]
async fn one_shot_credentials_are_reused_too() {
    let t = TestBroker::new().await;
    let pool = guest_pool_with(&t, reuse(600)).await;
    let (guest, first) = t
        .broker
        .get_credentials_for_pool(pool.id.as_str(), None, &none(), None, admit)
        .await
        .unwrap();
    let (again, second) = t
        .broker
        .get_credentials_for_pool(pool.id.as_str(), Some(guest.as_str()), &none(), None, admit)
        .await
        .unwrap();
    assert_eq!(again, guest);
    assert_eq!(second.access_key_id, first.access_key_id);
    assert_eq!(t.sts.calls().len(), 1);
}

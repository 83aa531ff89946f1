//! Guest identities and identity administration (`docs/spec.md` behaviours 17–18, 20, 28, 77–79).

use std::collections::HashSet;

use crate::helpers::{REGION, TestApp, assert_sdk_error, code, on_both_stores};

on_both_stores!(
    each_guest_get_id_creates_a_new_identity,
    pools_without_guest_access_refuse_guest_get_id,
    get_id_on_an_unknown_or_deleted_pool_is_not_found,
    concurrent_guest_get_id_calls_create_exactly_one_identity_each,
    identities_are_described_listed_and_deleted,
    delete_identities_takes_one_to_sixty_ids,
    logins_from_unconfigured_or_developer_providers_are_refused,
);

async fn each_guest_get_id_creates_a_new_identity(app: TestApp) {
    let pool = app.create_pool("guests", true).await;
    let first = app.get_id(&pool, &[]).await.unwrap();
    let second = app
        .sdk
        .get_id()
        .identity_pool_id(&pool)
        .account_id("123456789012")
        .send()
        .await
        .unwrap();
    let (a, b) = (first.identity_id().unwrap(), second.identity_id().unwrap());
    assert_ne!(a, b);
    for id in [a, b] {
        let (region, uuid) = id.split_once(':').unwrap();
        assert_eq!(region, REGION);
        uuid::Uuid::parse_str(uuid).unwrap();
    }
}

async fn pools_without_guest_access_refuse_guest_get_id(app: TestApp) {
    let pool = app.create_pool("members only", false).await;
    let err = app.get_id(&pool, &[]).await.unwrap_err();
    assert_sdk_error(
        &err,
        "NotAuthorizedException",
        "Unauthenticated access is not supported for this identity pool.",
    );
    assert!(app.identity_ids(&pool).await.is_empty());
}

async fn get_id_on_an_unknown_or_deleted_pool_is_not_found(app: TestApp) {
    let ghost = format!("{REGION}:{}", uuid::Uuid::new_v4());
    let err = app.get_id(&ghost, &[]).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    let pool = app.create_pool("short-lived", true).await;
    app.get_id(&pool, &[]).await.unwrap();
    app.delete_pool(&pool).await.unwrap();
    let err = app.get_id(&pool, &[]).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

async fn concurrent_guest_get_id_calls_create_exactly_one_identity_each(app: TestApp) {
    let pool = app.create_pool("busy", true).await;
    let calls = (0..48).map(|_| app.sdk.get_id().identity_pool_id(&pool).send());
    let ids: HashSet<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().identity_id.unwrap())
        .collect();
    assert_eq!(ids.len(), 48, "48 calls, 48 distinct identities");

    let listed = app
        .sdk
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(60)
        .send()
        .await
        .unwrap();
    let stored: HashSet<String> = listed
        .identities()
        .iter()
        .map(|i| i.identity_id().unwrap().to_owned())
        .collect();
    assert_eq!(
        stored, ids,
        "exactly the returned identities are stored, nothing else"
    );
    assert!(listed.next_token().is_none());
    assert_eq!(app.pool_count().await, 1);
}

async fn identities_are_described_listed_and_deleted(app: TestApp) {
    let pool = app.create_pool("p", true).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.guest(&pool).await);
    }
    let described = app.describe_identity(&ids[0]).await.unwrap();
    assert_eq!(described.identity_id(), Some(ids[0].as_str()));
    assert!(described.logins().is_empty(), "a guest has no logins");
    let (created, modified) = (
        described.creation_date().unwrap(),
        described.last_modified_date().unwrap(),
    );
    assert!(created <= modified);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - created.as_secs_f64()).abs() < 60.0,
        "creation date is now"
    );

    let page1 = app
        .sdk
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page1.identities().len(), 2);
    assert_eq!(page1.identity_pool_id(), Some(pool.as_str()));
    let page2 = app
        .sdk
        .list_identities()
        .identity_pool_id(&pool)
        .max_results(2)
        .next_token(page1.next_token().unwrap())
        .hide_disabled(true)
        .send()
        .await
        .unwrap();
    assert_eq!(page2.identities().len(), 1);
    assert!(page2.next_token().is_none());

    let ghost = format!("{REGION}:{}", uuid::Uuid::new_v4());
    let err = app.describe_identity(&ghost).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = app
        .sdk
        .list_identities()
        .identity_pool_id(&ghost)
        .max_results(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

async fn delete_identities_takes_one_to_sixty_ids(app: TestApp) {
    let pool = app.create_pool("p", true).await;
    let keep = app.guest(&pool).await;
    let doomed = app.guest(&pool).await;

    let too_many: Vec<String> = (0..61)
        .map(|_| format!("{REGION}:{}", uuid::Uuid::new_v4()))
        .collect();
    let err = app
        .sdk
        .delete_identities()
        .set_identity_ids_to_delete(Some(too_many))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    let ghost = format!("{REGION}:{}", uuid::Uuid::new_v4());
    let out = app
        .sdk
        .delete_identities()
        .identity_ids_to_delete(&doomed)
        .identity_ids_to_delete(&ghost)
        .send()
        .await
        .unwrap();
    assert!(out.unprocessed_identity_ids().is_empty());
    let err = app.describe_identity(&doomed).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    app.describe_identity(&keep).await.unwrap();
}

async fn logins_from_unconfigured_or_developer_providers_are_refused(app: TestApp) {
    let pool = app
        .create_pool_with("p", true, |pool| {
            pool.developer_provider_name("login.example")
        })
        .await;
    let err = app
        .get_id(&pool, &[("accounts.google.com", "eyJ.token.x")])
        .await
        .unwrap_err();
    assert_sdk_error(
        &err,
        "NotAuthorizedException",
        "Token is not from a supported provider of this identity pool.",
    );

    let err = app
        .get_id(&pool, &[("login.example", "user-1")])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotAuthorizedException");

    assert!(
        app.identity_ids(&pool).await.is_empty(),
        "refused logins create no identity"
    );
}

/// The idle-guest clean-up (operations issue), run by hand on a manual clock.
mod idle_guests {
    use crate::helpers::code;

    crate::helpers::on_both_backends!(idle_guests_are_deleted_only_when_the_clean_up_is_on);

    /// The idle-guest clean-up (operations issue): a guest unused for longer than the setting is
    /// deleted; a guest that keeps fetching tokens, and an identity with a login, are kept.
    async fn idle_guests_are_deleted_only_when_the_clean_up_is_on(
        backend: idbroker_store::Backend,
    ) {
        use crate::helpers::{
            ACCESS_KEY_ID, ManualClock, SECRET_ACCESS_KEY, sdk_client, settings, start_with_clock,
        };
        use chrono::Duration;

        let db = idbroker_store::testing::TestDatabase::new(backend).await;
        let clock = ManualClock::new();
        let mut on = settings(db.url());
        on.guest_idle = Some(Duration::days(30));
        let (address, broker) = start_with_clock(on, clock.clone()).await;
        let (_, broker_off) = start_with_clock(settings(db.url()), clock.clone()).await;
        let sdk = sdk_client(&address, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
        let pool = sdk
            .create_identity_pool()
            .identity_pool_name("idle")
            .allow_unauthenticated_identities(true)
            .developer_provider_name("login.idle.dev")
            .send()
            .await
            .unwrap()
            .identity_pool_id;
        let guest = || async {
            let out = sdk.get_id().identity_pool_id(&pool).send().await.unwrap();
            out.identity_id.unwrap()
        };
        let (forgotten, active) = (guest().await, guest().await);
        let developer_user = sdk
            .get_open_id_token_for_developer_identity()
            .identity_pool_id(&pool)
            .logins("login.idle.dev", "user-1")
            .send()
            .await
            .unwrap()
            .identity_id
            .unwrap();
        let exists = |id: String| {
            let sdk = sdk.clone();
            async move {
                match sdk.describe_identity().identity_id(&id).send().await {
                    Ok(_) => true,
                    Err(err) => {
                        assert_eq!(code(&err), "ResourceNotFoundException");
                        false
                    }
                }
            }
        };

        // Day 20: the active guest fetches a token. Day 31: the forgotten one has been idle too long.
        clock.advance(Duration::days(20));
        sdk.get_open_id_token()
            .identity_id(&active)
            .send()
            .await
            .unwrap();
        clock.advance(Duration::days(11));
        assert_eq!(
            broker_off.delete_idle_guests().await.unwrap(),
            0,
            "off by default"
        );
        assert!(exists(forgotten.clone()).await);
        assert_eq!(broker.delete_idle_guests().await.unwrap(), 1);
        assert!(!exists(forgotten).await, "the idle guest is deleted");
        assert!(exists(active.clone()).await, "a guest in use is kept");

        // Day 51: now the active guest too has been idle for 31 days; the developer user stays.
        clock.advance(Duration::days(20));
        assert_eq!(broker.delete_idle_guests().await.unwrap(), 1);
        assert!(!exists(active).await);
        assert!(
            exists(developer_user).await,
            "identities with logins are never cleaned up"
        );
    }
}

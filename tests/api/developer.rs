//! Developer-authenticated identities through the AWS face (`docs/spec.md` behaviours 62–67, 69–74).

use idbroker_store::Backend;
use serde_json::json;

use crate::tokens::{World, world};

const DEV: &str = "login.myapp";

crate::helpers::on_both_backends!(
    a_developer_user_gets_one_identity_and_a_verifiable_token,
    token_durations_follow_the_model,
    only_the_pools_developer_provider_is_accepted,
    a_user_registered_elsewhere_cannot_be_attached_to_another_identity,
    a_guest_becomes_a_developer_user_and_keeps_its_id,
    idbrokers_own_token_is_accepted_back_only_for_its_identity,
    principal_tags_travel_in_the_token,
    lookup_finds_users_and_identities,
    merging_moves_the_source_user_to_the_destination,
    merging_past_twenty_logins_is_refused,
    an_unlinked_user_is_a_new_identity_next_time,
    a_developer_user_cannot_be_aimed_at_another_providers_identity,
    a_token_minted_from_ours_keeps_its_tags_and_never_outlives_it,
);

async fn dev_token(
    w: &World,
    user: &str,
    identity: Option<&str>,
    duration: Option<i64>,
) -> Result<(String, String), String> {
    w.app
        .developer_login(&w.pool, DEV, user)
        .set_identity_id(identity.map(str::to_owned))
        .set_token_duration(duration)
        .send()
        .await
        .map(|o| (o.identity_id.unwrap(), o.token.unwrap()))
        .map_err(|e| crate::helpers::code(&e))
}

/// MergeDeveloperIdentities of two of the pool's developer users.
async fn merge(
    w: &World,
    source: &str,
    destination: &str,
) -> crate::helpers::SdkResult<
    aws_sdk_cognitoidentity::operation::merge_developer_identities::MergeDeveloperIdentitiesOutput,
    aws_sdk_cognitoidentity::operation::merge_developer_identities::MergeDeveloperIdentitiesError,
> {
    let call = w.app.sdk.merge_developer_identities();
    call.identity_pool_id(&w.pool)
        .developer_provider_name(DEV)
        .source_user_identifier(source)
        .destination_user_identifier(destination)
        .send()
        .await
}

async fn a_developer_user_gets_one_identity_and_a_verifiable_token(backend: Backend) {
    let w = world(backend).await;
    let (id, token) = dev_token(&w, "user-1", None, None).await.unwrap();
    let (again, _) = dev_token(&w, "user-1", None, None).await.unwrap();
    assert_eq!(id, again, "behaviour 62");
    let c = w.verified(&token).await;
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        900,
        "default 15 minutes"
    );
    assert_eq!(c["sub"], id.as_str());
    let amr: Vec<&str> = c["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"authenticated"));
    assert!(amr.contains(&DEV));
    assert!(
        amr.contains(&format!("{DEV}:{}:user-1", w.pool).as_str()),
        "behaviour 67: {amr:?}"
    );
}

async fn token_durations_follow_the_model(backend: Backend) {
    let w = world(backend).await;
    let (_, token) = dev_token(&w, "u", None, Some(86_400)).await.unwrap();
    let c = w.verified(&token).await;
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        86_400
    );
    assert_eq!(
        dev_token(&w, "u", None, Some(86_401)).await.unwrap_err(),
        "ValidationException"
    );
    for below in [0, -1] {
        assert_eq!(
            dev_token(&w, "u", None, Some(below)).await.unwrap_err(),
            "ValidationException",
            "{below}"
        );
    }
}

async fn only_the_pools_developer_provider_is_accepted(backend: Backend) {
    let w = world(backend).await;
    let err = w
        .app
        .developer_login(&w.pool, "login.other", "user-1")
        .send()
        .await
        .unwrap_err();
    crate::helpers::assert_sdk_error(
        &err,
        "NotAuthorizedException",
        "This identity pool does not support the specified developer provider",
    );
}

async fn a_user_registered_elsewhere_cannot_be_attached_to_another_identity(backend: Backend) {
    let w = world(backend).await;
    let (b, _) = dev_token(&w, "taken", None, None).await.unwrap();
    let a = w.guest().await;
    assert_ne!(a, b);
    assert_eq!(
        dev_token(&w, "taken", Some(&a), None).await.unwrap_err(),
        "DeveloperUserAlreadyRegisteredException"
    );
    let (same, _) = dev_token(&w, "taken", Some(&b), None).await.unwrap();
    assert_eq!(same, b);
}

async fn a_guest_becomes_a_developer_user_and_keeps_its_id(backend: Backend) {
    let w = world(backend).await;
    let guest = w.guest().await;
    let (id, _) = dev_token(&w, "upgraded", Some(&guest), None).await.unwrap();
    assert_eq!(id, guest, "behaviour 66");
    let (again, _) = dev_token(&w, "upgraded", None, None).await.unwrap();
    assert_eq!(again, guest);
}

async fn idbrokers_own_token_is_accepted_back_only_for_its_identity(backend: Backend) {
    let w = world(backend).await;
    let (a, token_a) = dev_token(&w, "alice", None, None).await.unwrap();
    let (b, _) = dev_token(&w, "bob", None, None).await.unwrap();
    let key = "cognito-identity.amazonaws.com";
    let (same, minted) = w
        .open_id_token(&a, &[(key, token_a.clone())])
        .await
        .unwrap();
    assert_eq!(same, a);
    w.verified(&minted).await;
    // The issuer without its scheme is accepted as the key too.
    let issuer_key = w.issuer.trim_start_matches("http://").to_owned();
    w.open_id_token(&a, &[(&issuer_key, token_a.clone())])
        .await
        .unwrap();
    let (code, _) = w
        .open_id_token(&b, &[(key, token_a.clone())])
        .await
        .unwrap_err();
    assert_eq!(
        code, "NotAuthorizedException",
        "behaviour 69: sub must be the identity"
    );
    let mut tampered = token_a.clone();
    tampered.push('x');
    let (code, _) = w.open_id_token(&a, &[(key, tampered)]).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
}

async fn principal_tags_travel_in_the_token(backend: Backend) {
    let w = world(backend).await;
    let out = w
        .app
        .developer_login(&w.pool, DEV, "tagged")
        .principal_tags("team", "blue")
        .principal_tags("level", "3")
        .send()
        .await
        .unwrap();
    let c = w.verified(out.token().unwrap()).await;
    assert_eq!(
        c["https://aws.amazon.com/tags"],
        json!({"principal_tags": {"team": ["blue"], "level": ["3"]}}),
        "behaviour 70: principal tags only, as in the real service's tokens"
    );
    let mut too_many = w.app.developer_login(&w.pool, DEV, "tagged");
    for i in 0..51 {
        too_many = too_many.principal_tags(format!("k{i}"), "v");
    }
    assert_eq!(
        crate::helpers::code(&too_many.send().await.unwrap_err()),
        "ValidationException"
    );
}

async fn lookup_finds_users_and_identities(backend: Backend) {
    let w = world(backend).await;
    let (id, _) = dev_token(&w, "u1", None, None).await.unwrap();
    dev_token(&w, "u2", Some(&id), None).await.unwrap();
    let (other, _) = dev_token(&w, "u3", None, None).await.unwrap();
    let lookup = || {
        let call = w.app.sdk.lookup_developer_identity();
        call.identity_pool_id(&w.pool)
    };
    let by_user = lookup()
        .developer_user_identifier("u2")
        .send()
        .await
        .unwrap();
    assert_eq!(by_user.identity_id(), Some(id.as_str()));
    let by_id = lookup()
        .identity_id(&id)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.developer_user_identifier_list(), ["u1".to_owned()]);
    let next = lookup()
        .identity_id(&id)
        .max_results(1)
        .next_token(by_id.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.developer_user_identifier_list(), ["u2".to_owned()]);
    let err = lookup()
        .identity_id(&other)
        .developer_user_identifier("u1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::helpers::code(&err), "ResourceConflictException");
    let err = lookup().send().await.unwrap_err();
    assert_eq!(crate::helpers::code(&err), "InvalidParameterException");
}

async fn merging_moves_the_source_user_to_the_destination(backend: Backend) {
    let w = world(backend).await;
    let (source, _) = dev_token(&w, "src", None, None).await.unwrap();
    let (dest, _) = dev_token(&w, "dst", None, None).await.unwrap();
    let merged = merge(&w, "src", "dst").await.unwrap();
    assert_eq!(merged.identity_id(), Some(dest.as_str()));
    let found = w
        .app
        .sdk
        .lookup_developer_identity()
        .identity_pool_id(&w.pool)
        .developer_user_identifier("src")
        .send()
        .await
        .unwrap();
    assert_eq!(found.identity_id(), Some(dest.as_str()), "behaviour 72");
    assert_eq!(dev_token(&w, "src", None, None).await.unwrap().0, dest);
    assert_ne!(source, dest);
}

async fn merging_past_twenty_logins_is_refused(backend: Backend) {
    let w = world(backend).await;
    let (dest, _) = dev_token(&w, "d0", None, None).await.unwrap();
    for i in 1..20 {
        dev_token(&w, &format!("d{i}"), Some(&dest), None)
            .await
            .unwrap();
    }
    dev_token(&w, "s0", None, None).await.unwrap();
    let err = merge(&w, "s0", "d0").await.unwrap_err();
    assert_eq!(
        crate::helpers::code(&err),
        "ResourceConflictException",
        "behaviour 73"
    );
}

async fn an_unlinked_user_is_a_new_identity_next_time(backend: Backend) {
    let w = world(backend).await;
    let (id, _) = dev_token(&w, "leaving", None, None).await.unwrap();
    let unlink = || {
        let call = w.app.sdk.unlink_developer_identity();
        call.identity_pool_id(&w.pool)
            .identity_id(&id)
            .developer_provider_name(DEV)
            .developer_user_identifier("leaving")
            .send()
    };
    unlink().await.unwrap();
    let (fresh, _) = dev_token(&w, "leaving", None, None).await.unwrap();
    assert_ne!(fresh, id, "behaviour 74");
    let err = unlink().await.unwrap_err();
    assert_eq!(crate::helpers::code(&err), "ResourceNotFoundException");
}

/// A backend that forwards a client-supplied IdentityId must not hand a Google user's identity
/// to whoever asks: without that user's login the real service answers "Logins don't match".
async fn a_developer_user_cannot_be_aimed_at_another_providers_identity(backend: Backend) {
    let w = world(backend).await;
    let google = w.google("victim");
    let victim = w
        .app
        .get_id(&w.pool, &[("accounts.google.com", google.as_str())])
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let err = w
        .app
        .developer_login(&w.pool, DEV, "mallory")
        .identity_id(&victim)
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::helpers::code(&err), "NotAuthorizedException");
    assert!(
        crate::helpers::message(&err).starts_with("Logins don't match"),
        "{err:?}"
    );
    // Nothing was linked: mallory is nobody yet, and the victim keeps only its Google login.
    let described = w.app.describe_identity(&victim).await.unwrap();
    assert_eq!(described.logins(), ["accounts.google.com"]);
    let (mallory, _) = dev_token(&w, "mallory", None, None).await.unwrap();
    assert_ne!(mallory, victim);
    // With the Google user's own login the backend may link its user to that identity.
    let (linked, _) = w
        .app
        .developer_login(&w.pool, DEV, "victim-as-dev")
        .identity_id(&victim)
        .logins("accounts.google.com", google)
        .send()
        .await
        .map(|o| (o.identity_id.unwrap(), o.token.unwrap()))
        .unwrap();
    assert_eq!(linked, victim);
}

/// GetOpenIdToken with one of idbroker's own tokens must not turn a 60-second developer token
/// into an endless chain of 10-minute ones, nor drop the backend's PrincipalTags.
async fn a_token_minted_from_ours_keeps_its_tags_and_never_outlives_it(backend: Backend) {
    let w = world(backend).await;
    let out = w
        .app
        .developer_login(&w.pool, DEV, "short-lived")
        .principal_tags("tenant", "acme")
        .token_duration(60)
        .send()
        .await
        .unwrap();
    let (id, first) = (out.identity_id.unwrap(), out.token.unwrap());
    let exp = w.verified(&first).await["exp"].as_i64().unwrap();
    let key = "cognito-identity.amazonaws.com";
    let (_, renewed) = w.open_id_token(&id, &[(key, first)]).await.unwrap();
    let c = w.verified(&renewed).await;
    assert!(
        c["exp"].as_i64().unwrap() <= exp,
        "the renewed token outlives the one it came from: {} > {exp}",
        c["exp"]
    );
    assert_eq!(
        c["https://aws.amazon.com/tags"]["principal_tags"],
        json!({"tenant": ["acme"]})
    );
    let (_, again) = w.open_id_token(&id, &[(key, renewed)]).await.unwrap();
    assert!(w.verified(&again).await["exp"].as_i64().unwrap() <= exp);
}

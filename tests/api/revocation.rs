//! Revocation (`POST|DELETE /v1/identities/{id}/revoke`, `/v1/identity-pools/{id}/revoke`):
//! GetOpenIdToken and GetCredentialsForIdentity refuse a revoked identity on both faces and on
//! every replica at once, re-enabling restores them, every change is audited, and the answer
//! carries the IAM deny policy and the live access keys of the ledger. STS is moto behind the
//! tests' front, so the session name the policy names is the one STS really received.

use std::time::Duration;

use idbroker_api::audit::AuditQuery;
use idbroker_api::client::ClientError;
use idbroker_api::identities::{CredentialsRequest, LoginsBody};
use idbroker_api::ledger::LedgerQuery;
use idbroker_api::revocation::{RevocationBody, RevocationScope, RevokeRequest};
use idbroker_store::Backend;
use serde_json::json;

use crate::credentials::caller_identity;
use crate::helpers::{TestApp, code, free_port, message, settings_on, spawn_app_with};
use crate::sts_front::StsFront;

const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST: &str = "arn:aws:iam::123456789012:role/guest";

crate::helpers::on_both_backends!(
    a_revoked_identity_is_refused_on_both_faces_until_re_enabled,
    a_revoked_pool_refuses_every_identity_and_returns_the_pool_policy,
    a_session_name_with_the_identity_gets_a_policy_for_that_identity,
    the_developer_token_is_refused_for_a_revoked_identity,
);

/// Both tests of replicas need one PostgreSQL database shared by two applications.
mod postgres_replicas {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_holds_on_another_replica_at_once() {
        super::a_revocation_holds_on_another_replica_at_once().await;
    }
}

struct World {
    app: TestApp,
    front: StsFront,
    pool: String,
}

/// An app whose STS is the front, with a guest pool STS trusts and both roles set;
/// `session_name` is IDBROKER_STS_ROLE_SESSION_NAME.
async fn world(backend: Backend, session_name: &str) -> World {
    let port = free_port();
    let front = StsFront::start(&format!("http://127.0.0.1:{port}")).await;
    let front_url = front.url.clone();
    let session_name = session_name.to_owned();
    let app = spawn_app_with(backend, |url| {
        let mut s = settings_on(url, port);
        s.sts_endpoint_url = Some(front_url);
        s.sts.role_session_name = session_name;
        s
    })
    .await;
    let pool = app.create_pool("revocation", true).await;
    front.trust_audience(&pool);
    set_roles(&app, &pool).await;
    World { app, front, pool }
}

async fn set_roles(app: &TestApp, pool: &str) {
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(pool)
        .roles("authenticated", AUTH)
        .roles("unauthenticated", GUEST)
        .send()
        .await
        .unwrap();
}

/// GetCredentialsForIdentity on the AWS face.
async fn credentials(
    app: &TestApp,
    identity: &str,
) -> Result<aws_sdk_cognitoidentity::types::Credentials, (String, String)> {
    app.sdk
        .get_credentials_for_identity()
        .identity_id(identity)
        .send()
        .await
        .map(|o| o.credentials.unwrap())
        .map_err(|e| (code(&e), message(&e)))
}

/// GetOpenIdToken on the AWS face.
async fn token(app: &TestApp, identity: &str) -> Result<String, (String, String)> {
    app.sdk
        .get_open_id_token()
        .identity_id(identity)
        .send()
        .await
        .map(|o| o.token.unwrap())
        .map_err(|e| (code(&e), message(&e)))
}

/// Status, problem title and detail of a failed REST call.
fn problem(err: ClientError) -> (u16, String, String) {
    match err {
        ClientError::Status {
            status,
            problem: Some(p),
            ..
        } => (status, p.title, p.detail),
        other => panic!("expected a problem, got {other}"),
    }
}

/// Asserts that both operations refuse `identity` with Cognito's words, on both faces.
async fn assert_refused(app: &TestApp, identity: &str) {
    let forbidden = (
        "NotAuthorizedException".to_owned(),
        format!("Access to Identity '{identity}' is forbidden."),
    );
    assert_eq!(token(app, identity).await.unwrap_err(), forbidden);
    assert_eq!(credentials(app, identity).await.unwrap_err(), forbidden);
    let public = app.rest().public();
    let rest_forbidden = (403, forbidden.0.clone(), forbidden.1.clone());
    let err = public
        .token(identity, &LoginsBody::default())
        .await
        .unwrap_err();
    assert_eq!(problem(err), rest_forbidden);
    let err = public
        .credentials(identity, &CredentialsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(problem(err), rest_forbidden);
}

/// Asserts that both operations serve `identity` on both faces.
async fn assert_served(app: &TestApp, identity: &str) {
    token(app, identity).await.unwrap();
    credentials(app, identity).await.unwrap();
    let public = app.rest().public();
    public
        .token(identity, &LoginsBody::default())
        .await
        .unwrap();
    public
        .credentials(identity, &CredentialsRequest::default())
        .await
        .unwrap();
}

async fn audit_actions(
    app: &TestApp,
    resource: &str,
) -> Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> {
    app.rest()
        .audit(&AuditQuery {
            resource: Some(resource.to_owned()),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .changes
        .into_iter()
        .map(|c| (c.action, c.before, c.after))
        .collect()
}

fn now_request() -> RevokeRequest {
    RevokeRequest::default()
}

async fn a_revoked_identity_is_refused_on_both_faces_until_re_enabled(backend: Backend) {
    let w = world(backend, "CognitoIdentityCredentials").await;
    let (alice, bob) = (w.app.guest(&w.pool).await, w.app.guest(&w.pool).await);
    let held = credentials(&w.app, &alice).await.unwrap();
    let bobs = credentials(&w.app, &bob).await.unwrap();

    let asked = chrono::Utc::now();
    let answer: RevocationBody = w
        .app
        .rest()
        .revoke_identity(&alice, &now_request())
        .await
        .unwrap();
    let answered = chrono::Utc::now();
    assert_eq!(answer.scope, RevocationScope::Identity);
    assert_eq!(answer.identity_id.as_deref(), Some(alice.as_str()));
    assert_eq!(answer.identity_pool_id, w.pool);
    assert!(!answer.replaced);
    assert_eq!(answer.roles, [AUTH, GUEST]);
    // The default session name is every identity's: no policy can single out Alice's
    // sessions, so none is offered as hers; the pool's is, with the reason.
    assert_eq!(answer.deny_policy, None);
    assert_eq!(
        answer.pool_deny_policy,
        Some(json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": answer.revoked_before}},
            }],
        }))
    );
    assert!(
        answer.notes[0].contains("cannot be told apart") && answer.notes[0].contains("{identity}"),
        "{:?}",
        answer.notes
    );
    // The instant is now (between asking and the answer), rounded up to a whole second.
    let before = chrono::DateTime::parse_from_rfc3339(&answer.revoked_before).unwrap();
    assert!(
        asked <= before
            && before <= answered + chrono::Duration::seconds(1)
            && answer.revoked_before.ends_with('Z')
            && !answer.revoked_before.contains('.'),
        "{asked} ≤ {} ≤ {answered} + 1 s",
        answer.revoked_before
    );
    // Alice's live key is listed, Bob's is not.
    let keys: Vec<&str> = answer
        .live_credentials
        .iter()
        .map(|c| c.access_key_id.as_str())
        .collect();
    assert_eq!(keys, [held.access_key_id().unwrap()]);
    assert!(!keys.contains(&bobs.access_key_id().unwrap()));
    assert!(!answer.live_credentials_truncated);

    assert_refused(&w.app, &alice).await;
    assert_served(&w.app, &bob).await;
    // GetId issues nothing and still answers for the pool.
    w.app.guest(&w.pool).await;
    // Refused calls reach neither STS nor the ledger.
    let sts_calls = w.front.calls().len();
    assert_refused(&w.app, &alice).await;
    assert_eq!(w.front.calls().len(), sts_calls);
    assert_eq!(w.app.issuances_of(&alice).await.len(), 1);

    w.app.rest().reenable_identity(&alice).await.unwrap();
    assert_served(&w.app, &alice).await;
    let err = w.app.rest().reenable_identity(&alice).await.unwrap_err();
    assert_eq!(
        problem(err),
        (
            404,
            "ResourceNotFoundException".to_owned(),
            format!("Identity '{alice}' is not revoked.")
        )
    );

    // Both changes are audited with the record before and after.
    let revoked =
        json!({"scope": "identity", "target": alice, "revoked_before": answer.revoked_before});
    assert_eq!(
        audit_actions(&w.app, &alice).await,
        [
            ("ReenableIdentity".to_owned(), Some(revoked.clone()), None),
            ("RevokeIdentity".to_owned(), None, Some(revoked)),
        ]
    );
}

async fn a_revoked_pool_refuses_every_identity_and_returns_the_pool_policy(backend: Backend) {
    let w = world(backend, "CognitoIdentityCredentials").await;
    let (alice, bob) = (w.app.guest(&w.pool).await, w.app.guest(&w.pool).await);
    let other_pool = w.app.create_pool("elsewhere", true).await;
    w.front.trust_audience(&other_pool);
    set_roles(&w.app, &other_pool).await;
    let outsider = w.app.guest(&other_pool).await;
    let a = credentials(&w.app, &alice).await.unwrap();
    let b = credentials(&w.app, &bob).await.unwrap();
    credentials(&w.app, &outsider).await.unwrap();

    // A chosen instant, rounded up to the second IAM compares.
    let first = w
        .app
        .rest()
        .revoke_pool(
            &w.pool,
            &RevokeRequest {
                before: Some("2030-01-01T00:00:00.250+00:00".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(first.scope, RevocationScope::Pool);
    assert_eq!(first.identity_id, None);
    assert_eq!(first.revoked_before, "2030-01-01T00:00:01Z");
    let expected: serde_json::Value = serde_json::from_str(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2030-01-01T00:00:01Z"}}}]}"#,
    )
    .unwrap();
    assert_eq!(first.deny_policy, Some(expected));
    assert_eq!(first.pool_deny_policy, None);
    assert!(first.notes[0].contains("roles shared"), "{:?}", first.notes);
    let mut keys: Vec<&str> = first
        .live_credentials
        .iter()
        .map(|c| c.access_key_id.as_str())
        .collect();
    keys.sort_unstable();
    let mut expected = [a.access_key_id().unwrap(), b.access_key_id().unwrap()];
    expected.sort_unstable();
    assert_eq!(keys, expected, "the pool's live keys, not the other pool's");

    assert_refused(&w.app, &alice).await;
    assert_refused(&w.app, &bob).await;
    assert_served(&w.app, &outsider).await;
    // New identities of the pool are refused too, once they ask for something.
    let newcomer = w.app.guest(&w.pool).await;
    assert_refused(&w.app, &newcomer).await;

    // Revoking again moves the instant.
    let second = w
        .app
        .rest()
        .revoke_pool(&w.pool, &now_request())
        .await
        .unwrap();
    assert!(second.replaced);
    assert_ne!(second.revoked_before, first.revoked_before);
    // An identity revoked on its own stays revoked when the pool is re-enabled.
    w.app
        .rest()
        .revoke_identity(&bob, &now_request())
        .await
        .unwrap();
    w.app.rest().reenable_pool(&w.pool).await.unwrap();
    assert_served(&w.app, &alice).await;
    assert_refused(&w.app, &bob).await;

    let actions: Vec<String> = audit_actions(&w.app, &w.pool)
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    assert_eq!(
        actions[..3],
        [
            "ReenableIdentityPool",
            "RevokeIdentityPool",
            "RevokeIdentityPool"
        ]
    );

    // The ledger's own query takes `since` too, for incident response.
    let since = w
        .app
        .rest()
        .issuances(&LedgerQuery {
            pool_id: Some(w.pool.clone()),
            since: Some("2030-01-01T00:00:00Z".to_owned()),
            ..LedgerQuery::default()
        })
        .await
        .unwrap();
    assert!(since.issuances.is_empty());
    let all = w
        .app
        .rest()
        .issuances(&LedgerQuery {
            pool_id: Some(w.pool.clone()),
            since: Some("2000-01-01T00:00:00Z".to_owned()),
            ..LedgerQuery::default()
        })
        .await
        .unwrap();
    assert!(all.issuances.len() >= 3, "{}", all.issuances.len());
    let err = w
        .app
        .rest()
        .issuances(&LedgerQuery {
            pool_id: Some(w.pool.clone()),
            since: Some("last tuesday".to_owned()),
            ..LedgerQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(problem(err).0, 400);
}

async fn a_session_name_with_the_identity_gets_a_policy_for_that_identity(backend: Backend) {
    let w = world(backend, "idb-{identity}").await;
    let alice = w.app.guest(&w.pool).await;
    let uuid = alice.split_once(':').unwrap().1;
    let creds = credentials(&w.app, &alice).await.unwrap();
    let name = format!("idb-{uuid}");
    assert_eq!(w.front.calls().pop().unwrap().session_name, name);
    // What STS made of it: the session's aws:userid is "<role id>:<session name>".
    let caller = caller_identity(&creds).await;
    assert!(
        caller.arn().unwrap().ends_with(&format!("/guest/{name}")),
        "{:?}",
        caller.arn()
    );
    let user_id = caller.user_id().unwrap().to_owned();

    let answer = w
        .app
        .rest()
        .revoke_identity(&alice, &now_request())
        .await
        .unwrap();
    let before = &answer.revoked_before;
    assert_eq!(
        answer.deny_policy,
        Some(json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringLike": {"aws:userid": format!("*:{name}")},
                    "DateLessThan": {"aws:TokenIssueTime": before},
                },
            }],
        }))
    );
    assert_eq!(answer.pool_deny_policy, None);
    assert!(answer.notes.is_empty(), "{:?}", answer.notes);
    // The pattern matches that session's aws:userid and no other identity's session name.
    let pattern = format!(":{name}");
    assert!(
        user_id.ends_with(&pattern) && !user_id[..user_id.len() - pattern.len()].contains(':'),
        "{user_id}"
    );
    assert_refused(&w.app, &alice).await;
}

async fn a_revocation_holds_on_another_replica_at_once() {
    let w = world(Backend::Postgres, "CognitoIdentityCredentials").await;
    // The replica keeps its copy of pools for an hour: the revocation must not depend on it.
    let mut settings = settings_on(w.app.database_url(), free_port());
    settings.sts_endpoint_url = Some(w.front.url.clone());
    settings.pool_cache_ttl = Duration::from_secs(3600);
    let (_, replica_sdk) = w.app.replica(settings).await;
    let guest = w.app.guest(&w.pool).await;
    let ask = |sdk: aws_sdk_cognitoidentity::Client, id: String| async move {
        sdk.get_open_id_token()
            .identity_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| message(&e))
    };
    // The replica serves the identity, and so holds a copy of its pool.
    ask(replica_sdk.clone(), guest.clone()).await.unwrap();

    w.app
        .rest()
        .revoke_pool(&w.pool, &now_request())
        .await
        .unwrap();
    assert_eq!(
        ask(replica_sdk.clone(), guest.clone()).await.unwrap_err(),
        format!("Access to Identity '{guest}' is forbidden."),
        "refused at once by a replica that did not take the revocation"
    );
    w.app.rest().reenable_pool(&w.pool).await.unwrap();
    ask(replica_sdk.clone(), guest.clone()).await.unwrap();

    w.app
        .rest()
        .revoke_identity(&guest, &now_request())
        .await
        .unwrap();
    assert!(ask(replica_sdk, guest).await.is_err());
}

async fn the_developer_token_is_refused_for_a_revoked_identity(backend: Backend) {
    let w = world(backend, "CognitoIdentityCredentials").await;
    let pool = w
        .app
        .create_pool_with("developer", false, |p| {
            p.developer_provider_name("login.myapp")
        })
        .await;
    let developer_token = || async {
        w.app
            .sdk
            .get_open_id_token_for_developer_identity()
            .identity_pool_id(&pool)
            .logins("login.myapp", "user-1")
            .send()
            .await
            .map(|o| o.identity_id.unwrap())
            .map_err(|e| (code(&e), message(&e)))
    };
    let id = developer_token().await.unwrap();
    w.app
        .rest()
        .revoke_identity(&id, &now_request())
        .await
        .unwrap();
    assert_eq!(
        developer_token().await.unwrap_err(),
        (
            "NotAuthorizedException".to_owned(),
            format!("Access to Identity '{id}' is forbidden.")
        )
    );
    w.app.rest().reenable_identity(&id).await.unwrap();
    assert_eq!(developer_token().await.unwrap(), id);
}

//! One-shot credentials (`POST /v1/identity-pools/{pool_id}/credentials`): GetId and
//! GetCredentialsForIdentity in one request, with moto as STS behind the verifying front. Its
//! answers, errors, ledger entries and audit are compared with the two calls' own.

use std::collections::BTreeMap;

use idbroker_api::audit::AuditQuery;
use idbroker_api::client::{Client, ClientError};
use idbroker_api::identities::{
    CredentialsBody, CredentialsRequest, LoginsBody, PoolCredentialsRequest,
};
use idbroker_store::Backend;

use crate::helpers::{TestApp, free_port, settings_with_idp_on, spawn_app_with};
use crate::idp::{TestIdp, TestKey, claims};
use crate::sts_front::{Fault, StsFront};

const GOOGLE: &str = "accounts.google.com";
const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST: &str = "arn:aws:iam::123456789012:role/guest";
const UNKNOWN_POOL: &str = "us-east-1:00000000-0000-4000-8000-000000000000";

crate::helpers::on_both_backends!(
    a_guest_gets_credentials_in_one_request_and_can_come_back,
    a_login_gets_the_identity_get_id_returns,
);

struct World {
    app: TestApp,
    front: StsFront,
    key: TestKey,
    pool: String,
    _idp: TestIdp,
}

async fn world(backend: Backend) -> World {
    let key = TestKey::rsa("rsa-a", "key-a");
    let idp = TestIdp::start(&[&key]).await;
    let port = free_port();
    let front = StsFront::start(&format!("http://127.0.0.1:{port}")).await;
    let (base, front_url) = (idp.base.clone(), front.url.clone());
    let app = spawn_app_with(backend, |url| {
        let mut s = settings_with_idp_on(url, &base, port);
        s.sts_endpoint_url = Some(front_url);
        s
    })
    .await;
    let pool = app
        .create_pool_with("oneshot", true, |pool| {
            pool.supported_login_providers(GOOGLE, "google-client")
        })
        .await;
    front.trust_audience(&pool);
    set_roles(&app, &pool, Some(AUTH), Some(GUEST)).await;
    World {
        app,
        front,
        key,
        pool,
        _idp: idp,
    }
}

async fn set_roles(app: &TestApp, pool: &str, auth: Option<&str>, guest: Option<&str>) {
    let mut call = app.sdk.set_identity_pool_roles().identity_pool_id(pool);
    if let Some(role) = auth {
        call = call.roles("authenticated", role);
    }
    if let Some(role) = guest {
        call = call.roles("unauthenticated", role);
    }
    call.send().await.unwrap();
}

impl World {
    fn public(&self) -> Client {
        self.app.rest().public()
    }

    fn google(&self, sub: &str) -> BTreeMap<String, String> {
        let token = self
            .key
            .sign(&claims("https://accounts.google.com", "google-client", sub));
        BTreeMap::from([(GOOGLE.to_owned(), token)])
    }

    async fn one_shot(
        &self,
        pool: &str,
        request: &PoolCredentialsRequest,
    ) -> Result<CredentialsBody, ClientError> {
        self.public().pool_credentials(pool, request).await
    }

    /// The same request as a client without the one-shot route makes it: GetId (unless an
    /// identity is named), then GetCredentialsForIdentity.
    async fn two_calls(
        &self,
        pool: &str,
        request: &PoolCredentialsRequest,
    ) -> Result<CredentialsBody, ClientError> {
        let rest = self.public();
        let identity = match &request.identity_id {
            Some(id) => id.clone(),
            None => {
                let logins = LoginsBody {
                    logins: request.logins.clone(),
                };
                rest.get_id(pool, &logins).await?.identity_id
            }
        };
        let credentials = CredentialsRequest {
            logins: request.logins.clone(),
            custom_role_arn: request.custom_role_arn.clone(),
        };
        rest.credentials(&identity, &credentials).await
    }

    async fn audit_len(&self) -> usize {
        self.app
            .rest()
            .audit(&AuditQuery::default())
            .await
            .unwrap()
            .changes
            .len()
    }
}

/// The role moto's STS says these credentials are for.
async fn assumed_role(body: &CredentialsBody) -> String {
    let creds = aws_sdk_cognitoidentity::types::Credentials::builder()
        .access_key_id(&body.access_key_id)
        .secret_key(&body.secret_access_key)
        .session_token(&body.session_token)
        .build();
    crate::credentials::caller_identity(&creds)
        .await
        .arn
        .unwrap()
}

fn problem(err: ClientError) -> idbroker_api::problem::ProblemBody {
    match err {
        ClientError::Status {
            problem: Some(p), ..
        } => p,
        other => panic!("not a problem answer: {other}"),
    }
}

async fn a_guest_gets_credentials_in_one_request_and_can_come_back(backend: Backend) {
    let w = world(backend).await;
    let audit_before = w.audit_len().await;
    // No body at all: a guest, as GetId without logins.
    let res = w
        .app
        .http
        .post(format!(
            "{}/v1/identity-pools/{}/credentials",
            w.app.address, w.pool
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let first: CredentialsBody = res.json().await.unwrap();
    assert_eq!(
        w.app.identity_ids(&w.pool).await,
        std::slice::from_ref(&first.identity_id)
    );
    assert!(
        assumed_role(&first).await.contains("/guest/"),
        "credentials from moto's STS for the guest role"
    );
    let expires = chrono::DateTime::parse_from_rfc3339(&first.expiration).unwrap();
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((3500..=3700).contains(&left), "about an hour: {left}");
    let calls = w.front.calls();
    assert_eq!(calls.len(), 1, "one STS call");
    assert_eq!(calls[0].role_arn, GUEST);
    let claims = calls[0].claims.clone().expect("a token of idbroker's");
    assert_eq!(claims["sub"], first.identity_id.as_str());

    // One ledger entry, for this access key and identity.
    let ledger = w.app.issuances_of(&first.identity_id).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].access_key_id, first.access_key_id);
    assert_eq!(ledger[0].role_arn, GUEST);

    // The guest comes back by naming itself: no new identity, new credentials.
    let again = w
        .one_shot(
            &w.pool,
            &PoolCredentialsRequest {
                identity_id: Some(first.identity_id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(again.identity_id, first.identity_id);
    assert_ne!(again.access_key_id, first.access_key_id);
    assert_eq!(w.app.identity_ids(&w.pool).await.len(), 1);
    assert_eq!(w.app.issuances_of(&first.identity_id).await.len(), 2);
    // Public operations change no admin state: the audit is as the two calls leave it.
    assert_eq!(w.audit_len().await, audit_before);

    // An identity of another pool is not this pool's, even with a correct id.
    let other = w.app.create_pool("other", true).await;
    let err = w
        .one_shot(
            &other,
            &PoolCredentialsRequest {
                identity_id: Some(first.identity_id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let p = problem(err);
    assert_eq!(
        (p.status, p.title.as_str()),
        (404, "ResourceNotFoundException")
    );
    assert_eq!(
        p.detail,
        format!(
            "Identity '{}' not found in identity pool '{other}'.",
            first.identity_id
        )
    );
    assert_eq!(
        w.front.calls().len(),
        2,
        "the refused call never reached STS"
    );
    assert_eq!(w.app.issuances_of(&first.identity_id).await.len(), 2);
}

async fn a_login_gets_the_identity_get_id_returns(backend: Backend) {
    let w = world(backend).await;
    let ann = w
        .one_shot(
            &w.pool,
            &PoolCredentialsRequest {
                logins: w.google("ann"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(assumed_role(&ann).await.contains("/authenticated/"));
    let get_id = w
        .public()
        .get_id(
            &w.pool,
            &LoginsBody {
                logins: w.google("ann"),
            },
        )
        .await
        .unwrap();
    assert_eq!(get_id.identity_id, ann.identity_id, "GetId's identity");
    let ann_again = w
        .one_shot(
            &w.pool,
            &PoolCredentialsRequest {
                logins: w.google("ann"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ann_again.identity_id, ann.identity_id);
    assert_eq!(w.app.issuances_of(&ann.identity_id).await.len(), 2);

    // A guest that signs in names itself: the login is linked to it, as
    // GetCredentialsForIdentity links it, and GetId then finds the guest.
    let guest = w.app.guest(&w.pool).await;
    let bo = w
        .one_shot(
            &w.pool,
            &PoolCredentialsRequest {
                logins: w.google("bo"),
                identity_id: Some(guest.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(bo.identity_id, guest);
    assert!(assumed_role(&bo).await.contains("/authenticated/"));
    let found = w
        .public()
        .get_id(
            &w.pool,
            &LoginsBody {
                logins: w.google("bo"),
            },
        )
        .await
        .unwrap();
    assert_eq!(found.identity_id, guest);
    assert_eq!(w.app.identity_ids(&w.pool).await.len(), 2, "ann and bo");
}

/// Every refusal is the one the two calls give, word for word, and none reaches STS unless
/// the two calls' would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_those_of_the_two_calls() {
    let w = world(Backend::Sqlite).await;
    let closed = w.app.create_pool("closed", false).await;
    set_roles(&w.app, &closed, Some(AUTH), Some(GUEST)).await;
    let no_guest_role = w.app.create_pool("no-guest-role", true).await;
    set_roles(&w.app, &no_guest_role, Some(AUTH), None).await;
    let guest = w.app.guest(&w.pool).await;
    let dee_token = w.key.sign(&claims(
        "https://accounts.google.com",
        "google-client",
        "dee",
    ));
    let dee = w
        .app
        .get_id(&w.pool, &[(GOOGLE, dee_token.as_str())])
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let wrong_audience = {
        let token = w
            .key
            .sign(&claims("https://accounts.google.com", "someone-else", "cy"));
        BTreeMap::from([(GOOGLE.to_owned(), token)])
    };
    let request = |logins: BTreeMap<String, String>, id: Option<&str>, role: Option<&str>| {
        PoolCredentialsRequest {
            logins,
            identity_id: id.map(str::to_owned),
            custom_role_arn: role.map(str::to_owned),
        }
    };
    let none = BTreeMap::new;
    let cases = [
        ("unknown pool", UNKNOWN_POOL, request(none(), None, None)),
        ("malformed pool", "not-a-pool", request(none(), None, None)),
        (
            "guests not allowed",
            closed.as_str(),
            request(none(), None, None),
        ),
        (
            "unknown provider",
            w.pool.as_str(),
            request(
                BTreeMap::from([("nope.example".to_owned(), "x".to_owned())]),
                None,
                None,
            ),
        ),
        (
            "token for another audience",
            w.pool.as_str(),
            request(wrong_audience, None, None),
        ),
        (
            "no role for guests",
            no_guest_role.as_str(),
            request(none(), None, None),
        ),
        (
            "malformed role ARN",
            w.pool.as_str(),
            request(none(), None, Some("not-an-arn")),
        ),
        (
            "unknown identity",
            w.pool.as_str(),
            request(none(), Some(UNKNOWN_POOL), None),
        ),
        (
            "malformed identity",
            w.pool.as_str(),
            request(none(), Some("bad"), None),
        ),
        (
            "an authenticated identity without its logins",
            w.pool.as_str(),
            request(none(), Some(dee.as_str()), None),
        ),
    ];
    for (case, pool, request) in &cases {
        let calls = w.front.calls().len();
        let one = problem(w.one_shot(pool, request).await.unwrap_err());
        let reached_sts = w.front.calls().len() - calls;
        let two = problem(w.two_calls(pool, request).await.unwrap_err());
        assert_eq!(one, two, "{case}");
        assert_eq!(
            reached_sts,
            w.front.calls().len() - calls - reached_sts,
            "{case}: STS reached as often"
        );
    }

    // A role ARN that is not one is refused before GetId: no guest is left behind.
    let before = w.app.identity_ids(&w.pool).await.len();
    let err = w
        .one_shot(&w.pool, &request(none(), None, Some("not-an-arn")))
        .await
        .unwrap_err();
    assert_eq!(problem(err).title, "ValidationException");
    assert_eq!(w.app.identity_ids(&w.pool).await.len(), before);

    // STS refusing the role: the same configuration error, and no ledger entry either way.
    for attempt in ["one", "two"] {
        w.front.fail_next(vec![Fault::Error {
            status: 403,
            code: "AccessDenied",
            message: "secret detail from STS",
        }]);
        let request = request(none(), Some(guest.as_str()), None);
        let err = if attempt == "one" {
            w.one_shot(&w.pool, &request).await
        } else {
            w.two_calls(&w.pool, &request).await
        };
        let p = problem(err.unwrap_err());
        assert_eq!(
            p.title, "InvalidIdentityPoolConfigurationException",
            "{attempt}"
        );
        assert!(!p.detail.contains("secret detail"), "{p:?}");
    }
    assert!(w.app.issuances_of(&guest).await.is_empty());
}

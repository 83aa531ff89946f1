//! The per-pool credential reuse window through HTTP, with moto's STS behind the verifying
//! front: with `credential_reuse_seconds` set, GetCredentialsForIdentity on the AWS face and on
//! REST answers the same AccessKeyId again without a second STS call or ledger row; without
//! it, every call is a new STS session.

use idbroker_api::identities::CredentialsRequest;
use idbroker_api::pools::PoolRequest;
use idbroker_store::Backend;

use crate::helpers::{TestApp, free_port, settings_on, spawn_app_with};
use crate::sts_front::StsFront;

const GUEST: &str = "arn:aws:iam::123456789012:role/guest";

crate::helpers::on_both_backends!(the_same_credentials_come_back_only_with_the_window_on);

async fn guest_pool(app: &TestApp, front: &StsFront, reuse: Option<i64>) -> String {
    let pool = app
        .rest()
        .create_pool(&PoolRequest {
            identity_pool_name: "reuse".into(),
            allow_unauthenticated_identities: true,
            credential_reuse_seconds: reuse,
            ..PoolRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(pool.credential_reuse_seconds, reuse);
    let id = pool.identity_pool_id;
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("unauthenticated", GUEST)
        .send()
        .await
        .unwrap();
    front.trust_audience(&id);
    id
}

/// GetCredentialsForIdentity through the AWS SDK: the access key id.
async fn aws_face(app: &TestApp, identity: &str) -> String {
    app.sdk
        .get_credentials_for_identity()
        .identity_id(identity)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap()
        .access_key_id
        .unwrap()
}

async fn the_same_credentials_come_back_only_with_the_window_on(backend: Backend) {
    let port = free_port();
    let front = StsFront::start(&format!("http://127.0.0.1:{port}")).await;
    let front_url = front.url.clone();
    let app = spawn_app_with(backend, |url| {
        let mut s = settings_on(url, port);
        s.sts_endpoint_url = Some(front_url);
        s
    })
    .await;

    let pool = guest_pool(&app, &front, Some(300)).await;
    let guest = app.guest(&pool).await;
    let first = aws_face(&app, &guest).await;
    let again = aws_face(&app, &guest).await;
    assert_eq!(again, first, "the same AccessKeyId within the window");
    let rest = app
        .rest()
        .credentials(&guest, &CredentialsRequest::default())
        .await
        .unwrap();
    assert_eq!(rest.access_key_id, first, "REST serves the same entry");
    assert_eq!(front.calls().len(), 1, "one STS call for three requests");
    let ledger = app.issuances_of(&guest).await;
    assert_eq!(ledger.len(), 1, "no new credentials, no new ledger row");
    assert_eq!(ledger[0].access_key_id, first);

    // The window off: every call is a new session.
    let pool = guest_pool(&app, &front, None).await;
    let guest = app.guest(&pool).await;
    let first = aws_face(&app, &guest).await;
    let second = aws_face(&app, &guest).await;
    assert_ne!(second, first);
    assert_eq!(front.calls().len(), 3);
    assert_eq!(app.issuances_of(&guest).await.len(), 2);
}

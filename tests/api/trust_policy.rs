//! Trust policies over REST: the generated policy creates a role in IAM (moto's IAM, on the
//! same server as its STS) and, read back from IAM URL-encoded, checks clean; the checker names
//! each misconfiguration; principal-tag maps and developer providers add `sts:TagSession`;
//! bad input is a problem. moto stores any trust policy without judging it (even one that is
//! not JSON), so CreateRole proves the document and the call are well-formed for IAM's API, not
//! that real IAM's policy grammar accepts it; the rules themselves are the domain's tests.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use idbroker_api::client::ClientError;
use idbroker_api::pools::{PoolRequest, PrincipalTagsBody};
use idbroker_api::trust_policy::{FindingSeverity, TrustPolicyCheckRequest, TrustRole};
use serde_json::{Value, json};

use crate::helpers::{ACCOUNT, ADMIN_TOKEN, TestApp, on_both_stores};
use crate::sts_front::moto_url;

on_both_stores!(
    the_generated_policy_creates_a_role_in_iam_and_checks_clean,
    principal_tag_maps_and_developer_providers_add_tag_session,
    the_checker_names_each_misconfiguration,
    bad_trust_policy_input_is_a_problem,
);

/// The tests' issuer is `http://127.0.0.1` (helpers::settings).
const PROVIDER_ARN: &str = "arn:aws:iam::123456789012:oidc-provider/127.0.0.1";

async fn pool(app: &TestApp, request: PoolRequest) -> String {
    app.rest()
        .create_pool(&request)
        .await
        .unwrap()
        .identity_pool_id
}

async fn google_pool(app: &TestApp) -> String {
    pool(
        app,
        PoolRequest {
            identity_pool_name: "trust".into(),
            allow_unauthenticated_identities: true,
            supported_login_providers: [("accounts.google.com".to_owned(), "app".to_owned())]
                .into(),
            ..PoolRequest::default()
        },
    )
    .await
}

async fn generated(app: &TestApp, pool: &str, role: TrustRole) -> Value {
    app.rest().trust_policy(pool, role).await.unwrap().0
}

/// One IAM Query call to moto, signed with SigV4 as an SDK would: the status and the XML body.
async fn iam(app: &TestApp, params: &[(&str, &str)]) -> (u16, String) {
    let url = format!("{}/", moto_url());
    let body = serde_urlencoded::to_string(params).unwrap();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("host", host.as_str()),
    ];
    let identity: Identity = Credentials::new("AKIDTRUSTPOLICY", "secret", None, None, "t").into();
    let signing = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iam")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let request = SignableRequest::new(
        "POST",
        &url,
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &signing.into()).unwrap().into_parts();
    let mut call = app.http.post(&url).body(body.clone());
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
        call = call.header(*name, *value);
    }
    for (name, value) in instructions.headers() {
        call = call.header(name, value);
    }
    let res = call.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The text of the first `<tag>` element of an XML answer.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    &xml[start..end]
}

async fn check(
    app: &TestApp,
    pool: &str,
    role: TrustRole,
    policy: Value,
) -> Vec<(String, FindingSeverity)> {
    let result = app
        .rest()
        .check_trust_policy(pool, &TrustPolicyCheckRequest { role, policy })
        .await
        .unwrap();
    assert_eq!(result.role, role);
    result
        .findings
        .into_iter()
        .map(|f| {
            assert!(!f.message.is_empty());
            (f.code, f.severity)
        })
        .collect()
}

async fn the_generated_policy_creates_a_role_in_iam_and_checks_clean(app: TestApp) {
    let pool = google_pool(&app).await;
    for role in [TrustRole::Authenticated, TrustRole::Unauthenticated] {
        let policy = generated(&app, &pool, role).await;
        let statement = &policy["Statement"][0];
        assert_eq!(policy["Version"], "2012-10-17");
        assert_eq!(statement["Principal"]["Federated"], PROVIDER_ARN);
        assert_eq!(
            statement["Action"],
            json!(["sts:AssumeRoleWithWebIdentity"])
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["127.0.0.1:aud"],
            pool.as_str()
        );
        assert_eq!(
            statement["Condition"]["ForAnyValue:StringLike"]["127.0.0.1:amr"],
            role.as_str()
        );

        let name = format!(
            "idbroker-{}-{}",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        let (status, xml) = iam(
            &app,
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", &name),
                ("AssumeRolePolicyDocument", &policy.to_string()),
            ],
        )
        .await;
        assert_eq!(status, 200, "IAM refused the generated policy: {xml}");
        assert_eq!(
            element(&xml, "Arn"),
            format!("arn:aws:iam::{ACCOUNT}:role/{name}")
        );
        // As IAM gives it back (GetRole: URL-encoded), the checker reads it and finds nothing.
        let (status, xml) = iam(
            &app,
            &[
                ("Action", "GetRole"),
                ("Version", "2010-05-08"),
                ("RoleName", &name),
            ],
        )
        .await;
        assert_eq!(status, 200, "{xml}");
        let stored = element(&xml, "AssumeRolePolicyDocument");
        assert!(
            stored.starts_with("%7B"),
            "IAM returns it URL-encoded: {stored}"
        );
        assert_eq!(check(&app, &pool, role, json!(stored)).await, []);
        // The other kind's role is not this one.
        let other = match role {
            TrustRole::Authenticated => TrustRole::Unauthenticated,
            TrustRole::Unauthenticated => TrustRole::Authenticated,
        };
        assert!(
            !check(&app, &pool, other, policy).await.is_empty(),
            "a {} policy passed as {}",
            role.as_str(),
            other.as_str()
        );
    }
}

async fn principal_tag_maps_and_developer_providers_add_tag_session(app: TestApp) {
    let pool = google_pool(&app).await;
    let actions = |policy: &Value| policy["Statement"][0]["Action"].clone();
    let both = json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]);
    let plain = generated(&app, &pool, TrustRole::Authenticated).await;
    assert_eq!(actions(&plain), json!(["sts:AssumeRoleWithWebIdentity"]));
    app.rest()
        .set_principal_tags(
            &pool,
            "accounts.google.com",
            &PrincipalTagsBody {
                use_defaults: true,
                ..PrincipalTagsBody::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        actions(&generated(&app, &pool, TrustRole::Authenticated).await),
        both
    );
    // Guests carry no tags.
    assert_eq!(
        actions(&generated(&app, &pool, TrustRole::Unauthenticated).await),
        json!(["sts:AssumeRoleWithWebIdentity"])
    );
    // The policy from before the map now lacks TagSession.
    let found = check(&app, &pool, TrustRole::Authenticated, plain).await;
    assert_eq!(
        found,
        [("missing_tag_session".to_owned(), FindingSeverity::Error)]
    );

    let developer = pool_with_developer(&app).await;
    assert_eq!(
        actions(&generated(&app, &developer, TrustRole::Authenticated).await),
        both
    );
}

async fn pool_with_developer(app: &TestApp) -> String {
    pool(
        app,
        PoolRequest {
            identity_pool_name: "backend".into(),
            allow_unauthenticated_identities: false,
            developer_provider_name: Some("login.mycompany".into()),
            ..PoolRequest::default()
        },
    )
    .await
}

async fn the_checker_names_each_misconfiguration(app: TestApp) {
    let pool = google_pool(&app).await;
    app.rest()
        .set_principal_tags(
            &pool,
            "accounts.google.com",
            &PrincipalTagsBody {
                use_defaults: true,
                ..PrincipalTagsBody::default()
            },
        )
        .await
        .unwrap();
    let good = generated(&app, &pool, TrustRole::Authenticated).await;
    assert_eq!(
        check(&app, &pool, TrustRole::Authenticated, good.clone()).await,
        []
    );
    let other_pool = "us-east-1:00000000-0000-0000-0000-000000000000";
    let change = |edit: &dyn Fn(&mut Value)| {
        let mut policy = good.clone();
        edit(&mut policy["Statement"][0]);
        policy
    };
    use FindingSeverity::Error;
    let rows: Vec<(&str, Value, &str)> = vec![
        (
            "no aud condition",
            change(&|s| {
                s["Condition"] =
                    json!({"ForAnyValue:StringLike": {"127.0.0.1:amr": "authenticated"}})
            }),
            "missing_aud_condition",
        ),
        (
            "aud names another pool",
            change(&|s| s["Condition"]["StringEquals"]["127.0.0.1:aud"] = json!(other_pool)),
            "aud_other_pool",
        ),
        (
            "aud is a wildcard",
            change(&|s| {
                s["Condition"] = json!({
                    "StringLike": {"127.0.0.1:aud": "us-east-1:*"},
                    "ForAnyValue:StringLike": {"127.0.0.1:amr": "authenticated"}
                });
            }),
            "aud_wildcard",
        ),
        (
            "no amr condition",
            change(&|s| s["Condition"] = json!({"StringEquals": {"127.0.0.1:aud": pool}})),
            "missing_amr_condition",
        ),
        (
            "amr admits guests",
            change(&|s| {
                s["Condition"]["ForAnyValue:StringLike"]["127.0.0.1:amr"] =
                    json!(["authenticated", "unauthenticated"])
            }),
            "amr_admits_unauthenticated",
        ),
        (
            "Amazon Cognito's principal",
            change(&|s| s["Principal"]["Federated"] = json!("cognito-identity.amazonaws.com")),
            "wrong_principal",
        ),
        (
            "no TagSession while a principal-tag map is set",
            change(&|s| s["Action"] = json!("sts:AssumeRoleWithWebIdentity")),
            "missing_tag_session",
        ),
        (
            "AssumeRole instead of AssumeRoleWithWebIdentity",
            change(&|s| s["Action"] = json!(["sts:AssumeRole", "sts:TagSession"])),
            "missing_web_identity_action",
        ),
        (
            "Deny only",
            change(&|s| s["Effect"] = json!("Deny")),
            "deny_only",
        ),
        (
            "another statement lets anyone AssumeRole",
            {
                let mut policy = good.clone();
                let anyone =
                    json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"});
                policy["Statement"].as_array_mut().unwrap().push(anyone);
                policy
            },
            "principal_wildcard",
        ),
        (
            "aud with IfExists",
            change(&|s| {
                let aud = s["Condition"]
                    .as_object_mut()
                    .unwrap()
                    .remove("StringEquals")
                    .unwrap();
                s["Condition"]["StringEqualsIfExists"] = aud;
            }),
            "condition_if_exists",
        ),
        (
            "aud admits another pool too",
            change(&|s| {
                s["Condition"]["StringEquals"]["127.0.0.1:aud"] = json!([pool, other_pool])
            }),
            "aud_other_pools",
        ),
    ];
    for (what, policy, code) in rows {
        let found = check(&app, &pool, TrustRole::Authenticated, policy).await;
        assert!(
            found.contains(&(code.to_owned(), Error)),
            "{what}: expected {code}, got {found:?}"
        );
    }
}

async fn bad_trust_policy_input_is_a_problem(app: TestApp) {
    let pool = google_pool(&app).await;
    let base = format!("/v1/identity-pools/{pool}/trust-policy");
    let check_path = format!("{base}/check");
    let good = generated(&app, &pool, TrustRole::Authenticated).await;
    let post = |body: Value| {
        let (app, path) = (&app, check_path.clone());
        async move { app.admin(reqwest::Method::POST, &path, Some(body)).await }
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"role": "admin", "policy": good}),
            400,
            "unknown variant",
        ),
        (json!({"role": "authenticated"}), 400, "policy"),
        (
            json!({"role": "authenticated", "policy": good, "Policy": 1}),
            400,
            "Policy",
        ),
        (
            json!({"role": "authenticated", "policy": 42}),
            400,
            "JSON object or a string",
        ),
        (
            json!({"role": "authenticated", "policy": {"Version": "2012-10-17"}}),
            400,
            "has no Statement",
        ),
        (
            json!({"role": "authenticated", "policy": "%7Bbroken"}),
            400,
            "URL-encoded",
        ),
        (
            json!({"role": "authenticated", "policy": "x".repeat(20_000)}),
            400,
            "10240",
        ),
        (
            json!({"role": "authenticated", "policy": good.to_string().replace("\"StringEquals\"", "\"StringEqualz\"")}),
            400,
            "unknown condition operator 'StringEqualz'",
        ),
    ];
    for (body, status, detail) in cases {
        let (got, problem) = post(body.clone()).await;
        assert_eq!(got, status, "{body}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(detail),
            "{detail} not in {problem}"
        );
    }
    // A member named twice, in the policy object of the body itself (serde would keep the
    // last: the Federated principal, hiding "*").
    let twice = format!(
        r#"{{"role":"authenticated","policy":{}}}"#,
        good.to_string().replacen(
            r#""Effect":"Allow","#,
            r#""Effect":"Allow","Principal":"*","#,
            1
        )
    );
    let res = app
        .http
        .post(format!("{}{check_path}", app.address))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(twice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("'Principal' appears twice"),
        "{problem}"
    );
    let (status, problem) = app
        .admin(reqwest::Method::GET, &format!("{base}?role=everyone"), None)
        .await;
    assert_eq!(status, 400, "{problem}");
    let (status, _) = app.admin(reqwest::Method::GET, &base, None).await;
    assert_eq!(status, 400, "role is required");
    let missing = "us-east-1:00000000-0000-0000-0000-000000000000";
    let err = app
        .rest()
        .trust_policy(missing, TrustRole::Authenticated)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some("ResourceNotFoundException"));
    let err = app
        .rest()
        .public()
        .trust_policy(&pool, TrustRole::Authenticated)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 401, .. }),
        "{err}"
    );
}

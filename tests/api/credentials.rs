//! GetCredentialsForIdentity with moto as STS, through a front that verifies every
//! WebIdentityToken against idbroker's JWKS (`docs/spec.md` behaviours 44–60, 68, 80), and STS faults.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, CognitoIdentityProvider, MappingRule, MappingRuleMatchType,
    RoleMapping, RoleMappingType, RulesConfigurationType,
};
use aws_smithy_http_client::tls;
use idbroker_store::Backend;
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, free_port, message, settings_with_idp_on, spawn_app_with};
use crate::idp::{TestIdp, TestKey, claims};
use crate::sts_front::{Fault, StsFront, moto_url};

const GOOGLE: &str = "accounts.google.com";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Roles";
const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST: &str = "arn:aws:iam::123456789012:role/guest";
const ADMINS: &str = "arn:aws:iam::123456789012:role/admins";
const READERS: &str = "arn:aws:iam::123456789012:role/readers";
const OTHER: &str = "arn:aws:iam::123456789012:role/other";
const GUEST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

crate::helpers::on_both_backends!(
    a_guest_gets_credentials_for_the_unauthenticated_role,
    missing_roles_and_closed_pools_are_refused,
    a_federated_identity_without_a_mapping_gets_the_authenticated_role,
    token_mappings_use_the_cognito_role_claims,
    rules_pick_the_first_matching_role,
    developer_identities_get_the_authenticated_role_despite_mappings,
    an_idbroker_token_alone_keeps_the_identitys_provider_mapping,
    principal_tags_reach_sts,
    sts_refusals_are_configuration_errors_and_change_nothing,
    a_token_for_a_pool_sts_does_not_trust_is_refused,
    sts_throttling_and_outages_are_reported_as_such,
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
    let issuer = format!("http://127.0.0.1:{port}");
    let front = StsFront::start(&issuer).await;
    let (base, front_url) = (idp.base.clone(), front.url.clone());
    let app = spawn_app_with(backend, |url| {
        let mut s = settings_with_idp_on(url, &base, port);
        s.sts_endpoint_url = Some(front_url);
        s.sts.guest_session_policy = Some(GUEST_POLICY.to_owned());
        s
    })
    .await;
    let pool = app
        .create_pool_with("credentials", true, |pool| {
            pool.supported_login_providers(GOOGLE, "google-client")
                .developer_provider_name("login.myapp")
                .cognito_identity_providers(
                    CognitoIdentityProvider::builder()
                        .provider_name(USER_POOL)
                        .client_id("upclient1")
                        .build(),
                )
        })
        .await;
    front.trust_audience(&pool);
    let w = World {
        app,
        front,
        key,
        pool,
        _idp: idp,
    };
    w.set_roles(None).await;
    w
}

impl World {
    async fn set_roles(&self, mapping: Option<(&str, RoleMapping)>) {
        let mut call = self
            .app
            .sdk
            .set_identity_pool_roles()
            .identity_pool_id(&self.pool)
            .roles("authenticated", AUTH)
            .roles("unauthenticated", GUEST);
        if let Some((provider, mapping)) = mapping {
            call = call.role_mappings(provider, mapping);
        }
        call.send().await.unwrap();
    }

    fn user_pool_token(&self, sub: &str, extra: Value) -> String {
        let mut c = claims(&format!("https://{USER_POOL}"), "upclient1", sub);
        c["token_use"] = json!("id");
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.key.sign(&c)
    }

    async fn credentials(
        &self,
        identity: &str,
        logins: &[(&str, String)],
        custom: Option<&str>,
    ) -> Result<aws_sdk_cognitoidentity::types::Credentials, (String, String)> {
        let mut call = self
            .app
            .sdk
            .get_credentials_for_identity()
            .identity_id(identity);
        for (k, v) in logins {
            call = call.logins(*k, v);
        }
        call.set_custom_role_arn(custom.map(str::to_owned))
            .send()
            .await
            .map(|o| o.credentials.unwrap())
            .map_err(|e| (code(&e), message(&e)))
    }

    async fn login(&self, provider: &str, token: String) -> String {
        self.app
            .get_id(&self.pool, &[(provider, token.as_str())])
            .await
            .unwrap()
            .identity_id
            .unwrap()
    }
}

/// The role STS issued these credentials for, asked of moto with the credentials themselves.
async fn assumed_role(creds: &aws_sdk_cognitoidentity::types::Credentials) -> String {
    caller_identity(creds).await.arn.unwrap()
}

/// GetCallerIdentity with these credentials, answered by moto: the session's ARN and its
/// `UserId`, which is what IAM policies read as `aws:userid`.
pub(crate) async fn caller_identity(
    creds: &aws_sdk_cognitoidentity::types::Credentials,
) -> aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(moto_url())
        .credentials_provider(Credentials::new(
            creds.access_key_id().unwrap(),
            creds.secret_key().unwrap(),
            creds.session_token().map(str::to_owned),
            None,
            "idbroker",
        ))
        .http_client(http)
        .build();
    aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .unwrap()
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

async fn a_guest_gets_credentials_for_the_unauthenticated_role(backend: Backend) {
    let w = world(backend).await;
    let guest = w.app.guest(&w.pool).await;
    let raw = w
        .app
        .raw(
            "GetCredentialsForIdentity",
            json!({"IdentityId": guest}).to_string(),
            &[],
        )
        .await;
    assert_eq!(raw.status, 200, "{}", raw.json);
    assert_eq!(raw.json["IdentityId"], guest.as_str());
    let c = &raw.json["Credentials"];
    assert!(
        c["SecretKey"].is_string() && c.get("SecretAccessKey").is_none(),
        "Cognito's member name: {c}"
    );
    assert!(c["AccessKeyId"].is_string() && c["SessionToken"].is_string());
    let expires_in = c["Expiration"].as_f64().unwrap() - chrono::Utc::now().timestamp() as f64;
    assert!(
        (3500.0..=3700.0).contains(&expires_in),
        "about an hour: {expires_in}"
    );

    let creds = w.credentials(&guest, &[], None).await.unwrap();
    let arn = assumed_role(&creds).await;
    assert_eq!(
        arn, "arn:aws:sts::123456789012:assumed-role/guest/CognitoIdentityCredentials",
        "behaviours 44 and 48"
    );
    let call = w.front.calls().pop().unwrap();
    assert_eq!(call.session_name, "CognitoIdentityCredentials");
    assert_eq!(call.duration, "3600");
    assert_eq!(call.role_arn, GUEST);
    assert_eq!(
        call.policy.as_deref(),
        Some(GUEST_POLICY),
        "guests get the scope-down policy"
    );
    let claims = call
        .claims
        .expect("the token STS received verifies against idbroker's JWKS");
    assert_eq!(claims["sub"], guest.as_str());
    // The ledger answers which identity held this access key, and never stores the secret.
    let key = creds.access_key_id().unwrap();
    let ledger = w
        .app
        .rest()
        .issuances(&idbroker_api::ledger::LedgerQuery {
            access_key_id: Some(key.to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    let entry = &ledger.issuances[0];
    assert_eq!(entry.identity_id, guest.as_str());
    assert_eq!(entry.role_arn, GUEST);
    assert!(!format!("{ledger:?}").contains(creds.secret_key().unwrap()));
    assert_eq!(
        w.app.issuances_of(&guest).await.len(),
        2,
        "both calls are recorded"
    );
    assert_eq!(claims["amr"], json!(["unauthenticated"]));
}

async fn missing_roles_and_closed_pools_are_refused(backend: Backend) {
    let w = world(backend).await;
    let guest = w.app.guest(&w.pool).await;
    w.app
        .sdk
        .set_identity_pool_roles()
        .identity_pool_id(&w.pool)
        .roles("authenticated", AUTH)
        .send()
        .await
        .unwrap();
    let (code, _) = w.credentials(&guest, &[], None).await.unwrap_err();
    assert_eq!(
        code, "InvalidIdentityPoolConfigurationException",
        "behaviour 45"
    );

    let user = w
        .login(
            GOOGLE,
            w.key.sign(&claims(
                "https://accounts.google.com",
                "google-client",
                "ann",
            )),
        )
        .await;
    w.app
        .sdk
        .set_identity_pool_roles()
        .identity_pool_id(&w.pool)
        .roles("unauthenticated", GUEST)
        .send()
        .await
        .unwrap();
    let (code, _) = w
        .credentials(
            &user,
            &[(
                GOOGLE,
                w.key.sign(&claims(
                    "https://accounts.google.com",
                    "google-client",
                    "ann",
                )),
            )],
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        code, "InvalidIdentityPoolConfigurationException",
        "behaviour 47 without a role"
    );

    w.set_roles(None).await;
    w.app
        .sdk
        .update_identity_pool()
        .identity_pool_id(&w.pool)
        .identity_pool_name("credentials")
        .allow_unauthenticated_identities(false)
        .supported_login_providers(GOOGLE, "google-client")
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(USER_POOL)
                .client_id("upclient1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (code, _) = w.credentials(&guest, &[], None).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException", "behaviour 46");
    assert!(w.front.calls().is_empty(), "no refused call reached STS");
}

async fn a_federated_identity_without_a_mapping_gets_the_authenticated_role(backend: Backend) {
    let w = world(backend).await;
    let token = || {
        w.key.sign(&claims(
            "https://accounts.google.com",
            "google-client",
            "bo",
        ))
    };
    let id = w.login(GOOGLE, token()).await;
    let creds = w
        .credentials(&id, &[(GOOGLE, token())], None)
        .await
        .unwrap();
    assert_eq!(
        role_name(&assumed_role(&creds).await),
        "CognitoIdentityCredentials"
    );
    assert!(
        assumed_role(&creds).await.contains("/authenticated/"),
        "behaviour 47"
    );
    assert_eq!(
        w.front.calls().pop().unwrap().policy,
        None,
        "only guests are scoped down"
    );
    let (code, _) = w.credentials(&id, &[], None).await.unwrap_err();
    assert_eq!(
        code, "NotAuthorizedException",
        "an authenticated identity needs its logins"
    );
}

async fn token_mappings_use_the_cognito_role_claims(backend: Backend) {
    let w = world(backend).await;
    let mapping = |ambiguous| {
        RoleMapping::builder()
            .r#type(RoleMappingType::Token)
            .ambiguous_role_resolution(ambiguous)
            .build()
            .unwrap()
    };
    w.set_roles(Some((
        &format!("{USER_POOL}:upclient1"),
        mapping(AmbiguousRoleResolutionType::Deny),
    )))
    .await;
    let preferred = w.user_pool_token(
        "cat",
        json!({"cognito:preferred_role": ADMINS, "cognito:roles": [ADMINS, READERS]}),
    );
    let id = w.login(USER_POOL, preferred.clone()).await;
    let creds = w
        .credentials(&id, &[(USER_POOL, preferred.clone())], None)
        .await
        .unwrap();
    assert!(
        assumed_role(&creds).await.contains("/admins/"),
        "behaviour 50"
    );
    let creds = w
        .credentials(&id, &[(USER_POOL, preferred.clone())], Some(READERS))
        .await
        .unwrap();
    assert!(
        assumed_role(&creds).await.contains("/readers/"),
        "behaviour 51"
    );
    let (code, _) = w
        .credentials(&id, &[(USER_POOL, preferred)], Some(OTHER))
        .await
        .unwrap_err();
    assert_eq!(
        code, "NotAuthorizedException",
        "behaviour 51: a role outside cognito:roles"
    );

    let ambiguous = w.user_pool_token("cat", json!({"cognito:roles": [ADMINS, READERS]}));
    let (code, msg) = w
        .credentials(&id, &[(USER_POOL, ambiguous.clone())], None)
        .await
        .unwrap_err();
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "NotAuthorizedException",
            "The ambiguous role mapping rules denied this request"
        )
    );
    w.set_roles(Some((
        &format!("{USER_POOL}:upclient1"),
        mapping(AmbiguousRoleResolutionType::AuthenticatedRole),
    )))
    .await;
    let creds = w
        .credentials(&id, &[(USER_POOL, ambiguous)], None)
        .await
        .unwrap();
    assert!(
        assumed_role(&creds).await.contains("/authenticated/"),
        "behaviour 52"
    );
}

async fn rules_pick_the_first_matching_role(backend: Backend) {
    let w = world(backend).await;
    let rule = |claim: &str, m: MappingRuleMatchType, value: &str, role: &str| {
        MappingRule::builder()
            .claim(claim)
            .match_type(m)
            .value(value)
            .role_arn(role)
            .build()
            .unwrap()
    };
    let mapping = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .rules_configuration(
            RulesConfigurationType::builder()
                .rules(rule(
                    "locale",
                    MappingRuleMatchType::Equals,
                    "Sacramento",
                    ADMINS,
                ))
                .rules(rule(
                    "locale",
                    MappingRuleMatchType::StartsWith,
                    "Sac",
                    READERS,
                ))
                .rules(rule(
                    "email",
                    MappingRuleMatchType::Contains,
                    "@corp.",
                    OTHER,
                ))
                .rules(rule(
                    "team",
                    MappingRuleMatchType::NotEqual,
                    "blocked",
                    AUTH,
                ))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    w.set_roles(Some((GOOGLE, mapping))).await;
    let token = |sub: &str, extra: Value| {
        let mut c = claims("https://accounts.google.com", "google-client", sub);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        w.key.sign(&c)
    };
    let cases = [
        ("d1", json!({"locale": "Sacramento"}), Some("/admins/")),
        ("d2", json!({"locale": "Sacsville"}), Some("/readers/")),
        ("d3", json!({"email": "d3@corp.example"}), Some("/other/")),
        ("d4", json!({"team": "blue"}), Some("/authenticated/")),
        ("d5", json!({"team": "blocked"}), None),
        ("d6", json!({}), None),
    ];
    for (sub, extra, expected) in cases {
        let id = w.login(GOOGLE, token(sub, extra.clone())).await;
        match (
            w.credentials(&id, &[(GOOGLE, token(sub, extra.clone()))], None)
                .await,
            expected,
        ) {
            (Ok(creds), Some(role)) => {
                assert!(assumed_role(&creds).await.contains(role), "{sub}: {role}")
            }
            (Err((code, _)), None) => assert_eq!(
                code, "NotAuthorizedException",
                "{sub}: no rule matches, Deny"
            ),
            (other, expected) => panic!("{sub}: {other:?}, expected {expected:?}"),
        }
    }
}

async fn developer_identities_get_the_authenticated_role_despite_mappings(backend: Backend) {
    let w = world(backend).await;
    let mapping = RoleMapping::builder()
        .r#type(RoleMappingType::Token)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .build()
        .unwrap();
    w.set_roles(Some((GOOGLE, mapping))).await;
    let out = w
        .app
        .developer_login(&w.pool, "login.myapp", "dev-user")
        .send()
        .await
        .unwrap();
    let id = out.identity_id().unwrap();
    let creds = w
        .credentials(
            id,
            &[(
                "cognito-identity.amazonaws.com",
                out.token().unwrap().to_owned(),
            )],
            None,
        )
        .await
        .unwrap();
    assert!(
        assumed_role(&creds).await.contains("/authenticated/"),
        "behaviour 68"
    );
}

/// An idbroker token from GetOpenIdToken proves a federated identity, but it is not a developer
/// login: the mapping of the identity's provider still decides (here: deny), instead of the
/// authenticated role that developer identities get.
async fn an_idbroker_token_alone_keeps_the_identitys_provider_mapping(backend: Backend) {
    let w = world(backend).await;
    let google = w.key.sign(&claims(
        "https://accounts.google.com",
        "google-client",
        "mapped-user",
    ));
    let id = w.login(GOOGLE, google.clone()).await;
    let token = w
        .app
        .sdk
        .get_open_id_token()
        .identity_id(&id)
        .logins(GOOGLE, google)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let deny = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .rules_configuration(
            RulesConfigurationType::builder()
                .rules(
                    MappingRule::builder()
                        .claim("email")
                        .match_type(MappingRuleMatchType::Equals)
                        .value("admin@example.com")
                        .role_arn(ADMINS)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    w.set_roles(Some((GOOGLE, deny))).await;
    let err = w
        .credentials(&id, &[("cognito-identity.amazonaws.com", token)], None)
        .await
        .unwrap_err();
    assert_eq!(err.0, "NotAuthorizedException", "{err:?}");
    assert!(w.front.calls().is_empty(), "STS must not be asked");
}

async fn principal_tags_reach_sts(backend: Backend) {
    let w = world(backend).await;
    w.app
        .sdk
        .set_principal_tag_attribute_map()
        .identity_pool_id(&w.pool)
        .identity_provider_name(USER_POOL)
        .use_defaults(true)
        .send()
        .await
        .unwrap();
    let token = w.user_pool_token("tagged-user", json!({}));
    let id = w.login(USER_POOL, token.clone()).await;
    w.credentials(&id, &[(USER_POOL, token)], None)
        .await
        .unwrap();
    let claims = w.front.calls().pop().unwrap().claims.unwrap();
    let tags = &claims["https://aws.amazon.com/tags"]["principal_tags"];
    assert_eq!(tags["client"], json!(["upclient1"]), "behaviour 80");
    assert_eq!(tags["username"], json!(["tagged-user"]));
}

/// The STS front checks `aud` against the pools the test trusts, not against the token's own
/// claim: a second pool, valid tokens and all, is refused until IAM would trust it.
async fn a_token_for_a_pool_sts_does_not_trust_is_refused(backend: Backend) {
    let w = world(backend).await;
    let other = w.app.create_pool("untrusted", true).await;
    w.app
        .sdk
        .set_identity_pool_roles()
        .identity_pool_id(&other)
        .roles("unauthenticated", GUEST)
        .send()
        .await
        .unwrap();
    let guest = w.app.guest(&other).await;
    let (code, _) = w.credentials(&guest, &[], None).await.unwrap_err();
    assert_eq!(code, "InvalidIdentityPoolConfigurationException");
    let refused = w.front.calls().pop().unwrap().claims.unwrap_err();
    assert!(
        refused.contains(&other),
        "refused for its audience: {refused}"
    );

    w.front.trust_audience(&other);
    w.credentials(&guest, &[], None)
        .await
        .expect("trusted once IAM lists the pool");
}

async fn sts_refusals_are_configuration_errors_and_change_nothing(backend: Backend) {
    let w = world(backend).await;
    let token = w.user_pool_token("refused-user", json!({}));
    let id = w.login(USER_POOL, token.clone()).await;
    let logins = [(USER_POOL, token)];
    let describe = || w.app.sdk.describe_identity().identity_id(&id).send();
    let before = describe().await.unwrap();
    assert_eq!(before.logins(), [USER_POOL]);
    for (status, sts_code) in [
        (403, "AccessDenied"),
        (400, "InvalidIdentityToken"),
        (403, "IDPRejectedClaim"),
    ] {
        w.front.fail_next(vec![Fault::Error {
            status,
            code: sts_code,
            message: "secret detail from STS",
        }]);
        let (code, msg) = w.credentials(&id, &logins, None).await.unwrap_err();
        assert_eq!(
            code, "InvalidIdentityPoolConfigurationException",
            "{sts_code} (behaviour 49)"
        );
        assert!(
            !msg.contains("secret detail"),
            "STS's message stays in the log: {msg}"
        );
    }
    // Nothing was recorded or touched: no ledger entry, the same logins, the same identity
    // (its last-modified time included), no other identity.
    assert!(w.app.issuances_of(&id).await.is_empty());
    let after = describe().await.unwrap();
    assert_eq!(after.logins(), before.logins());
    assert_eq!(after.last_modified_date(), before.last_modified_date());
    assert_eq!(w.app.identity_ids(&w.pool).await, std::slice::from_ref(&id));
    w.credentials(&id, &logins, None)
        .await
        .expect("the next call works");
    assert_eq!(w.app.issuances_of(&id).await.len(), 1, "and is recorded");
}

async fn sts_throttling_and_outages_are_reported_as_such(backend: Backend) {
    let w = world(backend).await;
    let guest = w.app.guest(&w.pool).await;
    w.front.fail_next(vec![Fault::Error {
        status: 400,
        code: "Throttling",
        message: "Rate exceeded",
    }]);
    assert_eq!(
        w.credentials(&guest, &[], None).await.unwrap_err().0,
        "TooManyRequestsException"
    );

    // A transient failure is retried away (two attempts at most, within 6 s).
    let before = w.front.calls().len();
    w.front.fail_next(vec![Fault::Error {
        status: 500,
        code: "InternalFailure",
        message: "oops",
    }]);
    w.credentials(&guest, &[], None)
        .await
        .expect("retried within the budget");
    assert_eq!(w.front.calls().len() - before, 2);

    // A lasting outage is an external-service error, and for a moment afterwards calls fail
    // at once instead of queueing behind a dead STS.
    w.front.fail_next(vec![
        Fault::Error {
            status: 503,
            code: "ServiceUnavailable",
            message: "down"
        };
        2
    ]);
    assert_eq!(
        w.credentials(&guest, &[], None).await.unwrap_err().0,
        "ExternalServiceException"
    );
    let before = w.front.calls().len();
    let started = std::time::Instant::now();
    assert_eq!(
        w.credentials(&guest, &[], None).await.unwrap_err().0,
        "ExternalServiceException"
    );
    assert_eq!(
        w.front.calls().len(),
        before,
        "STS was not asked during the backoff"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // So is an STS that does not answer in time: one attempt cut off at 3 s, then a failing
    // one; the caller hears back well before the 7 s STS would have taken.
    w.front.fail_next(vec![
        Fault::Delay(Duration::from_secs(7)),
        Fault::Error {
            status: 503,
            code: "ServiceUnavailable",
            message: "down",
        },
    ]);
    let started = std::time::Instant::now();
    assert_eq!(
        w.credentials(&guest, &[], None).await.unwrap_err().0,
        "ExternalServiceException"
    );
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    w.credentials(&guest, &[], None)
        .await
        .expect("and the next call works");
}

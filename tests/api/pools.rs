//! Identity-pool administration through the AWS SDK (`docs/spec.md` behaviours 5–16, 57–60, 80).

use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, CognitoIdentityProvider, MappingRule, MappingRuleMatchType,
    RoleMapping, RoleMappingType, RulesConfigurationType,
};
use serde_json::json;

use aws_sdk_cognitoidentity::operation::get_identity_pool_roles::GetIdentityPoolRolesOutput;
use aws_sdk_cognitoidentity::operation::set_identity_pool_roles::{
    SetIdentityPoolRolesError, SetIdentityPoolRolesOutput,
};

use crate::helpers::{ACCOUNT, REGION, SdkResult, TestApp, code, message, on_both_stores};

on_both_stores!(
    a_pool_is_created_described_listed_updated_and_deleted,
    pool_names_and_providers_are_validated_like_the_model,
    pools_are_listed_in_pages_of_max_results,
    allow_classic_flow_stays_absent_unless_given,
    an_update_replaces_everything_but_the_developer_provider,
    unknown_pools_are_not_found,
    pools_are_tagged_and_untagged_by_arn,
    roles_and_role_mappings_round_trip_and_are_validated,
    principal_tag_maps_round_trip,
);

const AUTH_ROLE: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST_ROLE: &str = "arn:aws:iam::123456789012:role/guest";
const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";

fn arn(pool_id: &str) -> String {
    format!("arn:aws:cognito-identity:{REGION}:{ACCOUNT}:identitypool/{pool_id}")
}

async fn a_pool_is_created_described_listed_updated_and_deleted(app: TestApp) {
    let oidc_arn = app
        .register_oidc("https://login.example.com", &["app"])
        .await;
    assert_eq!(
        oidc_arn,
        "arn:aws:iam::123456789012:oidc-provider/login.example.com"
    );
    let created = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("mobile app")
        .allow_unauthenticated_identities(true)
        .supported_login_providers("accounts.google.com", "123-abc.apps.googleusercontent.com")
        .developer_provider_name("login.mycompany.myapp")
        .open_id_connect_provider_arns(&oidc_arn)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(USER_POOL)
                .client_id("client1")
                .server_side_token_check(false)
                .build(),
        )
        .identity_pool_tags("team", "mobile")
        .send()
        .await
        .unwrap();
    let id = created.identity_pool_id().to_owned();
    let (region, uuid) = id.split_once(':').unwrap();
    assert_eq!(region, REGION);
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{id}");
    assert_eq!(created.identity_pool_name(), "mobile app");
    assert!(created.allow_unauthenticated_identities());

    let described = app.describe_pool(&id).await.unwrap();
    assert_eq!(described.identity_pool_name(), "mobile app");
    assert_eq!(
        described.supported_login_providers().unwrap()["accounts.google.com"],
        "123-abc.apps.googleusercontent.com"
    );
    assert_eq!(
        described.developer_provider_name(),
        Some("login.mycompany.myapp")
    );
    assert_eq!(described.open_id_connect_provider_arns().len(), 1);
    assert_eq!(
        described.cognito_identity_providers()[0].provider_name(),
        Some(USER_POOL)
    );
    assert_eq!(described.identity_pool_tags().unwrap()["team"], "mobile");

    let listed = app
        .sdk
        .list_identity_pools()
        .max_results(10)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.identity_pools().len(), 1);
    assert_eq!(
        listed.identity_pools()[0].identity_pool_id(),
        Some(id.as_str())
    );
    assert_eq!(
        listed.identity_pools()[0].identity_pool_name(),
        Some("mobile app")
    );

    let updated = app
        .sdk
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("renamed")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.identity_pool_name(), "renamed");
    assert!(!updated.allow_unauthenticated_identities());

    app.delete_pool(&id).await.unwrap();
    let err = app.describe_pool(&id).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    assert_eq!(app.pool_count().await, 0);
}

async fn pool_names_and_providers_are_validated_like_the_model(app: TestApp) {
    for name in ["bad/name".to_owned(), "a".repeat(129)] {
        let err = crate::helpers::create_pool_on(&app.sdk, &name, true)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException");
        assert!(
            message(&err).contains("identityPoolName"),
            "{}",
            message(&err)
        );
    }

    let mut eleven = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true);
    for i in 0..11 {
        eleven = eleven.supported_login_providers(format!("p{i}.example.com"), "app");
    }
    assert_eq!(
        code(&eleven.send().await.unwrap_err()),
        "ValidationException"
    );

    let err = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .cognito_identity_providers(CognitoIdentityProvider::builder().client_id("abc").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), "Invalid Cognito Identity Provider");

    // Required members missing: the SDK would refuse to send, so send the JSON raw.
    for body in [
        json!({"IdentityPoolName": "p"}),
        json!({"AllowUnauthenticatedIdentities": true}),
    ] {
        let raw = app.signed_json("CreateIdentityPool", &body).await;
        raw.assert_error("ValidationException");
    }
    assert_eq!(
        app.pool_count().await,
        0,
        "a refused create leaves nothing behind"
    );
}

async fn pools_are_listed_in_pages_of_max_results(app: TestApp) {
    let a = app.create_pool("a", true).await;
    let b = app.create_pool("b", true).await;
    let list = |max: i32| app.sdk.list_identity_pools().max_results(max);
    let first = list(1).send().await.unwrap();
    assert_eq!(first.identity_pools().len(), 1);
    let token = first.next_token().expect("a next token").to_owned();
    let second = list(1).next_token(token).send().await.unwrap();
    assert_eq!(second.identity_pools().len(), 1);
    let mut seen = vec![
        first.identity_pools()[0]
            .identity_pool_id()
            .unwrap()
            .to_owned(),
        second.identity_pools()[0]
            .identity_pool_id()
            .unwrap()
            .to_owned(),
    ];
    seen.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(seen, expected);
    assert!(second.next_token().is_none());

    for bad in [0, 61] {
        let err = list(bad).send().await.unwrap_err();
        assert_eq!(code(&err), "ValidationException");
    }
    let err = list(5).next_token("garbage").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
}

async fn allow_classic_flow_stays_absent_unless_given(app: TestApp) {
    let id = app.create_pool("legacy", true).await;
    let raw = app
        .signed_json("DescribeIdentityPool", &json!({"IdentityPoolId": id}))
        .await;
    assert_eq!(raw.status, 200);
    assert!(raw.json.get("AllowClassicFlow").is_none(), "{}", raw.json);

    let explicit = app
        .sdk
        .create_identity_pool()
        .identity_pool_name("modern")
        .allow_unauthenticated_identities(true)
        .allow_classic_flow(false)
        .send()
        .await
        .unwrap();
    assert_eq!(explicit.allow_classic_flow(), Some(false));
}

async fn an_update_replaces_everything_but_the_developer_provider(app: TestApp) {
    let id = app
        .create_pool_with("p", true, |pool| {
            pool.supported_login_providers("graph.facebook.com", "7346241598935555")
                .developer_provider_name("login.example")
                .identity_pool_tags("kept", "yes")
        })
        .await;

    let updated = app
        .sdk
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap();
    assert!(
        updated
            .supported_login_providers()
            .is_none_or(|p| p.is_empty()),
        "omitted providers are cleared"
    );
    assert_eq!(
        updated.developer_provider_name(),
        Some("login.example"),
        "omitted developer provider is kept"
    );
    assert_eq!(updated.identity_pool_tags().unwrap()["kept"], "yes");

    let err = app
        .sdk
        .update_identity_pool()
        .identity_pool_id(&id)
        .identity_pool_name("p")
        .allow_unauthenticated_identities(true)
        .developer_provider_name("other.provider")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let described = app.describe_pool(&id).await.unwrap();
    assert_eq!(described.developer_provider_name(), Some("login.example"));
}

async fn unknown_pools_are_not_found(app: TestApp) {
    let ghost = format!("{REGION}:{}", uuid::Uuid::new_v4());
    let err = app.describe_pool(&ghost).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = app.delete_pool(&ghost).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = app
        .sdk
        .update_identity_pool()
        .identity_pool_id(&ghost)
        .identity_pool_name("x")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = app.describe_pool("not-an-id").await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

async fn pools_are_tagged_and_untagged_by_arn(app: TestApp) {
    let id = app.create_pool("tagged", true).await;
    let tags_of = |arn: String| app.sdk.list_tags_for_resource().resource_arn(arn).send();
    app.sdk
        .tag_resource()
        .resource_arn(arn(&id))
        .tags("env", "dev")
        .tags("team", "web")
        .send()
        .await
        .unwrap();
    app.sdk
        .untag_resource()
        .resource_arn(arn(&id))
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = tags_of(arn(&id)).await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);
    assert_eq!(
        tags.tags().unwrap().get("team").map(String::as_str),
        Some("web")
    );

    let ghost = arn(&format!("{REGION}:{}", uuid::Uuid::new_v4()));
    let err = tags_of(ghost).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let other_account = format!("arn:aws:cognito-identity:{REGION}:999999999999:identitypool/{id}");
    let tag_a_b = |arn: String| {
        app.sdk
            .tag_resource()
            .resource_arn(arn)
            .tags("a", "b")
            .send()
    };
    let err = tag_a_b(other_account).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = tag_a_b("arn:aws:iam::123456789012:role/x".to_owned())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");

    let mut too_many = app.sdk.tag_resource().resource_arn(arn(&id));
    for i in 0..50 {
        too_many = too_many.tags(format!("k{i}"), "v");
    }
    let err = too_many.send().await.unwrap_err();
    assert_eq!(
        code(&err),
        "InvalidParameterException",
        "51 tags in total are refused"
    );
    let tags = tags_of(arn(&id)).await.unwrap();
    assert_eq!(
        tags.tags().unwrap().len(),
        1,
        "a refused tagging changes nothing"
    );
}

fn rules_mapping(rules: usize) -> RoleMapping {
    let mut config = RulesConfigurationType::builder();
    for i in 0..rules {
        config = config.rules(
            MappingRule::builder()
                .claim("locale")
                .match_type(MappingRuleMatchType::Equals)
                .value(format!("v{i}"))
                .role_arn(AUTH_ROLE)
                .build()
                .unwrap(),
        );
    }
    RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .rules_configuration(config.build().unwrap())
        .build()
        .unwrap()
}

/// SetIdentityPoolRoles with the authenticated role and one role mapping.
async fn set_mapping(
    app: &TestApp,
    pool: &str,
    provider: &str,
    mapping: RoleMapping,
) -> SdkResult<SetIdentityPoolRolesOutput, SetIdentityPoolRolesError> {
    let call = app.sdk.set_identity_pool_roles().identity_pool_id(pool);
    let call = call.roles("authenticated", AUTH_ROLE);
    call.role_mappings(provider, mapping).send().await
}

/// GetIdentityPoolRoles.
async fn get_roles(app: &TestApp, pool: &str) -> GetIdentityPoolRolesOutput {
    let call = app.sdk.get_identity_pool_roles().identity_pool_id(pool);
    call.send().await.unwrap()
}

async fn roles_and_role_mappings_round_trip_and_are_validated(app: TestApp) {
    let id = app
        .create_pool_with("roles", true, |pool| {
            pool.supported_login_providers("accounts.google.com", "client")
        })
        .await;
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("authenticated", AUTH_ROLE)
        .roles("unauthenticated", GUEST_ROLE)
        .role_mappings("accounts.google.com", rules_mapping(2))
        .send()
        .await
        .unwrap();
    let got = get_roles(&app, &id).await;
    assert_eq!(got.identity_pool_id(), Some(id.as_str()));
    assert_eq!(
        got.roles()
            .unwrap()
            .get("unauthenticated")
            .map(String::as_str),
        Some(GUEST_ROLE)
    );
    assert_eq!(
        got.role_mappings().unwrap().get("accounts.google.com"),
        Some(&rules_mapping(2))
    );

    let err = app
        .sdk
        .set_identity_pool_roles()
        .identity_pool_id(&id)
        .roles("admin", AUTH_ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    let err = set_mapping(&app, &id, "graph.facebook.com", rules_mapping(1))
        .await
        .unwrap_err();
    crate::helpers::assert_sdk_error(
        &err,
        "InvalidParameterException",
        "graph.facebook.com is not a valid RoleMapping ProviderName or is not a configured provider.",
    );

    let err = set_mapping(&app, &id, "accounts.google.com", rules_mapping(26))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    let without_rules = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::AuthenticatedRole)
        .build()
        .unwrap();
    let err = set_mapping(&app, &id, "accounts.google.com", without_rules)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");

    let got = get_roles(&app, &id).await;
    assert_eq!(
        got.role_mappings().unwrap().get("accounts.google.com"),
        Some(&rules_mapping(2)),
        "refused calls changed nothing"
    );
}

async fn principal_tag_maps_round_trip(app: TestApp) {
    let id = app
        .create_pool_with("tags", false, |pool| {
            pool.cognito_identity_providers(
                CognitoIdentityProvider::builder()
                    .provider_name(USER_POOL)
                    .client_id("client1")
                    .build(),
            )
        })
        .await;
    let set = app
        .sdk
        .set_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name(USER_POOL)
        .use_defaults(false)
        .principal_tags("department", "custom:dept")
        .send()
        .await
        .unwrap();
    assert_eq!(
        set.principal_tags()
            .unwrap()
            .get("department")
            .map(String::as_str),
        Some("custom:dept")
    );
    let got = app
        .sdk
        .get_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name(USER_POOL)
        .send()
        .await
        .unwrap();
    assert_eq!(got.use_defaults(), Some(false));
    assert_eq!(
        got.principal_tags()
            .unwrap()
            .get("department")
            .map(String::as_str),
        Some("custom:dept")
    );
    assert_eq!(got.identity_provider_name(), Some(USER_POOL));

    let err = app
        .sdk
        .set_principal_tag_attribute_map()
        .identity_pool_id(&id)
        .identity_provider_name("accounts.google.com")
        .use_defaults(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        "InvalidParameterException",
        "a provider the pool does not trust"
    );
}

/// Replicas keep a copy of pool configuration for the public operations. On PostgreSQL change
/// events drop it at once everywhere (`coherence.rs`); this shows the lifetime that bounds it
/// where no event reaches (two stores on one SQLite file, a change made by hand).
mod pool_copies {
    use std::time::Duration;

    use crate::helpers::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, code, sdk_client, settings, start};

    crate::helpers::on_both_backends!(
        a_pool_change_is_seen_at_once_where_it_was_made_and_within_the_cache_time_elsewhere
    );

    async fn a_pool_change_is_seen_at_once_where_it_was_made_and_within_the_cache_time_elsewhere(
        backend: idbroker_store::Backend,
    ) {
        let db = idbroker_store::testing::TestDatabase::new(backend).await;
        let mut replica_b = settings(db.url());
        replica_b.pool_cache_ttl = Duration::from_secs(1);
        let a = sdk_client(
            &start(settings(db.url())).await,
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
        );
        let b = sdk_client(&start(replica_b).await, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
        let pool = crate::helpers::create_pool_on(&a, "cached", true)
            .await
            .unwrap()
            .identity_pool_id;
        // Both replicas serve a guest, and so hold a copy of the pool.
        for replica in [&a, &b] {
            replica
                .get_id()
                .identity_pool_id(&pool)
                .send()
                .await
                .unwrap();
        }

        a.update_identity_pool()
            .identity_pool_id(&pool)
            .identity_pool_name("cached")
            .allow_unauthenticated_identities(false)
            .send()
            .await
            .unwrap();
        let refused = a.get_id().identity_pool_id(&pool).send().await.unwrap_err();
        assert_eq!(
            code(&refused),
            "NotAuthorizedException",
            "the replica that made the change forgets its copy"
        );

        tokio::time::sleep(Duration::from_millis(1200)).await;
        let refused = b.get_id().identity_pool_id(&pool).send().await.unwrap_err();
        assert_eq!(
            code(&refused),
            "NotAuthorizedException",
            "another replica sees the change once its copy is older than the cache time"
        );
    }
}

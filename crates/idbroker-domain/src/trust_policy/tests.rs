use serde_json::{Value, json};

use super::*;

const POOL: &str = "us-east-1:11111111-2222-3333-4444-555555555555";
const OTHER_POOL: &str = "us-east-1:66666666-7777-8888-9999-000000000000";
const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/id.example.com/tenant";

fn expected(role: RoleKind, session_tags: bool) -> Expected {
    Expected {
        issuer: "https://id.example.com/tenant".into(),
        account: AccountId::parse("123456789012").unwrap(),
        pool_id: IdentityPoolId::parse("pool", POOL).unwrap(),
        role,
        session_tags,
    }
}

fn generated(role: RoleKind, session_tags: bool) -> Value {
    serde_json::to_value(expected(role, session_tags).policy()).unwrap()
}

fn findings(policy: &Value, role: RoleKind, session_tags: bool) -> Vec<Finding> {
    check(
        &Policy::from_json(policy).unwrap(),
        &expected(role, session_tags),
    )
}

#[test]
fn the_generated_policy_names_the_provider_the_pool_and_the_kind_of_identity() {
    assert_eq!(
        generated(RoleKind::Authenticated, true),
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": ARN},
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {"id.example.com/tenant:aud": POOL},
                    "ForAnyValue:StringLike": {"id.example.com/tenant:amr": "authenticated"}
                }
            }]
        })
    );
    let guest = generated(RoleKind::Unauthenticated, false);
    assert_eq!(
        guest["Statement"][0]["Action"],
        json!(["sts:AssumeRoleWithWebIdentity"])
    );
    assert_eq!(
        guest["Statement"][0]["Condition"]["ForAnyValue:StringLike"]["id.example.com/tenant:amr"],
        "unauthenticated"
    );
}

#[test]
fn generated_policies_have_no_findings() {
    for role in [RoleKind::Authenticated, RoleKind::Unauthenticated] {
        for tags in [false, true] {
            let policy = generated(role, tags);
            assert_eq!(findings(&policy, role, tags), [], "{role:?} tags={tags}");
        }
    }
}

/// A mutation of the generated authenticated policy (with TagSession unless it says otherwise).
fn mutated(change: impl FnOnce(&mut Value)) -> Value {
    let mut policy = generated(RoleKind::Authenticated, true);
    change(&mut policy["Statement"][0]);
    policy
}

fn condition(statement: &mut Value) -> &mut Value {
    &mut statement["Condition"]
}

/// The generated authenticated policy (with TagSession) and one more statement.
fn with_statement(extra: Value) -> Value {
    let mut policy = generated(RoleKind::Authenticated, true);
    policy["Statement"].as_array_mut().unwrap().push(extra);
    policy
}

/// The generated statement's conditions replaced by `conditions`.
fn conditioned(conditions: Value) -> Value {
    mutated(|s| s["Condition"] = conditions)
}

#[test]
fn each_misconfiguration_is_named_with_its_code_and_severity() {
    use Severity::{Error, Warning};
    let aud = "id.example.com/tenant:aud";
    let amr = "id.example.com/tenant:amr";
    // (what is wrong, the policy, the role, tags configured, the expected code and severity)
    let rows: Vec<(&str, Value, RoleKind, bool, &str, Severity)> = vec![
        (
            "no aud condition",
            mutated(|s| {
                condition(s).as_object_mut().unwrap().remove("StringEquals");
            }),
            RoleKind::Authenticated,
            true,
            "missing_aud_condition",
            Error,
        ),
        (
            "aud names another pool",
            mutated(|s| condition(s)["StringEquals"][aud] = json!(OTHER_POOL)),
            RoleKind::Authenticated,
            true,
            "aud_other_pool",
            Error,
        ),
        (
            "aud names this pool and another",
            mutated(|s| condition(s)["StringEquals"][aud] = json!([POOL, OTHER_POOL])),
            RoleKind::Authenticated,
            true,
            "aud_other_pools",
            Error,
        ),
        (
            "aud compared ignoring case, the key in capitals",
            conditioned(json!({
                "StringEqualsIgnoreCase": {"ID.EXAMPLE.COM/TENANT:AUD": POOL.to_uppercase()},
                "ForAnyValue:StringLike": {amr: "authenticated"}
            })),
            RoleKind::Authenticated,
            true,
            "aud_case",
            Error,
        ),
        (
            "aud names the pool and its id in capitals",
            mutated(|s| condition(s)["StringEquals"][aud] = json!([POOL, POOL.to_uppercase()])),
            RoleKind::Authenticated,
            true,
            "aud_case",
            Error,
        ),
        (
            "aud names the pool only in capitals",
            mutated(|s| condition(s)["StringEquals"][aud] = json!(POOL.to_uppercase())),
            RoleKind::Authenticated,
            true,
            "aud_other_pool",
            Error,
        ),
        (
            "aud with IfExists",
            conditioned(json!({
                "StringEqualsIfExists": {aud: POOL},
                "ForAnyValue:StringLike": {amr: "authenticated"}
            })),
            RoleKind::Authenticated,
            true,
            "condition_if_exists",
            Error,
        ),
        (
            "amr with IfExists",
            conditioned(json!({
                "StringEquals": {aud: POOL},
                "ForAnyValue:StringLikeIfExists": {amr: "authenticated"}
            })),
            RoleKind::Authenticated,
            true,
            "condition_if_exists",
            Error,
        ),
        (
            "amr only through ForAllValues",
            conditioned(json!({
                "StringEquals": {aud: POOL},
                "ForAllValues:StringLike": {amr: ["authenticated", "*.com"]}
            })),
            RoleKind::Authenticated,
            true,
            "for_all_values",
            Error,
        ),
        (
            "aud only through ForAllValues",
            conditioned(json!({
                "ForAllValues:StringEquals": {aud: POOL},
                "ForAnyValue:StringLike": {amr: "authenticated"}
            })),
            RoleKind::Authenticated,
            true,
            "for_all_values",
            Error,
        ),
        (
            "the provider and another account in one statement, IfExists conditions",
            mutated(|s| {
                s["Principal"] = json!({"Federated": ARN, "AWS": "arn:aws:iam::999999999999:root"});
                s["Action"] = json!([
                    "sts:AssumeRoleWithWebIdentity",
                    "sts:AssumeRole",
                    "sts:TagSession"
                ]);
                s["Condition"] = json!({
                    "StringEqualsIfExists": {aud: POOL},
                    "ForAnyValue:StringLikeIfExists": {amr: "authenticated"}
                });
            }),
            RoleKind::Authenticated,
            true,
            "mixed_principals",
            Error,
        ),
        (
            "the provider and Google in one statement",
            mutated(|s| {
                s["Principal"]["Federated"] = json!([ARN, "accounts.google.com"]);
                s["Condition"] = json!({
                    "StringEqualsIfExists": {aud: POOL},
                    "ForAllValues:StringLike": {amr: ["authenticated", "*.com"]}
                });
            }),
            RoleKind::Authenticated,
            true,
            "federated_without_aud",
            Error,
        ),
        (
            "another statement lets \"*\" AssumeRole",
            with_statement(
                json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
            ),
            RoleKind::Authenticated,
            true,
            "principal_wildcard",
            Error,
        ),
        (
            "another statement lets any AWS principal AssumeRole",
            with_statement(
                json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
            ),
            RoleKind::Authenticated,
            true,
            "principal_wildcard",
            Error,
        ),
        (
            "another statement trusts Amazon Cognito without conditions",
            with_statement(json!({
                "Effect": "Allow",
                "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                "Action": "sts:AssumeRoleWithWebIdentity"
            })),
            RoleKind::Authenticated,
            true,
            "federated_without_aud",
            Error,
        ),
        (
            "another statement trusts another account",
            with_statement(json!({
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                "Action": "sts:AssumeRole"
            })),
            RoleKind::Authenticated,
            true,
            "other_principal",
            Warning,
        ),
        (
            "amr admits signed-in identities on the guest role",
            {
                let mut p = generated(RoleKind::Unauthenticated, false);
                condition(&mut p["Statement"][0])["ForAnyValue:StringLike"][amr] = json!("*");
                p
            },
            RoleKind::Unauthenticated,
            false,
            "amr_admits_authenticated",
            Warning,
        ),
        (
            "aud is a StringLike wildcard",
            mutated(|s| {
                let c = condition(s).as_object_mut().unwrap();
                c.remove("StringEquals");
                c.insert("StringLike".into(), json!({ aud: "us-east-1:*" }));
            }),
            RoleKind::Authenticated,
            true,
            "aud_wildcard",
            Error,
        ),
        (
            "no amr condition on the authenticated role",
            mutated(|s| {
                condition(s)
                    .as_object_mut()
                    .unwrap()
                    .remove("ForAnyValue:StringLike");
            }),
            RoleKind::Authenticated,
            true,
            "missing_amr_condition",
            Error,
        ),
        (
            "no amr condition on the guest role",
            {
                let mut p = generated(RoleKind::Unauthenticated, false);
                condition(&mut p["Statement"][0])
                    .as_object_mut()
                    .unwrap()
                    .remove("ForAnyValue:StringLike");
                p
            },
            RoleKind::Unauthenticated,
            false,
            "missing_amr_condition",
            Warning,
        ),
        (
            "amr admits unauthenticated on the authenticated role",
            mutated(|s| condition(s)["ForAnyValue:StringLike"][amr] = json!("*authenticated")),
            RoleKind::Authenticated,
            true,
            "amr_admits_unauthenticated",
            Error,
        ),
        (
            "amr names only a provider",
            mutated(|s| condition(s)["ForAnyValue:StringLike"][amr] = json!("accounts.google.com")),
            RoleKind::Authenticated,
            true,
            "amr_narrower",
            Warning,
        ),
        (
            "amr authenticated on the guest role",
            generated(RoleKind::Authenticated, false),
            RoleKind::Unauthenticated,
            false,
            "amr_excludes_unauthenticated",
            Error,
        ),
        (
            "amr compared without ForAnyValue",
            mutated(|s| {
                let c = condition(s).as_object_mut().unwrap();
                let amr_condition = c.remove("ForAnyValue:StringLike").unwrap();
                c.insert("StringLike".into(), amr_condition);
            }),
            RoleKind::Authenticated,
            true,
            "amr_operator",
            Warning,
        ),
        (
            "Amazon Cognito's principal",
            mutated(|s| s["Principal"]["Federated"] = json!("cognito-identity.amazonaws.com")),
            RoleKind::Authenticated,
            true,
            "wrong_principal",
            Error,
        ),
        (
            "another account's provider",
            mutated(|s| {
                s["Principal"]["Federated"] =
                    json!("arn:aws:iam::210987654321:oidc-provider/id.example.com/tenant");
            }),
            RoleKind::Authenticated,
            true,
            "wrong_principal",
            Error,
        ),
        (
            "a principal of \"*\"",
            mutated(|s| s["Principal"] = json!("*")),
            RoleKind::Authenticated,
            true,
            "principal_wildcard",
            Error,
        ),
        (
            "NotPrincipal in an Allow statement",
            mutated(|s| {
                let principal = s.as_object_mut().unwrap().remove("Principal").unwrap();
                s["NotPrincipal"] = json!({"AWS": "arn:aws:iam::123456789012:root"});
                drop(principal);
            }),
            RoleKind::Authenticated,
            true,
            "not_principal",
            Error,
        ),
        (
            "condition keys of Amazon Cognito",
            mutated(|s| {
                condition(s)["StringEquals"]["cognito-identity.amazonaws.com:aud"] = json!(POOL);
            }),
            RoleKind::Authenticated,
            true,
            "foreign_condition_key",
            Error,
        ),
        (
            "TagSession missing while tags are configured",
            generated(RoleKind::Authenticated, false),
            RoleKind::Authenticated,
            true,
            "missing_tag_session",
            Error,
        ),
        (
            "AssumeRole instead of AssumeRoleWithWebIdentity",
            mutated(|s| s["Action"] = json!("sts:AssumeRole")),
            RoleKind::Authenticated,
            false,
            "missing_web_identity_action",
            Error,
        ),
        (
            "sts:* instead of the two actions",
            mutated(|s| s["Action"] = json!("sts:*")),
            RoleKind::Authenticated,
            true,
            "action_wildcard",
            Warning,
        ),
        (
            "Effect Deny only",
            mutated(|s| s["Effect"] = json!("Deny")),
            RoleKind::Authenticated,
            true,
            "deny_only",
            Error,
        ),
        (
            "an unconditional Deny beside the Allow",
            {
                let mut p = generated(RoleKind::Authenticated, true);
                let deny = json!({"Effect": "Deny", "Principal": {"Federated": ARN}, "Action": "sts:AssumeRoleWithWebIdentity"});
                p["Statement"].as_array_mut().unwrap().push(deny);
                p
            },
            RoleKind::Authenticated,
            true,
            "denied",
            Error,
        ),
        (
            "an old policy version",
            {
                let mut p = generated(RoleKind::Authenticated, true);
                p["Version"] = json!("2008-10-17");
                p
            },
            RoleKind::Authenticated,
            true,
            "policy_version",
            Warning,
        ),
    ];
    for (what, policy, role, tags, code, severity) in rows {
        let found = findings(&policy, role, tags);
        assert!(
            found
                .iter()
                .any(|f| f.code == code && f.severity == severity),
            "{what}: expected {code} ({severity:?}), got {found:#?}"
        );
        assert!(
            found.iter().all(|f| !f.message.is_empty()),
            "{what}: {found:?}"
        );
    }
}

#[test]
fn other_principals_with_their_own_audience_are_only_named() {
    // A second provider tied to its own client id: a warning, not an error.
    let policy = with_statement(json!({
        "Effect": "Allow",
        "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"accounts.google.com:aud": "client.apps.googleusercontent.com"}}
    }));
    let found = findings(&policy, RoleKind::Authenticated, true);
    let codes: Vec<_> = found
        .iter()
        .map(|f| (f.code, f.severity, f.statement))
        .collect();
    assert_eq!(
        codes,
        [("other_principal", Severity::Warning, Some(1))],
        "{found:#?}"
    );
    // A statement that lets no one assume the role (TagSession alone) is not judged.
    let policy =
        with_statement(json!({"Effect": "Allow", "Principal": "*", "Action": "sts:TagSession"}));
    assert_eq!(findings(&policy, RoleKind::Authenticated, true), []);
}

#[test]
fn ambiguous_or_unknown_json_is_refused_not_judged() {
    let good = generated(RoleKind::Authenticated, false).to_string();
    let statement = r#""Effect":"Allow","#;
    // (what is wrong, the policy text, what the refusal names)
    let rows: Vec<(&str, String, &str)> = vec![
        (
            "a repeated Principal (serde would keep the last)",
            good.replacen(statement, r#""Effect":"Allow","Principal":"*","#, 1),
            "'Principal' appears twice",
        ),
        (
            "a repeated aud key",
            good.replacen(
                r#""StringEquals":{"#,
                &format!(r#""StringEquals":{{"id.example.com/tenant:aud":"{OTHER_POOL}","#),
                1,
            ),
            "'id.example.com/tenant:aud' appears twice",
        ),
        (
            "a misspelt operator",
            good.replace("\"StringEquals\"", "\"StringEqualz\""),
            "unknown condition operator 'StringEqualz'",
        ),
        (
            "an unknown set prefix",
            good.replace("ForAnyValue:", "ForSomeValues:"),
            "unknown condition operator 'ForSomeValues:StringLike'",
        ),
        (
            "Null with IfExists",
            good.replace("\"StringEquals\"", "\"NullIfExists\""),
            "unknown condition operator 'NullIfExists'",
        ),
    ];
    for (what, text, expected) in rows {
        assert_ne!(text, good, "{what}: the row changed nothing");
        let err = Policy::from_json(&Value::String(text)).unwrap_err();
        assert!(err.0.contains(expected), "{what}: {err}");
    }
    // The same repeated member in a request body (the object form).
    let body = format!(
        r#"{{"role":"authenticated","policy":{}}}"#,
        good.replacen(statement, r#""Effect":"Allow","Principal":"*","#, 1)
    );
    let err = refuse_duplicate_members(body.as_bytes()).unwrap_err();
    assert!(err.0.contains("'Principal' appears twice"), "{err}");
    assert!(refuse_duplicate_members(good.as_bytes()).is_ok());
    // Operators in another letter case are read as the operator they spell.
    let lower = good.replace("\"StringEquals\"", "\"stringequals\"");
    let policy = Policy::from_json(&Value::String(lower)).unwrap();
    assert!(
        policy.statements[0]
            .conditions
            .iter()
            .any(|c| c.operator == "StringEquals")
    );
}

#[test]
fn a_second_loose_statement_is_flagged_even_beside_a_good_one() {
    let mut policy = generated(RoleKind::Authenticated, false);
    let loose = json!({"Effect": "Allow", "Principal": {"Federated": ARN}, "Action": "sts:AssumeRoleWithWebIdentity"});
    policy["Statement"].as_array_mut().unwrap().push(loose);
    let found = findings(&policy, RoleKind::Authenticated, false);
    let codes: Vec<_> = found.iter().map(|f| (f.code, f.statement)).collect();
    assert!(
        codes.contains(&("missing_aud_condition", Some(1))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("missing_amr_condition", Some(1))),
        "{codes:?}"
    );
    assert!(!codes.iter().any(|(_, s)| *s == Some(0)), "{codes:?}");
}

#[test]
fn anded_conditions_narrow_a_wildcard_to_the_pool() {
    // A wildcard aud together with an exact one is restricted to the exact one.
    let policy = mutated(|s| {
        condition(s)["StringLike"] = json!({"id.example.com/tenant:aud": "us-east-1:*"});
    });
    assert_eq!(findings(&policy, RoleKind::Authenticated, true), []);
}

#[test]
fn condition_keys_and_actions_are_case_insensitive() {
    let policy = mutated(|s| {
        s["Action"] = json!(["STS:assumerolewithwebidentity", "sts:tagsession"]);
        let c = condition(s);
        let aud = c["StringEquals"]
            .as_object_mut()
            .unwrap()
            .remove("id.example.com/tenant:aud")
            .unwrap();
        c["StringEquals"]["ID.EXAMPLE.COM/tenant:AUD"] = aud;
    });
    assert_eq!(findings(&policy, RoleKind::Authenticated, true), []);
}

#[test]
fn session_tags_apply_to_signed_in_identities_with_maps_or_a_developer_provider() {
    let pool = PoolConfig::default();
    let empty = PrincipalTagMap::default();
    let defaults = PrincipalTagMap {
        use_defaults: true,
        ..PrincipalTagMap::default()
    };
    assert!(!session_tags_may_apply(
        RoleKind::Authenticated,
        &pool,
        [&empty]
    ));
    assert!(session_tags_may_apply(
        RoleKind::Authenticated,
        &pool,
        [&empty, &defaults]
    ));
    assert!(!session_tags_may_apply(
        RoleKind::Unauthenticated,
        &pool,
        [&defaults]
    ));
    let developer = PoolConfig {
        developer_provider_name: Some("login.mycompany".into()),
        ..PoolConfig::default()
    };
    assert!(session_tags_may_apply(
        RoleKind::Authenticated,
        &developer,
        []
    ));
    assert!(!session_tags_may_apply(
        RoleKind::Unauthenticated,
        &developer,
        []
    ));
}

#[test]
fn role_kinds_parse_from_their_names_only() {
    assert_eq!(
        RoleKind::parse("authenticated").unwrap(),
        RoleKind::Authenticated
    );
    assert_eq!(
        RoleKind::parse("unauthenticated").unwrap(),
        RoleKind::Unauthenticated
    );
    assert!(RoleKind::parse("Authenticated").is_err());
}

//! SAML providers and logins through the real application: the registry on REST, and logins
//! whose responses pysaml2 (a real SAML IdP, not written here; see tests/saml-idp/idp.py)
//! issues and signs. GetId → GetOpenIdToken → GetCredentialsForIdentity end to end with moto's
//! STS, the replay cache, and certificate rotation, on both stores; and the table of refusals
//! (also tested against the verifier alone in crates/idbroker-saml/tests/pysaml2.rs, with the
//! same forgeries: tests/saml-idp/tamper.rs) sent as GetId logins.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{Duration, Utc};
use idbroker_service::{Clock, SystemClock};
use idbroker_store::Backend;
use serde_json::{Value, json};

use crate::credentials::caller_identity;
use crate::helpers::{
    ADMIN_TOKEN, ManualClock, TestApp, code, free_port, message, settings_on, spawn_app_on_clock,
};
use crate::sts_front::StsFront;

#[path = "../saml-idp/tamper.rs"]
mod tamper;

const ENTITY: &str = "https://idp.example.test/saml";
const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
const READERS: &str = "arn:aws:iam::123456789012:role/saml-readers";
const WRITERS: &str = "arn:aws:iam::123456789012:role/saml-writers";
const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";

crate::helpers::on_both_backends!(
    saml_providers_are_registered_read_rotated_and_deleted,
    a_saml_login_gets_an_identity_a_token_and_credentials,
    custom_role_arn_chooses_among_the_assertion_s_roles,
    a_replayed_assertion_is_refused,
    rotated_metadata_refuses_the_old_certificate,
    rules_on_saml_attributes_pick_the_role_and_attributes_become_principal_tags,
    every_refusal_of_the_table_is_a_refused_login_that_creates_no_identity,
    explain_shows_a_saml_login_s_steps_and_never_uses_the_assertion,
    a_subject_attribute_is_the_login_s_subject_in_place_of_the_name_id,
    a_provider_with_logins_keeps_its_subject_source,
    saml_provider_arns_of_another_account_are_refused,
    saml_logins_link_merge_and_unlink_like_any_other_login,
);

fn python() -> PathBuf {
    let path = std::env::var_os("IDBROKER_TEST_PYSAML2_PYTHON").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/test-tools/pysaml2-7.5.5/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "pysaml2 is missing: {} does not exist. Run scripts/test.sh (it installs pysaml2 from PyPI \
         into target/test-tools) or set IDBROKER_TEST_PYSAML2_PYTHON; the xmlsec1 command \
         (Debian package xmlsec1) must be on PATH too.",
        path.display()
    );
    path
}

/// One pysaml2 identity provider with its own key pair.
struct SamlIdp {
    dir: PathBuf,
    entity: String,
}

impl SamlIdp {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("idbroker-api-saml-{name}-{}", uuid::Uuid::new_v4()));
        Self {
            dir,
            entity: ENTITY.to_owned(),
        }
    }

    /// The same key pair under another entity id (an issuer the registry does not know).
    fn as_entity(&self, entity: &str) -> Self {
        Self {
            dir: self.dir.clone(),
            entity: entity.to_owned(),
        }
    }

    async fn run(&self, command: &str, input: String) -> String {
        let dir = self.dir.clone();
        let entity = self.entity.clone();
        let command = command.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut child = Command::new(python())
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("saml-idp/idp.py"))
                .args([command.as_str(), dir.to_str().unwrap(), entity.as_str()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start pysaml2's IdP");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "idp.py {command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        })
        .await
        .unwrap()
    }

    async fn metadata(&self) -> String {
        self.run("metadata", String::new()).await
    }

    /// A signed SAMLResponse for `user` with these Role attribute values.
    async fn response(&self, user: &str, roles: &[&str], provider_arn: &str) -> String {
        let roles: Vec<String> = roles
            .iter()
            .map(|r| format!("{r},{provider_arn}"))
            .collect();
        let options = json!({
            "user": user,
            "attributes": {ROLE_ATTRIBUTE: roles, "urn:test:department": ["engineering"]},
        });
        self.run("response", options.to_string()).await
    }

    /// A SAMLResponse for these options (tests/saml-idp/idp.py: user, sign, alg, audience,
    /// recipient, lifetime_minutes, encrypt_cert, attributes).
    async fn response_with(&self, options: Value) -> String {
        self.run("response", options.to_string()).await
    }
}

/// Metadata naming both IdPs' signing certificates (a rotation in progress).
fn combined(old: &str, new: &str) -> String {
    let start = new.find("<ns0:KeyDescriptor").expect("a key descriptor");
    let end = new.rfind("</ns0:KeyDescriptor>").unwrap() + "</ns0:KeyDescriptor>".len();
    let at = old.find("<ns0:KeyDescriptor").unwrap();
    let mut both = old.to_owned();
    both.insert_str(at, &new[start..end]);
    both
}

async fn register(app: &TestApp, name: &str, metadata: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/saml-providers", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": name, "metadata": metadata}))
        .send()
        .await
        .unwrap()
}

async fn update(app: &TestApp, name: &str, metadata: &str) -> reqwest::Response {
    app.http
        .patch(format!("{}/v1/saml-providers/{name}", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"metadata": metadata}))
        .send()
        .await
        .unwrap()
}

struct World {
    app: TestApp,
    front: StsFront,
    pool: String,
    arn: String,
    idp: SamlIdp,
}

async fn world(backend: Backend, name: &str) -> World {
    world_on_clock(backend, name, Arc::new(SystemClock)).await
}

async fn world_on_clock(backend: Backend, name: &str, clock: Arc<dyn Clock>) -> World {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let front = StsFront::start(&issuer).await;
    let front_url = front.url.clone();
    let app = spawn_app_on_clock(
        backend,
        |url| {
            let mut s = settings_on(url, port);
            s.sts_endpoint_url = Some(front_url);
            s
        },
        clock,
    )
    .await;
    let idp = SamlIdp::new(name);
    let res = register(&app, "corp", &idp.metadata().await).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let arn = body["arn"].as_str().unwrap().to_owned();
    let pool = app
        .create_pool_with("saml", false, |pool| pool.saml_provider_arns(arn.clone()))
        .await;
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", AUTH)
        .send()
        .await
        .unwrap();
    front.trust_audience(&pool);
    World {
        app,
        front,
        pool,
        arn,
        idp,
    }
}

async fn saml_providers_are_registered_read_rotated_and_deleted(backend: Backend) {
    let w = world(backend, "registry").await;
    let got: Value = w
        .app
        .http
        .get(format!("{}/v1/saml-providers/corp", w.app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["arn"], "arn:aws:iam::123456789012:saml-provider/corp");
    assert_eq!(got["entity_id"], ENTITY);
    assert_eq!(got["certificate_fingerprints"].as_array().unwrap().len(), 1);
    assert_eq!(got["legacy_sha1"], false);

    // Refusals: a duplicate name, metadata that is not metadata, no admin token.
    let metadata = w.idp.metadata().await;
    assert_eq!(register(&w.app, "corp", &metadata).await.status(), 409);
    assert_eq!(register(&w.app, "bad", "<a/>").await.status(), 400);
    assert_eq!(
        register(&w.app, "doctype", "<!DOCTYPE x><a/>")
            .await
            .status(),
        400
    );
    assert_eq!(register(&w.app, "bad name", &metadata).await.status(), 400);
    let anonymous = w
        .app
        .http
        .get(format!("{}/v1/saml-providers", w.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // A pool may only name registered providers.
    let err = w
        .app
        .sdk
        .create_identity_pool()
        .identity_pool_name("other")
        .allow_unauthenticated_identities(false)
        .saml_provider_arns("arn:aws:iam::123456789012:saml-provider/unknown")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException", "{}", message(&err));

    // Rotation: two certificates, then the new one alone.
    let next = SamlIdp::new("registry-next");
    let both = combined(&metadata, &next.metadata().await);
    let res = update(&w.app, "corp", &both).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["certificate_fingerprints"].as_array().unwrap().len(),
        2
    );

    // In use by the pool: not deleted; once the pool drops it, deleted.
    let res = w
        .app
        .http
        .delete(format!("{}/v1/saml-providers/corp", w.app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    w.app
        .sdk
        .update_identity_pool()
        .identity_pool_id(&w.pool)
        .identity_pool_name("saml")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    let res = w
        .app
        .http
        .delete(format!("{}/v1/saml-providers/corp", w.app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let listed: Value = w
        .app
        .http
        .get(format!("{}/v1/saml-providers", w.app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["saml_providers"], json!([]));
}

async fn a_saml_login_gets_an_identity_a_token_and_credentials(backend: Backend) {
    let w = world(backend, "e2e").await;
    let response = w.idp.response("alice", &[READERS], &w.arn).await;
    let logins = [(w.arn.as_str(), response.as_str())];

    let identity = w
        .app
        .get_id(&w.pool, &logins)
        .await
        .unwrap()
        .identity_id
        .unwrap();
    // The same user signing in again (a new assertion) is the same identity.
    let again = w.idp.response("alice", &[READERS], &w.arn).await;
    let same = w
        .app
        .get_id(&w.pool, &[(w.arn.as_str(), again.as_str())])
        .await
        .unwrap()
        .identity_id
        .unwrap();
    assert_eq!(same, identity);

    let token = w
        .app
        .sdk
        .get_open_id_token()
        .identity_id(&identity)
        .logins(&w.arn, &response)
        .send()
        .await
        .unwrap();
    assert_eq!(token.identity_id.as_deref(), Some(identity.as_str()));
    assert!(token.token.unwrap().split('.').count() == 3);

    let credentials = w
        .app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&identity)
        .logins(&w.arn, &response)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    // The role comes from the assertion's Role attribute, not the pool's authenticated role.
    let caller = caller_identity(&credentials).await;
    assert!(
        caller.arn.unwrap().contains(":assumed-role/saml-readers/"),
        "assumed the assertion's role"
    );
    assert!(
        w.front
            .calls()
            .iter()
            .any(|c| c.role_arn == READERS && c.claims.is_ok())
    );

    let described = w.app.describe_identity(&identity).await.unwrap();
    assert_eq!(described.logins(), std::slice::from_ref(&w.arn));
}

async fn custom_role_arn_chooses_among_the_assertion_s_roles(backend: Backend) {
    let w = world(backend, "custom").await;
    let response = w.idp.response("bob", &[READERS, WRITERS], &w.arn).await;
    let identity = w
        .app
        .get_id(&w.pool, &[(w.arn.as_str(), response.as_str())])
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let credentials = |custom: Option<&str>| {
        w.app
            .sdk
            .get_credentials_for_identity()
            .identity_id(&identity)
            .logins(&w.arn, &response)
            .set_custom_role_arn(custom.map(str::to_owned))
            .send()
    };
    let err = credentials(None).await.unwrap_err();
    assert_eq!(code(&err), "NotAuthorizedException", "{}", message(&err));
    assert!(message(&err).contains("CustomRoleArn"), "{}", message(&err));
    let chosen = credentials(Some(WRITERS)).await.unwrap();
    let caller = caller_identity(&chosen.credentials.unwrap()).await;
    assert!(caller.arn.unwrap().contains(":assumed-role/saml-writers/"));
}

async fn a_replayed_assertion_is_refused(backend: Backend) {
    let w = world(backend, "replay").await;
    let response = w.idp.response("carol", &[READERS], &w.arn).await;
    let logins = [(w.arn.as_str(), response.as_str())];
    // Another pool trusting the same provider may not take this pool's assertion.
    let other = w
        .app
        .create_pool_with("saml-other", false, |pool| {
            pool.saml_provider_arns(w.arn.clone())
        })
        .await;
    for _ in 0..idbroker_service::MAX_ASSERTION_USES {
        w.app.get_id(&w.pool, &logins).await.unwrap();
    }
    let err = w.app.get_id(&w.pool, &logins).await.unwrap_err();
    assert_eq!(code(&err), "NotAuthorizedException");
    assert!(message(&err).contains("replay"), "{}", message(&err));

    let fresh = w.idp.response("carol", &[READERS], &w.arn).await;
    w.app
        .get_id(&w.pool, &[(w.arn.as_str(), fresh.as_str())])
        .await
        .unwrap();
    let err = w
        .app
        .get_id(&other, &[(w.arn.as_str(), fresh.as_str())])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotAuthorizedException");
    assert!(message(&err).contains("replay"), "{}", message(&err));
}

async fn rotated_metadata_refuses_the_old_certificate(backend: Backend) {
    let w = world(backend, "rotation").await;
    let next = SamlIdp::new("rotation-next");
    let old_metadata = w.idp.metadata().await;
    let new_metadata = next.metadata().await;
    assert_eq!(
        update(&w.app, "corp", &combined(&old_metadata, &new_metadata))
            .await
            .status(),
        200
    );
    for idp in [&w.idp, &next] {
        let response = idp.response("dave", &[READERS], &w.arn).await;
        w.app
            .get_id(&w.pool, &[(w.arn.as_str(), response.as_str())])
            .await
            .unwrap();
    }
    assert_eq!(update(&w.app, "corp", &new_metadata).await.status(), 200);
    let from_old = w.idp.response("dave", &[READERS], &w.arn).await;
    let err = w
        .app
        .get_id(&w.pool, &[(w.arn.as_str(), from_old.as_str())])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotAuthorizedException");
    assert!(
        message(&err).contains("registered certificate"),
        "{}",
        message(&err)
    );
    let from_new = next.response("dave", &[READERS], &w.arn).await;
    w.app
        .get_id(&w.pool, &[(w.arn.as_str(), from_new.as_str())])
        .await
        .unwrap();
}

async fn rules_on_saml_attributes_pick_the_role_and_attributes_become_principal_tags(
    backend: Backend,
) {
    use aws_sdk_cognitoidentity::types::{
        AmbiguousRoleResolutionType, MappingRule, MappingRuleMatchType, RoleMapping,
        RoleMappingType, RulesConfigurationType,
    };
    let w = world(backend, "rules").await;
    let mapping = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
        .rules_configuration(
            RulesConfigurationType::builder()
                .rules(
                    MappingRule::builder()
                        .claim("urn:test:department")
                        .match_type(MappingRuleMatchType::Equals)
                        .value("engineering")
                        .role_arn(WRITERS)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    w.app
        .sdk
        .set_identity_pool_roles()
        .identity_pool_id(&w.pool)
        .roles("authenticated", AUTH)
        .role_mappings(&w.arn, mapping)
        .send()
        .await
        .unwrap();
    w.app
        .sdk
        .set_principal_tag_attribute_map()
        .identity_pool_id(&w.pool)
        .identity_provider_name(&w.arn)
        .use_defaults(true)
        .principal_tags("department", "urn:test:department")
        .send()
        .await
        .unwrap();
    // The assertion allows only READERS, but the pool's rule on the department attribute wins.
    let response = w.idp.response("erin", &[READERS], &w.arn).await;
    let identity = w
        .app
        .get_id(&w.pool, &[(w.arn.as_str(), response.as_str())])
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let credentials = w
        .app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&identity)
        .logins(&w.arn, &response)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let caller = caller_identity(&credentials).await;
    assert!(caller.arn.unwrap().contains(":assumed-role/saml-writers/"));
    let claims = w.front.calls().pop().unwrap().claims.unwrap();
    let tags = &claims["https://aws.amazon.com/tags"]["principal_tags"];
    assert_eq!(tags["department"], json!(["engineering"]));
    assert_eq!(tags["username"], json!(["erin"]), "the NameID is `sub`");
}

/// GetId with `response` under the provider's ARN is refused with `error` (its message naming
/// `says`), and the pool has the same identities as before.
async fn assert_refused(w: &World, case: &str, response: &str, error: &str, says: &str) {
    let before = w.app.identity_ids(&w.pool).await;
    let err = w
        .app
        .get_id(&w.pool, &[(w.arn.as_str(), response)])
        .await
        .expect_err(case);
    assert_eq!(code(&err), error, "{case}: {}", message(&err));
    assert!(
        message(&err).contains(says),
        "{case}: {says:?} not in {}",
        message(&err)
    );
    assert_eq!(
        w.app.identity_ids(&w.pool).await,
        before,
        "{case}: no identity created"
    );
}

/// The table of refusals, each sent as a GetId login through the AWS face (the verifier
/// alone is tested with the same forgeries in crates/idbroker-saml/tests/pysaml2.rs): each is
/// `NotAuthorizedException` naming what failed (1 MiB: the body's bound, `InvalidParameterException`;
/// a Logins value over the model's 50 000 characters: `ValidationException`), and none creates an
/// identity.
async fn every_refusal_of_the_table_is_a_refused_login_that_creates_no_identity(backend: Backend) {
    use tamper::{decode, encode};
    const REFUSED: &str = "NotAuthorizedException";
    // The application's clock starts 5 minutes behind the IdP's: its assertions are not valid
    // yet (past the minute of skew). The clock then catches up.
    let clock = ManualClock::at(Utc::now() - Duration::minutes(5));
    let w = world_on_clock(backend, "table", clock.clone()).await;
    let user = |user: &str, sign: &str| {
        json!({
            "user": user,
            "sign": sign,
            "attributes": {ROLE_ATTRIBUTE: [format!("{READERS},{}", w.arn)]},
        })
    };
    let alice = |sign: &str| user("alice", sign);
    let with = |mut options: Value, key: &str, value: Value| {
        options[key] = value;
        options
    };

    let early = w.idp.response_with(alice("response")).await;
    assert_refused(&w, "not yet valid", &early, REFUSED, "not valid yet").await;
    clock.advance(Duration::minutes(5));

    let unsigned = w.idp.response_with(alice("none")).await;
    assert_refused(&w, "unsigned", &unsigned, REFUSED, "registered certificate").await;

    let stranger = SamlIdp::new("table-stranger");
    let foreign = stranger.response_with(alice("response")).await;
    assert!(decode(&foreign).contains("X509Certificate"), "its KeyInfo");
    assert_refused(
        &w,
        "unregistered key",
        &foreign,
        REFUSED,
        "registered certificate",
    )
    .await;

    let assertion_signed = decode(&w.idp.response_with(alice("assertion")).await);
    let response_signed = decode(&w.idp.response_with(alice("response")).await);
    for (case, forged) in [
        ("wrapped before", tamper::wrapped_before(&assertion_signed)),
        ("wrapped after", tamper::wrapped_after(&assertion_signed)),
        (
            "assertion under Extensions",
            tamper::assertion_under_extensions(&assertion_signed),
        ),
        (
            "response under Extensions",
            tamper::response_under_extensions(&response_signed),
        ),
    ] {
        assert_refused(&w, case, &encode(&forged), REFUSED, "exactly one assertion").await;
    }

    let evil = decode(
        &w.idp
            .response_with(user(tamper::COMMENT_USER, "assertion"))
            .await,
    );
    let comment = encode(&tamper::comment_in_name_id(&evil));
    assert_refused(&w, "NameID comment", &comment, REFUSED, "XML comment").await;

    for (case, option, value, says) in [
        (
            "wrong audience",
            "audience",
            json!("urn:other:service"),
            "audience",
        ),
        (
            "wrong recipient",
            "recipient",
            json!("https://evil.example/saml"),
            "recipient",
        ),
        ("SHA-1, not legacy", "alg", json!("sha1"), "not allowed"),
    ] {
        let response = w
            .idp
            .response_with(with(alice("response"), option, value))
            .await;
        assert_refused(&w, case, &response, REFUSED, says).await;
    }
    let issuer = w
        .idp
        .as_entity("https://other-idp.example.test/saml")
        .response_with(alice("response"))
        .await;
    assert_refused(&w, "wrong issuer", &issuer, REFUSED, "issuer").await;

    stranger.metadata().await; // its key pair exists already; the certificate is the point
    let encrypted = w
        .idp
        .response_with(with(
            alice("response"),
            "encrypt_cert",
            json!(stranger.dir.join("cert.pem")),
        ))
        .await;
    assert!(decode(&encrypted).contains("EncryptedAssertion"));
    assert_refused(&w, "encrypted", &encrypted, REFUSED, "encrypted").await;

    // 1 MiB: the request body is over the AWS face's 1 MiB bound before any model check;
    // a response one character over the Logins model's 50 000 fails that check.
    let huge = "A".repeat(1024 * 1024);
    assert_refused(
        &w,
        "1 MiB",
        &huge,
        "InvalidParameterException",
        "larger than 1048576 bytes",
    )
    .await;
    let over_model = "A".repeat(50_001);
    assert_refused(&w, "50 001", &over_model, "ValidationException", "50000").await;

    let bomb = encode(&tamper::doctype_bomb(&decode(
        &w.idp.response_with(alice("response")).await,
    )));
    assert_refused(&w, "DOCTYPE", &bomb, REFUSED, "document type declaration").await;

    // The same world takes a good response (so the refusals above were the forgeries'), up
    // to the replay bound; a replay beyond it creates nothing either.
    let good = w.idp.response_with(alice("response")).await;
    for _ in 0..idbroker_service::MAX_ASSERTION_USES {
        w.app
            .get_id(&w.pool, &[(w.arn.as_str(), good.as_str())])
            .await
            .unwrap();
    }
    assert_eq!(w.app.identity_ids(&w.pool).await.len(), 1);
    assert_refused(&w, "replay", &good, REFUSED, "replay").await;

    // Expired: a 5-minute assertion, 11 minutes later (past the 5 minutes of skew).
    let short = w
        .idp
        .response_with(with(user("bob", "response"), "lifetime_minutes", json!(5)))
        .await;
    clock.advance(Duration::minutes(11));
    assert_refused(&w, "expired", &short, REFUSED, "expired").await;
}

async fn explain(w: &World, logins: Value) -> Value {
    let res = w
        .app
        .http
        .post(format!(
            "{}/v1/identity-pools/{}/explain",
            w.app.address, w.pool
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "logins": logins }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn check_names(login: &Value) -> Vec<&str> {
    login["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

/// Explain runs a SAML login's verification step by step (the same steps, the same refusal
/// word for word), reads the replay cache without counting a use, and shows the claims the
/// role rules and principal tags read.
async fn explain_shows_a_saml_login_s_steps_and_never_uses_the_assertion(backend: Backend) {
    let w = world(backend, "explain").await;
    let good = w.idp.response("alice", &[READERS], &w.arn).await;
    let steps = [
        "provider",
        "size",
        "markup",
        "structure",
        "signature",
        "status",
        "issuer",
        "times",
        "audience",
        "subject",
        "recipient",
        "replay",
    ];
    // More explains than the assertion has uses: none is counted.
    for _ in 0..=idbroker_service::MAX_ASSERTION_USES {
        let answer = explain(&w, json!({ &w.arn: &good })).await;
        let login = &answer["logins"][0];
        assert_eq!(login["pool_entry"]["kind"], "saml_provider", "{answer}");
        assert_eq!(check_names(login), steps, "{answer}");
        assert!(
            login["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["passed"] == true),
            "{answer}"
        );
        assert_eq!(login["checks"][11]["got"], "not used yet");
        assert_eq!(login["accepted"], true);
        assert_eq!(login["claims"]["sub"], "alice");
        assert_eq!(login["claims"]["cognito:roles"], json!([READERS]));
        assert_eq!(answer["identity"]["outcome"], "new");
        assert!(answer.get("public_error").is_none(), "{answer}");
        assert!(
            !answer.to_string().contains(&good),
            "the response is never echoed"
        );
    }
    for _ in 0..idbroker_service::MAX_ASSERTION_USES {
        w.app
            .get_id(&w.pool, &[(w.arn.as_str(), good.as_str())])
            .await
            .unwrap();
    }
    let answer = explain(&w, json!({ &w.arn: &good })).await;
    let replay = &answer["logins"][0]["checks"][11];
    assert_eq!(replay["passed"], false, "{answer}");
    assert_eq!(replay["got"], "used 3 times in this pool");
    let err = w
        .app
        .get_id(&w.pool, &[(w.arn.as_str(), good.as_str())])
        .await
        .unwrap_err();
    assert_eq!(answer["public_error"]["kind"], code(&err));
    assert_eq!(answer["public_error"]["message"], message(&err));

    // Refusals stop at their step, which fails with the verifier's reason; the message is
    // GetId's, word for word.
    let unsigned = w
        .idp
        .response_with(json!({"user": "bob", "sign": "none"}))
        .await;
    let audience = w
        .idp
        .response_with(json!({"user": "bob", "audience": "urn:other:service"}))
        .await;
    for (response, failed) in [(unsigned, "signature"), (audience, "audience")] {
        let answer = explain(&w, json!({ &w.arn: &response })).await;
        let login = &answer["logins"][0];
        let names = check_names(login);
        assert_eq!(names.last(), Some(&failed), "{answer}");
        assert_eq!(names, steps[..names.len()], "{answer}");
        let checks = login["checks"].as_array().unwrap();
        assert!(
            checks[..checks.len() - 1]
                .iter()
                .all(|c| c["passed"] == true)
        );
        assert_eq!(checks.last().unwrap()["passed"], false);
        assert_eq!(login["accepted"], false);
        assert_eq!(login["claims_verified"], false);
        let err = w
            .app
            .get_id(&w.pool, &[(w.arn.as_str(), response.as_str())])
            .await
            .unwrap_err();
        assert_eq!(answer["public_error"]["message"], message(&err), "{failed}");
    }
}

/// The attribute an IdP with transient NameIDs names its users by, in these tests.
const EMPLOYEE: &str = "urn:test:employee-id";

/// A response for NameID `name_id` whose employee-id attribute has these values.
async fn employee_response(idp: &SamlIdp, name_id: &str, employee_ids: &[&str]) -> String {
    idp.response_with(json!({
        "user": name_id,
        "attributes": {EMPLOYEE: employee_ids, "urn:test:department": ["engineering"]},
    }))
    .await
}

async fn patch(app: &TestApp, name: &str, body: Value) -> (u16, Value) {
    let res = app
        .http
        .patch(format!("{}/v1/saml-providers/{name}", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn identity_of(w: &World, response: &str) -> String {
    w.app
        .get_id(&w.pool, &[(w.arn.as_str(), response)])
        .await
        .unwrap()
        .identity_id
        .unwrap()
}

/// With a subject attribute, the identity follows the attribute's one value, whatever the
/// NameID (a transient NameID is new at each sign-in); without the attribute, or with two
/// values, the login is refused and creates nothing. The attribute is set, kept and dropped
/// through the REST API, and checked there; `sub` (the `username` principal tag) is the value.
async fn a_subject_attribute_is_the_login_s_subject_in_place_of_the_name_id(backend: Backend) {
    let w = world(backend, "subject").await;
    let metadata = w.idp.metadata().await;
    for (refused, named) in [
        (json!(""), "subject_attribute"),
        (json!("a\u{7}b"), "control or invisible characters"),
        (json!("\u{202E}uid"), "control or invisible characters"),
        (json!(" "), "white space"),
        (json!(ROLE_ATTRIBUTE), "The Role attribute names roles"),
        (json!("x".repeat(513)), "less than or equal to 512"),
    ] {
        let (status, body) = patch(
            &w.app,
            "corp",
            json!({"metadata": metadata, "subject_attribute": refused}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(named), "{body}");
    }
    let (status, body) = patch(
        &w.app,
        "corp",
        json!({"metadata": metadata, "subject_attribute": EMPLOYEE}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject_attribute"], EMPLOYEE);
    // A metadata update that does not name it keeps it.
    let (_, body) = patch(&w.app, "corp", json!({"metadata": metadata})).await;
    assert_eq!(body["subject_attribute"], EMPLOYEE);

    let first = employee_response(&w.idp, "transient-1a2b", &["E-7"]).await;
    let identity = identity_of(&w, &first).await;
    let again = employee_response(&w.idp, "transient-9f8e", &["E-7"]).await;
    assert_eq!(
        identity_of(&w, &again).await,
        identity,
        "a new NameID, the same employee: the same identity"
    );
    let colleague = employee_response(&w.idp, "transient-1a2b", &["E-8"]).await;
    let other = identity_of(&w, &colleague).await;
    assert_ne!(other, identity, "the same NameID, another employee");
    let count = w.app.identity_ids(&w.pool).await.len();
    for (response, says) in [
        (
            w.idp.response("alice", &[READERS], &w.arn).await,
            "SAML: the assertion's subject is unusable: the provider's subject attribute is missing.",
        ),
        (
            employee_response(&w.idp, "alice", &["E-7", "E-8"]).await,
            "the provider's subject attribute has more than one value",
        ),
    ] {
        let err = w
            .app
            .get_id(&w.pool, &[(w.arn.as_str(), response.as_str())])
            .await
            .unwrap_err();
        assert_eq!(code(&err), "NotAuthorizedException", "{}", message(&err));
        assert!(message(&err).contains(says), "{}", message(&err));
    }
    assert_eq!(
        w.app.identity_ids(&w.pool).await.len(),
        count,
        "nothing created"
    );

    // `sub`, and so the default `username` principal tag, is the attribute's value.
    w.app
        .sdk
        .set_principal_tag_attribute_map()
        .identity_pool_id(&w.pool)
        .identity_provider_name(&w.arn)
        .use_defaults(true)
        .send()
        .await
        .unwrap();
    let signed_in = employee_response(&w.idp, "transient-5d5d", &["E-7"]).await;
    w.app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&identity)
        .logins(&w.arn, &signed_in)
        .send()
        .await
        .unwrap();
    let claims = w.front.calls().pop().unwrap().claims.unwrap();
    assert_eq!(
        claims["https://aws.amazon.com/tags"]["principal_tags"]["username"],
        json!(["E-7"])
    );

    // Explain runs the subject attribute as a step of its own, after the recipient; when it
    // fails, it names the attributes the assertion did carry (names, not values).
    let answer = explain(
        &w,
        json!({ &w.arn: employee_response(&w.idp, "t-1", &["E-7"]).await }),
    )
    .await;
    let login = &answer["logins"][0];
    let names = check_names(login);
    assert_eq!(
        names[names.len() - 3..],
        ["recipient", "subject_attribute", "replay"],
        "{answer}"
    );
    assert_eq!(login["claims"]["sub"], "E-7", "{answer}");
    let answer = explain(
        &w,
        json!({ &w.arn: w.idp.response("alice", &[READERS], &w.arn).await }),
    )
    .await;
    let failed = login_check(&answer, "subject_attribute");
    assert_eq!(failed["passed"], false, "{answer}");
    let got = failed["got"].as_str().unwrap();
    assert!(
        got.contains("is missing")
            && got.contains(ROLE_ATTRIBUTE)
            && got.contains("urn:test:department"),
        "{got}"
    );
    assert!(!got.contains("engineering"), "names only, no values: {got}");

    // Logins are keyed by the attribute now: the provider keeps its subject source (returning
    // to the NameID would let a NameID equal to someone's employee id take their identity).
    let (status, body) = patch(
        &w.app,
        "corp",
        json!({"metadata": metadata, "subject_attribute": null}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("has logins keyed by its attribute urn:test:employee-id"),
        "{body}"
    );
    let (_, body) = patch(&w.app, "corp", json!({"metadata": metadata})).await;
    assert_eq!(body["subject_attribute"], EMPLOYEE, "unchanged");
}

/// The explain check named `name` of the first login.
fn login_check<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["logins"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {answer}"))
}

/// The takeover a change of subject source would allow: alice signs in by NameID; were the
/// provider then to read an attribute, mallory's attribute equal to alice's NameID would be
/// alice's key. Once a provider has logins, its subject source cannot change (409, through
/// REST and export/import alike), and alice's identity stays hers.
async fn a_provider_with_logins_keeps_its_subject_source(backend: Backend) {
    let w = world(backend, "takeover").await;
    let metadata = w.idp.metadata().await;
    let alice = identity_of(
        &w,
        &w.idp
            .response("alice@corp.example", &[READERS], &w.arn)
            .await,
    )
    .await;
    let (status, body) = patch(
        &w.app,
        "corp",
        json!({"metadata": metadata, "subject_attribute": "urn:test:nick"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("has logins keyed by its NameID"),
        "{body}"
    );
    let mallory = w
        .idp
        .response_with(json!({
            "user": "mallory@corp.example",
            "attributes": {"urn:test:nick": ["alice@corp.example"]},
        }))
        .await;
    let theirs = identity_of(&w, &mallory).await;
    assert_ne!(theirs, alice, "mallory is keyed by her own NameID");
    let got: Value = w
        .app
        .http
        .get(format!("{}/v1/saml-providers/corp", w.app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(got.get("subject_attribute").is_none(), "{got}");

    // A provider with logins is not deleted either (a name registered again could not know
    // where the old keys came from): retiring it is removing it from the pools.
    w.app
        .sdk
        .update_identity_pool()
        .identity_pool_id(&w.pool)
        .identity_pool_name("saml")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .unwrap();
    let delete = || {
        w.app
            .http
            .delete(format!("{}/v1/saml-providers/corp", w.app.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let refused = delete().await.unwrap();
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("has logins; remove it from the pools"),
        "{problem}"
    );

    // Logins that outlived their provider (deleted in the store, as an older idbroker
    // allowed): registering the name again, whatever the subject source, is refused.
    let store = idbroker_store::SqlStore::connect(w.app.database_url())
        .await
        .unwrap();
    idbroker_store::SamlProviderStore::delete_saml_provider(&store, "corp")
        .await
        .unwrap();
    let register_nick = || {
        w.app
            .http
            .post(format!("{}/v1/saml-providers", w.app.address))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "corp", "metadata": metadata, "subject_attribute": "urn:test:nick"}))
            .send()
    };
    let res = register_nick().await.unwrap();
    assert_eq!(res.status(), 409);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("still have logins of a deleted SAML provider named 'corp'"),
        "{problem}"
    );
    assert_eq!(
        register(&w.app, "corp", &metadata).await.status(),
        409,
        "NameID too"
    );

    // Once those identities are gone, the name is free again.
    w.app
        .sdk
        .delete_identities()
        .identity_ids_to_delete(&alice)
        .identity_ids_to_delete(&theirs)
        .send()
        .await
        .unwrap();
    assert_eq!(register_nick().await.unwrap().status(), 201);
    assert_eq!(delete().await.unwrap().status(), 204, "no logins: deleted");
    store.close().await;
}

/// A pool names SAML providers of this account only, and a login under another account's
/// (or partition's) ARN is refused: logins are keyed under the one ARN the subject-source
/// checks look at.
async fn saml_provider_arns_of_another_account_are_refused(backend: Backend) {
    let w = world(backend, "accounts").await;
    for arn in [
        "arn:aws:iam::999999999999:saml-provider/corp",
        "arn:aws-cn:iam::123456789012:saml-provider/corp",
    ] {
        let err = w
            .app
            .sdk
            .create_identity_pool()
            .identity_pool_name("elsewhere")
            .allow_unauthenticated_identities(false)
            .saml_provider_arns(arn)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidParameterException", "{}", message(&err));
        assert!(message(&err).contains("is not a SAML provider of account 123456789012"));
    }
    // A replica whose IDBROKER_ACCOUNT_ID changed: the pool still names the old account's
    // ARN, and its SAML logins are refused rather than keyed where no check looks.
    let mut settings = crate::helpers::settings(w.app.database_url());
    settings.account_id = idbroker_domain::AccountId::parse("210987654321").unwrap();
    let (_, moved) = w.app.replica(settings).await;
    let response = w.idp.response("alice", &[READERS], &w.arn).await;
    let err = moved
        .get_id()
        .identity_pool_id(&w.pool)
        .logins(&w.arn, response)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotAuthorizedException", "{}", message(&err));
    assert!(
        message(&err).contains("The SAML provider ARN is not of account 210987654321"),
        "{}",
        message(&err)
    );
}

/// A SAML login is a login like the others: two providers' logins in one GetId make one
/// identity with both; logins of two identities presented together merge them (the survivor
/// is the owner of the first key in sorted order, as for every provider); a developer user id
/// links to a SAML identity; and UnlinkIdentity removes a SAML login with proof of another.
async fn saml_logins_link_merge_and_unlink_like_any_other_login(backend: Backend) {
    const DEV: &str = "login.corp";
    let w = world(backend, "links").await;
    let partner_idp = SamlIdp::new("links-partner").as_entity("https://partner.example.test/saml");
    let res = register(&w.app, "partner", &partner_idp.metadata().await).await;
    assert_eq!(res.status(), 201);
    let partner: Value = res.json().await.unwrap();
    let partner_arn = partner["arn"].as_str().unwrap().to_owned();
    let pool = w
        .app
        .create_pool_with("saml-links", false, |pool| {
            pool.saml_provider_arns(w.arn.clone())
                .saml_provider_arns(partner_arn.clone())
                .developer_provider_name(DEV)
        })
        .await;
    let corp = |user: &'static str| {
        let (idp, arn) = (&w.idp, w.arn.as_str());
        async move { (arn, idp.response(user, &[READERS], arn).await) }
    };
    let partner_login = |user: &'static str| {
        let (idp, arn) = (&partner_idp, partner_arn.as_str());
        async move { (arn, idp.response(user, &[READERS], arn).await) }
    };
    let get_id = |logins: Vec<(&str, String)>| {
        let call = w.app.sdk.get_id().identity_pool_id(&pool);
        let call = logins
            .into_iter()
            .fold(call, |call, (key, value)| call.logins(key, value));
        async move {
            call.send()
                .await
                .map(|o| o.identity_id.unwrap())
                .map_err(|e| (code(&e), message(&e)))
        }
    };
    let app = &w.app;
    let logins_of = |identity: String| async move {
        let mut logins = app
            .describe_identity(&identity)
            .await
            .unwrap()
            .logins()
            .to_vec();
        logins.sort();
        logins
    };
    let mut both = vec![w.arn.clone(), partner_arn.clone()];
    both.sort();

    // Link: two new logins in one call, one identity with both.
    let linked = get_id(vec![corp("frank").await, partner_login("frank").await])
        .await
        .unwrap();
    assert_eq!(logins_of(linked.clone()).await, both);
    assert_eq!(
        get_id(vec![partner_login("frank").await]).await.unwrap(),
        linked
    );

    // Merge: alice has one identity per provider until she presents both.
    let a = get_id(vec![corp("alice").await]).await.unwrap();
    let b = get_id(vec![partner_login("alice").await]).await.unwrap();
    assert_ne!(a, b);
    let merged = get_id(vec![corp("alice").await, partner_login("alice").await])
        .await
        .unwrap();
    assert_eq!(
        merged, a,
        "saml-provider/corp sorts first: its owner survives"
    );
    assert_eq!(logins_of(a.clone()).await, both);
    assert_eq!(get_id(vec![partner_login("alice").await]).await.unwrap(), a);
    let (code_b, msg_b) = w
        .app
        .sdk
        .unlink_identity()
        .identity_id(&b)
        .logins(&w.arn, corp("alice").await.1)
        .logins_to_remove(&partner_arn)
        .send()
        .await
        .map_err(|e| (code(&e), message(&e)))
        .unwrap_err();
    assert_eq!(code_b, "NotAuthorizedException");
    assert_eq!(msg_b, format!("Access to Identity '{b}' is forbidden."));

    // A developer user id links to the SAML identity, proven by its SAML login (as Cognito
    // asks: at least one login the identity has).
    let developer = w
        .app
        .developer_login(&pool, DEV, "alice-dev")
        .identity_id(&a)
        .logins(&w.arn, corp("alice").await.1)
        .send()
        .await
        .unwrap();
    assert_eq!(developer.identity_id.as_deref(), Some(a.as_str()));
    let mut three = both.clone();
    three.push(DEV.to_owned());
    three.sort();
    assert_eq!(logins_of(a.clone()).await, three);

    // Unlink: another user's SAML login proves nothing; alice's own corp login does.
    let unlink = |proof: String| {
        w.app
            .sdk
            .unlink_identity()
            .identity_id(&a)
            .logins(&w.arn, proof)
            .logins_to_remove(&partner_arn)
            .send()
    };
    let err = unlink(corp("frank").await.1).await.unwrap_err();
    assert_eq!(code(&err), "NotAuthorizedException", "{}", message(&err));
    unlink(corp("alice").await.1).await.unwrap();
    let mut left = vec![w.arn.clone(), DEV.to_owned()];
    left.sort();
    assert_eq!(logins_of(a.clone()).await, left);
    let fresh = get_id(vec![partner_login("alice").await]).await.unwrap();
    assert_ne!(
        fresh, a,
        "an unlinked SAML login is a new identity next time"
    );
}

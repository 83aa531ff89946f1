//! Configuration as code: a bootstrap file is applied at start-up, applying it again changes
//! nothing, and a bad file stops start-up naming the line at fault.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::path::Path;

use idbroker::Application;
use idbroker::settings::{RawSettings, Settings};
use serde_json::Value;

mod support;
use support::saml_metadata;

const FILE: &str = r#"
[[oidc_providers]]
issuer = "https://login.example.com"
client_ids = ["web"]

[[pools]]
identity_pool_name = "demo"
allow_unauthenticated_identities = true
open_id_connect_provider_arns = ["arn:aws:iam::000000000000:oidc-provider/login.example.com"]
identity_pool_tags = { team = "demo" }
credential_duration_seconds = 900
token_lifetime_seconds = 300
exchange_audiences = ["https://api.internal.example", "api://AzureADTokenExchange"]

[pools.roles]
authenticated = "arn:aws:iam::000000000000:role/demo-authenticated"
unauthenticated = "arn:aws:iam::000000000000:role/demo-guest"

[[pools]]
identity_pool_name = "second"
allow_unauthenticated_identities = false
"#;

fn settings(dir: &Path, bootstrap: &Path) -> Settings {
    let mut settings = Settings::from_raw(RawSettings {
        database_url: Some(format!("sqlite://{}/idbroker.db?mode=rwc", dir.display())),
        listen: Some("127.0.0.1:0".into()),
        signing_alg: Some("ES256".into()),
        ..RawSettings::default()
    })
    .unwrap();
    settings.bootstrap = Some(bootstrap.to_owned());
    settings
}

async fn get(endpoint: &str, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{endpoint}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Start-up with this bootstrap file fails: the error, with its causes.
async fn refusal(dir: &Path, file: &Path) -> String {
    let err = Application::build(settings(dir, file))
        .await
        .err()
        .expect("refused");
    format!("{err:#}")
}

/// The database in `dir`, started without the refused file: no pool, no provider.
async fn assert_nothing_created(dir: &Path, file: &Path) {
    let mut clean = settings(dir, file);
    clean.bootstrap = None;
    let (endpoint, token) = start(clean).await;
    let pools = get(&endpoint, &token, "/v1/identity-pools").await;
    assert_eq!(pools["identity_pools"], serde_json::json!([]));
    let providers = get(&endpoint, &token, "/v1/oidc-providers").await;
    assert_eq!(providers["oidc_providers"], serde_json::json!([]));
    let providers = get(&endpoint, &token, "/v1/saml-providers").await;
    assert_eq!(providers["saml_providers"], serde_json::json!([]));
}

async fn start(settings: Settings) -> (String, String) {
    let token = settings.admin_token.0.clone();
    let app = Application::build(settings).await.unwrap();
    let endpoint = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (endpoint, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_file_is_applied_once_and_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.toml");
    std::fs::write(&file, FILE).unwrap();

    let (endpoint, token) = start(settings(dir.path(), &file)).await;
    let pools = get(&endpoint, &token, "/v1/identity-pools").await;
    let pools = pools["identity_pools"].as_array().unwrap().clone();
    assert_eq!(pools.len(), 2);
    let demo = pools
        .iter()
        .find(|p| p["identity_pool_name"] == "demo")
        .unwrap();
    let demo_id = demo["identity_pool_id"].as_str().unwrap();
    let roles = get(
        &endpoint,
        &token,
        &format!("/v1/identity-pools/{demo_id}/roles"),
    )
    .await;
    assert_eq!(
        roles["roles"]["unauthenticated"],
        "arn:aws:iam::000000000000:role/demo-guest"
    );
    let demo_pool = get(&endpoint, &token, &format!("/v1/identity-pools/{demo_id}")).await;
    assert_eq!(demo_pool["credential_duration_seconds"], 900);
    assert_eq!(demo_pool["token_lifetime_seconds"], 300);
    assert_eq!(
        demo_pool["exchange_audiences"],
        serde_json::json!(["api://AzureADTokenExchange", "https://api.internal.example"]),
        "sorted"
    );
    assert!(
        demo_pool.get("max_token_lifetime_seconds").is_none(),
        "{demo_pool}"
    );
    let providers = get(&endpoint, &token, "/v1/oidc-providers").await;
    assert_eq!(
        providers["oidc_providers"][0]["client_ids"],
        serde_json::json!(["web"])
    );

    // A second start with the same file (another replica, or a restart) changes nothing.
    let (again, _) = start(settings(dir.path(), &file)).await;
    let after = get(&again, &token, "/v1/identity-pools").await;
    assert_eq!(
        after["identity_pools"].as_array().unwrap(),
        &pools,
        "same pools, same ids"
    );

    // An edited file updates the pool in place, lifetimes too (a removed one is unset).
    std::fs::write(
        &file,
        FILE.replace(
            "allow_unauthenticated_identities = true",
            "allow_unauthenticated_identities = false",
        )
        .replace(
            "token_lifetime_seconds = 300",
            "max_token_lifetime_seconds = 3600",
        ),
    )
    .unwrap();
    let (third, _) = start(settings(dir.path(), &file)).await;
    let demo_now = get(&third, &token, &format!("/v1/identity-pools/{demo_id}")).await;
    assert_eq!(demo_now["allow_unauthenticated_identities"], false);
    assert_eq!(demo_now["credential_duration_seconds"], 900);
    assert_eq!(demo_now["max_token_lifetime_seconds"], 3600);
    assert!(
        demo_now.get("token_lifetime_seconds").is_none(),
        "{demo_now}"
    );
    assert_eq!(demo_now["identity_pool_tags"]["team"], "demo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bootstrap_file_stops_start_up_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.toml");
    std::fs::write(
        &file,
        "[[pools]]\nidentity_pool_name = \"x\"\nallow_unauthenticated_identities = maybe\n",
    )
    .unwrap();
    let text = refusal(dir.path(), &file).await;
    assert!(text.contains("line 3"), "{text}");

    std::fs::write(
        &file,
        "[[pools]]\nidentity_pool_name = \"bad/name\"\nallow_unauthenticated_identities = true\n",
    )
    .unwrap();
    let text = refusal(dir.path(), &file).await;
    assert!(
        text.contains("pool 'bad/name'") && text.contains("identityPoolName"),
        "{text}"
    );
}

/// The REST pool shape, so a member in Cognito's PascalCase is a typo: the whole file is
/// refused, naming the member and the nearest known one, and nothing is created (not even the
/// provider and the pool before the mistake, which is in the second pool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_member_refuses_the_whole_file_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.toml");
    std::fs::write(
        &file,
        FILE.replace(
            "allow_unauthenticated_identities = false",
            "allow_unauthenticated_identities = false\nOpenIdConnectProviderArns = []",
        ),
    )
    .unwrap();
    let text = refusal(dir.path(), &file).await;
    assert!(
        text.contains(
            "unknown field `OpenIdConnectProviderArns`; did you mean `open_id_connect_provider_arns`?"
        ) && text.contains("pool 2"),
        "{text}"
    );

    // The same database without the file: nothing was created.
    assert_nothing_created(dir.path(), &file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stacks_bootstrap_file_applies() {
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/bootstrap.toml");
    let mut settings = settings(dir.path(), &file);
    // As docker-compose.yml sets them.
    settings.allow_http_issuers = true;
    settings.account_id = idbroker_domain::AccountId::parse("123456789012").unwrap();
    let (endpoint, token) = start(settings).await;
    let pools = get(&endpoint, &token, "/v1/identity-pools").await;
    assert_eq!(pools["identity_pools"][0]["identity_pool_name"], "demo");
}

/// A file whose last pool breaks a rule of the model (not only its shape) is refused as a
/// whole too: the provider and the first pool before it are not created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_broken_in_the_last_pool_refuses_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.toml");
    for (broken, named) in [
        (
            FILE.replace(
                "identity_pool_name = \"second\"",
                "identity_pool_name = \"bad name!!\"",
            ),
            "identityPoolName",
        ),
        (
            format!("{FILE}\n[pools.roles]\nadmin = \"arn:aws:iam::000000000000:role/x\"\n"),
            "(un)?authenticated",
        ),
        (
            FILE.replace(
                "identity_pool_name = \"second\"",
                "identity_pool_name = \"demo\"",
            ),
            "names pool 'demo' twice",
        ),
        (
            format!(
                "{FILE}open_id_connect_provider_arns = [\"arn:aws:iam::000000000000:oidc-provider/nowhere.example\"]\n"
            ),
            "neither registered nor in the file",
        ),
        (
            format!("{FILE}token_lifetime_seconds = 86401\n"),
            "token_lifetime_seconds must be between 1 and 86400",
        ),
        (
            format!("{FILE}credential_duration_seconds = 60\n"),
            "credential_duration_seconds must be between 900 and 43200",
        ),
        (
            format!("{FILE}credential_reuse_seconds = 901\n"),
            "credential_reuse_seconds must be between 0 and 900",
        ),
        (
            format!("{FILE}exchange_audiences = [\"api://a\", \"api://a\"]\n"),
            "exchange_audiences lists 'api://a' twice",
        ),
    ] {
        std::fs::write(&file, broken).unwrap();
        let text = refusal(dir.path(), &file).await;
        assert!(text.contains(named), "{named}: {text}");
    }

    assert_nothing_created(dir.path(), &file).await;
}

/// Typos outside a pool's own members get the same help: a top-level table, a provider
/// member, a member of a role rule (listed with the rule's own members, never the pool's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unknown_member_is_named_with_the_nearest_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.toml");
    let rule = "[[pools]]\nidentity_pool_name = \"r\"\nallow_unauthenticated_identities = false\n\
        [pools.role_mappings.\"accounts.google.com\"]\ntype = \"Rules\"\nambiguous_role_resolution = \"Deny\"\n\
        [[pools.role_mappings.\"accounts.google.com\".rules_configuration.rules]]\n\
        claim = \"hd\"\nmatch_type = \"Equals\"\nvalue = \"x\"\nrole = \"arn:aws:iam::000000000000:role/r\"\n";
    for (text, named) in [
        (
            FILE.replace("[[pools]]", "[[pool]]"),
            "did you mean `pools`?",
        ),
        (
            FILE.replace("client_ids", "client_id"),
            "did you mean `client_ids`?",
        ),
        (
            rule.to_owned(),
            "expected one of `claim`, `match_type`, `value`, `role_arn`",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let message = refusal(dir.path(), &file).await;
        assert!(message.contains(named), "{named}: {message}");
        assert!(!message.contains("`roles`"), "{message}");
    }
}

const CORP: &str = "arn:aws:iam::000000000000:saml-provider/corp";
const PARTNER: &str = "arn:aws:iam::000000000000:saml-provider/partner";
/// LDAP's uid, as IdPs name it in SAML attributes: partner's subject attribute.
const UID: &str = "urn:oid:0.9.2342.19200300.100.1.1";

/// A SAML provider from a metadata file (written beside the bootstrap file, certificate
/// `corp_pem`), one inline, and a pool naming both.
fn saml_file(dir: &Path, corp_pem: &str) -> String {
    std::fs::write(
        dir.join("corp.xml"),
        saml_metadata("https://corp.example.test/saml", corp_pem),
    )
    .unwrap();
    let inline = saml_metadata("https://partner.example.test/saml", "test-ca.pem");
    format!(
        "[[saml_providers]]\nname = \"corp\"\nmetadata_file = \"corp.xml\"\n\n\
         [[saml_providers]]\nname = \"partner\"\nmetadata = '''{inline}'''\nlegacy_sha1 = true\n\
         subject_attribute = \"{UID}\"\n\n\
         [[pools]]\nidentity_pool_name = \"saml\"\nallow_unauthenticated_identities = false\n\
         saml_provider_arns = [\"{CORP}\", \"{PARTNER}\"]\n"
    )
}

async fn audited(endpoint: &str, token: &str, action: &str) -> usize {
    let audit = get(endpoint, token, "/v1/audit?limit=60").await;
    audit["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == action)
        .count()
}

/// `[[saml_providers]]` are created before the pools that name them, left alone when the file
/// is applied again, and updated in place (same name, same ARN) when they change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_providers_are_applied_before_the_pools_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.toml");
    std::fs::write(&file, saml_file(dir.path(), "localhost.pem")).unwrap();

    let (endpoint, token) = start(settings(dir.path(), &file)).await;
    let corp = get(&endpoint, &token, "/v1/saml-providers/corp").await;
    assert_eq!(corp["arn"], CORP);
    assert_eq!(corp["entity_id"], "https://corp.example.test/saml");
    assert_eq!(corp["legacy_sha1"], false);
    let partner = get(&endpoint, &token, "/v1/saml-providers/partner").await;
    assert_eq!(partner["entity_id"], "https://partner.example.test/saml");
    assert_eq!(partner["legacy_sha1"], true);
    assert_eq!(partner["subject_attribute"], UID);
    assert!(corp.get("subject_attribute").is_none(), "corp: the NameID");
    let pools = get(&endpoint, &token, "/v1/identity-pools").await;
    let pool_id = pools["identity_pools"][0]["identity_pool_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool = get(&endpoint, &token, &format!("/v1/identity-pools/{pool_id}")).await;
    assert_eq!(
        pool["saml_provider_arns"],
        serde_json::json!([CORP, PARTNER])
    );
    assert_eq!(audited(&endpoint, &token, "CreateSamlProvider").await, 2);

    // Applied again: nothing changes.
    let (again, _) = start(settings(dir.path(), &file)).await;
    assert_eq!(audited(&again, &token, "CreateSamlProvider").await, 2);
    assert_eq!(audited(&again, &token, "UpdateSamlProvider").await, 0);

    // corp's metadata file names another certificate, partner is no longer legacy and reads
    // the NameID again (the file has no subject_attribute): both are updated in place.
    std::fs::write(
        &file,
        saml_file(dir.path(), "test-ca.pem")
            .replace("legacy_sha1 = true", "legacy_sha1 = false")
            .replace(&format!("subject_attribute = \"{UID}\"\n"), ""),
    )
    .unwrap();
    let (third, _) = start(settings(dir.path(), &file)).await;
    let corp_now = get(&third, &token, "/v1/saml-providers/corp").await;
    assert_eq!(corp_now["arn"], CORP);
    assert_ne!(
        corp_now["certificate_fingerprints"], corp["certificate_fingerprints"],
        "the new certificate"
    );
    let partner_now = get(&third, &token, "/v1/saml-providers/partner").await;
    assert_eq!(partner_now["legacy_sha1"], false);
    assert!(
        partner_now.get("subject_attribute").is_none(),
        "{partner_now}"
    );
    assert_eq!(audited(&third, &token, "UpdateSamlProvider").await, 2);
    let pools_now = get(&third, &token, "/v1/identity-pools").await;
    assert_eq!(
        pools_now["identity_pools"], pools["identity_pools"],
        "same pool"
    );
}

/// A bad `[[saml_providers]]` entry, or a pool naming a SAML provider that is neither
/// registered nor in the file, refuses the whole file, naming the entry; nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_saml_provider_refuses_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bootstrap.toml");
    let good = saml_file(dir.path(), "localhost.pem");
    for (broken, named) in [
        (
            good.replace(
                &format!("\"{PARTNER}\""),
                "\"arn:aws:iam::000000000000:saml-provider/nowhere\"",
            ),
            "pool 'saml': the SAML provider arn:aws:iam::000000000000:saml-provider/nowhere is neither registered nor in the file",
        ),
        (
            good.replace(
                "metadata_file = \"corp.xml\"",
                "metadata_file = \"missing.xml\"",
            ),
            "SAML provider 1 ('corp'): cannot read metadata_file",
        ),
        (
            good.replace(
                "metadata_file = \"corp.xml\"",
                "metadata_file = \"corp.xml\"\nmetadata = \"<a/>\"",
            ),
            "SAML provider 1 ('corp'): give `metadata` or `metadata_file`, not both",
        ),
        (
            good.replace("metadata_file = \"corp.xml\"\n", ""),
            "SAML provider 1 ('corp'): `metadata` or `metadata_file` is required",
        ),
        (
            good.replace("metadata_file = \"corp.xml\"", "metadata = \"<a/>\""),
            "SAML provider 'corp': Invalid SAML metadata",
        ),
        (
            good.replace("name = \"partner\"", "name = \"corp\""),
            "names SAML provider 'corp' twice",
        ),
        (
            good.replace("name = \"partner\"", "name = \"bad name\""),
            "SAML provider 'bad name'",
        ),
        (
            good.replace("legacy_sha1 = true", "legacy_sha = true"),
            "did you mean `legacy_sha1`?",
        ),
        (
            good.replace(UID, "https://aws.amazon.com/SAML/Attributes/Role"),
            "SAML provider 'partner': The Role attribute names roles, not a user",
        ),
    ] {
        std::fs::write(&file, broken).unwrap();
        let text = refusal(dir.path(), &file).await;
        assert!(text.contains(named), "{named}: {text}");
    }
    assert_nothing_created(dir.path(), &file).await;
}

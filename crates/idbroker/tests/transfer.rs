//! `idbroker export`, `import` and `pools copy`, run as an operator runs them: a database made
//! the way a running idbroker makes it (pools, roles, mappings, maps, tags, providers,
//! identities linked through the store's login resolution), exported, imported into a fresh
//! database and exported again, on PostgreSQL and on SQLite; then the rules for a second
//! import, conflicts and broken files; then pools copied from another idbroker (every part)
//! and from moto's Cognito Identity server (what moto 5.2.1 serves).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::path::Path;
use std::process::Output;

use chrono::Utc;
use idbroker_domain::linking::{LinkRules, Trust};
use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::saml_provider::SamlProvider;
use idbroker_domain::{
    CognitoIdentityProvider, Identity, IdentityId, IdentityPool, IdentityPoolId, PoolConfig,
    PoolLifetimes, PoolRoles, PrincipalTagMap,
};
use idbroker_store::testing::TestDatabase;
use idbroker_store::{
    AuditFilter, IdentityStore, LedgerStore, LoginStore, OidcProviderStore, PoolStore,
    SamlProviderStore, SqlStore,
};
use serde_json::{Value, json};

mod support;

const ACCOUNT: &str = "123456789012";

/// The binary with only these settings (and the account id), in a folder of its own.
fn idbroker(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut with_account = vec![("IDBROKER_ACCOUNT_ID", ACCOUNT)];
    with_account.extend_from_slice(env);
    support::run_on_database(url, args, &with_account)
}

fn text(out: &Output) -> String {
    support::describe(out)
}

/// `idbroker export --file` of this database; the file's text.
fn export(url: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonl");
    let mut args = vec!["export", "--file", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = idbroker(url, &args, &[]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(path).unwrap()
}

fn import(url: &str, path: &Path) -> Output {
    idbroker(url, &["import", path.to_str().unwrap()], &[])
}

fn login(provider: &str, subject: &str) -> LoginRef {
    LoginRef {
        provider: provider.into(),
        subject: subject.into(),
    }
}

/// A new identity id in the region of `pool`, as an identity of that pool has.
fn fresh_id(pool: &IdentityPoolId) -> IdentityId {
    let region = pool.as_str().split_once(':').unwrap().0;
    IdentityId::parse("id", &format!("{region}:{}", uuid_like())).unwrap()
}

fn uuid_like() -> String {
    // Distinct per call and sortable enough; the binary crate has no uuid dependency.
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    format!("{:08x}-0000-4000-8000-{:012x}", n, t & 0xffff_ffff_ffff)
}

const DEV: &str = "login.dev";
const GOOGLE: &str = "accounts.google.com";
const OIDC_KEY: &str = "login.example.com";
const USER_POOL: &str = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc";

/// Pools, a provider and identities, made through the store as the service makes them.
/// Returns (pool with everything, plain pool).
async fn seed(url: &str) -> (IdentityPoolId, IdentityPoolId) {
    let store = SqlStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let now = Utc::now();
    store
        .create_oidc_provider(
            &OidcProvider::new(
                &format!("https://{OIDC_KEY}"),
                vec!["client-b".into(), "client-a".into()],
                false,
            )
            .unwrap(),
            now,
        )
        .await
        .unwrap();

    let full =
        IdentityPoolId::parse("id", "eu-west-1:0a000000-0000-4000-8000-000000000001").unwrap();
    let mut config = PoolConfig {
        identity_pool_name: "full pool".into(),
        allow_unauthenticated_identities: true,
        allow_classic_flow: Some(false),
        developer_provider_name: Some(DEV.into()),
        open_id_connect_provider_arns: vec![format!(
            "arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC_KEY}"
        )],
        cognito_identity_providers: vec![CognitoIdentityProvider {
            provider_name: Some(USER_POOL.into()),
            client_id: Some("upclient".into()),
            server_side_token_check: Some(true),
        }],
        ..PoolConfig::default()
    };
    config
        .supported_login_providers
        .insert(GOOGLE.into(), "google-app".into());
    store
        .create_pool(
            &IdentityPool {
                id: full.clone(),
                config,
                tags: [
                    ("team".into(), "identity".into()),
                    ("env".into(), "test".into()),
                ]
                .into(),
                lifetimes: PoolLifetimes {
                    credential_duration_seconds: Some(1800),
                    token_lifetime_seconds: Some(300),
                    max_token_lifetime_seconds: Some(7200),
                    credential_reuse_seconds: Some(120),
                },
                exchange_audiences: vec![
                    "api://AzureADTokenExchange".into(),
                    "https://api.internal.example".into(),
                ],
            },
            now,
        )
        .await
        .unwrap();
    let roles: PoolRoles = serde_json::from_value(json!({
        "Roles": {
            "authenticated": format!("arn:aws:iam::{ACCOUNT}:role/auth"),
            "unauthenticated": format!("arn:aws:iam::{ACCOUNT}:role/guest"),
        },
        "RoleMappings": {
            GOOGLE: {"Type": "Rules", "AmbiguousRoleResolution": "Deny", "RulesConfiguration": {"Rules": [
                {"Claim": "hd", "MatchType": "Equals", "Value": "example.com", "RoleARN": format!("arn:aws:iam::{ACCOUNT}:role/staff")},
                {"Claim": "email", "MatchType": "Contains", "Value": "@", "RoleARN": format!("arn:aws:iam::{ACCOUNT}:role/any")}
            ]}},
            OIDC_KEY: {"Type": "Token", "AmbiguousRoleResolution": "AuthenticatedRole"}
        }
    }))
    .unwrap();
    store.set_roles(&full, 1, &roles, now).await.unwrap();
    let map = PrincipalTagMap {
        use_defaults: true,
        principal_tags: [("department".into(), "hd".into())].into(),
    };
    store
        .put_principal_tag_map(&full, GOOGLE, &map)
        .await
        .unwrap();
    store
        .put_principal_tag_map(&full, USER_POOL, &PrincipalTagMap::default())
        .await
        .unwrap();

    let plain =
        IdentityPoolId::parse("id", "us-east-1:0b000000-0000-4000-8000-000000000002").unwrap();
    store
        .create_pool(
            &IdentityPool {
                id: plain.clone(),
                config: PoolConfig {
                    identity_pool_name: "plain".into(),
                    allow_unauthenticated_identities: true,
                    ..PoolConfig::default()
                },
                tags: Default::default(),
                lifetimes: Default::default(),
                exchange_audiences: Vec::new(),
            },
            now,
        )
        .await
        .unwrap();

    let rules = LinkRules {
        developer_provider: Some(DEV.into()),
        ..LinkRules::default()
    };
    let link = |presented: Vec<LoginRef>, target: Option<IdentityId>, trust: Trust| {
        let (store, full, rules) = (&store, &full, rules.clone());
        async move {
            let rules = LinkRules { trust, ..rules };
            store
                .resolve_logins(
                    full,
                    &presented,
                    target.as_ref(),
                    &rules,
                    &fresh_id(full),
                    Utc::now(),
                )
                .await
                .unwrap()
                .identity
        }
    };
    // Several logins on one identity.
    link(
        vec![login(GOOGLE, "g-1"), login(OIDC_KEY, "o-1")],
        None,
        Trust::None,
    )
    .await;
    link(vec![login(USER_POOL, "u-1")], None, Trust::None).await;
    // A developer identity with two users and a public login.
    let developer = link(
        vec![login(DEV, "dev-user-1"), login(GOOGLE, "g-2")],
        None,
        Trust::Developer,
    )
    .await;
    // The backend vouches for its users only: the public login comes along.
    link(
        vec![login(DEV, "dev-user-2"), login(GOOGLE, "g-2")],
        Some(developer.id.clone()),
        Trust::Developer,
    )
    .await;
    // A guest, and an identity merged away (disabled, no logins).
    for (pool, disabled) in [(&full, false), (&full, true), (&plain, false)] {
        store
            .create_identity(&Identity {
                id: fresh_id(pool),
                pool_id: pool.clone(),
                logins: vec![],
                created_at: now,
                last_modified_at: now,
                disabled,
                last_used_at: None,
            })
            .await
            .unwrap();
    }
    store.close().await;
    (full, plain)
}

fn lines(file: &str) -> Vec<Value> {
    file.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What the seeded database's export must say, beyond coming back the same.
fn assert_carries_everything(file: &str, full: &IdentityPoolId) {
    let records = lines(file);
    assert_eq!(records[0], json!({"kind": "idbroker-export", "version": 1}));
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "idbroker-export",
            "oidc_provider",
            "pool",
            "pool",
            "identity",
            "identity",
            "identity",
            "identity",
            "identity",
            "identity"
        ],
        "{file}"
    );
    assert_eq!(
        records[1],
        json!({"kind": "oidc_provider", "issuer": "https://login.example.com", "client_ids": ["client-b", "client-a"]})
    );
    let pool = &records[2];
    assert_eq!(pool["identity_pool_id"], full.as_str());
    assert_eq!(
        pool["pool"]["identity_pool_tags"],
        json!({"env": "test", "team": "identity"})
    );
    assert_eq!(pool["pool"]["developer_provider_name"], DEV);
    assert_eq!(pool["pool"]["credential_duration_seconds"], 1800);
    assert_eq!(pool["pool"]["token_lifetime_seconds"], 300);
    assert_eq!(pool["pool"]["max_token_lifetime_seconds"], 7200);
    assert_eq!(pool["pool"]["credential_reuse_seconds"], 120);
    assert_eq!(
        pool["pool"]["exchange_audiences"],
        json!(["api://AzureADTokenExchange", "https://api.internal.example"])
    );
    // A pool without lifetimes has no such members: its record is what files written before
    // lifetimes existed hold, and importing it (the round trip does) leaves them unset.
    let plain = &records[3];
    for member in [
        "credential_duration_seconds",
        "token_lifetime_seconds",
        "max_token_lifetime_seconds",
        "credential_reuse_seconds",
        "exchange_audiences",
    ] {
        assert!(plain["pool"].get(member).is_none(), "{plain}");
    }
    assert_eq!(pool["pool"]["allow_classic_flow"], false);
    assert_eq!(
        pool["roles"]["role_mappings"][GOOGLE]["rules_configuration"]["rules"][1]["match_type"],
        "Contains"
    );
    assert_eq!(pool["roles"]["role_mappings"][OIDC_KEY]["type"], "Token");
    assert_eq!(
        pool["principal_tags"],
        json!({
            GOOGLE: {"use_defaults": true, "principal_tags": {"department": "hd"}},
            USER_POOL: {"use_defaults": false, "principal_tags": {}}
        })
    );
    let identities: Vec<&Value> = records.iter().filter(|r| r["kind"] == "identity").collect();
    let in_full = identities
        .iter()
        .filter(|i| i["identity_pool_id"] == full.as_str())
        .count();
    assert_eq!(in_full, 5);
    let developer = identities
        .iter()
        .find(|i| !i["developer_user_ids"].as_array().unwrap().is_empty())
        .unwrap();
    assert_eq!(
        developer["developer_user_ids"],
        json!(["dev-user-1", "dev-user-2"])
    );
    assert_eq!(
        developer["logins"],
        json!([{"provider": GOOGLE, "subject": "g-2"}])
    );
    assert!(identities.iter().any(|i| i["logins"]
        == json!([{"provider": GOOGLE, "subject": "g-1"}, {"provider": OIDC_KEY, "subject": "o-1"}])));
    assert_eq!(
        identities.iter().filter(|i| i["disabled"] == true).count(),
        1
    );
    // In id order within each pool.
    let ids: Vec<(&str, &str)> = identities
        .iter()
        .map(|i| {
            (
                i["identity_pool_id"].as_str().unwrap(),
                i["identity_id"].as_str().unwrap(),
            )
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

/// Export, import into an empty database, export again: the same bytes; a second import
/// changes nothing. Returns the export.
async fn round_trip(source: &TestDatabase, target: &TestDatabase) -> String {
    let (full, _) = seed(source.url()).await;
    let (source_url, target_url) = (source.url().to_owned(), target.url().to_owned());
    tokio::task::spawn_blocking(move || {
        let first = export(&source_url, &[]);
        assert_carries_everything(&first, &full);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("first.jsonl");
        std::fs::write(&path, &first).unwrap();

        let out = import(&target_url, &path);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("OpenID Connect providers: 1 created"),
            "{stdout}"
        );
        assert!(stdout.contains("pools: 2 created"), "{stdout}");
        assert!(
            stdout.contains("identities: 6 created, 0 updated, 0 unchanged, 0 conflicts"),
            "{stdout}"
        );
        let second = export(&target_url, &[]);
        assert_eq!(first, second, "the export of the import differs");

        let again = import(&target_url, &path);
        assert!(again.status.success(), "{}", text(&again));
        let stdout = String::from_utf8_lossy(&again.stdout);
        assert!(
            stdout.contains("OpenID Connect providers: 0 created, 0 updated, 1 unchanged"),
            "{stdout}"
        );
        assert!(
            stdout.contains("pools: 0 created, 0 updated, 2 unchanged"),
            "{stdout}"
        );
        assert!(
            stdout.contains("identities: 0 created, 0 updated, 6 unchanged, 0 conflicts"),
            "{stdout}"
        );
        assert_eq!(export(&target_url, &[]), first);
        first
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_postgresql_database_comes_back_byte_for_byte_and_moves_to_sqlite() {
    let (source, target) = (
        TestDatabase::postgres().await,
        TestDatabase::postgres().await,
    );
    let first = round_trip(&source, &target).await;
    // Across backends: the same file from SQLite.
    let sqlite = TestDatabase::sqlite();
    let url = sqlite.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg.jsonl");
        std::fs::write(&path, &first).unwrap();
        let out = import(&url, &path);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(export(&url, &[]), first);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_sqlite_database_comes_back_byte_for_byte() {
    let target = TestDatabase::sqlite();
    round_trip(&TestDatabase::sqlite(), &target).await;
    // The import is in the audit, by its file; the second import added nothing.
    let store = SqlStore::connect(target.url()).await.unwrap();
    let changes = store
        .find_admin_changes(&AuditFilter::default(), None, 50)
        .await
        .unwrap();
    let mut actions: Vec<&str> = changes.iter().map(|c| c.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "ImportIdentityPool",
            "ImportIdentityPool",
            "ImportOidcProvider"
        ]
    );
    assert!(
        changes
            .iter()
            .all(|c| c.actor.starts_with("import ") && c.actor.ends_with("first.jsonl")),
        "{changes:?}"
    );
}

#[tokio::test]
async fn export_to_stdout_and_of_one_pool_takes_only_that_pool_and_its_providers() {
    let db = TestDatabase::sqlite();
    let (full, plain) = seed(db.url()).await;
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let out = idbroker(&url, &["export", "--pool", plain.as_str()], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let file = String::from_utf8(out.stdout).unwrap();
        let kinds: Vec<String> = lines(&file)
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds, ["idbroker-export", "pool", "identity"], "{file}");

        let file = export(&url, &["--pool", full.as_str()]);
        assert_eq!(
            lines(&file)
                .iter()
                .filter(|r| r["kind"] == "oidc_provider")
                .count(),
            1
        );
        assert!(!file.contains(plain.as_str()));

        let out = idbroker(
            &url,
            &[
                "export",
                "--pool",
                "us-east-1:00000000-0000-4000-8000-0000000000ff",
            ],
            &[],
        );
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not found"),
            "{}",
            text(&out)
        );
    })
    .await
    .unwrap();
}

/// The seeded export with `edit` applied to the first identity line that has `needle`.
fn edited(file: &str, needle: &str, edit: impl Fn(&mut Value)) -> String {
    let mut done = false;
    let mut out = String::new();
    for line in file.lines() {
        if !done && line.contains(needle) && line.contains("\"kind\":\"identity\"") {
            let mut value: Value = serde_json::from_str(line).unwrap();
            edit(&mut value);
            out.push_str(&value.to_string());
            done = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(done, "no identity line with {needle}");
    out
}

#[tokio::test]
async fn conflicts_are_reported_by_line_and_change_nothing_and_broken_files_change_nothing() {
    let source = TestDatabase::sqlite();
    let (full, _) = seed(source.url()).await;
    let target = TestDatabase::sqlite();
    let (source_url, url) = (source.url().to_owned(), target.url().to_owned());
    tokio::task::spawn_blocking(move || {
        let file = export(&source_url, &[]);
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };

        // A broken line anywhere: the whole file is refused before anything is written.
        let mut unknown = file.clone();
        unknown.push_str(
            r#"{"kind":"oidc_provider","issuer":"https://other.example.com","client_ids":["c"],"clientids":[]}"#,
        );
        unknown.push('\n');
        let out = import(&url, &write("unknown.jsonl", &unknown));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("line 11") && err.contains("unknown field `clientids`"), "{err}");
        assert!(err.contains("client_ids"), "names the nearest known member: {err}");
        assert_eq!(lines(&export(&url, &[])).len(), 1, "nothing was imported");

        let long = format!(
            "{}{{\"kind\":\"oidc_provider\",\"issuer\":\"https://x\",\"client_ids\":[\"{}\"]}}\n",
            file,
            "a".repeat(2 * 1024 * 1024)
        );
        let out = import(&url, &write("long.jsonl", &long));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("line 11: longer than 1048576 bytes"), "{err}");

        let bad_role = file.replacen(":role/staff", ":rol/staff", 1);
        let out = import(&url, &write("role.jsonl", &bad_role));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("line 3") && err.contains("is not an IAM role ARN"), "{err}");

        let out = import(&url, &write("noheader.jsonl", file.split_once('\n').unwrap().1));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: an idbroker export starts with"));
        assert_eq!(lines(&export(&url, &[])).len(), 1, "nothing was imported");

        // Now the real thing, then a file that disagrees about an identity's logins.
        let out = import(&url, &write("good.jsonl", &file));
        assert!(out.status.success(), "{}", text(&out));
        let changed = edited(&file, "\"g-1\"", |identity| {
            identity["logins"] = json!([{"provider": GOOGLE, "subject": "g-1"}]);
        });
        let conflict_line = changed.lines().position(|l| l.contains("\"g-1\"")).unwrap() + 1;
        let out = import(&url, &write("changed.jsonl", &changed));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("line {conflict_line}: conflict: identity"))
                && err.contains("exists here with other logins (accounts.google.com / g-1, login.example.com / o-1) than the file's (accounts.google.com / g-1)"),
            "{err}"
        );
        assert!(err.contains("1 conflicts"), "{err}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("identities: 0 created, 0 updated, 5 unchanged, 1 conflicts"), "{stdout}");
        assert_eq!(export(&url, &[]), file, "the conflict changed nothing");

        // A new identity id claiming a login another identity holds.
        // (Its id right after the holder's, so the file keeps the export's order.)
        let thief = edited(&file, "\"g-1\"", |identity| {
            let id = identity["identity_id"].as_str().unwrap().replacen("-8000-", "-8001-", 1);
            identity["identity_id"] = json!(id);
        });
        let out = import(&url, &write("thief.jsonl", &thief));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("belongs to identity"), "{err}");
        assert_eq!(export(&url, &[]), file);

        // A pool changed in the file replaces the one here (the file wins).
        let renamed = file.replacen("\"full pool\"", "\"renamed pool\"", 1);
        let out = import(&url, &write("renamed.jsonl", &renamed));
        assert!(out.status.success(), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("pools: 0 created, 1 updated, 1 unchanged"));
        assert_eq!(export(&url, &[]), renamed);

        // The developer provider name is set once, as UpdateIdentityPool keeps it: a file
        // that changes or drops it is a conflict (the header, the provider and the pools).
        let head: String = renamed.lines().take(4).map(|l| format!("{l}\n")).collect();
        for (name, edit) in [
            ("devtwo.jsonl", "\"developer_provider_name\":\"dev.two\""),
            ("devnone.jsonl", ""),
        ] {
            let mut changed = head.replacen(&format!("\"developer_provider_name\":\"{DEV}\","), edit, 1);
            if !edit.is_empty() {
                changed = changed.replacen(edit, &format!("{edit},"), 1);
            }
            assert_ne!(changed, head);
            let out = import(&url, &write(name, &changed));
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("line 3: conflict: pool eu-west-1:0a000000-0000-4000-8000-000000000001 has developer provider name 'login.dev' here"),
                "{err}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("pools: 0 created, 0 updated, 1 unchanged, 1 conflicts"), "{stdout}");
            assert_eq!(export(&url, &[]), renamed, "the conflict changed nothing");
        }
    })
    .await
    .unwrap();
    // The replaced pool's audit row says what it was before, and what it became.
    let store = SqlStore::connect(target.url()).await.unwrap();
    let changes = store
        .find_admin_changes(
            &AuditFilter {
                resource: Some(full.to_string()),
                ..AuditFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    let actions: Vec<&str> = changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        ["ImportIdentityPool", "ImportIdentityPool"],
        "{changes:?}"
    );
    let before: Value = serde_json::from_str(changes[0].before.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(changes[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(before["IdentityPoolName"], "full pool");
    assert_eq!(after["IdentityPoolName"], "renamed pool");
    assert_eq!(before["DeveloperProviderName"], DEV);
    assert!(changes[1].before.is_none(), "created: nothing before");
}

/// `export --file` holds identity ids and login subjects: the file is 0600 (also when it
/// replaces one), a symlink planted at the old fixed temporary name is not followed, and no
/// temporary file is left behind.
#[tokio::test]
async fn export_file_is_private_and_never_follows_a_planted_link() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDatabase::sqlite();
    seed(db.url()).await;
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.jsonl");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("export.jsonl.partial")).unwrap();
        let out = idbroker(&url, &["export", "--file", path.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("\"kind\":\"identity\"")
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "old").unwrap();
        let out = idbroker(&url, &["export", "--file", path.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(mode(&path), 0o600);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["export.jsonl", "export.jsonl.partial", "victim"]);
    })
    .await
    .unwrap();
}

/// A file that contradicts itself or the database in a way a check can see is refused before
/// anything is written, naming its line, and the (empty) tallies are printed.
#[tokio::test]
async fn files_that_contradict_themselves_or_their_pools_are_refused_before_writing() {
    let source = TestDatabase::sqlite();
    let (_, plain) = seed(source.url()).await;
    let target = TestDatabase::sqlite();
    let (source_url, url) = (source.url().to_owned(), target.url().to_owned());
    tokio::task::spawn_blocking(move || {
        let file = export(&source_url, &[]);
        let all: Vec<&str> = file.lines().collect();
        let join = |lines: &[&str]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let line_with = |needle: &str| all.iter().position(|l| l.contains(needle)).unwrap();
        let plain_pool = line_with("\"identity_pool_name\":\"plain\"");
        let plain_identity = all
            .iter()
            .rposition(|l| l.contains(plain.as_str()) && l.contains("\"kind\":\"identity\""))
            .unwrap();
        let g1 = line_with("\"g-1\"");
        let u1 = line_with("\"u-1\"");
        let edit = |index: usize, change: &dyn Fn(&mut Value)| {
            let mut value: Value = serde_json::from_str(all[index]).unwrap();
            change(&mut value);
            value.to_string()
        };
        let elsewhere = edit(plain_identity, &|i| {
            i["identity_id"] = json!("us-east-1:0d000000-0000-4000-8000-00000000000d");
            i["identity_pool_id"] = json!("us-east-1:0e000000-0000-4000-8000-00000000000e");
        });
        let dev_ids = edit(plain_identity, &|i| i["developer_user_ids"] = json!(["u"]));
        let dev_login = edit(g1, &|i| {
            i["logins"] = json!([{"provider": DEV, "subject": "dev-user-9"}]);
        });
        let facebook = edit(g1, &|i| {
            i["logins"] = json!([{"provider": "graph.facebook.com", "subject": "f-1"}]);
        });
        let region = edit(plain_identity, &|i| {
            let id = i["identity_id"].as_str().unwrap().replacen("us-east-1:", "eu-west-1:", 1);
            i["identity_id"] = json!(id);
        });
        let same_login = edit(u1, &|i| {
            i["logins"] = json!([{"provider": GOOGLE, "subject": "g-1"}]);
        });
        let same_login_message =
            format!("login {GOOGLE} / g-1 is also on the identity of line {}", g1 + 1);
        let mut cases: Vec<(&str, String, usize, &str)> = vec![
            (
                "orphan",
                join(&[all[0], all[plain_pool], all[plain_identity], &elsewhere]),
                4,
                "IdentityPool 'us-east-1:0e000000-0000-4000-8000-00000000000e' not found: neither in the file (before this line) nor here",
            ),
            (
                "devids",
                join(&[all[0], all[plain_pool], &dev_ids]),
                3,
                "has no developer provider, so its identities cannot have developer user ids",
            ),
            (
                "devlogin",
                join(&[&all[..g1], &[dev_login.as_str()]].concat()),
                g1 + 1,
                "is under the pool's developer provider",
            ),
            (
                "facebook",
                join(&[&all[..g1], &[facebook.as_str()]].concat()),
                g1 + 1,
                "has no provider graph.facebook.com",
            ),
            (
                "region",
                join(&[&all[..plain_identity], &[region.as_str()]].concat()),
                plain_identity + 1,
                "is not in the region of its pool",
            ),
            (
                "unregistered",
                join(&[all[0], all[2]]),
                2,
                "oidc-provider/login.example.com is neither in the file nor a registered OpenID Connect provider",
            ),
            (
                "identity first",
                join(&[all[0], all[1], all[plain_identity], all[2], all[3]]),
                3,
                "IdentityPool 'us-east-1:0b000000-0000-4000-8000-000000000002' not found: neither in the file (before this line) nor here",
            ),
            (
                "provider last",
                join(&[all[0], all[plain_pool], all[plain_identity], all[1]]),
                4,
                "an oidc_provider record after identity records",
            ),
            (
                "same id twice",
                join(&[&all[..=g1], &[all[g1]]].concat()),
                g1 + 2,
                "is out of order or listed twice",
            ),
            (
                "same login twice",
                join(&[&all[..u1], &[same_login.as_str()]].concat()),
                u1 + 1,
                &same_login_message,
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (name, text_of_file, line, message) in cases.drain(..) {
            let path = dir.path().join(format!("{}.jsonl", name.replace(' ', "-")));
            std::fs::write(&path, &text_of_file).unwrap();
            let out = import(&url, &path);
            assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("line {line}: ")) && err.contains(message),
                "{name}: {err}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("pools: 0 created, 0 updated, 0 unchanged, 0 conflicts"),
                "{name}: the tallies are printed: {stdout}"
            );
            assert_eq!(lines(&export(&url, &[])).len(), 1, "{name}: nothing was imported");
        }

        // A pipe cannot be read twice: refused by name, not half-read.
        let out = idbroker(&url, &["import", "/dev/stdin"], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a regular file"),
            "{}",
            text(&out)
        );

        // A byte-order mark at the start is not part of the first line.
        let path = dir.path().join("bom.jsonl");
        std::fs::write(&path, format!("\u{feff}{file}")).unwrap();
        let out = import(&url, &path);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(export(&url, &[]), file);
    })
    .await
    .unwrap();
}

const SAML_ARN: &str = "arn:aws:iam::123456789012:saml-provider/corp";

/// A pool trusting a SAML provider (with a role mapping and a principal-tag map keyed by its
/// ARN, and an identity whose login is (ARN, NameID)), that provider, and one no pool uses.
async fn seed_saml(url: &str) -> IdentityPoolId {
    let store = SqlStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let now = Utc::now();
    for (name, pem, legacy) in [
        ("corp", "localhost.pem", true),
        ("unused", "test-ca.pem", false),
    ] {
        let entity = format!("https://{name}.example.test/saml");
        store
            .create_saml_provider(
                &SamlProvider {
                    name: name.into(),
                    // A line break, as in metadata saved from an IdP: it must come back the same.
                    metadata: format!("{}\n", support::saml_metadata(&entity, pem)),
                    entity_id: entity,
                    legacy_sha1: legacy,
                    subject_attribute: legacy.then(|| UID_ATTRIBUTE.to_owned()),
                },
                now,
            )
            .await
            .unwrap();
    }
    let pool =
        IdentityPoolId::parse("id", "us-east-1:0c000000-0000-4000-8000-00000000000c").unwrap();
    store
        .create_pool(
            &IdentityPool {
                id: pool.clone(),
                config: PoolConfig {
                    identity_pool_name: "saml".into(),
                    allow_unauthenticated_identities: false,
                    saml_provider_arns: vec![SAML_ARN.into()],
                    ..PoolConfig::default()
                },
                tags: Default::default(),
                lifetimes: Default::default(),
                exchange_audiences: Vec::new(),
            },
            now,
        )
        .await
        .unwrap();
    let roles: PoolRoles = serde_json::from_value(json!({
        "Roles": {"authenticated": format!("arn:aws:iam::{ACCOUNT}:role/auth")},
        "RoleMappings": {SAML_ARN: {"Type": "Token", "AmbiguousRoleResolution": "AuthenticatedRole"}}
    }))
    .unwrap();
    store.set_roles(&pool, 1, &roles, now).await.unwrap();
    store
        .put_principal_tag_map(
            &pool,
            SAML_ARN,
            &PrincipalTagMap {
                use_defaults: true,
                principal_tags: [("department".into(), "urn:test:department".into())].into(),
            },
        )
        .await
        .unwrap();
    store
        .resolve_logins(
            &pool,
            &[login(SAML_ARN, "alice")],
            None,
            &LinkRules::default(),
            &fresh_id(&pool),
            now,
        )
        .await
        .unwrap();
    store.close().await;
    pool
}

/// LDAP's uid, as IdPs name it in SAML attributes.
const UID_ATTRIBUTE: &str = "urn:oid:0.9.2342.19200300.100.1.1";

/// SAML providers move like OpenID Connect providers: exported by name with their metadata,
/// imported with their names (so the pools' ARNs link to them, and a provider in use cannot be
/// deleted here either), unchanged on a second import, replaced when the file differs; a pool
/// whose SAML ARN is neither in the file nor registered is refused naming the ARN.
async fn saml_providers_move_with_their_pools(source: TestDatabase, target: TestDatabase) {
    let pool = seed_saml(source.url()).await;
    let (source_url, target_url) = (source.url().to_owned(), target.url().to_owned());
    let first = tokio::task::spawn_blocking(move || {
        let first = export(&source_url, &[]);
        let records = lines(&first);
        let kinds: Vec<&str> = records
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "idbroker-export",
                "saml_provider",
                "saml_provider",
                "pool",
                "identity"
            ],
            "{first}"
        );
        assert_eq!(records[1]["name"], "corp");
        assert_eq!(records[1]["legacy_sha1"], true);
        assert_eq!(records[1]["subject_attribute"], UID_ATTRIBUTE);
        assert!(
            records[2].get("subject_attribute").is_none(),
            "the NameID is the subject: no member"
        );
        assert!(
            records[1]["metadata"]
                .as_str()
                .unwrap()
                .contains("entityID=\"https://corp.example.test/saml\"")
        );
        assert_eq!(records[2]["name"], "unused");
        assert_eq!(records[3]["pool"]["saml_provider_arns"], json!([SAML_ARN]));
        assert_eq!(
            records[4]["logins"],
            json!([{"provider": SAML_ARN, "subject": "alice"}])
        );

        // One pool: only the providers it names.
        let one = export(&source_url, &["--pool", pool.as_str()]);
        let names: Vec<Value> = lines(&one)
            .into_iter()
            .filter(|r| r["kind"] == "saml_provider")
            .map(|r| r["name"].clone())
            .collect();
        assert_eq!(names, [json!("corp")]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("saml.jsonl");
        std::fs::write(&path, &first).unwrap();
        let out = import(&target_url, &path);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("SAML providers: 2 created, 0 updated, 0 unchanged, 0 conflicts"),
            "{stdout}"
        );
        assert_eq!(
            export(&target_url, &[]),
            first,
            "the export of the import differs"
        );
        let again = import(&target_url, &path);
        assert!(again.status.success(), "{}", text(&again));
        assert!(
            String::from_utf8_lossy(&again.stdout)
                .contains("SAML providers: 0 created, 0 updated, 2 unchanged"),
            "{}",
            text(&again)
        );

        // The file's provider differs (no longer legacy): replaced in place.
        let edited = first.replacen("\"legacy_sha1\":true", "\"legacy_sha1\":false", 1);
        assert_ne!(edited, first);
        std::fs::write(&path, &edited).unwrap();
        let out = import(&target_url, &path);
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("SAML providers: 0 created, 1 updated, 1 unchanged"),
            "{}",
            text(&out)
        );
        assert_eq!(export(&target_url, &[]), edited);

        // The file's corp reads the NameID, but here corp has logins keyed by its attribute:
        // a conflict (a NameID could match another user's key), and nothing is written.
        let by_name_id = edited.replacen(
            &format!(",\"subject_attribute\":\"{UID_ATTRIBUTE}\""),
            "",
            1,
        );
        assert_ne!(by_name_id, edited);
        std::fs::write(&path, &by_name_id).unwrap();
        let out = import(&target_url, &path);
        let said = text(&out);
        assert!(
            said.contains("SAML providers: 0 created, 0 updated, 1 unchanged, 1 conflicts")
                && said.contains("has logins keyed by its attribute")
                // and the file's identity with a corp login, keyed by the file's source
                && said.contains("whose SAML provider record was refused above"),
            "{said}"
        );
        assert_eq!(export(&target_url, &[]), edited, "nothing written");
        first
    })
    .await
    .unwrap();

    // The imported pool is linked to the provider: it cannot be deleted while the pool names it.
    let store = SqlStore::connect(target.url()).await.unwrap();
    assert!(
        matches!(
            store.delete_saml_provider("corp").await,
            Err(idbroker_store::StoreError::Conflict { .. })
        ),
        "the pool's SAML ARN references the imported provider"
    );
    store.delete_saml_provider("unused").await.unwrap();
    let changes = store
        .find_admin_changes(&AuditFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(
        changes
            .iter()
            .filter(|c| c.action == "ImportSamlProvider" && c.resource == SAML_ARN)
            .count(),
        2,
        "created, then updated: {changes:?}"
    );
    store.close().await;

    // Into an empty database without the provider records: refused, naming the ARN; bad
    // metadata or a provider of another account: refused, naming the line.
    let empty = TestDatabase::sqlite();
    let url = empty.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let all: Vec<&str> = first.lines().collect();
        let join = |lines: &[&str]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let bad_metadata = all[1].replacen("<md:EntityDescriptor", "<md:Nothing", 1);
        let other_account = all[3].replace(ACCOUNT, "999999999999");
        let dir = tempfile::tempdir().unwrap();
        for (name, file, message) in [
            (
                "no provider",
                join(&[all[0], all[3], all[4]]),
                format!(
                    "line 2: {SAML_ARN} is neither in the file nor a registered SAML provider; add its saml_provider record or register it first"
                ),
            ),
            (
                "bad metadata",
                join(&[all[0], &bad_metadata, all[2], all[3]]),
                "line 2: SAML provider 'corp': Invalid SAML metadata".to_owned(),
            ),
            (
                "other account",
                join(&[all[0], all[1], all[2], &other_account]),
                "line 4: arn:aws:iam::999999999999:saml-provider/corp is not a SAML provider of account 123456789012".to_owned(),
            ),
            (
                "out of order",
                join(&[all[0], all[2], all[1]]),
                "line 3: SAML provider 'corp' is out of order or listed twice".to_owned(),
            ),
        ] {
            let path = dir.path().join(format!("{}.jsonl", name.replace(' ', "-")));
            std::fs::write(&path, &file).unwrap();
            let out = import(&url, &path);
            assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&message), "{name}: {message}: {err}");
            assert_eq!(lines(&export(&url, &[])).len(), 1, "{name}: nothing imported");
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn saml_providers_move_from_postgresql_to_sqlite() {
    saml_providers_move_with_their_pools(TestDatabase::postgres().await, TestDatabase::sqlite())
        .await;
}

#[tokio::test]
async fn saml_providers_move_from_sqlite_to_postgresql() {
    saml_providers_move_with_their_pools(TestDatabase::sqlite(), TestDatabase::postgres().await)
        .await;
}

//! The settings schema against its users: a TOML file with native types, every documented
//! setting read from the file and from the environment alike, and the configuration reference
//! held to the schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::collections::BTreeSet;
use std::path::Path;

use idbroker::settings::{RawSettings, Settings};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

/// One valid value of every setting, not its default: (variable, TOML value, environment
/// value). Together they make one valid configuration.
const SAMPLES: &[(&str, &str, &str)] = &[
    (
        "IDBROKER_DATABASE_URL",
        r#""postgres://localhost/idbroker""#,
        "postgres://localhost/idbroker",
    ),
    ("IDBROKER_LISTEN", r#""127.0.0.1:9000""#, "127.0.0.1:9000"),
    (
        "IDBROKER_ISSUER",
        r#""https://id.example.com""#,
        "https://id.example.com",
    ),
    ("IDBROKER_REGION", r#""eu-west-1""#, "eu-west-1"),
    ("IDBROKER_ACCOUNT_ID", r#""012345678901""#, "012345678901"),
    (
        "IDBROKER_ADMIN_ACCESS_KEY_ID",
        r#""AKIDEXAMPLE""#,
        "AKIDEXAMPLE",
    ),
    (
        "IDBROKER_ADMIN_SECRET_ACCESS_KEY",
        r#""0123456789abcdef0123""#,
        "0123456789abcdef0123",
    ),
    (
        "IDBROKER_ADMIN_TOKEN",
        r#""an-admin-token-of-some-length""#,
        "an-admin-token-of-some-length",
    ),
    (
        "IDBROKER_MASTER_KEY",
        concat!('"', "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", '"'),
        KEY,
    ),
    ("IDBROKER_ALLOW_HTTP_ISSUERS", "true", "true"),
    (
        "IDBROKER_GOOGLE_JWKS_URL",
        r#""https://g.example.com/jwks""#,
        "https://g.example.com/jwks",
    ),
    (
        "IDBROKER_APPLE_JWKS_URL",
        r#""https://a.example.com/jwks""#,
        "https://a.example.com/jwks",
    ),
    (
        "IDBROKER_FACEBOOK_JWKS_URL",
        r#""https://f.example.com/jwks""#,
        "https://f.example.com/jwks",
    ),
    (
        "IDBROKER_FACEBOOK_GRAPH_URL",
        r#""https://graph.example.com""#,
        "https://graph.example.com",
    ),
    (
        "IDBROKER_AMAZON_API_URL",
        r#""https://amazon.example.com""#,
        "https://amazon.example.com",
    ),
    (
        "IDBROKER_COGNITO_IDP_URL",
        r#""https://idp.example.com""#,
        "https://idp.example.com",
    ),
    ("IDBROKER_JWKS_CACHE_SECONDS", "600", "600"),
    ("IDBROKER_JWKS_REFRESH_COOLDOWN_SECONDS", "10", "10"),
    ("IDBROKER_VERIFIED_TOKEN_CACHE_ENTRIES", "500", "500"),
    ("IDBROKER_SIGNING_ALG", r#""ES256""#, "ES256"),
    ("IDBROKER_KEY_ROTATION_SECONDS", "100000", "100000"),
    ("IDBROKER_KEY_PREPUBLISH_SECONDS", "3600", "3600"),
    ("IDBROKER_KEY_UPKEEP_SECONDS", "10", "10"),
    (
        "IDBROKER_STS_ENDPOINT_URL",
        r#""http://127.0.0.1:5055""#,
        "http://127.0.0.1:5055",
    ),
    (
        "IDBROKER_EXTRA_CA_FILE",
        r#""/etc/idbroker/ca.pem""#,
        "/etc/idbroker/ca.pem",
    ),
    ("IDBROKER_STS_DURATION_SECONDS", "1800", "1800"),
    (
        "IDBROKER_STS_ROLE_SESSION_NAME",
        r#""Sessions""#,
        "Sessions",
    ),
    (
        "IDBROKER_GUEST_SESSION_POLICY",
        r#"'{"Version":"2012-10-17","Statement":[]}'"#,
        r#"{"Version":"2012-10-17","Statement":[]}"#,
    ),
    (
        "IDBROKER_BOOTSTRAP",
        r#""/etc/idbroker/bootstrap.toml""#,
        "/etc/idbroker/bootstrap.toml",
    ),
    ("IDBROKER_LEDGER_RETENTION_DAYS", "30", "30"),
    ("IDBROKER_RATE_LIMIT_PER_IP", "7", "7"),
    ("IDBROKER_RATE_LIMIT_PER_POOL", "9", "9"),
    ("IDBROKER_TRUST_FORWARDED_FOR", "true", "true"),
    ("IDBROKER_TRUSTED_PROXY_HOPS", "2", "2"),
    ("IDBROKER_BODY_TIMEOUT_SECONDS", "3", "3"),
    ("IDBROKER_REQUEST_TIMEOUT_SECONDS", "4", "4"),
    ("IDBROKER_ADMIN_REQUEST_TIMEOUT_SECONDS", "20", "20"),
    (
        "IDBROKER_ADMIN_CORS_ORIGINS",
        r#""https://admin.example.com""#,
        "https://admin.example.com",
    ),
    ("IDBROKER_PROVIDER_TIMEOUT_SECONDS", "2", "2"),
    ("IDBROKER_JWKS_MAX_STALE_SECONDS", "60", "60"),
    ("IDBROKER_UPSTREAM_BACKOFF_MAX_SECONDS", "5", "5"),
    ("IDBROKER_DATABASE_MAX_CONNECTIONS", "8", "8"),
    ("IDBROKER_DATABASE_ACQUIRE_TIMEOUT_MS", "500", "500"),
    ("IDBROKER_DATABASE_STATEMENT_TIMEOUT_MS", "3000", "3000"),
    ("IDBROKER_DATABASE_LOCK_TIMEOUT_MS", "1000", "1000"),
    ("IDBROKER_LOG_FORMAT", r#""text""#, "text"),
    ("IDBROKER_SHUTDOWN_TIMEOUT_SECONDS", "7", "7"),
    ("IDBROKER_GUEST_IDLE_DAYS", "14", "14"),
    ("IDBROKER_POOL_CACHE_SECONDS", "0", "0"),
    ("IDBROKER_CONSOLE", r#""off""#, "off"),
    ("IDBROKER_CONSOLE_IDLE_MINUTES", "5", "5"),
];

fn key(var: &str) -> String {
    var.trim_start_matches("IDBROKER_").to_ascii_lowercase()
}

fn from_toml(text: &str) -> Result<RawSettings, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idbroker.toml");
    std::fs::write(&path, text).unwrap();
    RawSettings::load(Some(&path), []).map_err(|e| e.to_string())
}

fn from_env(vars: &[(&str, &str)]) -> Result<RawSettings, String> {
    let env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    RawSettings::load(None, env).map_err(|e| e.to_string())
}

/// The rows of the settings table in docs/configuration.md: (variables cell, default cell).
fn documented_rows() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let table = text
        .split("| Variable | Default | Meaning |")
        .nth(1)
        .expect("the settings table")
        .split("\n\n")
        .next()
        .unwrap();
    table
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').skip(1);
            Some((cells.next()?.to_owned(), cells.next()?.to_owned()))
        })
        .collect()
}

/// The variables in that table (`RUST_LOG` is not one of ours).
fn documented_variables() -> BTreeSet<String> {
    documented_rows()
        .iter()
        .flat_map(|(cell, _)| cell.split('`'))
        .filter(|word| word.starts_with("IDBROKER_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_documented_defaults_are_the_schema_defaults() {
    let defaults = serde_json::to_value(RawSettings::default()).unwrap();
    let rows = documented_rows();
    for key in RawSettings::keys() {
        let var = RawSettings::env_var(key);
        let expected = match &defaults[*key] {
            serde_json::Value::Null => continue, // depends on other settings: prose
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let (_, cell) = rows
            .iter()
            .find(|(vars, _)| vars.contains(&format!("`{var}`")))
            .unwrap_or_else(|| panic!("{var} is not documented"));
        assert!(
            cell.contains(&format!("`{expected}`")),
            "{var}: the schema's default is `{expected}`, the documentation says {cell}"
        );
    }
}

#[test]
fn the_configuration_reference_and_the_schema_agree() {
    let documented = documented_variables();
    let schema: BTreeSet<String> = RawSettings::keys()
        .iter()
        .map(|k| RawSettings::env_var(k))
        .collect();
    let undocumented: Vec<_> = schema.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&schema).collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from docs/configuration.md: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "documented variables the schema does not read: {unknown:?}"
    );
}

#[test]
fn every_documented_setting_is_read_from_the_file_and_from_the_environment() {
    let documented = documented_variables();
    assert!(documented.len() > 40, "{documented:?}");
    let mut file = String::new();
    let mut env = Vec::new();
    for var in &documented {
        let (_, toml_value, env_value) = SAMPLES
            .iter()
            .find(|(v, _, _)| v == var)
            .unwrap_or_else(|| panic!("{var} is documented but has no sample in this test"));
        let line = format!("{} = {toml_value}\n", key(var));
        let by_file = from_toml(&line).unwrap_or_else(|e| panic!("{var} from the file: {e}"));
        let by_env =
            from_env(&[(var, env_value)]).unwrap_or_else(|e| panic!("{var} from the env: {e}"));
        let read = serde_json::to_value(&by_file).unwrap()[key(var)].clone();
        let default = serde_json::to_value(RawSettings::default()).unwrap()[key(var)].clone();
        assert_ne!(read, default, "{var}: `{}` was not read", line.trim());
        assert_eq!(
            by_file, by_env,
            "{var}: the file and the environment disagree"
        );
        file.push_str(&line);
        env.push((var.as_str(), *env_value));
    }
    // Together they are one valid configuration, the same whichever way it came.
    let by_file = Settings::from_raw(from_toml(&file).unwrap()).unwrap();
    let by_env = Settings::from_raw(from_env(&env).unwrap()).unwrap();
    assert_eq!(format!("{by_file:?}"), format!("{by_env:?}"));
    assert_eq!(
        by_file.account_id.as_str(),
        "012345678901",
        "leading zeros are kept"
    );
    assert!(by_file.allow_http_issuers);
    assert_eq!(by_file.rate_limits.trusted_proxy_hops, 2);
    assert_eq!(by_file.guest_idle, Some(chrono::Duration::days(14)));
    assert_eq!(by_file.pool_cache_ttl, std::time::Duration::ZERO);
    assert!(by_file.sts.guest_session_policy.is_some());
}

#[test]
fn a_toml_file_with_native_booleans_and_integers_works_and_old_strings_still_do() {
    let native = from_toml(
        "allow_http_issuers = true\njwks_cache_seconds = 600\ntrusted_proxy_hops = 1\nguest_idle_days = 30\n",
    )
    .unwrap();
    let strings = from_toml(
        "allow_http_issuers = \"true\"\njwks_cache_seconds = \"600\"\ntrusted_proxy_hops = \"1\"\nguest_idle_days = \"30\"\n",
    )
    .unwrap();
    assert_eq!(native, strings);
    assert!(native.allow_http_issuers);
    assert_eq!(native.jwks_cache_seconds, 600);
    assert!(from_toml("guest_idle_days = \"off\"\n").is_ok());
    // Origins as a TOML list mean the same as the variable's comma-separated form.
    let list =
        from_toml("admin_cors_origins = [\"https://a.example.com\", \"http://localhost:3000\"]\n");
    let by_env = from_env(&[(
        "IDBROKER_ADMIN_CORS_ORIGINS",
        "https://a.example.com,http://localhost:3000",
    )]);
    assert_eq!(list.unwrap(), by_env.unwrap());
}

#[test]
fn a_bad_value_names_the_variable_and_the_key_from_either_source() {
    for (toml, var) in [
        (
            "jwks_cache_seconds = \"soon\"",
            "IDBROKER_JWKS_CACHE_SECONDS",
        ),
        (
            "shutdown_timeout_seconds = -1",
            "IDBROKER_SHUTDOWN_TIMEOUT_SECONDS",
        ),
        (
            "allow_http_issuers = \"yes\"",
            "IDBROKER_ALLOW_HTTP_ISSUERS",
        ),
        (
            "database_max_connections = \"many\"",
            "IDBROKER_DATABASE_MAX_CONNECTIONS",
        ),
        ("region = 5", "IDBROKER_REGION"),
    ] {
        let err = from_toml(toml).unwrap_err();
        let expected = format!("invalid setting {var} (`{}` in the config file /", key(var));
        assert!(err.contains(&expected), "{toml}: {err}");
    }
    for (var, value) in [
        ("IDBROKER_JWKS_CACHE_SECONDS", "soon"),
        ("IDBROKER_ALLOW_HTTP_ISSUERS", "yes"),
        ("IDBROKER_GUEST_IDLE_DAYS", "never"),
    ] {
        let err = from_env(&[(var, value)]).unwrap_err();
        let expected = format!("invalid setting {var} (set in the environment)");
        assert!(err.contains(&expected), "{var}={value}: {err}");
        assert!(err.contains(&format!("'{value}'")), "{var}={value}: {err}");
    }
    let err = from_toml("regoin = \"eu-west-1\"").unwrap_err();
    assert!(err.contains("regoin"), "{err}");
}

#[test]
fn variables_that_are_not_settings_are_ignored() {
    // The admin commands' endpoint and the tests' database live under the same prefix.
    let raw = from_env(&[
        ("IDBROKER_ENDPOINT", "http://127.0.0.1:8080"),
        ("IDBROKER_TEST_POSTGRES_URL", "postgres://x"),
        ("IDBROKER_region", "eu-west-1"),
    ])
    .unwrap();
    assert_eq!(raw, RawSettings::default());
}

#[test]
fn settings_for_tests_are_the_defaults_without_development_mode() {
    let s = Settings::for_tests("sqlite::memory:").unwrap();
    assert!(s.development_mode.is_none());
    assert_eq!(s.listen.to_string(), "127.0.0.1:0");
    assert_eq!(s.region.as_str(), "us-east-1");
    // The settings' defaults are the components' own: tests built on them run what ships.
    assert_eq!(s.upstream, idbroker_providers::UpstreamPolicy::default());
    assert_eq!(s.sts_policy, idbroker_sts::StsPolicy::default());
    assert_eq!(
        s.timeouts,
        idbroker_http::deadline::RequestTimeouts::default()
    );
    assert_eq!(s.jwks_cache, idbroker_providers::CachePolicy::default());
}

#[test]
fn bounds_hold_for_native_values_from_the_file() {
    let base = format!(
        "database_url = \"postgres://localhost/idbroker\"\nadmin_access_key_id = \"AKIDEXAMPLE\"\n\
         admin_secret_access_key = \"0123456789abcdef0123\"\nadmin_token = \"an-admin-token-of-some-length\"\n\
         master_key = \"{KEY}\"\n"
    );
    assert!(Settings::from_raw(from_toml(&base).unwrap()).is_ok());
    for (line, var) in [
        ("trusted_proxy_hops = 11", "IDBROKER_TRUSTED_PROXY_HOPS"),
        (
            "provider_timeout_seconds = 6",
            "IDBROKER_PROVIDER_TIMEOUT_SECONDS",
        ),
        ("jwks_cache_seconds = 0", "IDBROKER_JWKS_CACHE_SECONDS"),
        ("sts_duration_seconds = 60", "IDBROKER_STS_DURATION_SECONDS"),
        ("pool_cache_seconds = 3601", "IDBROKER_POOL_CACHE_SECONDS"),
        ("guest_idle_days = 0", "IDBROKER_GUEST_IDLE_DAYS"),
        ("console = \"maybe\"", "IDBROKER_CONSOLE"),
        ("console_idle_minutes = 0", "IDBROKER_CONSOLE_IDLE_MINUTES"),
        (
            "console_idle_minutes = 1441",
            "IDBROKER_CONSOLE_IDLE_MINUTES",
        ),
        // Not shorter than the pre-publication period (1 day by default).
        ("key_upkeep_seconds = 86400", "IDBROKER_KEY_UPKEEP_SECONDS"),
        (
            "database_max_connections = 0",
            "IDBROKER_DATABASE_MAX_CONNECTIONS",
        ),
        (
            "database_lock_timeout_ms = 5000",
            "IDBROKER_DATABASE_LOCK_TIMEOUT_MS",
        ),
    ] {
        let raw = from_toml(&format!("{base}{line}\n")).unwrap();
        let err = Settings::from_raw(raw).unwrap_err().to_string();
        let expected = format!("invalid setting {var} (`{}` in the config file)", key(var));
        assert!(err.contains(&expected), "{line}: {err}");
    }
}

#[test]
fn a_value_found_bad_after_loading_names_the_layer_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idbroker.toml");
    let secrets = format!(
        "database_url = \"postgres://localhost/idbroker\"\nadmin_access_key_id = \"AKIDEXAMPLE\"\n\
         admin_secret_access_key = \"0123456789abcdef0123\"\nadmin_token = \"an-admin-token-of-some-length\"\n\
         master_key = \"{KEY}\"\n"
    );
    std::fs::write(&path, format!("{secrets}listen = \"not-an-address\"\n")).unwrap();
    let load = |env: &[(&str, &str)]| {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Settings::load_from(Some(&path), env)
            .unwrap_err()
            .to_string()
    };

    // From the file: the key and the file are named.
    let err = load(&[]);
    let file = path.display().to_string();
    assert!(
        err.contains(&format!(
            "invalid setting IDBROKER_LISTEN (`listen` in the config file {file})"
        )),
        "{err}"
    );
    // The environment overrides the file, and is named when its value is the bad one.
    let err = load(&[("IDBROKER_LISTEN", "also-not-an-address")]);
    assert!(
        err.contains("invalid setting IDBROKER_LISTEN (set in the environment)"),
        "{err}"
    );
    assert!(err.contains("also-not-an-address"), "{err}");
    // Neither layer gave it: a default that conflicts with another setting says so.
    std::fs::write(&path, format!("{secrets}key_prepublish_seconds = 20\n")).unwrap();
    let err = load(&[]);
    assert!(
        err.contains("invalid setting IDBROKER_KEY_UPKEEP_SECONDS (not set: its default"),
        "{err}"
    );
}

//! Settings: defaults, then an optional TOML file, then `IDBROKER_*` environment variables.
//!
//! Every setting is parsed into its type at start-up, and a bad one stops the process with a
//! message naming the environment variable (and the TOML key). Without a database URL idbroker
//! runs in development mode on an embedded SQLite file and generates its secrets; with
//! PostgreSQL nothing secret is ever invented.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idbroker_domain::signing::KeyPolicy;
use idbroker_domain::{AccountId, Region};
use idbroker_http::rate_limit::RateLimitSettings;
use idbroker_http::{AdminCredentials, AdminToken};
use idbroker_issuer::SigningAlg;
use idbroker_providers::{CachePolicy, ProviderEndpoints, UpstreamPolicy};
use idbroker_service::StsSettings;
use idbroker_store::StoreOptions;
use idbroker_sts::StsPolicy;

mod dev;
mod schema;

pub use schema::{ENV_PREFIX, OrOff, RawSettings};

/// Where development mode keeps its database and generated secrets.
pub const DEV_DATA_DIR: &str = "idbroker-data";

/// Why settings could not be loaded. A bad value names its setting (variable and key) and,
/// once `located`, where the value came from: the environment, the file, or neither.
#[derive(Debug)]
pub struct SettingsError(ErrorInner);

#[derive(Debug)]
enum ErrorInner {
    Plain(String),
    Setting {
        var: String,
        problem: String,
        origin: Option<Origin>,
    },
}

/// Where a setting's value came from; the environment is the top layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Environment,
    File(PathBuf),
    /// Neither gave it: the default, or a value derived from other settings.
    Default,
    /// Development mode's secrets file (generated, or edited since).
    SecretsFile(PathBuf),
}

/// Which layer gave each setting, as `RawSettings::load_with_sources` read them.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub config: Option<PathBuf>,
    /// Keys whose variable is set.
    pub from_env: std::collections::BTreeSet<String>,
    /// Keys the file gives.
    pub from_file: std::collections::BTreeSet<String>,
}

impl Sources {
    pub fn origin(&self, key: &str) -> Origin {
        if self.from_env.contains(key) {
            Origin::Environment
        } else if let (Some(path), true) = (&self.config, self.from_file.contains(key)) {
            Origin::File(path.clone())
        } else {
            Origin::Default
        }
    }
}

impl SettingsError {
    fn plain(message: impl Into<String>) -> Self {
        Self(ErrorInner::Plain(message.into()))
    }

    /// Names the secrets file as the origin of a bad secret that development mode read from it.
    fn blame_secrets_file(self, filled: &[&str], file: &Path) -> Self {
        match self.0 {
            ErrorInner::Setting {
                var,
                problem,
                origin: None,
            } if filled.contains(&var.as_str()) => Self(ErrorInner::Setting {
                var,
                problem,
                origin: Some(Origin::SecretsFile(file.to_path_buf())),
            }),
            inner => Self(inner),
        }
    }

    /// Names where the bad value came from, if it is a setting's and that is not known yet.
    pub fn located(self, sources: &Sources) -> Self {
        match self.0 {
            ErrorInner::Setting {
                var,
                problem,
                origin: None,
            } => {
                let origin = Some(sources.origin(&key_of(&var)));
                Self(ErrorInner::Setting {
                    var,
                    problem,
                    origin,
                })
            }
            inner => Self(inner),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ErrorInner::Plain(message) => f.write_str(message),
            ErrorInner::Setting {
                var,
                problem,
                origin,
            } => {
                let key = key_of(var);
                match origin {
                    None => write!(f, "invalid setting {var} (`{key}` in the config file)"),
                    Some(Origin::Environment) => {
                        write!(f, "invalid setting {var} (set in the environment)")
                    }
                    Some(Origin::File(path)) => write!(
                        f,
                        "invalid setting {var} (`{key}` in the config file {})",
                        path.display()
                    ),
                    Some(Origin::SecretsFile(path)) => write!(
                        f,
                        "invalid setting {var} (`{key}` in development mode's secrets file {})",
                        path.display()
                    ),
                    Some(Origin::Default) => write!(
                        f,
                        "invalid setting {var} (not set: its default; set it in the environment or as `{key}` in the config file)"
                    ),
                }?;
                write!(f, ": {problem}")
            }
        }
    }
}

impl std::error::Error for SettingsError {}

fn key_of(var: &str) -> String {
    var.trim_start_matches(ENV_PREFIX).to_ascii_lowercase()
}

/// The longest duration any setting in seconds may name: ten years.
const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

fn bad(var: &str, problem: impl fmt::Display) -> SettingsError {
    SettingsError(ErrorInner::Setting {
        var: var.to_owned(),
        problem: problem.to_string(),
        origin: None,
    })
}

/// `bad`, already knowing where the value came from.
fn bad_from(var: &str, problem: impl fmt::Display, origin: Origin) -> SettingsError {
    SettingsError(ErrorInner::Setting {
        var: var.to_owned(),
        problem: problem.to_string(),
        origin: Some(origin),
    })
}

/// A 32-byte key that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(pub [u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub listen: SocketAddr,
    pub issuer: String,
    pub region: Region,
    pub account_id: AccountId,
    pub admin: AdminCredentials,
    /// Bearer token of the REST admin API.
    pub admin_token: AdminToken,
    pub master_key: MasterKey,
    /// Allow registering OpenID Connect issuers on plain http beyond loopback addresses.
    pub allow_http_issuers: bool,
    /// Where the built-in identity providers live.
    pub providers: ProviderEndpoints,
    pub jwks_cache: CachePolicy,
    /// How many verified provider tokens each replica remembers (0: none).
    pub verified_token_cache_entries: usize,
    /// Algorithm of idbroker's own signing keys.
    pub signing_alg: SigningAlg,
    /// When idbroker's signing keys rotate and how early the next is published.
    pub key_policy: KeyPolicy,
    /// How often each replica rotates a key that is due and reloads the keys other replicas
    /// made; shorter than the pre-publication period, so every replica publishes a new key
    /// before any replica signs with it.
    pub key_upkeep_interval: Duration,
    /// STS endpoint override; without it the standard AWS chain decides (`AWS_ENDPOINT_URL_STS`).
    pub sts_endpoint_url: Option<String>,
    /// Extra certificate authorities (PEM) that outbound HTTPS trusts besides Mozilla's
    /// bundled roots and the system store's.
    pub extra_ca_file: Option<PathBuf>,
    pub sts: StsSettings,
    /// Limits on the public operations.
    pub rate_limits: RateLimitSettings,
    /// How long the credential ledger keeps entries.
    pub ledger_retention: chrono::Duration,
    /// A configuration-as-code file applied at start-up (`--bootstrap` or `IDBROKER_BOOTSTRAP`).
    pub bootstrap: Option<PathBuf>,
    /// Set when secrets were generated: start-up prints them with a warning.
    pub development_mode: Option<DevelopmentMode>,
    /// JSON lines in production (PostgreSQL), readable text in development mode.
    pub log_format: LogFormat,
    /// How long a stopping server lets in-flight requests finish before closing them.
    pub shutdown_timeout: Duration,
    /// Guest identities unused for longer than this are deleted; `None` keeps them forever.
    pub guest_idle: Option<chrono::Duration>,
    /// How stale a pool's configuration may be on the public operations of other replicas.
    pub pool_cache_ttl: Duration,
    /// How long a request's body, and then its handling, may take.
    pub timeouts: idbroker_http::deadline::RequestTimeouts,
    /// Browser origins allowed to call the admin routes (none: browsers may not).
    pub admin_cors_origins: Vec<String>,
    /// How slow and failing identity providers are treated (timeouts, stale keys, backoff).
    pub upstream: UpstreamPolicy,
    /// How STS is called (attempt timeout, budget, backoff).
    pub sts_policy: StsPolicy,
    /// Bounds on database work (connection, lock and statement timeouts; fail-fast while down).
    pub database: StoreOptions,
    /// The admin console: how long an unused session lasts; `None`: the console is off.
    pub console_idle: Option<Duration>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// What development mode generated or reused, to tell the operator.
#[derive(Debug, Clone)]
pub struct DevelopmentMode {
    pub secrets_file: PathBuf,
}

fn parse_issuer(value: &str) -> Result<String, SettingsError> {
    let var = "IDBROKER_ISSUER";
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| {
            bad(
                var,
                format!("'{value}' must start with https:// (or http:// for local use)"),
            )
        })?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) || value.ends_with('/') {
        return Err(bad(
            var,
            format!("'{value}' must be a base URL without query, fragment or trailing slash"),
        ));
    }
    Ok(value.to_owned())
}

/// The process environment as strings. Variables that are not Unicode cannot be settings
/// (their names would not match); skipping them keeps `std::env::vars` from panicking on one.
fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(var, value)| Some((var.into_string().ok()?, value.into_string().ok()?)))
}

impl Settings {
    /// Loads settings: the file (if given), then the process environment.
    pub fn load(config: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(config, process_env())
    }

    /// `load` with the given environment; an error names where the bad value came from.
    pub fn load_from(
        config: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let (raw, sources) = RawSettings::load_with_sources(config, env)?;
        Self::from_raw(raw).map_err(|e| e.located(&sources))
    }

    /// Settings for tests: the given database, a free port on loopback, fixed secrets and
    /// every other setting at its default. Never development mode, so nothing is written.
    pub fn for_tests(database_url: &str) -> Result<Self, SettingsError> {
        let raw = RawSettings {
            listen: Some("127.0.0.1:0".to_owned()),
            admin_access_key_id: Some("AKIDTESTADMIN0001".to_owned()),
            admin_secret_access_key: Some("test-admin-secret-0123456789".to_owned()),
            admin_token: Some("test-admin-token-0123456789".to_owned()),
            master_key: Some(STANDARD.encode([7u8; 32])),
            ..RawSettings::default()
        };
        Self::from_complete(raw, database_url.to_owned(), None)
    }

    /// Settings for `idbroker migrate`, which uses only the database: with PostgreSQL the
    /// secrets the server needs are not demanded. Inert stand-ins take their place; migrate
    /// never reads them (it connects, migrates and exits).
    pub fn load_for_migrate(config: Option<&Path>) -> Result<Self, SettingsError> {
        let (raw, sources) = RawSettings::load_with_sources(config, process_env())?;
        Self::for_migrate(raw).map_err(|e| e.located(&sources))
    }

    fn for_migrate(mut raw: RawSettings) -> Result<Self, SettingsError> {
        let is_postgres = raw
            .database_url
            .as_deref()
            .and_then(idbroker_store::Backend::of_url)
            == Some(idbroker_store::Backend::Postgres);
        if is_postgres {
            raw.admin_access_key_id
                .get_or_insert_with(|| "AKIDMIGRATEONLY0000".to_owned());
            raw.admin_secret_access_key
                .get_or_insert_with(|| "unused-by-migrate-000000000000".to_owned());
            raw.admin_token
                .get_or_insert_with(|| "unused-by-migrate-000000000000".to_owned());
            raw.master_key
                .get_or_insert_with(|| STANDARD.encode([0u8; 32]));
        }
        Self::from_raw(raw)
    }

    /// Turns raw settings into typed ones, applying defaults and development mode.
    pub fn from_raw(mut raw: RawSettings) -> Result<Self, SettingsError> {
        let database_url = raw
            .database_url
            .take()
            .unwrap_or_else(|| format!("sqlite://{DEV_DATA_DIR}/idbroker.db?mode=rwc"));
        // The secrets development mode fills from its file, to name that file if one is bad.
        let mut from_secrets_file: Vec<&str> = Vec::new();
        let development_mode = match idbroker_store::Backend::of_url(&database_url) {
            Some(idbroker_store::Backend::Sqlite) => {
                from_secrets_file = [
                    (
                        "IDBROKER_ADMIN_ACCESS_KEY_ID",
                        raw.admin_access_key_id.is_none(),
                    ),
                    (
                        "IDBROKER_ADMIN_SECRET_ACCESS_KEY",
                        raw.admin_secret_access_key.is_none(),
                    ),
                    ("IDBROKER_ADMIN_TOKEN", raw.admin_token.is_none()),
                    ("IDBROKER_MASTER_KEY", raw.master_key.is_none()),
                ]
                .into_iter()
                .filter_map(|(var, unset)| unset.then_some(var))
                .collect();
                let mode = dev::fill_dev_secrets(&mut raw, &dev::sqlite_data_dir(&database_url))?;
                dev::make_database_private(&database_url).map_err(|e| {
                    bad(
                        "IDBROKER_DATABASE_URL",
                        format!("cannot create the database file privately: {e}"),
                    )
                })?;
                Some(mode)
            }
            Some(idbroker_store::Backend::Postgres) => {
                let missing: Vec<&str> = [
                    ("IDBROKER_ADMIN_ACCESS_KEY_ID", &raw.admin_access_key_id),
                    (
                        "IDBROKER_ADMIN_SECRET_ACCESS_KEY",
                        &raw.admin_secret_access_key,
                    ),
                    ("IDBROKER_ADMIN_TOKEN", &raw.admin_token),
                    ("IDBROKER_MASTER_KEY", &raw.master_key),
                ]
                .into_iter()
                .filter(|(_, value)| value.is_none())
                .map(|(var, _)| var)
                .collect();
                if !missing.is_empty() {
                    return Err(SettingsError::plain(format!(
                        "missing settings {}: with a PostgreSQL database they must be set explicitly (no development defaults in production)",
                        missing.join(", ")
                    )));
                }
                None
            }
            None => {
                return Err(bad(
                    "IDBROKER_DATABASE_URL",
                    "must start with postgres:// or sqlite://",
                ));
            }
        };
        let secrets_file = development_mode.as_ref().map(|m| m.secrets_file.clone());
        Self::from_complete(raw, database_url, development_mode).map_err(|e| match &secrets_file {
            Some(file) => e.blame_secrets_file(&from_secrets_file, file),
            None => e,
        })
    }

    /// Applies defaults and bounds once the secrets are settled (given, or generated).
    fn from_complete(
        raw: RawSettings,
        database_url: String,
        development_mode: Option<DevelopmentMode>,
    ) -> Result<Self, SettingsError> {
        let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            bad(
                "IDBROKER_LISTEN",
                format!("'{listen_text}' is not an address like 127.0.0.1:8080"),
            )
        })?;
        let issuer = match raw.issuer {
            Some(issuer) => parse_issuer(&issuer)?,
            None => format!("http://{listen}"),
        };
        let region = Region::parse(&raw.region).map_err(|e| bad("IDBROKER_REGION", e))?;
        let account_id =
            AccountId::parse(&raw.account_id).map_err(|e| bad("IDBROKER_ACCOUNT_ID", e))?;

        // Both are present here: filled in development mode, required above otherwise.
        let access_key_id = raw.admin_access_key_id.unwrap_or_default();
        if !(4..=128).contains(&access_key_id.len())
            || !access_key_id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(bad(
                "IDBROKER_ADMIN_ACCESS_KEY_ID",
                "must be 4–128 ASCII letters and digits",
            ));
        }
        let secret_access_key = raw.admin_secret_access_key.unwrap_or_default();
        if secret_access_key.len() < 16 || secret_access_key.chars().any(char::is_whitespace) {
            return Err(bad(
                "IDBROKER_ADMIN_SECRET_ACCESS_KEY",
                "must be at least 16 characters without spaces",
            ));
        }
        let admin_token = match raw.admin_token {
            Some(token) if token.len() >= 16 && !token.chars().any(char::is_whitespace) => {
                AdminToken(token)
            }
            _ => {
                return Err(bad(
                    "IDBROKER_ADMIN_TOKEN",
                    "must be at least 16 characters without spaces",
                ));
            }
        };
        let allow_http_issuers = raw.allow_http_issuers;
        // Used as given: JWKS URLs are fetched as they are, API bases get paths appended.
        let url = |var: &str, value: String| -> Result<String, SettingsError> {
            if value.starts_with("https://") || value.starts_with("http://") {
                Ok(value)
            } else {
                Err(bad(var, format!("'{value}' is not an http(s) URL")))
            }
        };
        let providers = ProviderEndpoints {
            google_jwks_url: url("IDBROKER_GOOGLE_JWKS_URL", raw.google_jwks_url)?,
            apple_jwks_url: url("IDBROKER_APPLE_JWKS_URL", raw.apple_jwks_url)?,
            facebook_jwks_url: url("IDBROKER_FACEBOOK_JWKS_URL", raw.facebook_jwks_url)?,
            facebook_graph_url: url("IDBROKER_FACEBOOK_GRAPH_URL", raw.facebook_graph_url)?,
            amazon_api_url: url("IDBROKER_AMAZON_API_URL", raw.amazon_api_url)?,
            cognito_idp_url: url("IDBROKER_COGNITO_IDP_URL", raw.cognito_idp_url)?,
        };
        // Bounded above too: a huge value would overflow the arithmetic done with it (a
        // refresh at ¾ of a lifetime, a deadline added to now) instead of being refused.
        let seconds = |var: &str, value: u64| -> Result<Duration, SettingsError> {
            match value {
                1..=MAX_SECONDS => Ok(Duration::from_secs(value)),
                _ => Err(bad(
                    var,
                    format!(
                        "'{value}' is not a number of seconds from 1 to {MAX_SECONDS} (ten years)"
                    ),
                )),
            }
        };
        let ttl = seconds("IDBROKER_JWKS_CACHE_SECONDS", raw.jwks_cache_seconds)?;
        let jwks_cache = CachePolicy {
            ttl,
            // Refresh in the background once three quarters of the lifetime have passed.
            refresh_after: ttl * 3 / 4,
            unknown_kid_cooldown: seconds(
                "IDBROKER_JWKS_REFRESH_COOLDOWN_SECONDS",
                raw.jwks_refresh_cooldown_seconds,
            )?,
        };
        let verified_token_cache_entries = match raw.verified_token_cache_entries {
            // Each entry holds a token's claims (about a kilobyte): the cap bounds the memory.
            n @ 0..=1_000_000 => usize::try_from(n).unwrap_or(0),
            n => {
                return Err(bad(
                    "IDBROKER_VERIFIED_TOKEN_CACHE_ENTRIES",
                    format!("'{n}' is not a number of entries from 0 (off) to 1000000"),
                ));
            }
        };
        let signing_alg = match raw.signing_alg.as_deref() {
            None => SigningAlg::RS256,
            Some(name) => SigningAlg::parse(name).ok_or_else(|| {
                bad(
                    "IDBROKER_SIGNING_ALG",
                    format!("'{name}' is not RS256, RS512 or ES256"),
                )
            })?,
        };
        let to_chrono =
            |d: Duration| chrono::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let key_policy = KeyPolicy {
            rotation_period: to_chrono(seconds(
                "IDBROKER_KEY_ROTATION_SECONDS",
                raw.key_rotation_seconds,
            )?),
            prepublish: to_chrono(seconds(
                "IDBROKER_KEY_PREPUBLISH_SECONDS",
                raw.key_prepublish_seconds,
            )?),
        };
        key_policy
            .validate()
            .map_err(|e| {
                SettingsError::plain(format!(
                    "invalid settings IDBROKER_KEY_ROTATION_SECONDS and IDBROKER_KEY_PREPUBLISH_SECONDS: {e}"
                ))
            })?;
        let key_upkeep_interval = seconds("IDBROKER_KEY_UPKEEP_SECONDS", raw.key_upkeep_seconds)?;
        if to_chrono(key_upkeep_interval) >= key_policy.prepublish {
            return Err(bad(
                "IDBROKER_KEY_UPKEEP_SECONDS",
                "must be shorter than IDBROKER_KEY_PREPUBLISH_SECONDS: a replica that has not reloaded its keys would sign with a retired key",
            ));
        }
        let sts_endpoint_url = raw
            .sts_endpoint_url
            .map(|u| url("IDBROKER_STS_ENDPOINT_URL", u))
            .transpose()?;
        let text = raw.sts_duration_seconds;
        let duration_seconds = i32::try_from(text)
            .ok()
            .filter(|d| (900..=43_200).contains(d))
            .ok_or_else(|| {
                bad(
                    "IDBROKER_STS_DURATION_SECONDS",
                    format!("'{text}' is not between 900 and 43200"),
                )
            })?;
        let role_session_name = raw.sts_role_session_name;
        // Judged as STS will see it: `{identity}` becomes a 36-character UUID.
        let as_sent = role_session_name.replace(
            idbroker_service::IDENTITY_PLACEHOLDER,
            "00000000-0000-0000-0000-000000000000",
        );
        let session_name_ok = (2..=64).contains(&as_sent.len())
            && as_sent
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !session_name_ok {
            return Err(bad(
                "IDBROKER_STS_ROLE_SESSION_NAME",
                format!(
                    "'{role_session_name}' must be 2–64 characters of letters, digits and _+=,.@- (no ':'), {{identity}} counting as 36"
                ),
            ));
        }
        let guest_session_policy = match raw.guest_session_policy {
            Some(policy)
                if policy.len() > 2048
                    || serde_json::from_str::<serde_json::Value>(&policy).is_err() =>
            {
                return Err(bad(
                    "IDBROKER_GUEST_SESSION_POLICY",
                    "must be a JSON IAM policy of at most 2048 characters",
                ));
            }
            policy => policy,
        };
        let sts = StsSettings {
            role_session_name,
            duration_seconds,
            guest_session_policy,
        };
        // Both day counts share one range: at least a day, at most a century.
        let days =
            |var: &str, text: u64, or_else: &str| -> Result<chrono::Duration, SettingsError> {
                i64::try_from(text)
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .map(chrono::Duration::days)
                    .ok_or_else(|| {
                        bad(
                            var,
                            format!("'{text}' is not a number of days from 1 to 36500{or_else}"),
                        )
                    })
            };
        let ledger_retention = days(
            "IDBROKER_LEDGER_RETENTION_DAYS",
            raw.ledger_retention_days,
            "",
        )?;
        let rate_limits = RateLimitSettings {
            per_ip: raw.rate_limit_per_ip,
            per_pool: raw.rate_limit_per_pool,
            trusted_proxy_hops: trusted_proxy_hops(
                raw.trusted_proxy_hops,
                raw.trust_forwarded_for,
            )?,
        };
        let timeouts = idbroker_http::deadline::RequestTimeouts {
            body: seconds("IDBROKER_BODY_TIMEOUT_SECONDS", raw.body_timeout_seconds)?,
            handler: seconds(
                "IDBROKER_REQUEST_TIMEOUT_SECONDS",
                raw.request_timeout_seconds,
            )?,
            admin: seconds(
                "IDBROKER_ADMIN_REQUEST_TIMEOUT_SECONDS",
                raw.admin_request_timeout_seconds,
            )?,
        };
        let database = database_options(
            raw.database_max_connections,
            raw.database_acquire_timeout_ms,
            raw.database_statement_timeout_ms,
            raw.database_lock_timeout_ms,
        )?;
        let admin_cors_origins = admin_cors_origins(raw.admin_cors_origins.as_deref())?;
        let provider_timeout = seconds(
            "IDBROKER_PROVIDER_TIMEOUT_SECONDS",
            raw.provider_timeout_seconds,
        )?;
        if provider_timeout > idbroker_providers::MAX_FETCH_TIMEOUT {
            return Err(bad(
                "IDBROKER_PROVIDER_TIMEOUT_SECONDS",
                "must be at most 5 seconds: a login waits for at most one fetch",
            ));
        }
        let backoff_max = seconds(
            "IDBROKER_UPSTREAM_BACKOFF_MAX_SECONDS",
            raw.upstream_backoff_max_seconds,
        )?;
        let upstream = UpstreamPolicy {
            fetch_timeout: provider_timeout,
            max_stale: seconds(
                "IDBROKER_JWKS_MAX_STALE_SECONDS",
                raw.jwks_max_stale_seconds,
            )?,
            backoff: idbroker_providers::BackoffPolicy {
                max: backoff_max,
                ..Default::default()
            },
            allow_http: allow_http_issuers,
        };
        let sts_policy = StsPolicy {
            backoff_max: backoff_max.min(Duration::from_secs(10)),
            ..StsPolicy::default()
        };
        let log_format = match raw.log_format.as_deref() {
            None if development_mode.is_some() => LogFormat::Text,
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(bad(
                    "IDBROKER_LOG_FORMAT",
                    format!("'{other}' is not json or text"),
                ));
            }
        };
        let shutdown_timeout = seconds(
            "IDBROKER_SHUTDOWN_TIMEOUT_SECONDS",
            raw.shutdown_timeout_seconds,
        )?;
        let guest_idle = match raw.guest_idle_days {
            OrOff::Off => None,
            OrOff::On(text) => Some(days("IDBROKER_GUEST_IDLE_DAYS", text, " (or off)")?),
        };
        let text = raw.pool_cache_seconds;
        if text > 3600 {
            return Err(bad(
                "IDBROKER_POOL_CACHE_SECONDS",
                format!("'{text}' is not a number of seconds from 0 (off) to 3600"),
            ));
        }
        let pool_cache_ttl = Duration::from_secs(text);
        let console_idle = match raw.console.as_str() {
            "on" => {
                let minutes = raw.console_idle_minutes;
                if !(1..=1440).contains(&minutes) {
                    return Err(bad(
                        "IDBROKER_CONSOLE_IDLE_MINUTES",
                        format!("'{minutes}' is not a number of minutes from 1 to 1440"),
                    ));
                }
                Some(Duration::from_secs(minutes * 60))
            }
            "off" => None,
            other => {
                return Err(bad(
                    "IDBROKER_CONSOLE",
                    format!("'{other}' is not on or off"),
                ));
            }
        };
        let master_key = raw
            .master_key
            .as_deref()
            .and_then(|text| STANDARD.decode(text.trim()).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(MasterKey)
            .ok_or_else(|| {
                bad(
                    "IDBROKER_MASTER_KEY",
                    "must be the base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)",
                )
            })?;

        Ok(Self {
            database_url,
            listen,
            issuer,
            region,
            account_id,
            admin: AdminCredentials {
                access_key_id,
                secret_access_key,
            },
            admin_token,
            master_key,
            allow_http_issuers,
            providers,
            jwks_cache,
            verified_token_cache_entries,
            signing_alg,
            key_policy,
            key_upkeep_interval,
            sts_endpoint_url,
            sts,
            bootstrap: raw.bootstrap.map(PathBuf::from),
            extra_ca_file: raw.extra_ca_file.map(PathBuf::from),
            ledger_retention,
            rate_limits,
            development_mode,
            log_format,
            shutdown_timeout,
            guest_idle,
            pool_cache_ttl,
            timeouts,
            admin_cors_origins,
            upstream,
            sts_policy,
            database,
            console_idle,
        })
    }
}

/// The bounds on database work; the rest of `StoreOptions` keeps its defaults.
fn database_options(
    max_connections: Option<u32>,
    acquire_ms: u64,
    statement_ms: u64,
    lock_ms: u64,
) -> Result<StoreOptions, SettingsError> {
    let millis = |var: &str, ms: u64, max: u64| match ms {
        ms if (100..=max).contains(&ms) => Ok(Duration::from_millis(ms)),
        ms => Err(bad(
            var,
            format!("'{ms}' is not a number of milliseconds from 100 to {max}"),
        )),
    };
    let options = StoreOptions {
        max_connections: max_connections
            .map(|n| {
                Some(n).filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                    bad(
                        "IDBROKER_DATABASE_MAX_CONNECTIONS",
                        format!("'{n}' is not a number of connections from 1 to 1000"),
                    )
                })
            })
            .transpose()?,
        acquire_timeout: millis("IDBROKER_DATABASE_ACQUIRE_TIMEOUT_MS", acquire_ms, 10_000)?,
        statement_timeout: millis(
            "IDBROKER_DATABASE_STATEMENT_TIMEOUT_MS",
            statement_ms,
            60_000,
        )?,
        lock_timeout: millis("IDBROKER_DATABASE_LOCK_TIMEOUT_MS", lock_ms, 60_000)?,
        ..StoreOptions::default()
    };
    if options.lock_timeout > options.statement_timeout {
        return Err(bad(
            "IDBROKER_DATABASE_LOCK_TIMEOUT_MS",
            "must not be longer than IDBROKER_DATABASE_STATEMENT_TIMEOUT_MS (a statement's time includes its lock waits)",
        ));
    }
    Ok(options)
}

/// `IDBROKER_TRUSTED_PROXY_HOPS` (0–10), or the older `IDBROKER_TRUST_FORWARDED_FOR=true`,
/// which means one hop.
fn trusted_proxy_hops(hops: Option<u64>, legacy: bool) -> Result<u8, SettingsError> {
    match hops.map(|h| u8::try_from(h).ok().filter(|h| *h <= 10).ok_or(h)) {
        None => Ok(u8::from(legacy)),
        Some(Ok(h)) => Ok(h),
        Some(Err(h)) => Err(bad(
            "IDBROKER_TRUSTED_PROXY_HOPS",
            format!("'{h}' is not a number of proxies from 0 to 10"),
        )),
    }
}

/// Comma-separated origins (`https://admin.example.com`), each `scheme://host[:port]`.
fn admin_cors_origins(text: Option<&str>) -> Result<Vec<String>, SettingsError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let (scheme, host) = origin.split_once("://").unwrap_or(("", ""));
            let ok = matches!(scheme, "http" | "https")
                && !host.is_empty()
                && !host.contains(['/', '?', '#', ' ', '*']);
            if ok {
                Ok(origin.to_owned())
            } else {
                Err(bad(
                    "IDBROKER_ADMIN_CORS_ORIGINS",
                    format!("'{origin}' is not an origin like https://admin.example.com"),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::dev::DEV_SECRETS_FILE;
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

    fn postgres(extra: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut env: Vec<(&str, &str)> = vec![
            ("IDBROKER_DATABASE_URL", "postgres://localhost/idbroker"),
            ("IDBROKER_ADMIN_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("IDBROKER_ADMIN_SECRET_ACCESS_KEY", "0123456789abcdef0123"),
            ("IDBROKER_MASTER_KEY", KEY),
            ("IDBROKER_ADMIN_TOKEN", "an-admin-token-of-some-length"),
        ];
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend_from_slice(extra);
        let lookup = |var: &str| {
            env.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
                .filter(|v| !v.is_empty())
        };
        let env = env
            .iter()
            .filter_map(|(k, _)| Some(((*k).to_owned(), lookup(k)?)));
        Settings::from_raw(RawSettings::load(None, env)?)
    }

    #[test]
    fn postgres_settings_take_defaults_for_the_rest() {
        let s = postgres(&[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.region.as_str(), "us-east-1");
        assert_eq!(s.account_id.as_str(), "000000000000");
        assert!(s.development_mode.is_none());
        assert_eq!(
            s.log_format,
            LogFormat::Json,
            "production logs are JSON lines"
        );
        assert_eq!(s.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(s.guest_idle, None, "guest clean-up is off by default");
        assert_eq!(s.pool_cache_ttl, Duration::from_secs(300));
    }

    #[test]
    fn logs_guest_clean_up_and_shutdown_are_set_from_the_environment() {
        let s = postgres(&[
            ("IDBROKER_LOG_FORMAT", "text"),
            ("IDBROKER_SHUTDOWN_TIMEOUT_SECONDS", "5"),
            ("IDBROKER_GUEST_IDLE_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(s.guest_idle, Some(chrono::Duration::days(30)));
    }

    #[test]
    fn postgres_without_explicit_secrets_names_every_missing_one_at_once() {
        let err = postgres(&[("IDBROKER_ADMIN_TOKEN", ""), ("IDBROKER_MASTER_KEY", "")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("IDBROKER_ADMIN_TOKEN, IDBROKER_MASTER_KEY"),
            "{err}"
        );
    }

    #[test]
    fn migrate_needs_only_the_database() {
        let raw = RawSettings {
            database_url: Some("postgres://db.example/idbroker".to_owned()),
            ..RawSettings::default()
        };
        assert!(
            Settings::from_raw(raw.clone()).is_err(),
            "serve needs the secrets"
        );
        let settings = Settings::for_migrate(raw).unwrap();
        assert_eq!(settings.database_url, "postgres://db.example/idbroker");
    }

    #[test]
    fn postgres_without_explicit_secrets_fails_naming_the_missing_one() {
        for var in [
            "IDBROKER_ADMIN_ACCESS_KEY_ID",
            "IDBROKER_ADMIN_SECRET_ACCESS_KEY",
            "IDBROKER_ADMIN_TOKEN",
            "IDBROKER_MASTER_KEY",
        ] {
            let err = postgres(&[(var, "")]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn bad_values_fail_naming_the_setting() {
        for (var, value) in [
            ("IDBROKER_LISTEN", "not-an-address"),
            ("IDBROKER_ACCOUNT_ID", "123"),
            ("IDBROKER_REGION", "Mars Base"),
            ("IDBROKER_MASTER_KEY", "c2hvcnQ="),
            ("IDBROKER_ISSUER", "ftp://example.com"),
            ("IDBROKER_ISSUER", "https://example.com/"),
            ("IDBROKER_DATABASE_URL", "mysql://x"),
            ("IDBROKER_ALLOW_HTTP_ISSUERS", "yes"),
            ("IDBROKER_GOOGLE_JWKS_URL", "file:///etc/passwd"),
            ("IDBROKER_JWKS_CACHE_SECONDS", "0"),
            ("IDBROKER_ADMIN_TOKEN", "short"),
            ("IDBROKER_SIGNING_ALG", "HS256"),
            ("IDBROKER_KEY_ROTATION_SECONDS", "3600"),
            ("IDBROKER_KEY_PREPUBLISH_SECONDS", "99999999"),
            ("IDBROKER_STS_DURATION_SECONDS", "60"),
            ("IDBROKER_STS_ROLE_SESSION_NAME", "has:colon"),
            ("IDBROKER_GUEST_SESSION_POLICY", "{not json"),
            ("IDBROKER_STS_ENDPOINT_URL", "sts.local"),
            ("IDBROKER_LOG_FORMAT", "yaml"),
            ("IDBROKER_SHUTDOWN_TIMEOUT_SECONDS", "-1"),
            ("IDBROKER_GUEST_IDLE_DAYS", "0"),
            ("IDBROKER_VERIFIED_TOKEN_CACHE_ENTRIES", "1000001"),
            ("IDBROKER_POOL_CACHE_SECONDS", "forever"),
        ] {
            let err = postgres(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn the_session_name_may_name_the_identity_if_it_still_fits() {
        let ok = postgres(&[("IDBROKER_STS_ROLE_SESSION_NAME", "idbroker-{identity}")]).unwrap();
        assert_eq!(ok.sts.role_session_name, "idbroker-{identity}");
        assert!(ok.sts.names_identity());
        // 29 + 36 characters once the UUID is in: one too many.
        let long = format!("{}{{identity}}", "a".repeat(29));
        for value in [long.as_str(), "{identity}:x", "{other}", "{identity"] {
            let err = postgres(&[("IDBROKER_STS_ROLE_SESSION_NAME", value)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("IDBROKER_STS_ROLE_SESSION_NAME"),
                "{value}: {err}"
            );
        }
        let fits = format!("{}{{identity}}", "a".repeat(28));
        assert!(postgres(&[("IDBROKER_STS_ROLE_SESSION_NAME", fits.as_str())]).is_ok());
    }

    #[test]
    fn huge_durations_are_refused_not_overflowed() {
        for var in [
            "IDBROKER_JWKS_CACHE_SECONDS",
            "IDBROKER_KEY_ROTATION_SECONDS",
            "IDBROKER_BODY_TIMEOUT_SECONDS",
            "IDBROKER_ADMIN_REQUEST_TIMEOUT_SECONDS",
        ] {
            let err = postgres(&[(var, "18446744073709551615")]).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn the_issuer_defaults_to_the_listen_address() {
        let s = postgres(&[("IDBROKER_LISTEN", "0.0.0.0:9000")]).unwrap();
        assert_eq!(s.issuer, "http://0.0.0.0:9000");
    }

    /// A settings file holding `text`, in a directory that lives as long as the guard.
    fn toml_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idbroker.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_toml_file_is_read_and_unknown_keys_are_refused() {
        let (_dir, path) = toml_file("region = \"eu-west-1\"\nlisten = \"127.0.0.1:9999\"\n");
        let raw = RawSettings::load(Some(&path), []).unwrap();
        assert_eq!(raw.region, "eu-west-1");
        std::fs::write(&path, "regoin = \"eu-west-1\"\n").unwrap();
        let err = RawSettings::load(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains("regoin"), "{err}");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let (_dir, path) = toml_file("region = \"eu-west-1\"\nlisten = \"127.0.0.1:9999\"\n");
        let env = [("IDBROKER_REGION".to_owned(), "ap-south-1".to_owned())];
        let raw = RawSettings::load(Some(&path), env).unwrap();
        assert_eq!(raw.region, "ap-south-1");
        assert_eq!(raw.listen.as_deref(), Some("127.0.0.1:9999"));
    }

    #[test]
    fn development_mode_generates_secrets_once_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/idbroker.db?mode=rwc", dir.path().display());
        let raw = || RawSettings {
            database_url: Some(url.clone()),
            ..RawSettings::default()
        };
        let first = Settings::from_raw(raw()).unwrap();
        let second = Settings::from_raw(raw()).unwrap();
        assert_eq!(first.admin.access_key_id, second.admin.access_key_id);
        assert_eq!(
            first.admin.secret_access_key,
            second.admin.secret_access_key
        );
        assert_eq!(first.master_key, second.master_key);
        assert_eq!(
            first.log_format,
            LogFormat::Text,
            "development logs are for people"
        );
        let dev = first.development_mode.unwrap();
        assert_eq!(dev.secrets_file, dir.path().join(DEV_SECRETS_FILE));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dev.secrets_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "secrets file must be private");
        }
    }

    #[test]
    fn a_bad_secret_from_the_secrets_file_names_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/idbroker.db?mode=rwc", dir.path().display());
        let raw = || RawSettings {
            database_url: Some(url.clone()),
            ..RawSettings::default()
        };
        let dev = Settings::from_raw(raw()).unwrap().development_mode.unwrap();
        let text = std::fs::read_to_string(&dev.secrets_file).unwrap();
        let edited: String = text
            .lines()
            .map(|l| {
                if l.starts_with("admin_token") {
                    "admin_token = \"short\"".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&dev.secrets_file, edited).unwrap();
        let err = Settings::from_raw(raw())
            .unwrap_err()
            .located(&Sources::default())
            .to_string();
        let expected = format!(
            "invalid setting IDBROKER_ADMIN_TOKEN (`admin_token` in development mode's secrets file {})",
            dev.secrets_file.display()
        );
        assert!(err.contains(&expected), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn development_files_are_private_even_when_they_existed_with_a_wider_mode() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A secrets file without the master key, world-readable, as an older version left it.
        let secrets = dir.join(DEV_SECRETS_FILE);
        std::fs::write(&secrets, "admin_token = \"an-existing-token-value\"\n").unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = dir.join("idbroker.db");
        std::fs::write(&db, "").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let settings = Settings::from_raw(RawSettings {
            database_url: Some(url),
            ..RawSettings::default()
        })
        .unwrap();
        assert_eq!(settings.admin_token.0, "an-existing-token-value");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secrets), 0o600, "the master key was written into it");
        assert_eq!(mode(&db), 0o600);
        // A folder that existed and is not ours by name is left alone; a new one is private.
        assert_eq!(mode(&dir), 0o755);
        let fresh = parent.path().join("fresh");
        Settings::from_raw(RawSettings {
            database_url: Some(format!("sqlite://{}/idbroker.db?mode=rwc", fresh.display())),
            ..RawSettings::default()
        })
        .unwrap();
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&fresh.join("idbroker.db")), 0o600);
    }

    #[test]
    fn trusted_proxy_hops_replace_the_old_switch_which_still_means_one_hop() {
        assert_eq!(trusted_proxy_hops(None, false).unwrap(), 0);
        assert_eq!(trusted_proxy_hops(None, true).unwrap(), 1);
        assert_eq!(trusted_proxy_hops(Some(2), true).unwrap(), 2);
        assert!(trusted_proxy_hops(Some(11), false).is_err());
        assert!(postgres(&[("IDBROKER_TRUST_FORWARDED_FOR", "yes")]).is_err());
        let s = postgres(&[("IDBROKER_TRUST_FORWARDED_FOR", "true")]).unwrap();
        assert_eq!(s.rate_limits.trusted_proxy_hops, 1);
        let s = postgres(&[("IDBROKER_TRUSTED_PROXY_HOPS", "2")]).unwrap();
        assert_eq!(s.rate_limits.trusted_proxy_hops, 2);
    }

    #[test]
    fn admin_origins_and_request_deadlines_are_parsed() {
        let s = postgres(&[
            (
                "IDBROKER_ADMIN_CORS_ORIGINS",
                "https://admin.example.com, http://localhost:3000",
            ),
            ("IDBROKER_BODY_TIMEOUT_SECONDS", "3"),
            ("IDBROKER_REQUEST_TIMEOUT_SECONDS", "5"),
        ])
        .unwrap();
        assert_eq!(
            s.admin_cors_origins,
            ["https://admin.example.com", "http://localhost:3000"]
        );
        assert_eq!(s.timeouts.body, Duration::from_secs(3));
        assert_eq!(s.timeouts.handler, Duration::from_secs(5));
        for bad in ["*", "https://a.example.com/path", "admin.example.com"] {
            assert!(
                postgres(&[("IDBROKER_ADMIN_CORS_ORIGINS", bad)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = postgres(&[("IDBROKER_ADMIN_TOKEN", "a-long-admin-token-value")]).unwrap();
        assert_eq!(s.admin_token.0, "a-long-admin-token-value");
        let printed = format!("{s:?}");
        assert!(!printed.contains("0123456789abcdef0123"), "{printed}");
        assert!(!printed.contains("a-long-admin-token-value"), "{printed}");
    }
}

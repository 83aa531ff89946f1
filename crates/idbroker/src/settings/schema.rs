//! The settings schema: one typed field per setting, with its doc comment and its default,
//! loaded in layers: the schema's defaults (for keys no layer gives), then the TOML file, then
//! `IDBROKER_*` variables, which figment merges over the file.
//!
//! A setting's TOML key is its field name and its environment variable is `IDBROKER_` and the
//! field name in upper case, so adding a setting is adding a field to `schema!` (and a row in
//! `docs/configuration.md`, which tests hold to the schema, defaults included), then using it
//! in `Settings::from_raw`. Numbers and switches take TOML's native types
//! (`jwks_cache_seconds = 3600`, `allow_http_issuers = true`) as well as strings (`"3600"`, as
//! older files and every environment variable give them). A default that depends on other
//! settings (the issuer, the log format, connections per backend) is `None` here and decided by
//! `Settings::from_raw`, which also checks the bounds.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use idbroker_providers::ProviderEndpoints;
use idbroker_store::StoreOptions;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::{SettingsError, Sources};

/// Every environment variable a setting is read from starts with this.
pub const ENV_PREFIX: &str = "IDBROKER_";

/// Declares the schema: each setting is one field with its doc comment and its default, from
/// which the struct, its `Default` and so the defaults layer are made.
macro_rules! schema {
    ($( $(#[$attr:meta])* $name:ident : $ty:ty = $default:expr ),* $(,)?) => {
        /// The settings as the file and the environment give them, over the defaults; no
        /// bounds are checked yet. `None` means "not given" for a setting whose default
        /// depends on others (or on the mode).
        #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct RawSettings {
            $( $(#[$attr])* pub $name: $ty, )*
        }

        impl Default for RawSettings {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        impl RawSettings {
            /// The TOML keys (and so the environment variables) of every setting, in schema order.
            pub fn keys() -> &'static [&'static str] {
                &[$( stringify!($name) ),*]
            }
        }
    };
}

schema! {
    /// `postgres://…` (production) or `sqlite://…`; none: development mode on SQLite.
    database_url: Option<String> = None,
    /// Address to listen on; none: `127.0.0.1:8080`.
    listen: Option<String> = None,
    /// Public base URL of the broker; none: `http://` + the listen address.
    issuer: Option<String> = None,
    /// Region in pool and identity ids, and the SigV4 signing region.
    region: String = "us-east-1".to_owned(),
    /// 12-digit account id in ARNs.
    account_id: String = "000000000000".to_owned(),
    /// Admin SigV4 key id (generated in development mode).
    admin_access_key_id: Option<String> = None,
    /// Admin SigV4 secret key (generated in development mode).
    admin_secret_access_key: Option<String> = None,
    /// Bearer token of the REST admin API (generated in development mode).
    admin_token: Option<String> = None,
    /// Base64 of the 32-byte key that seals signing keys at rest (generated in development mode).
    master_key: Option<String> = None,
    /// Allow plain-http OpenID Connect issuers beyond loopback.
    #[serde(deserialize_with = "lenient")]
    allow_http_issuers: bool = false,
    /// Where Google's keys are fetched.
    google_jwks_url: String = ProviderEndpoints::default().google_jwks_url,
    /// Where Apple's keys are fetched.
    apple_jwks_url: String = ProviderEndpoints::default().apple_jwks_url,
    /// Keys for Facebook Limited Login tokens.
    facebook_jwks_url: String = ProviderEndpoints::default().facebook_jwks_url,
    /// Graph API base.
    facebook_graph_url: String = ProviderEndpoints::default().facebook_graph_url,
    /// Login with Amazon API base.
    amazon_api_url: String = ProviderEndpoints::default().amazon_api_url,
    /// Base of user pools' keys.
    cognito_idp_url: String = ProviderEndpoints::default().cognito_idp_url,
    /// How long provider keys are kept.
    #[serde(deserialize_with = "lenient")]
    jwks_cache_seconds: u64 = 3600,
    /// At most one refetch per issuer this often for unknown `kid`s.
    #[serde(deserialize_with = "lenient")]
    jwks_refresh_cooldown_seconds: u64 = 30,
    /// Verified provider tokens remembered per replica, 0–1000000 (0: off).
    #[serde(deserialize_with = "lenient")]
    verified_token_cache_entries: u64 = 10_000,
    /// `RS256`, `RS512` or `ES256`; none: `RS256`.
    signing_alg: Option<String> = None,
    /// How long a signing key signs (30 days).
    #[serde(deserialize_with = "lenient")]
    key_rotation_seconds: u64 = 30 * 86_400,
    /// How long a new key is published before it signs (1 day).
    #[serde(deserialize_with = "lenient")]
    key_prepublish_seconds: u64 = 86_400,
    /// How often each replica checks its signing keys (30 s); shorter than the pre-publication.
    #[serde(deserialize_with = "lenient")]
    key_upkeep_seconds: u64 = 30,
    /// STS endpoint override; none: the AWS chain.
    sts_endpoint_url: Option<String> = None,
    /// A PEM file of extra certificate authorities for outbound HTTPS (STS, providers).
    extra_ca_file: Option<String> = None,
    /// `DurationSeconds` of the credentials, 900–43200.
    #[serde(deserialize_with = "lenient")]
    sts_duration_seconds: u64 = 3600,
    /// `RoleSessionName` of the credentials.
    sts_role_session_name: String = "CognitoIdentityCredentials".to_owned(),
    /// Inline IAM policy (JSON) scoping down guests' credentials; none: off.
    guest_session_policy: Option<String> = None,
    /// A configuration-as-code file applied at start-up.
    bootstrap: Option<String> = None,
    /// How long the credential ledger keeps entries, 1–36500 days.
    #[serde(deserialize_with = "lenient")]
    ledger_retention_days: u64 = 90,
    /// Public operations per second per client IP (0: off).
    #[serde(deserialize_with = "lenient")]
    rate_limit_per_ip: u32 = 100,
    /// GetId calls per second per pool (0: off).
    #[serde(deserialize_with = "lenient")]
    rate_limit_per_pool: u32 = 500,
    /// Older switch: true means one trusted proxy hop.
    #[serde(deserialize_with = "lenient")]
    trust_forwarded_for: bool = false,
    /// Proxies in front that append to `X-Forwarded-For`, 0–10; none: the older switch decides.
    #[serde(deserialize_with = "lenient_opt")]
    trusted_proxy_hops: Option<u64> = None,
    /// Time for a request body to arrive.
    #[serde(deserialize_with = "lenient")]
    body_timeout_seconds: u64 = 10,
    /// Time a public operation may take once its body is in.
    #[serde(deserialize_with = "lenient")]
    request_timeout_seconds: u64 = 8,
    /// Comma-separated browser origins allowed on the admin routes (a TOML list works too);
    /// none: browsers may not.
    #[serde(deserialize_with = "comma_separated")]
    admin_cors_origins: Option<String> = None,
    /// Total time of one call to an identity provider, 1–5.
    #[serde(deserialize_with = "lenient")]
    provider_timeout_seconds: u64 = idbroker_providers::DEFAULT_FETCH_TIMEOUT.as_secs(),
    /// How long past their lifetime provider keys serve while the provider is down.
    #[serde(deserialize_with = "lenient")]
    jwks_max_stale_seconds: u64 = 86_400,
    /// Longest backoff after upstream failures.
    #[serde(deserialize_with = "lenient")]
    upstream_backoff_max_seconds: u64 = 30,
    /// Time an admin operation may take.
    #[serde(deserialize_with = "lenient")]
    admin_request_timeout_seconds: u64 = 60,
    /// Connections in each replica's pool, 1–1000; none: by backend.
    #[serde(deserialize_with = "lenient_opt")]
    database_max_connections: Option<u32> = None,
    /// Wait for a pooled connection, 100–10000 ms.
    #[serde(deserialize_with = "lenient")]
    database_acquire_timeout_ms: u64 = millis(StoreOptions::default().acquire_timeout),
    /// PostgreSQL `statement_timeout`, 100–60000 ms.
    #[serde(deserialize_with = "lenient")]
    database_statement_timeout_ms: u64 = millis(StoreOptions::default().statement_timeout),
    /// PostgreSQL `lock_timeout`, 100–60000 ms, at most the statement timeout.
    #[serde(deserialize_with = "lenient")]
    database_lock_timeout_ms: u64 = millis(StoreOptions::default().lock_timeout),
    /// `json` or `text`; none: by mode.
    log_format: Option<String> = None,
    /// Time requests in flight get to finish on shutdown.
    #[serde(deserialize_with = "lenient")]
    shutdown_timeout_seconds: u64 = 30,
    /// Delete guest identities unused for this many days (1–36500, or `off`).
    #[serde(deserialize_with = "lenient")]
    guest_idle_days: OrOff<u64> = OrOff::Off,
    /// The longest a replica keeps a copy of a pool or registered provider that no change
    /// event dropped, 0–3600 (0: off).
    #[serde(deserialize_with = "lenient")]
    pool_cache_seconds: u64 = 300,
    /// The admin console at `/console/`: `on` or `off` (off: none of its routes exist).
    console: String = "on".to_owned(),
    /// A console session unused this long ends, 1–1440 minutes.
    #[serde(deserialize_with = "lenient")]
    console_idle_minutes: u64 = 30,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A number, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrOff<T> {
    Off,
    On(T),
}

impl<T: Serialize> Serialize for OrOff<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Off => s.serialize_str("off"),
            Self::On(value) => value.serialize(s),
        }
    }
}

impl<T: FromStr> FromStr for OrOff<T> {
    type Err = T::Err;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "off" {
            Ok(Self::Off)
        } else {
            text.parse().map(Self::On)
        }
    }
}

/// A type a setting may take natively or as text: what to call it in an error.
trait Lenient: FromStr {
    const EXPECTED: &'static str;
}
impl Lenient for bool {
    const EXPECTED: &'static str = "true or false";
}
impl Lenient for u32 {
    const EXPECTED: &'static str = "a whole number";
}
impl Lenient for u64 {
    const EXPECTED: &'static str = "a whole number";
}
impl Lenient for OrOff<u64> {
    const EXPECTED: &'static str = "a whole number or off";
}

/// `lenient` for a setting without a fixed default.
fn lenient_opt<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<Option<T>, D::Error> {
    lenient(d).map(Some)
}

/// Reads a native value or its text through one parser (`FromStr`), so that `3600` and
/// `"3600"` mean the same and `"yes"` is refused as strictly as before.
fn lenient<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<T, D::Error> {
    struct LenientVisitor<T>(PhantomData<T>);
    impl<T: Lenient> LenientVisitor<T> {
        fn parse<E: de::Error>(text: &str) -> Result<T, E> {
            text.parse()
                .map_err(|_| E::custom(format_args!("'{text}' is not {}", T::EXPECTED)))
        }
    }
    impl<T: Lenient> Visitor<'_> for LenientVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTED)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Self::parse(v)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Self::parse(&v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Self::parse(&v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Self::parse(&v.to_string())
        }
    }
    d.deserialize_any(LenientVisitor(PhantomData))
}

/// A list as the environment gives it (`a, b`) or as TOML would (`["a", "b"]`), kept in the
/// environment's form: one parser checks both.
fn comma_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a comma-separated string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                if item.contains(',') {
                    return Err(de::Error::custom(format_args!(
                        "'{item}' holds a comma: give one item per list entry"
                    )));
                }
                items.push(item);
            }
            Ok(Some(items.join(",")))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(ListVisitor)
}

impl RawSettings {
    /// The environment variable of a TOML key.
    pub fn env_var(key: &str) -> String {
        format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
    }

    /// Reads the TOML file, if any, then the environment over it. `env` is the process
    /// environment outside tests; only the variables of settings are read (others, like
    /// `IDBROKER_ENDPOINT` of the admin commands, are not settings).
    pub fn load(
        config: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        Self::load_with_sources(config, env).map(|(raw, _)| raw)
    }

    /// `load`, also telling which layer gave each setting, so that a value found bad later
    /// can be traced to the variable or the file it came from.
    pub fn load_with_sources(
        config: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Sources), SettingsError> {
        let mut sources = Sources {
            config: config.map(Path::to_path_buf),
            ..Sources::default()
        };
        let mut figment = Figment::new();
        if let Some(path) = config {
            // Read here rather than by `Toml::file`, which takes a missing file for an empty one.
            let text = std::fs::read_to_string(path).map_err(|e| {
                SettingsError::plain(format!("cannot read config file {}: {e}", path.display()))
            })?;
            // The keys the file gives (a broken file is reported by the extraction below).
            if let Ok(table) = Figment::from(Toml::string(&text))
                .extract::<std::collections::BTreeMap<String, figment::value::Value>>()
            {
                sources.from_file = table.into_keys().collect();
            }
            figment = figment.merge(Toml::string(&text));
        }
        let keys = Self::keys();
        // Environment values stay strings (figment's own `Env` would read `000000000000` as a
        // number and a JSON policy as a dictionary); the field types parse them.
        let vars: std::collections::BTreeMap<String, String> = env
            .into_iter()
            .filter_map(|(var, value)| {
                // Exactly the upper-case name, as before: `IDBROKER_region` is not a setting.
                let rest = var.strip_prefix(ENV_PREFIX)?;
                let key = rest.to_ascii_lowercase();
                (keys.contains(&key.as_str()) && rest == key.to_ascii_uppercase())
                    .then_some((key, value))
            })
            .collect();
        sources.from_env = vars.keys().cloned().collect();
        let raw = figment
            .merge(Serialized::defaults(&vars))
            .extract()
            .map_err(|e| from_figment(e, &sources))?;
        Ok((raw, sources))
    }
}

/// Names the setting at fault by its variable and key, and where the bad value came from.
fn from_figment(e: figment::Error, sources: &Sources) -> SettingsError {
    let file = || match &sources.config {
        Some(path) => format!("the config file {}", path.display()),
        None => "no config file".to_owned(),
    };
    // Settings are flat: the first path element names the setting, also for an error inside
    // a list value.
    match (&e.kind, e.path.first()) {
        (figment::error::Kind::UnknownField(field, _), _) => SettingsError::plain(format!(
            "invalid config file {}: unknown setting `{field}` (docs/configuration.md lists them)",
            sources
                .config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )),
        (kind, Some(key)) if RawSettings::keys().contains(&key.as_str()) => {
            super::bad_from(&RawSettings::env_var(key), kind, sources.origin(key))
        }
        (kind, _) => SettingsError::plain(format!("invalid settings in {}: {kind}", file())),
    }
}

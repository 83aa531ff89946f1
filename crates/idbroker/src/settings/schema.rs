//! The settings schema: one typed field per setting, loaded in layers (the TOML file, then
//! `IDBROKER_*` environment variables) by figment.
//!
//! A setting's TOML key is its field name and its environment variable is `IDBROKER_` and the
//! field name in upper case, so adding a setting is adding a field here (and a row in
//! `docs/configuration.md`, which a test holds to this struct). Numbers and switches take TOML's
//! native types (`jwks_cache_seconds = 3600`, `allow_http_issuers = true`) as well as strings
//! (`"3600"`, as older files and every environment variable give them). Defaults and bounds
//! are applied by `Settings::from_raw`, because several depend on other settings.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::SettingsError;

/// Every environment variable a setting is read from starts with this.
pub const ENV_PREFIX: &str = "IDBROKER_";

/// The settings as the file and the environment give them, before defaults and validation.
/// `None` means "not given": the default applies.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    /// `postgres://…` (production) or `sqlite://…`; default: development mode on SQLite.
    pub database_url: Option<String>,
    /// Address to listen on; default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// Public base URL of the broker; default `http://` + the listen address.
    pub issuer: Option<String>,
    /// Region in pool and identity ids, and the SigV4 signing region; default `us-east-1`.
    pub region: Option<String>,
    /// 12-digit account id in ARNs; default `000000000000`.
    pub account_id: Option<String>,
    /// Admin SigV4 key id (generated in development mode).
    pub admin_access_key_id: Option<String>,
    /// Admin SigV4 secret key (generated in development mode).
    pub admin_secret_access_key: Option<String>,
    /// Bearer token of the REST admin API (generated in development mode).
    pub admin_token: Option<String>,
    /// Base64 of the 32-byte key that seals signing keys at rest (generated in development mode).
    pub master_key: Option<String>,
    /// Allow plain-http OpenID Connect issuers beyond loopback; default false.
    #[serde(deserialize_with = "lenient")]
    pub allow_http_issuers: Option<bool>,
    /// Where Google's keys are fetched.
    pub google_jwks_url: Option<String>,
    /// Where Apple's keys are fetched.
    pub apple_jwks_url: Option<String>,
    /// Keys for Facebook Limited Login tokens.
    pub facebook_jwks_url: Option<String>,
    /// Graph API base.
    pub facebook_graph_url: Option<String>,
    /// Login with Amazon API base.
    pub amazon_api_url: Option<String>,
    /// Base of user pools' keys.
    pub cognito_idp_url: Option<String>,
    /// How long provider keys are kept; default 3600.
    #[serde(deserialize_with = "lenient")]
    pub jwks_cache_seconds: Option<u64>,
    /// At most one refetch per issuer this often for unknown `kid`s; default 30.
    #[serde(deserialize_with = "lenient")]
    pub jwks_refresh_cooldown_seconds: Option<u64>,
    /// `RS256`, `RS512` or `ES256`; default `RS256`.
    pub signing_alg: Option<String>,
    /// How long a signing key signs; default 30 days.
    #[serde(deserialize_with = "lenient")]
    pub key_rotation_seconds: Option<u64>,
    /// How long a new key is published before it signs; default 1 day.
    #[serde(deserialize_with = "lenient")]
    pub key_prepublish_seconds: Option<u64>,
    /// STS endpoint override; default: the AWS chain.
    pub sts_endpoint_url: Option<String>,
    /// `DurationSeconds` of the credentials, 900–43200; default 3600.
    #[serde(deserialize_with = "lenient")]
    pub sts_duration_seconds: Option<u64>,
    /// `RoleSessionName`; default `CognitoIdentityCredentials`.
    pub sts_role_session_name: Option<String>,
    /// Inline IAM policy (JSON) scoping down guests' credentials; default none.
    pub guest_session_policy: Option<String>,
    /// A configuration-as-code file applied at start-up.
    pub bootstrap: Option<String>,
    /// How long the credential ledger keeps entries, 1–36500 days; default 90.
    #[serde(deserialize_with = "lenient")]
    pub ledger_retention_days: Option<u64>,
    /// Public operations per second per client IP (0: off); default 100.
    #[serde(deserialize_with = "lenient")]
    pub rate_limit_per_ip: Option<u32>,
    /// GetId calls per second per pool (0: off); default 500.
    #[serde(deserialize_with = "lenient")]
    pub rate_limit_per_pool: Option<u32>,
    /// Older switch: true means one trusted proxy hop.
    #[serde(deserialize_with = "lenient")]
    pub trust_forwarded_for: Option<bool>,
    /// Proxies in front that append to `X-Forwarded-For`, 0–10; default 0.
    #[serde(deserialize_with = "lenient")]
    pub trusted_proxy_hops: Option<u64>,
    /// Time for a request body to arrive; default 10.
    #[serde(deserialize_with = "lenient")]
    pub body_timeout_seconds: Option<u64>,
    /// Time a public operation may take once its body is in; default 8.
    #[serde(deserialize_with = "lenient")]
    pub request_timeout_seconds: Option<u64>,
    /// Comma-separated browser origins allowed on the admin routes (a TOML list works too);
    /// default none.
    #[serde(deserialize_with = "comma_separated")]
    pub admin_cors_origins: Option<String>,
    /// Total time of one call to an identity provider, 1–5; default 3.
    #[serde(deserialize_with = "lenient")]
    pub provider_timeout_seconds: Option<u64>,
    /// How long past their lifetime provider keys serve while the provider is down; default 86400.
    #[serde(deserialize_with = "lenient")]
    pub jwks_max_stale_seconds: Option<u64>,
    /// Longest backoff after upstream failures; default 30.
    #[serde(deserialize_with = "lenient")]
    pub upstream_backoff_max_seconds: Option<u64>,
    /// Time an admin operation may take; default 60.
    #[serde(deserialize_with = "lenient")]
    pub admin_request_timeout_seconds: Option<u64>,
    /// Connections in each replica's pool, 1–1000; default by backend.
    #[serde(deserialize_with = "lenient")]
    pub database_max_connections: Option<u32>,
    /// Wait for a pooled connection, 100–10000 ms; default 2000.
    #[serde(deserialize_with = "lenient")]
    pub database_acquire_timeout_ms: Option<u64>,
    /// PostgreSQL `statement_timeout`, 100–60000 ms; default 4000.
    #[serde(deserialize_with = "lenient")]
    pub database_statement_timeout_ms: Option<u64>,
    /// PostgreSQL `lock_timeout`, 100–60000 ms, at most the statement timeout; default 2000.
    #[serde(deserialize_with = "lenient")]
    pub database_lock_timeout_ms: Option<u64>,
    /// `json` or `text`; default by mode.
    pub log_format: Option<String>,
    /// Time requests in flight get to finish on shutdown; default 30.
    #[serde(deserialize_with = "lenient")]
    pub shutdown_timeout_seconds: Option<u64>,
    /// Delete guest identities unused for this many days (1–36500, or `off`); default off.
    #[serde(deserialize_with = "lenient")]
    pub guest_idle_days: Option<OrOff<u64>>,
    /// How stale a replica's copy of a pool may be, 0–3600; default 5.
    #[serde(deserialize_with = "lenient")]
    pub pool_cache_seconds: Option<u64>,
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

/// Reads a native value or its text through one parser (`FromStr`), so that `3600` and
/// `"3600"` mean the same and `"yes"` is refused as strictly as before.
fn lenient<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<Option<T>, D::Error> {
    struct LenientVisitor<T>(PhantomData<T>);
    impl<T: Lenient> LenientVisitor<T> {
        fn parse<E: de::Error>(text: &str) -> Result<Option<T>, E> {
            text.parse()
                .map(Some)
                .map_err(|_| E::custom(format_args!("'{text}' is not {}", T::EXPECTED)))
        }
    }
    impl<T: Lenient> Visitor<'_> for LenientVisitor<T> {
        type Value = Option<T>;
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
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Self::parse(&v.to_string())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
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
    /// The TOML keys (and so the environment variables) of every setting, in schema order.
    pub fn keys() -> &'static [&'static str] {
        /// Stops at `deserialize_struct` to read the field names serde knows.
        struct FieldNames;
        #[derive(Debug)]
        struct Found(&'static [&'static str]);
        impl fmt::Display for Found {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("field names")
            }
        }
        impl std::error::Error for Found {}
        impl de::Error for Found {
            fn custom<M: fmt::Display>(_: M) -> Self {
                Found(&[])
            }
        }
        impl<'de> Deserializer<'de> for FieldNames {
            type Error = Found;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
                Err(Found(&[]))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Found> {
                Err(Found(fields))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                enum identifier ignored_any
            }
        }
        match RawSettings::deserialize(FieldNames) {
            Err(Found(fields)) => fields,
            Ok(_) => &[],
        }
    }

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
        let mut figment = Figment::new();
        if let Some(path) = config {
            // Read here rather than by `Toml::file`, which takes a missing file for an empty one.
            let text = std::fs::read_to_string(path).map_err(|e| {
                SettingsError(format!("cannot read config file {}: {e}", path.display()))
            })?;
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
        let from_env = |key: &str| vars.contains_key(key);
        figment
            .merge(Serialized::defaults(&vars))
            .extract()
            .map_err(|e| from_figment(e, config, from_env))
    }
}

/// Names the setting at fault by its variable and key, and where the bad value came from.
fn from_figment(
    e: figment::Error,
    config: Option<&Path>,
    from_env: impl Fn(&str) -> bool,
) -> SettingsError {
    let file = || match config {
        Some(path) => format!("the config file {}", path.display()),
        None => "no config file".to_owned(),
    };
    match (&e.kind, e.path.last()) {
        (figment::error::Kind::UnknownField(field, _), _) => SettingsError(format!(
            "invalid config file {}: unknown setting `{field}` (docs/configuration.md lists them)",
            config.map(|p| p.display().to_string()).unwrap_or_default()
        )),
        (kind, Some(key)) if RawSettings::keys().contains(&key.as_str()) => {
            // The environment is the top layer: a variable that is set is where the value came from.
            let source = if from_env(key) {
                RawSettings::env_var(key)
            } else {
                file()
            };
            super::bad(
                &RawSettings::env_var(key),
                format!("{kind} (from {source})"),
            )
        }
        (kind, _) => SettingsError(format!("invalid settings in {}: {kind}", file())),
    }
}

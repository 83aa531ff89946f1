//! idbroker's use cases. `Broker` has one method per operation and is the only place that
//! orchestrates: both HTTP faces call these methods and nothing else, so every rule is
//! enforced once. Inputs arrive as raw strings and shapes; parsing them into domain types,
//! validating and mapping storage failures to Cognito's error kinds all happen here.

mod audit;
mod cache;
mod coherence;
mod container;
mod credential_reuse;
mod credentials;
mod developer;
mod error;
mod exchange;
mod explain;
mod identities;
mod logins;
mod oidc_providers;
mod oneshot;
mod pools;
mod revocation;
mod saml;
#[cfg(feature = "test-support")]
pub mod testing;
mod tokens;
pub mod transfer;
mod trust_policy;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use coherence::{Caches, Follower};
use idbroker_domain::{AccountId, IdentityId, IdentityPoolId, PageToken, Region};
use idbroker_issuer::Issuer;
use idbroker_providers::Verifier;
use idbroker_store::{Store, StoredPool};
use idbroker_sts::CredentialsIssuer;

pub use audit::with_actor;
pub use credentials::StsSettings;
pub use error::{Cause, ServiceError, ServiceResult};
pub use exchange::{ExchangeError, Exchanged};
pub use idbroker_issuer::{KeyInfo, KeyState};
pub use idbroker_providers::KeyCacheState;
pub use idbroker_saml::CertificateInfo;
pub use idbroker_store::{AdminChange, AuditFilter, Readiness, Revocation, RevocationScope};
pub use idbroker_store::{Issuance, IssuanceFilter, IssuanceWindow};
pub use idbroker_sts::AwsCredentials;
pub use identities::{DeletionFailure, UnprocessedIdentity};
pub use logins::{COGNITO_IDENTITY_KEY, ResolvedIdentity};
pub use oidc_providers::RegisteredProvider;
pub use revocation::{IDENTITY_PLACEHOLDER, deny_policy, parse_instant};
pub use saml::{
    MAX_ASSERTION_USES, MAX_METADATA_CHARS as MAX_SAML_METADATA_BYTES, RegisteredSamlProvider,
    SamlReading, SamlReadingChange,
};
pub use tokens::OPEN_ID_TOKEN_LIFETIME;

/// Longest caller-supplied value put in a span or log field, in characters.
const LOGGABLE_CHARS: usize = 64;

/// A caller-supplied value (an id before it is parsed) as a span or log field: as it is when
/// short and printable, else a bounded excerpt with control characters escaped, so a client
/// can neither forge log lines nor make them a megabyte long.
pub(crate) fn loggable(raw: &str) -> String {
    let printable = |c: char| !c.is_control();
    if raw.chars().count() <= LOGGABLE_CHARS && raw.chars().all(printable) {
        return raw.to_owned();
    }
    let mut out: String = raw
        .chars()
        .take(LOGGABLE_CHARS)
        .flat_map(char::escape_default)
        .collect();
    if raw.chars().count() > LOGGABLE_CHARS {
        out.push_str(&format!("…({} bytes)", raw.len()));
    }
    out
}

/// Where the broker gets the time, so tests can pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Time since a fixed origin on a clock that never steps back, for rates (the rate
    /// limiter's buckets): the wall clock can be set backwards, which would hold every bucket
    /// empty until it caught up. A test clock that moves `now` by hand moves this with it.
    fn monotonic(&self) -> std::time::Duration {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        ORIGIN.get_or_init(std::time::Instant::now).elapsed()
    }
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What the broker needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    pub region: Region,
    pub account_id: AccountId,
    /// Allow registering OpenID Connect issuers on plain http beyond loopback.
    pub allow_http_issuers: bool,
    pub sts: StsSettings,
    /// How long credential-ledger entries are kept.
    pub ledger_retention: chrono::Duration,
    /// Guest identities unused for longer are deleted by `delete_idle_guests`; `None`: never.
    pub guest_idle: Option<chrono::Duration>,
    /// How long the public operations may use a copy of a pool's configuration or of a
    /// registered provider (see `cache`) that no change event has dropped; zero: always read
    /// the store.
    pub pool_cache_ttl: std::time::Duration,
}

/// One page of a list operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only proves there is more.
    fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> &str) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_token = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| PageToken::after(key(last)).encode())
        } else {
            None
        };
        Self {
            items: rows,
            next_token,
        }
    }
}

pub struct Broker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    verifier: Arc<Verifier>,
    issuer: Arc<Issuer>,
    sts: Arc<dyn CredentialsIssuer>,
    settings: BrokerSettings,
    caches: Arc<Caches>,
    /// Drops cached copies as change events arrive; stops with the broker.
    _follower: Option<Follower>,
}

impl Broker {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        verifier: Arc<Verifier>,
        issuer: Arc<Issuer>,
        sts: Arc<dyn CredentialsIssuer>,
        settings: BrokerSettings,
    ) -> Self {
        let caches = Arc::new(Caches::new(settings.pool_cache_ttl));
        let follower = coherence::follow(
            store.subscribe(),
            Arc::downgrade(&caches),
            Arc::downgrade(&issuer),
            clock.clone(),
        );
        // Without a runtime to follow change events in, nothing may be cached.
        let caches = if follower.is_some() {
            caches
        } else {
            Arc::new(Caches::new(std::time::Duration::ZERO))
        };
        Self {
            store,
            clock,
            verifier,
            issuer,
            sts,
            settings,
            caches,
            _follower: follower,
        }
    }

    /// Whether this replica's caches are in use: every change committed anywhere reaches
    /// them (on PostgreSQL, the change listener is listening).
    pub fn caches_coherent(&self) -> bool {
        self.store.coherence().is_some()
    }

    pub fn issuer(&self) -> &Arc<Issuer> {
        &self.issuer
    }

    /// The broker's clock (the test clock in tests), for pages that say "expired".
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn settings(&self) -> &BrokerSettings {
        &self.settings
    }

    /// Database connections (open, idle), for metrics.
    pub fn store_connections(&self) -> (u32, u32) {
        self.store.connections()
    }

    /// Readiness: whether the database answers (on the store's own health connection, within
    /// its deadline) and whether the request pool is saturated.
    pub async fn readiness(&self) -> Readiness {
        self.store.readiness().await
    }

    /// Forgets at once what this replica keeps about an identity it just changed: the logins
    /// it owned, the credentials it could be handed again. (Other replicas forget them when
    /// the store's event reaches them.)
    pub(crate) fn forget_identity(&self, id: &IdentityId) {
        self.caches.forget_identity(id);
    }

    /// As `forget_identity`, for a whole pool (its copy too).
    pub(crate) fn forget_pool(&self, id: &IdentityPoolId) {
        self.caches.forget_pool(id);
    }

    /// As `load_pool`, for the public operations: the cached copy will do (see `cache`).
    async fn load_pool_for_use(&self, pool_id: &str) -> ServiceResult<StoredPool> {
        let id = IdentityPoolId::parse("identityPoolId", pool_id)?;
        let session = self.store.coherence();
        if let Some(pool) = self.caches.pools.get(&id, session) {
            return Ok(pool);
        }
        let ticket = self.caches.pools.ticket(session);
        let pool = self.load_pool(pool_id).await?;
        self.caches
            .pools
            .put(ticket, id, pool.clone(), self.store.coherence());
        Ok(pool)
    }

    /// Parses a client-supplied pool id and loads the pool, or ResourceNotFound.
    async fn load_pool(&self, pool_id: &str) -> ServiceResult<StoredPool> {
        let id = IdentityPoolId::parse("identityPoolId", pool_id)?;
        self.store
            .get_pool(&id)
            .await?
            .ok_or_else(|| ServiceError::pool_not_found(&id))
    }
}

#[cfg(test)]
mod loggable_tests {
    use super::loggable;

    #[test]
    fn ids_pass_and_hostile_values_are_bounded_and_escaped() {
        assert_eq!(loggable("us-east-1:abc"), "us-east-1:abc");
        let forged = loggable("x\n2026-01-01T00:00:00Z  INFO forged");
        assert!(!forged.contains('\n'), "{forged}");
        let huge = loggable(&"a".repeat(1_000_000));
        assert!(huge.len() < 100, "{huge}");
    }
}

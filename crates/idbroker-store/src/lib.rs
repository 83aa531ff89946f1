//! Storage for idbroker: small traits sized to the use cases, and one SQL implementation that
//! runs on PostgreSQL (production) and on an embedded SQLite file (the zero-setup default).
//!
//! Every method is atomic on its own, so no transaction type leaks out. Concurrency rules live
//! in the database: foreign keys make an identity in a deleted pool impossible, and pool
//! updates use optimistic versions so two admins never overwrite each other silently.

mod breaker;
mod changes;
mod error;
mod options;
mod sql;
#[cfg(feature = "test-support")]
pub mod testing;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::linking::{LinkError, LinkRules};
use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::saml_provider::SamlProvider;
use idbroker_domain::signing::{KeyPolicy, KeyTimes, RotationPlan};
use idbroker_domain::{
    Identity, IdentityId, IdentityPool, IdentityPoolId, PoolConfig, PoolExtensions, PoolRoles,
    PoolSummary, PrincipalTagMap, Tags,
};

pub use changes::{CHANNEL, Change, ChangeFeed, Signal};
pub(crate) use error::reference_error;
pub use error::{StoreError, StoreResult, Unavailability};
pub use options::StoreOptions;
pub use sql::{Backend, LISTENER_APPLICATION_NAME, SqlStore};

/// A pool as stored, with what only admins see and the version used for optimistic updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPool {
    pub pool: IdentityPool,
    pub roles: PoolRoles,
    pub version: i64,
}

#[async_trait]
pub trait PoolStore: Send + Sync {
    /// Inserts a new pool with its tags. `UnknownReference` if it names an OpenID Connect
    /// provider that is not registered.
    async fn create_pool(&self, pool: &IdentityPool, now: DateTime<Utc>) -> StoreResult<()>;

    async fn get_pool(&self, id: &IdentityPoolId) -> StoreResult<Option<StoredPool>>;

    /// Pools ordered by id, starting after `after`.
    async fn list_pools(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<PoolSummary>>;

    /// Replaces the configuration (and the tags and idbroker's extensions, when given) if the
    /// pool is still at `expected_version`; otherwise `ConcurrentModification` (or `NotFound`).
    async fn update_pool(
        &self,
        id: &IdentityPoolId,
        expected_version: i64,
        config: &PoolConfig,
        tags: Option<&Tags>,
        extensions: Option<&PoolExtensions>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Up to `limit` pools (by id) that list `audience` among their extra token-exchange
    /// audiences.
    async fn pools_accepting_audience(
        &self,
        audience: &str,
        limit: u32,
    ) -> StoreResult<Vec<IdentityPoolId>>;

    /// Deletes the pool and everything in it (identities, tags, maps).
    async fn delete_pool(&self, id: &IdentityPoolId) -> StoreResult<()>;

    /// Replaces roles and role mappings if the pool is still at `expected_version`.
    async fn set_roles(
        &self,
        id: &IdentityPoolId,
        expected_version: i64,
        roles: &PoolRoles,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Adds or overwrites tags; refuses with `LimitExceeded` if the pool would hold more than `max`.
    async fn add_tags(&self, id: &IdentityPoolId, tags: &Tags, max: usize) -> StoreResult<()>;

    async fn remove_tags(&self, id: &IdentityPoolId, keys: &[String]) -> StoreResult<()>;

    async fn put_principal_tag_map(
        &self,
        id: &IdentityPoolId,
        provider: &str,
        map: &PrincipalTagMap,
    ) -> StoreResult<()>;

    async fn get_principal_tag_map(
        &self,
        id: &IdentityPoolId,
        provider: &str,
    ) -> StoreResult<Option<PrincipalTagMap>>;
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Inserts a new identity; `NotFound` if its pool no longer exists.
    async fn create_identity(&self, identity: &Identity) -> StoreResult<()>;

    async fn get_identity(&self, id: &IdentityId) -> StoreResult<Option<Identity>>;

    /// A pool's identities ordered by id, starting after `after`.
    async fn list_identities(
        &self,
        pool: &IdentityPoolId,
        after: Option<&str>,
        limit: u32,
        hide_disabled: bool,
    ) -> StoreResult<Vec<Identity>>;

    /// Deletes one identity; `NotFound` if there was none.
    async fn delete_identity(&self, id: &IdentityId) -> StoreResult<()>;

    /// Records that an identity was used at `now`, unless that was already recorded after
    /// `recorded_after` (so a busy identity costs a write per period, not per call).
    async fn mark_used(
        &self,
        id: &IdentityId,
        now: DateTime<Utc>,
        recorded_after: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Deletes up to `limit` guest identities (no logins, not disabled) last used, or created,
    /// before `idle_since`; returns how many went.
    async fn delete_idle_guests(&self, idle_since: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
}

/// The outcome of presenting logins (see `idbroker_domain::linking`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub identity: Identity,
    /// A new identity was created for these logins.
    pub created: bool,
    /// Identities merged into `identity` (disabled, their logins moved): caches of login
    /// owners must forget them.
    pub merged: Vec<IdentityId>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait LoginStore: Send + Sync {
    /// Applies verified logins to a pool's identities in one transaction: finds the identities
    /// that own them, asks the domain's linking plan what to do, then creates, links or merges.
    /// Concurrent calls for the same new login yield one identity (the primary key on
    /// (pool, provider, subject) decides; the loser retries and finds the winner's identity).
    /// `new_id` is used if an identity is created. `NotFound` if the pool or the target is gone.
    async fn resolve_logins(
        &self,
        pool: &IdentityPoolId,
        presented: &[LoginRef],
        target: Option<&IdentityId>,
        rules: &LinkRules,
        new_id: &IdentityId,
        now: DateTime<Utc>,
    ) -> Result<Resolved, ResolveError>;

    /// The identity that owns `login` in `pool`, if any.
    async fn login_owner(
        &self,
        pool: &IdentityPoolId,
        login: &LoginRef,
    ) -> StoreResult<Option<IdentityId>>;

    /// Removes one login from an identity; `NotFound` if it is not linked there. An identity
    /// left without logins is disabled.
    async fn remove_login(
        &self,
        identity: &IdentityId,
        login: &LoginRef,
        now: DateTime<Utc>,
    ) -> StoreResult<Identity>;

    /// Removes the identity's logins for these provider keys; an identity left without logins
    /// is disabled (Cognito: "inaccessible"). Returns the identity afterwards.
    async fn unlink_logins(
        &self,
        identity: &IdentityId,
        providers: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<Identity>;
}

#[async_trait]
pub trait OidcProviderStore: Send + Sync {
    /// `Conflict` if a provider with this key (issuer) exists.
    async fn create_oidc_provider(
        &self,
        provider: &OidcProvider,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn get_oidc_provider(&self, key: &str) -> StoreResult<Option<OidcProvider>>;
    async fn list_oidc_providers(&self) -> StoreResult<Vec<OidcProvider>>;
    async fn update_oidc_client_ids(
        &self,
        key: &str,
        client_ids: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// `Conflict` while a pool uses the provider.
    async fn delete_oidc_provider(&self, key: &str) -> StoreResult<()>;
}

/// A pool with everything configured on it: what export writes and import restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSnapshot {
    pub pool: IdentityPool,
    pub roles: PoolRoles,
    /// Provider name → its principal-tag map.
    pub principal_tag_maps: BTreeMap<String, PrincipalTagMap>,
}

/// What importing one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    /// The record existed with other contents and was replaced by the imported one.
    Updated,
    /// The record existed exactly as imported: nothing was written.
    Unchanged,
}

/// What importing one pool came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolImport {
    Applied(Applied),
    /// The pool here has this developer provider name and the snapshot changes or drops it:
    /// it is set once (as UpdateIdentityPool keeps it), so nothing was written.
    DeveloperProviderSet(String),
}

/// Builds the audit row of an import from the record as it was before (`None`: it did not
/// exist); the store writes the row in the import's own transaction, so a change is never
/// committed without it.
pub type ImportAudit<'a, T> = &'a (dyn Fn(Option<&T>) -> AdminChange + Send + Sync);

/// What importing one identity found; only `Created` wrote anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityImport {
    Created,
    /// An identity with this id exists (as it is now); the caller judges whether it matches.
    Exists(Identity),
    /// One of the logins belongs to another identity of the pool.
    LoginTaken {
        login: LoginRef,
        owner: IdentityId,
    },
}

/// Moving data in and out (`idbroker export`, `import`, `pools copy`): whole records, each
/// imported in one transaction, so an import can stop anywhere and be run again.
#[async_trait]
pub trait TransferStore: Send + Sync {
    /// Every principal-tag map of a pool, by provider name.
    async fn principal_tag_maps(
        &self,
        pool: &IdentityPoolId,
    ) -> StoreResult<BTreeMap<String, PrincipalTagMap>>;

    /// Registers the provider, or replaces the client ids of the one with its key, with the
    /// audit row `audit` makes from the client ids it had. `Conflict` if that key is
    /// registered with another issuer URL (http vs https).
    async fn import_oidc_provider(
        &self,
        provider: &OidcProvider,
        now: DateTime<Utc>,
        audit: ImportAudit<'_, Vec<String>>,
    ) -> StoreResult<Applied>;

    /// Registers the SAML provider, or replaces the entity id, metadata and `legacy_sha1` of
    /// the one with its name, with the audit row `audit` makes from the provider as it was.
    /// Nothing is written when it already matches.
    async fn import_saml_provider(
        &self,
        provider: &SamlProvider,
        now: DateTime<Utc>,
        audit: ImportAudit<'_, SamlProvider>,
    ) -> StoreResult<Applied>;

    /// Creates the pool with its id, or replaces its configuration, roles, tags and
    /// principal-tag maps with the snapshot's (a version step, as any update), with the
    /// audit row `audit` makes from the pool as it was. Nothing is written when it already
    /// matches, or when it would change or drop the pool's developer provider name.
    /// `UnknownReference` for an unregistered OIDC or SAML provider.
    async fn import_pool(
        &self,
        snapshot: &PoolSnapshot,
        now: DateTime<Utc>,
        audit: ImportAudit<'_, PoolSnapshot>,
    ) -> StoreResult<PoolImport>;

    /// Creates the identity with its id, timestamps and logins unless the id or a login is
    /// taken; `NotFound` if its pool does not exist.
    async fn import_identity(&self, identity: &Identity) -> StoreResult<IdentityImport>;
}

/// One of idbroker's signing keys as stored (the private part sealed).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub times: KeyTimes,
    pub alg: String,
    pub public_jwk: String,
    pub sealed_private: String,
    pub kek_id: String,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("times", &self.times)
            .field("alg", &self.alg)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// Material for a new key, made before the store decides whether it is needed.
#[derive(Clone)]
pub struct NewKey {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub sealed_private: String,
    pub kek_id: String,
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key that may still be published at `now`.
    async fn signing_keys(&self, now: DateTime<Utc>) -> StoreResult<Vec<StoredKey>>;

    /// Under a lock shared by all replicas: plans a rotation (`signing::plan_rotation`) and, if
    /// one is due, installs `candidate` as the new key. Returns the plan that was applied.
    async fn rotate_signing_keys(
        &self,
        now: DateTime<Utc>,
        policy: &KeyPolicy,
        force: bool,
        candidate: &NewKey,
    ) -> StoreResult<RotationPlan>;
}

/// One entry of the credential ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    pub id: String,
    pub issued_at: DateTime<Utc>,
    pub identity_id: String,
    pub pool_id: String,
    pub role_arn: String,
    pub access_key_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Which ledger entries to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuanceFilter {
    AccessKeyId(String),
    IdentityId(String),
    PoolId(String),
}

/// When the ledger entries to read were issued and until when they hold; the default reads
/// them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IssuanceWindow {
    /// Only entries issued at or after this instant.
    pub issued_since: Option<DateTime<Utc>>,
    /// Only entries that expire after this instant (credentials still valid then).
    pub live_at: Option<DateTime<Utc>>,
}

/// One admin change: who did what to which resource, and the resource before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminChange {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Which admin changes to read; the default reads them all. The text filters are exact
/// matches (an index lookup each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub resource: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only changes at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only changes before this instant.
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// One resource's changes.
    pub fn resource(resource: &str) -> Self {
        Self {
            resource: Some(resource.to_owned()),
            ..Self::default()
        }
    }
}

#[async_trait]
pub trait LedgerStore: Send + Sync {
    async fn record_admin_change(&self, change: &AdminChange) -> StoreResult<()>;

    /// Newest first, `limit` changes that match `filter`, starting after the change with id
    /// `after`. Each filter has an index to answer it (`admin_audit_by_resource`, `_by_actor`,
    /// `_by_action`: the value, then the time; `_by_time`), so a page costs the same however
    /// large the audit.
    async fn find_admin_changes(
        &self,
        filter: &AuditFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AdminChange>>;

    async fn record_issuance(&self, issuance: &Issuance) -> StoreResult<()>;

    /// Newest first, `limit` entries within `window`, starting after the entry with id `after`.
    async fn find_issuances(
        &self,
        filter: &IssuanceFilter,
        window: &IssuanceWindow,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Issuance>>;

    /// Removes issuances and admin changes older than `before`; returns how many.
    async fn prune_issuances(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// What a revocation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationScope {
    Identity,
    Pool,
}

impl RevocationScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Pool => "pool",
        }
    }
}

/// An admin's revocation of one identity or of every identity of a pool: the public
/// operations that issue tokens or credentials refuse it until the record is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub scope: RevocationScope,
    /// The identity id or the pool id.
    pub target: String,
    /// Sessions issued before this instant are to be denied (the IAM statement's instant).
    pub revoked_before: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub actor: String,
}

#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records the revocation, replacing one of the same scope and target; returns the one it
    /// replaced.
    async fn put_revocation(&self, revocation: &Revocation) -> StoreResult<Option<Revocation>>;

    /// Deletes the revocation of this scope and target; returns it, or `None` if there was none.
    async fn delete_revocation(
        &self,
        scope: RevocationScope,
        target: &str,
    ) -> StoreResult<Option<Revocation>>;

    /// The revocation that covers this identity of this pool (its own, else its pool's), in
    /// one lookup by primary key. Never cached: every replica sees a revocation at once.
    async fn revocation_of(
        &self,
        identity: &IdentityId,
        pool: &IdentityPoolId,
    ) -> StoreResult<Option<Revocation>>;
}

/// What readiness needs to know about the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// The database answered a trivial query on the store's own health connection (outside
    /// the request pool, so a saturated pool or a table lock does not make it say no).
    pub database_answers: bool,
    /// Every connection of the request pool is in use and no more may be opened.
    pub pool_saturated: bool,
}

#[async_trait]
pub trait Health: Send + Sync {
    /// Checks the database within the store's health deadline (under 1 s).
    async fn readiness(&self) -> Readiness;

    /// Connections of the pool: (open, idle).
    fn connections(&self) -> (u32, u32);
}

/// Registered SAML providers and the replay cache of their assertions.
#[async_trait]
pub trait SamlProviderStore: Send + Sync {
    /// `Conflict` when the name is taken.
    async fn create_saml_provider(
        &self,
        provider: &SamlProvider,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn get_saml_provider(&self, name: &str) -> StoreResult<Option<SamlProvider>>;
    async fn list_saml_providers(&self) -> StoreResult<Vec<SamlProvider>>;
    /// Replaces the metadata (certificate rotation); `NotFound` when absent.
    async fn update_saml_provider(
        &self,
        provider: &SamlProvider,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The pools that name the provider, as (id, name), by id; at most `limit`.
    async fn pools_using_saml_provider(
        &self,
        name: &str,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>>;
    /// `NotFound` when absent, `Conflict` while a pool uses it.
    async fn delete_saml_provider(&self, name: &str) -> StoreResult<()>;
    /// Whether any identity, in any pool, has a login under the provider's ARN.
    async fn saml_provider_has_logins(&self, arn: &str) -> StoreResult<bool>;
    /// How an unexpired assertion has been used: its pool and its count of uses (None: never,
    /// or its row has expired). Read only, for explain; `use_saml_assertion` decides.
    async fn saml_assertion_uses(
        &self,
        provider: &str,
        assertion_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(IdentityPoolId, i64)>>;
    /// Records one use of an assertion in one transaction: the first use inserts its row
    /// (the primary key decides between replicas), a later one counts against `max_uses` and
    /// must come for the same pool. `false`: refused (a replay). A row already expired
    /// (`expires_at` ≤ `now`) is replaced, as its assertion can no longer be verified anyway.
    async fn use_saml_assertion(
        &self,
        provider: &str,
        assertion_id: &str,
        pool: &IdentityPoolId,
        expires_at: DateTime<Utc>,
        max_uses: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes the replay-cache rows of assertions expired before `now`.
    async fn prune_saml_assertions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// Everything the service needs from storage.
pub trait Store:
    PoolStore
    + IdentityStore
    + LoginStore
    + OidcProviderStore
    + SamlProviderStore
    + SigningKeyStore
    + LedgerStore
    + TransferStore
    + RevocationStore
    + Health
    + ChangeFeed
{
}

impl<
    T: PoolStore
        + IdentityStore
        + LoginStore
        + OidcProviderStore
        + SamlProviderStore
        + SigningKeyStore
        + LedgerStore
        + TransferStore
        + RevocationStore
        + Health
        + ChangeFeed,
> Store for T
{
}

//! Moving pools, identities, OpenID Connect and SAML providers in and out of a database
//! (`idbroker export`, `import`, `pools copy`). The rules are the ones the admin operations
//! enforce (every pool, role, tag and map is validated as if it were created here); what is
//! particular to a move is that ids are kept, and what an import does when a record exists:
//!
//! - an OpenID Connect or SAML provider or a pool that exists is replaced by the imported one
//!   (the file wins, as with a bootstrap file), and left alone when it already matches;
//! - an identity that exists is left alone when it is in the same pool with the same logins
//!   (timestamps are not compared), and is a conflict otherwise; so is a login that belongs
//!   to another identity. Conflicts change nothing and are reported, not repaired.
//!
//! It needs only the store (no signing keys, providers or STS), so it runs offline like
//! `idbroker migrate`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::saml_provider::{SamlProvider, arn_for_name};
use idbroker_domain::tags::validate_tags;
use idbroker_domain::validation::{check_count, check_len};
use idbroker_domain::{
    AccountId, Identity, IdentityId, IdentityPoolId, PoolConfig, ValidationError,
};
use idbroker_store::{AdminChange, IdentityImport, PoolImport, Store, StoreError};
use serde_json::json;

use crate::audit::{current_actor, pool_json};
use crate::{Clock, ServiceError, ServiceResult};

pub use idbroker_store::{Applied, PoolSnapshot};

/// Most logins (and developer user ids) one identity may carry in a file: Cognito links at
/// most 10 logins to an identity; the margin leaves room for merged developer users.
pub const MAX_LOGINS_PER_IDENTITY: usize = 100;

/// An identity as it moves: its logins without the pool's developer provider, whose user ids
/// are listed on their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    pub id: IdentityId,
    pub pool_id: IdentityPoolId,
    pub created_at: DateTime<Utc>,
    pub last_modified_at: DateTime<Utc>,
    /// Merged away (spec §6.4): listed, no longer usable.
    pub disabled: bool,
    /// Sorted by provider, then subject.
    pub logins: Vec<LoginRef>,
    /// Sorted.
    pub developer_user_ids: Vec<String>,
}

impl IdentityRecord {
    /// The model's constraints on one record, without looking at its pool.
    pub fn validate(&self) -> ServiceResult<()> {
        check_count("logins", self.logins.len(), MAX_LOGINS_PER_IDENTITY)?;
        check_count(
            "developer_user_ids",
            self.developer_user_ids.len(),
            MAX_LOGINS_PER_IDENTITY,
        )?;
        let mut seen = BTreeSet::new();
        for login in &self.logins {
            check_len("logins.provider", &login.provider, 1, 2048)?;
            check_len("logins.subject", &login.subject, 1, 2048)?;
            if !seen.insert(login) {
                return Err(ValidationError::message(format!(
                    "login {} / {} is listed twice",
                    login.provider, login.subject
                ))
                .into());
            }
        }
        let mut users = BTreeSet::new();
        for user in &self.developer_user_ids {
            check_len("developer_user_ids.member", user, 1, 1024)?;
            if !users.insert(user) {
                return Err(ValidationError::message(format!(
                    "developer user id {user} is listed twice"
                ))
                .into());
            }
        }
        if self.last_modified_at < self.created_at {
            return Err(
                ValidationError::message("last_modified_at is earlier than created_at").into(),
            );
        }
        Ok(())
    }
}

/// What importing one record came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Applied(Applied),
    /// It clashes with what the database holds; nothing was written. The text says how.
    Conflict(String),
}

pub struct Transfer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    account_id: AccountId,
    allow_http_issuers: bool,
    /// Pool id → its developer provider name, so identities (grouped by pool in a file) do not
    /// read their pool once each. Bounded by the number of pools.
    developer_providers: Mutex<HashMap<IdentityPoolId, Option<String>>>,
}

impl Transfer {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        account_id: AccountId,
        allow_http_issuers: bool,
    ) -> Self {
        Self {
            store,
            clock,
            account_id,
            allow_http_issuers,
            developer_providers: Mutex::new(HashMap::new()),
        }
    }

    /// Every registered OpenID Connect provider, by key.
    pub async fn oidc_providers(&self) -> ServiceResult<Vec<OidcProvider>> {
        let mut providers = self.store.list_oidc_providers().await?;
        providers.sort_by(|a, b| a.key().cmp(b.key()));
        Ok(providers)
    }

    /// Every registered SAML provider, by name.
    pub async fn saml_providers(&self) -> ServiceResult<Vec<SamlProvider>> {
        let mut providers = self.store.list_saml_providers().await?;
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(providers)
    }

    /// Up to `limit` pool ids after `after`, in id order.
    pub async fn pool_ids(
        &self,
        after: Option<&IdentityPoolId>,
        limit: u32,
    ) -> ServiceResult<Vec<IdentityPoolId>> {
        Ok(self
            .store
            .list_pools(after.map(IdentityPoolId::as_str), limit)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect())
    }

    /// One pool with everything configured on it. Role mappings and principal-tag maps of
    /// providers the pool no longer names are left out: they can never apply, and an import
    /// would refuse them.
    pub async fn pool(&self, pool_id: &str) -> ServiceResult<PoolSnapshot> {
        let id = IdentityPoolId::parse("identityPoolId", pool_id)?;
        let stored = self
            .store
            .get_pool(&id)
            .await?
            .ok_or_else(|| ServiceError::pool_not_found(&id))?;
        let providers = stored.pool.config.provider_names();
        let mut roles = stored.roles;
        roles.role_mappings.retain(|p, _| providers.contains(p));
        let mut maps = self.store.principal_tag_maps(&id).await?;
        maps.retain(|p, _| providers.contains(p));
        Ok(PoolSnapshot {
            pool: stored.pool,
            roles,
            principal_tag_maps: maps,
        })
    }

    /// Up to `limit` identities of `pool` after the id `after`, in id order, merged-away ones
    /// included.
    pub async fn identities(
        &self,
        pool: &PoolSnapshot,
        after: Option<&IdentityId>,
        limit: u32,
    ) -> ServiceResult<Vec<IdentityRecord>> {
        let developer = pool.pool.config.developer_provider_name.as_deref();
        let rows = self
            .store
            .list_identities(&pool.pool.id, after.map(IdentityId::as_str), limit, false)
            .await?;
        Ok(rows
            .into_iter()
            .map(|identity| {
                let (users, mut logins): (Vec<LoginRef>, Vec<LoginRef>) = identity
                    .logins
                    .into_iter()
                    .partition(|l| Some(l.provider.as_str()) == developer);
                logins.sort();
                let mut developer_user_ids: Vec<String> =
                    users.into_iter().map(|l| l.subject).collect();
                developer_user_ids.sort();
                IdentityRecord {
                    id: identity.id,
                    pool_id: identity.pool_id,
                    created_at: identity.created_at,
                    last_modified_at: identity.last_modified_at,
                    disabled: identity.disabled,
                    logins,
                    developer_user_ids,
                }
            })
            .collect())
    }

    /// Registers the provider or replaces its client ids (validated as registering does).
    pub fn check_oidc_provider(
        &self,
        issuer: &str,
        client_ids: Vec<String>,
    ) -> ServiceResult<OidcProvider> {
        Ok(OidcProvider::new(
            issuer,
            client_ids,
            self.allow_http_issuers,
        )?)
    }

    pub async fn import_oidc_provider(
        &self,
        provider: &OidcProvider,
    ) -> ServiceResult<ImportOutcome> {
        let arn = provider.arn(&self.account_id);
        let audit = |before: Option<&Vec<String>>| {
            self.change(
                "ImportOidcProvider",
                &arn,
                before.map(|ids| json!({"issuer": provider.issuer, "client_ids": ids})),
                json!({"issuer": provider.issuer, "client_ids": provider.client_ids}),
            )
        };
        match self
            .store
            .import_oidc_provider(provider, self.clock.now(), &audit)
            .await
        {
            Ok(applied) => Ok(ImportOutcome::Applied(applied)),
            Err(StoreError::Conflict { .. }) => Ok(ImportOutcome::Conflict(format!(
                "OpenID Connect provider {} is registered here with another issuer URL",
                provider.key()
            ))),
            Err(other) => Err(other.into()),
        }
    }

    /// A SAML provider as registering it checks it: its name, its metadata (parsed for the
    /// entity id, its `validUntil` not passed) and its subject attribute.
    pub fn check_saml_provider(
        &self,
        name: &str,
        metadata: &str,
        reading: crate::SamlReading,
    ) -> ServiceResult<SamlProvider> {
        crate::saml::checked_provider(name, metadata, reading, self.clock.now())
    }

    /// The ARN of this account's SAML provider `name` (the key its logins are stored under).
    pub fn saml_provider_arn(&self, name: &str) -> String {
        arn_for_name(&self.account_id, name)
    }

    pub async fn import_saml_provider(
        &self,
        provider: &SamlProvider,
    ) -> ServiceResult<ImportOutcome> {
        let arn = arn_for_name(&self.account_id, &provider.name);
        // Logins here were keyed by the registered provider's subject source (or, with no
        // provider, by a deleted one's): the file may not choose another.
        let registered = self.store.get_saml_provider(&provider.name).await?;
        if let Some(why) = crate::saml::subject_source_conflict(
            self.store.as_ref(),
            &arn,
            &provider.name,
            registered.as_ref().map(|p| p.subject_attribute.as_deref()),
            provider.subject_attribute.as_deref(),
        )
        .await?
        {
            return Ok(ImportOutcome::Conflict(why));
        }
        let shown = |p: &SamlProvider| json!({"name": p.name, "entity_id": p.entity_id, "legacy_sha1": p.legacy_sha1, "subject_attribute": p.subject_attribute});
        let audit = |before: Option<&SamlProvider>| {
            self.change(
                "ImportSamlProvider",
                &arn,
                before.map(shown),
                shown(provider),
            )
        };
        Ok(ImportOutcome::Applied(
            self.store
                .import_saml_provider(provider, self.clock.now(), &audit)
                .await?,
        ))
    }

    /// Whether a SAML provider with this name is registered here.
    pub async fn saml_provider_registered(&self, name: &str) -> ServiceResult<bool> {
        Ok(self.store.get_saml_provider(name).await?.is_some())
    }

    /// Every rule a pool is created and configured under: the configuration, OpenID Connect
    /// and SAML provider ARNs in this account, tags, roles and role mappings, principal-tag maps.
    pub fn check_pool(&self, snapshot: &PoolSnapshot) -> ServiceResult<()> {
        let config = &snapshot.pool.config;
        config.validate()?;
        crate::pools::check_provider_accounts(config, &self.account_id)?;
        validate_tags("identityPoolTags", &snapshot.pool.tags)?;
        snapshot.roles.validate(config)?;
        for (provider, map) in &snapshot.principal_tag_maps {
            map.validate(config, provider)?;
        }
        Ok(())
    }

    pub async fn import_pool(&self, snapshot: &PoolSnapshot) -> ServiceResult<ImportOutcome> {
        self.check_pool(snapshot)?;
        let id = &snapshot.pool.id;
        let audit = |before: Option<&PoolSnapshot>| {
            self.change(
                "ImportIdentityPool",
                id.as_str(),
                before.map(snapshot_json),
                snapshot_json(snapshot),
            )
        };
        let imported = self
            .store
            .import_pool(snapshot, self.clock.now(), &audit)
            .await
            .map_err(|e| match e {
                StoreError::UnknownReference(arn) => ServiceError::InvalidParameter(format!(
                    "{arn} is not a registered {} provider; import or register it first.",
                    if arn.contains(":saml-provider/") {
                        "SAML"
                    } else {
                        "OpenID Connect"
                    }
                )),
                other => other.into(),
            })?;
        self.forget_pool(id);
        Ok(match imported {
            PoolImport::Applied(applied) => ImportOutcome::Applied(applied),
            PoolImport::DeveloperProviderSet(name) => ImportOutcome::Conflict(format!(
                "pool {id} has developer provider name '{name}' here, and it cannot be changed or removed once set; the file has {}",
                snapshot
                    .pool
                    .config
                    .developer_provider_name
                    .as_deref()
                    .map_or_else(|| "none".to_owned(), |n| format!("'{n}'"))
            )),
        })
    }

    /// The configuration of the pool with this id here, if there is one.
    pub async fn existing_pool(&self, id: &IdentityPoolId) -> ServiceResult<Option<PoolConfig>> {
        Ok(self.store.get_pool(id).await?.map(|p| p.pool.config))
    }

    /// Whether an OpenID Connect provider with this key is registered here.
    pub async fn oidc_provider_registered(&self, key: &str) -> ServiceResult<bool> {
        Ok(self.store.get_oidc_provider(key).await?.is_some())
    }

    /// The rules between an identity and its pool (`pool_id` with `pool`): the identity's
    /// region is its pool's; every login is of a provider the pool names, never of its
    /// developer provider (those are `developer_user_ids`), which there must be for
    /// developer user ids.
    pub fn check_identity_in_pool(
        &self,
        record: &IdentityRecord,
        pool: &PoolConfig,
    ) -> ServiceResult<()> {
        if record.id.region() != record.pool_id.region() {
            return Err(ValidationError::message(format!(
                "identity {} is not in the region of its pool {}",
                record.id, record.pool_id
            ))
            .into());
        }
        let developer = pool.developer_provider_name.as_deref();
        let providers = pool.provider_names();
        for login in &record.logins {
            if Some(login.provider.as_str()) == developer {
                return Err(ValidationError::message(format!(
                    "login {} / {} is under the pool's developer provider: list it in developer_user_ids",
                    login.provider, login.subject
                ))
                .into());
            }
            if !providers.contains(&login.provider) {
                return Err(ValidationError::message(format!(
                    "login {} / {}: pool {} has no provider {}",
                    login.provider, login.subject, record.pool_id, login.provider
                ))
                .into());
            }
        }
        if !record.developer_user_ids.is_empty() && developer.is_none() {
            return Err(ServiceError::InvalidParameter(format!(
                "IdentityPool '{}' has no developer provider, so its identities cannot have developer user ids.",
                record.pool_id
            )));
        }
        Ok(())
    }

    /// Creates the identity with its id, or finds it there already (see the module's rules).
    pub async fn import_identity(&self, record: &IdentityRecord) -> ServiceResult<ImportOutcome> {
        record.validate()?;
        let developer = self.developer_provider(&record.pool_id).await?;
        let mut logins = record.logins.clone();
        if let Some(login) = logins
            .iter()
            .find(|l| Some(l.provider.as_str()) == developer.as_deref())
        {
            return Err(ValidationError::message(format!(
                "login {} / {} is under the pool's developer provider: list it in developer_user_ids",
                login.provider, login.subject
            ))
            .into());
        }
        if !record.developer_user_ids.is_empty() {
            let Some(provider) = &developer else {
                return Err(ServiceError::InvalidParameter(format!(
                    "IdentityPool '{}' has no developer provider, so its identities cannot have developer user ids.",
                    record.pool_id
                )));
            };
            logins.extend(record.developer_user_ids.iter().map(|user| LoginRef {
                provider: provider.clone(),
                subject: user.clone(),
            }));
        }
        logins.sort();
        let identity = Identity {
            id: record.id.clone(),
            pool_id: record.pool_id.clone(),
            logins,
            created_at: record.created_at,
            last_modified_at: record.last_modified_at,
            disabled: record.disabled,
            last_used_at: None,
        };
        let found = self
            .store
            .import_identity(&identity)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::pool_not_found(&record.pool_id),
                other => other.into(),
            })?;
        Ok(match found {
            IdentityImport::Created => ImportOutcome::Applied(Applied::Created),
            IdentityImport::Exists(mut existing) => {
                existing.logins.sort();
                if existing.pool_id != identity.pool_id {
                    ImportOutcome::Conflict(format!(
                        "identity {} exists here in another pool ({})",
                        identity.id, existing.pool_id
                    ))
                } else if existing.logins != identity.logins
                    || existing.disabled != identity.disabled
                {
                    ImportOutcome::Conflict(format!(
                        "identity {} exists here with other logins ({}) than the file's ({})",
                        identity.id,
                        describe(&existing),
                        describe(&identity)
                    ))
                } else {
                    ImportOutcome::Applied(Applied::Unchanged)
                }
            }
            IdentityImport::LoginTaken { login, owner } => ImportOutcome::Conflict(format!(
                "login {} / {} of identity {} belongs to identity {owner} here",
                login.provider, login.subject, identity.id
            )),
        })
    }

    async fn developer_provider(&self, pool: &IdentityPoolId) -> ServiceResult<Option<String>> {
        if let Some(known) = self.cached(pool) {
            return Ok(known);
        }
        let stored = self
            .store
            .get_pool(pool)
            .await?
            .ok_or_else(|| ServiceError::pool_not_found(pool))?;
        let name = stored.pool.config.developer_provider_name;
        if let Ok(mut cache) = self.developer_providers.lock() {
            cache.insert(pool.clone(), name.clone());
        }
        Ok(name)
    }

    fn cached(&self, pool: &IdentityPoolId) -> Option<Option<String>> {
        self.developer_providers
            .lock()
            .ok()
            .and_then(|cache| cache.get(pool).cloned())
    }

    fn forget_pool(&self, pool: &IdentityPoolId) {
        if let Ok(mut cache) = self.developer_providers.lock() {
            cache.remove(pool);
        }
    }

    /// An import's audit row; the store writes it in the import's transaction.
    fn change(
        &self,
        action: &str,
        resource: &str,
        before: Option<serde_json::Value>,
        after: serde_json::Value,
    ) -> AdminChange {
        AdminChange {
            id: uuid::Uuid::new_v4().to_string(),
            at: self.clock.now(),
            actor: current_actor(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            before: before.map(|v| v.to_string()),
            after: Some(after.to_string()),
        }
    }
}

/// A pool with its roles and maps, as the audit of an import shows it.
fn snapshot_json(snapshot: &PoolSnapshot) -> serde_json::Value {
    let mut value = pool_json(&snapshot.pool);
    value["Roles"] = json!(snapshot.roles);
    value["PrincipalTagMaps"] = json!(snapshot.principal_tag_maps);
    value
}

/// An identity's logins and state, for a conflict message.
fn describe(identity: &Identity) -> String {
    let mut parts: Vec<String> = identity
        .logins
        .iter()
        .map(|l| format!("{} / {}", l.provider, l.subject))
        .collect();
    if parts.is_empty() {
        parts.push("none".to_owned());
    }
    if identity.disabled {
        parts.push("disabled".to_owned());
    }
    parts.join(", ")
}

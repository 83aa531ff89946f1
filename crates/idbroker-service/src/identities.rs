//! Identities: guest GetId, DescribeIdentity, ListIdentities, DeleteIdentities
//! (`docs/spec.md` §6.2, behaviours 17–18, 77–79).

use std::collections::BTreeMap;

use idbroker_domain::login::LoginRef;
use idbroker_domain::validation::{check_chars, check_count, check_len};
use idbroker_domain::{
    Identity, IdentityId, IdentityPoolId, MaxResults, PageToken, ValidationError,
};

use crate::logins::validate_logins;
use idbroker_store::StoreError;
use uuid::Uuid;

use crate::{Broker, Page, ServiceError, ServiceResult};

/// Why an identity could not be deleted (Cognito's `ErrorCode`). Cognito also has
/// `AccessDenied`, which cannot arise here: every identity belongs to this broker's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionFailure {
    InternalServerError,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnprocessedIdentity {
    pub id: IdentityId,
    pub error: DeletionFailure,
}

/// How precisely a guest's last use is recorded: one write per guest per period at most.
/// The clean-up counts in days, so an hour either way does not matter.
pub const LAST_USE_PRECISION: chrono::Duration = chrono::Duration::hours(1);

/// Guests deleted per statement, so the clean-up never holds many locks at once.
const CLEAN_UP_BATCH: u32 = 500;

impl Broker {
    /// Records that a guest identity was used now (for the idle-guest clean-up).
    pub(crate) async fn mark_guest_used(&self, identity: &Identity) -> ServiceResult<()> {
        let now = self.clock.now();
        // Most calls find a recent mark and write nothing.
        if identity.is_guest() && identity.last_seen() < now - LAST_USE_PRECISION {
            self.store
                .mark_used(&identity.id, now, now - LAST_USE_PRECISION)
                .await?;
        }
        Ok(())
    }

    /// Deletes guest identities unused for longer than the `guest_idle` setting, in batches,
    /// and returns how many went. Does nothing when the setting is off.
    pub async fn delete_idle_guests(&self) -> ServiceResult<u64> {
        let Some(idle) = self.settings.guest_idle else {
            return Ok(0);
        };
        let idle_since = self.clock.now() - idle;
        let mut total = 0;
        loop {
            let deleted = self
                .store
                .delete_idle_guests(idle_since, CLEAN_UP_BATCH)
                .await?;
            total += deleted;
            if deleted < u64::from(CLEAN_UP_BATCH) {
                break;
            }
        }
        if total > 0 {
            metrics::counter!("idbroker_idle_guests_deleted_total").increment(total);
            tracing::info!(deleted = total, "idle guest identities deleted");
        }
        Ok(total)
    }

    /// GetId. Without Logins every call creates a new guest identity (behaviour 18); the pool
    /// must allow guests. With Logins, every token is verified and the identity that owns the
    /// login is returned, created, linked or merged (spec §6.2, §6.4).
    ///
    /// `admit` is asked once the call is known to be valid (the pool exists, the logins
    /// verified, guests allowed) and before anything is looked up or written: a per-pool limit
    /// charged there cannot be used up by calls that fail anyway. It answers `Err` with the
    /// seconds to wait.
    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn get_id(
        &self,
        pool_id: &str,
        account_id: Option<&str>,
        logins: &BTreeMap<String, String>,
        admit: impl FnOnce(&idbroker_domain::IdentityPoolId) -> Result<(), u64>,
    ) -> ServiceResult<IdentityId> {
        if let Some(account) = account_id {
            // Accepted and ignored, as Cognito does once it matches the model.
            check_len("accountId", account, 1, 15)?;
            check_chars("accountId", account, "\\d+", |c| c.is_ascii_digit())?;
        }
        validate_logins(logins)?;
        let stored = self.load_pool_for_use(pool_id).await?;
        if !logins.is_empty() {
            let verified = self
                .verify_logins(&stored.pool.config, &stored.pool.id, logins)
                .await?;
            admit(&stored.pool.id).map_err(ServiceError::RateLimited)?;
            let presented: Vec<_> = verified.into_iter().map(|v| v.login).collect();
            // The common case, a returning user with one login, needs no transaction: the
            // owner of a login is never disabled (merging moves logins to the survivor,
            // unlinking the last one leaves none), so the linking plan would return it as is.
            if let [login] = presented.as_slice()
                && let Some(owner) = self.login_owner(&stored.pool.id, login).await?
            {
                return Ok(owner);
            }
            let rules = Self::link_rules(&stored, idbroker_domain::linking::Trust::None, None);
            let identity = self.apply_logins(&stored, &presented, None, &rules).await?;
            return Ok(identity.id);
        }

        if !stored.pool.config.allow_unauthenticated_identities {
            return Err(ServiceError::NotAuthorized(
                "Unauthenticated access is not supported for this identity pool.".into(),
            ));
        }
        admit(&stored.pool.id).map_err(ServiceError::RateLimited)?;
        let now = self.clock.now();
        let identity = Identity {
            id: IdentityId::in_pool(&stored.pool.id, Uuid::new_v4()),
            pool_id: stored.pool.id,
            logins: Vec::new(),
            created_at: now,
            last_modified_at: now,
            disabled: false,
            last_used_at: None,
        };
        self.store
            .create_identity(&identity)
            .await
            .map_err(|e| match e {
                // The pool was deleted between our read and the insert.
                StoreError::NotFound => ServiceError::pool_not_found(&identity.pool_id),
                other => other.into(),
            })?;
        tracing::info!(identity_id = %identity.id, "guest identity created");
        metrics::counter!("idbroker_identities_created_total", "kind" => "guest").increment(1);
        Ok(identity.id)
    }

    /// Who owns `login`, from this replica's copy when it may be served (see `coherence`).
    async fn login_owner(
        &self,
        pool: &IdentityPoolId,
        login: &LoginRef,
    ) -> ServiceResult<Option<IdentityId>> {
        let key = (pool.clone(), login.clone());
        let session = self.store.coherence();
        if let Some(owner) = self.caches.logins.get(&key, session) {
            metrics::counter!("idbroker_login_cache_hits_total").increment(1);
            return Ok(Some(owner));
        }
        let ticket = self.caches.logins.ticket(session);
        let owner = self.store.login_owner(pool, login).await?;
        if let Some(owner) = &owner {
            self.caches
                .logins
                .put(ticket, key, owner.clone(), self.store.coherence());
        }
        Ok(owner)
    }

    pub async fn describe_identity(&self, identity_id: &str) -> ServiceResult<Identity> {
        let id = IdentityId::parse("identityId", identity_id)?;
        self.store
            .get_identity(&id)
            .await?
            .ok_or_else(|| ServiceError::identity_not_found(&id))
    }

    /// The identity that owns one login (provider key and subject) in a pool, for the admin
    /// console's search: one lookup by the logins table's primary key.
    pub async fn find_identity_by_login(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> ServiceResult<Identity> {
        check_len("provider", provider, 1, 128)?;
        check_len("subject", subject, 1, 1024)?;
        let stored = self.load_pool(pool_id).await?;
        let login = LoginRef {
            provider: provider.to_owned(),
            subject: subject.to_owned(),
        };
        let id = self
            .store
            .login_owner(&stored.pool.id, &login)
            .await?
            .ok_or_else(|| {
                ServiceError::ResourceNotFound(
                    "No identity of this pool has that login.".to_owned(),
                )
            })?;
        self.store
            .get_identity(&id)
            .await?
            .ok_or_else(|| ServiceError::identity_not_found(&id))
    }

    /// The revocation that covers an identity (its own or its pool's), for the admin console:
    /// the scope and the instant before which its sessions are denied.
    pub async fn revocation_of_identity(
        &self,
        identity: &Identity,
    ) -> ServiceResult<Option<idbroker_store::Revocation>> {
        Ok(self
            .store
            .revocation_of(&identity.id, &identity.pool_id)
            .await?)
    }

    pub async fn list_identities(
        &self,
        pool_id: &str,
        max_results: i64,
        next_token: Option<&str>,
        hide_disabled: bool,
    ) -> ServiceResult<Page<Identity>> {
        let limit = MaxResults::parse(max_results)?.get();
        let after = next_token.map(PageToken::decode).transpose()?;
        let stored = self.load_pool(pool_id).await?;
        let rows = self
            .store
            .list_identities(
                &stored.pool.id,
                after.as_ref().map(PageToken::last_key),
                limit + 1,
                hide_disabled,
            )
            .await?;
        Ok(Page::from_rows(rows, limit, |i| i.id.as_str()))
    }

    /// Deletes 1–60 identities. An id that names nothing is already gone, so it counts as
    /// processed; a storage failure for one id is reported for that id and the rest go on.
    #[tracing::instrument(skip_all, fields(count = identity_ids.len()))]
    pub async fn delete_identities(
        &self,
        identity_ids: &[String],
    ) -> ServiceResult<Vec<UnprocessedIdentity>> {
        if identity_ids.is_empty() {
            return Err(ValidationError::constraint_no_echo(
                "identityIdsToDelete",
                "Member must have length greater than or equal to 1",
            )
            .into());
        }
        check_count("identityIdsToDelete", identity_ids.len(), 60)?;
        let ids = identity_ids
            .iter()
            .map(|id| IdentityId::parse("identityIdsToDelete.member", id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut unprocessed = Vec::new();
        for id in ids {
            let before = self.store.get_identity(&id).await.ok().flatten();
            match self.store.delete_identity(&id).await {
                Ok(()) => {
                    self.forget_identity(&id);
                    let before = before.map(|i| serde_json::json!({"identity_id": i.id.as_str(), "identity_pool_id": i.pool_id.as_str(), "logins": i.provider_keys()}));
                    self.audit("DeleteIdentities", id.as_str(), before, None)
                        .await;
                }
                Err(StoreError::NotFound) => {}
                Err(err) => {
                    tracing::error!(identity_id = %id, error = %err, "could not delete identity");
                    unprocessed.push(UnprocessedIdentity {
                        id,
                        error: DeletionFailure::InternalServerError,
                    });
                }
            }
        }
        Ok(unprocessed)
    }
}

//! Keeps this replica's copies coherent with every replica's writes: a task follows the
//! store's change feed (`idbroker_store::ChangeFeed`) and drops what each event names, and
//! reloads the signing-key ring when the keys change.
//!
//! Correctness does not hang on how fast this task runs: a cache serves an entry only in the
//! feed session it was loaded in (see `cache`), so an outage of the listener voids every
//! entry at once. Dropping entries here makes a change visible as soon as its event arrives,
//! and frees memory.

use std::sync::{Arc, Weak};

use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::{IdentityId, IdentityPoolId};
use idbroker_issuer::Issuer;
use idbroker_store::{Change, Signal, StoredPool};
use tokio::sync::{Notify, broadcast};

use crate::Clock;
use crate::cache::CoherentCache;
use crate::credential_reuse::{self, CredentialReuse};

/// Everything this replica copies from the store for the public operations.
pub(crate) struct Caches {
    /// Pools, for GetId, GetOpenIdToken, GetCredentialsForIdentity and their kin.
    pub(crate) pools: CoherentCache<IdentityPoolId, StoredPool>,
    /// Registered OpenID Connect providers by key, for verifying their logins.
    pub(crate) providers: CoherentCache<String, OidcProvider>,
    /// The owner of a login, for a returning user's GetId. A login changes owner only by a
    /// merge, and stops having one by an unlink or a deletion: each publishes an event for
    /// the identities involved, which drops every login cached with them.
    pub(crate) logins: CoherentCache<(IdentityPoolId, LoginRef), IdentityId>,
    /// Credentials handed out again within a pool's reuse window (`credential_reuse`). Every
    /// call checks revocation in the store first, but an identity revoked and re-enabled
    /// through another replica must not get back credentials from before its revocation
    /// (which the revocation's deny policy refuses): its events drop them here too.
    pub(crate) reuse: CredentialReuse,
}

/// Returning users' logins remembered per replica; about 200 bytes each.
const MAX_LOGINS: usize = 50_000;

impl Caches {
    pub(crate) fn new(ttl: std::time::Duration) -> Self {
        Self {
            pools: CoherentCache::new(ttl),
            providers: CoherentCache::new(ttl),
            logins: CoherentCache::bounded(ttl, MAX_LOGINS),
            reuse: CredentialReuse::new(credential_reuse::CAPACITY),
        }
    }

    fn clear(&self) {
        self.pools.clear();
        self.providers.clear();
        self.logins.clear();
        self.reuse.clear();
    }

    /// Drops what is cached about an identity: the logins it owned. A disabled, deleted or
    /// merged-away identity must never be served after the change. (Every public operation
    /// reads the identity itself and its revocation from the store.)
    pub(crate) fn forget_identity(&self, id: &IdentityId) {
        self.logins.forget_where(|_, owner| owner == id);
        self.reuse.forget_identity(id);
    }

    /// Drops a pool's copy and its logins (a deleted pool takes its identities with it).
    pub(crate) fn forget_pool(&self, id: &IdentityPoolId) {
        self.pools.forget(id);
        self.logins.forget_where(|(pool, _), _| pool == id);
        self.reuse.forget_pool(id);
    }

    fn apply(&self, change: &Change, keys: &Notify) {
        match change {
            Change::Pool(id) => self.forget_pool(id),
            Change::OidcProvider(key) => self.providers.forget(key),
            Change::Identity(id) => self.forget_identity(id),
            Change::SigningKeys => keys.notify_one(),
            Change::All => {
                self.clear();
                keys.notify_one();
            }
        }
    }
}

/// Aborts its tasks when the broker goes.
pub(crate) struct Follower(Vec<tokio::task::AbortHandle>);

impl Drop for Follower {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Starts following the store's `signals` (needs a Tokio runtime; `None` without one, and the caller then
/// keeps its caches off).
pub(crate) fn follow(
    mut signals: broadcast::Receiver<Signal>,
    caches: Weak<Caches>,
    issuer: Weak<Issuer>,
    clock: Arc<dyn Clock>,
) -> Option<Follower> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    // Key reloads run beside the event loop (a reload reads the store), coalesced: a burst of
    // rotations costs one reload, and a slow one never delays dropping a pool's copy.
    let keys = Arc::new(Notify::new());
    let reload = runtime.spawn({
        let keys = keys.clone();
        async move {
            loop {
                keys.notified().await;
                let Some(issuer) = issuer.upgrade() else {
                    return;
                };
                if let Err(err) = issuer.reload(clock.now()).await {
                    // The upkeep task reloads again on its next round.
                    tracing::error!(error = %err, "signing-key reload after a change event failed");
                }
            }
        }
    });
    let events = runtime.spawn(async move {
        loop {
            let signal = signals.recv().await;
            let Some(caches) = caches.upgrade() else {
                return;
            };
            match signal {
                Ok(Signal::Changed(change)) => caches.apply(&change, &keys),
                // Entries of the old session are void already; this frees them.
                Ok(Signal::Lost) => caches.clear(),
                // A rotation may have been missed while not listening.
                Ok(Signal::Restored) => {
                    caches.clear();
                    keys.notify_one();
                }
                // Fell behind: which events were missed is unknown, so drop everything.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "cache events missed by a slow subscriber; caches dropped"
                    );
                    caches.clear();
                    keys.notify_one();
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Some(Follower(vec![events.abort_handle(), reload.abort_handle()]))
}

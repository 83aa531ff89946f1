//! A short-lived, per-replica copy of pool configuration for the public operations.
//!
//! GetId, GetOpenIdToken and GetCredentialsForIdentity all start by reading their pool; on a
//! returning user's GetId that read is half of the database work. Pools change rarely and
//! only through the admin API, so the public operations may use a copy up to `ttl` old. This
//! replica forgets its copy whenever it changes the pool itself; other replicas see an admin
//! change within `ttl`. Admin operations always read the store (they need the current
//! version for their optimistic update).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use idbroker_domain::IdentityPoolId;
use idbroker_store::StoredPool;

/// More pools than this and the cache starts over, so it cannot grow without bound.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct PoolCache {
    ttl: Duration,
    entries: RwLock<HashMap<IdentityPoolId, (Instant, StoredPool)>>,
}

impl PoolCache {
    /// A `ttl` of zero turns the cache off.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, id: &IdentityPoolId) -> Option<StoredPool> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (loaded, pool) = entries.get(id)?;
        (loaded.elapsed() < self.ttl).then(|| pool.clone())
    }

    pub(crate) fn put(&self, pool: &StoredPool) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(pool.pool.id.clone(), (Instant::now(), pool.clone()));
    }

    pub(crate) fn forget(&self, id: &IdentityPoolId) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

//! Signing keys held in memory instead of the database, for tests (the `test-support`
//! feature): an `Issuer` over `MemoryKeys` signs and rotates exactly as over the store, with
//! nothing written anywhere. Production keeps its keys in the store, which every replica
//! shares and whose lock makes rotation happen once; one process's memory cannot do that.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::signing::{KeyPolicy, KeyTimes, RotationPlan, plan_rotation};
use idbroker_store::{NewKey, SigningKeyStore, StoreError, StoreResult, StoredKey};

/// The keys of one `Issuer`, in memory. Rotation follows the same plan
/// (`signing::plan_rotation`) and the same bookkeeping as the SQL store.
#[derive(Default)]
pub struct MemoryKeys {
    keys: Mutex<Vec<StoredKey>>,
}

impl MemoryKeys {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, Vec<StoredKey>>> {
        self.keys
            .lock()
            .map_err(|_| StoreError::Backend("the in-memory key list lock is poisoned".into()))
    }
}

#[async_trait]
impl SigningKeyStore for MemoryKeys {
    async fn signing_keys(&self, now: DateTime<Utc>) -> StoreResult<Vec<StoredKey>> {
        let mut keys: Vec<StoredKey> = self
            .lock()?
            .iter()
            .filter(|k| k.times.published_at(now))
            .cloned()
            .collect();
        keys.sort_by_key(|k| k.times.signs_from);
        Ok(keys)
    }

    async fn rotate_signing_keys(
        &self,
        now: DateTime<Utc>,
        policy: &KeyPolicy,
        force: bool,
        candidate: &NewKey,
    ) -> StoreResult<RotationPlan> {
        let mut keys = self.lock()?;
        let times: Vec<KeyTimes> = keys
            .iter()
            .filter(|k| k.times.published_at(now))
            .map(|k| k.times.clone())
            .collect();
        let plan = plan_rotation(&times, now, policy, force);
        let signs_from = match &plan {
            RotationPlan::Nothing => return Ok(plan),
            RotationPlan::First { signs_from } => *signs_from,
            RotationPlan::Next {
                current,
                signs_from,
                retire_at,
            } => {
                if let Some(key) = keys.iter_mut().find(|k| k.times.kid == *current) {
                    key.times.signs_until = Some(*signs_from);
                    key.times.published_until = Some(*retire_at);
                }
                *signs_from
            }
        };
        keys.push(StoredKey {
            times: KeyTimes {
                kid: candidate.kid.clone(),
                signs_from,
                signs_until: None,
                published_until: None,
            },
            alg: candidate.alg.clone(),
            public_jwk: candidate.public_jwk.clone(),
            sealed_private: candidate.sealed_private.clone(),
            kek_id: candidate.kek_id.clone(),
            created_at: now,
        });
        // Keys no relying party can need any more.
        keys.retain(|k| k.times.published_at(now));
        Ok(plan)
    }
}

//! The credential reuse window, a per-pool extension (`credential_reuse_seconds`,
//! `docs/behaviour.md`): within it, the same identity asking for the same STS session gets back
//! the credentials STS gave last time instead of a new STS call.
//!
//! Per replica and in memory only, bounded (`CAPACITY` entries; the least recently used go
//! first) and sealed: an entry holds the credentials only encrypted with AES-256-GCM under a key
//! made at start-up that never leaves the process, so a heap dump or a stray `Debug` shows no
//! secret access key or session token. The broker asks here only after every check of the call
//! (identity, disabled, revoked, role): a hit replaces the STS call and nothing else.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::{DateTime, Duration, Utc};
use hashlink::LruCache;
use idbroker_domain::{IdentityId, IdentityPoolId};
use idbroker_sts::AwsCredentials;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Entries per replica. An entry is about a kilobyte (the session token dominates), so the
/// cache stays near 10 MB however many identities ask.
pub(crate) const CAPACITY: usize = 10_000;

/// Credentials are never handed out again this close to their expiry, so whoever gets them
/// has at least this long to use them (an SDK refreshes around 5 minutes before expiry).
pub(crate) const EXPIRY_MARGIN: Duration = Duration::minutes(5);

/// Everything that makes one STS call differ from another, besides the identity: two calls
/// with equal sessions would get equivalent credentials. The web-identity token itself is not
/// part of it (it differs on every call by `jti` and `iat`), only the claims of it that shape
/// the session.
pub(crate) struct Session<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub duration_seconds: i32,
    pub policy: Option<&'a str>,
    pub amr: &'a [String],
    pub tags: &'a BTreeMap<String, String>,
}

/// The key of an entry: the identity (and its pool, to drop a pool's entries at once) and a
/// SHA-256 digest of the session, so an entry's size does not depend on the caller's claims.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ReuseKey {
    pool: IdentityPoolId,
    identity: IdentityId,
    session: [u8; 32],
}

impl ReuseKey {
    pub(crate) fn new(pool: &IdentityPoolId, identity: &IdentityId, session: &Session<'_>) -> Self {
        let mut digest = Sha256::new_with_prefix(b"idbroker-credential-reuse-v1");
        // Each field length-prefixed, so no two different sessions encode the same.
        let mut field = |bytes: &[u8]| {
            digest.update((bytes.len() as u64).to_be_bytes());
            digest.update(bytes);
        };
        field(session.role_arn.as_bytes());
        field(session.session_name.as_bytes());
        field(&session.duration_seconds.to_be_bytes());
        match session.policy {
            Some(policy) => {
                field(b"policy");
                field(policy.as_bytes());
            }
            None => field(b"no policy"),
        }
        field(&(session.amr.len() as u64).to_be_bytes());
        for entry in session.amr {
            field(entry.as_bytes());
        }
        field(&(session.tags.len() as u64).to_be_bytes());
        for (key, value) in session.tags {
            field(key.as_bytes());
            field(value.as_bytes());
        }
        Self {
            pool: pool.clone(),
            identity: identity.clone(),
            session: digest.finalize().into(),
        }
    }

    /// Associated data of the sealed credentials: an entry opens only under its own key.
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = self.identity.as_str().as_bytes().to_vec();
        aad.extend_from_slice(&self.session);
        aad
    }
}

struct Entry {
    stored_at: DateTime<Utc>,
    expiration: DateTime<Utc>,
    nonce: [u8; 12],
    /// `access_key_id`, `secret_access_key` and `session_token`, sealed.
    sealed: Vec<u8>,
}

impl Entry {
    fn usable(&self, window: Duration, now: DateTime<Utc>) -> bool {
        now < self.stored_at + window && now < self.expiration - EXPIRY_MARGIN
    }
}

pub(crate) struct CredentialReuse {
    /// A random key per process. Nonces are random too: 96 bits are safe for far more
    /// sealings than one process makes STS calls.
    cipher: Aes256Gcm,
    entries: Mutex<LruCache<ReuseKey, Entry>>,
}

impl CredentialReuse {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Aes256Gcm::generate_key(&mut OsRng)),
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn entries(&self) -> MutexGuard<'_, LruCache<ReuseKey, Entry>> {
        // A panic elsewhere while holding the lock leaves a consistent map: keep using it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The credentials stored under `key`, if they were stored less than `window` ago and
    /// expire more than `EXPIRY_MARGIN` from now. `window` is the pool's current setting, so
    /// shortening it (or turning it off, when the caller does not ask) takes effect at once.
    pub(crate) fn get(
        &self,
        key: &ReuseKey,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Option<AwsCredentials> {
        let (nonce, sealed, expiration) = {
            let mut entries = self.entries();
            let entry = entries.get(key)?;
            if !entry.usable(window, now) {
                entries.remove(key);
                return None;
            }
            (entry.nonce, entry.sealed.clone(), entry.expiration)
        };
        let opened = self.cipher.decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &sealed,
                aad: &key.associated_data(),
            },
        );
        let parts = opened
            .ok()
            .map(Zeroizing::new)
            .and_then(|plain| serde_json::from_slice::<[String; 3]>(&plain).ok());
        let Some([access_key_id, secret_access_key, session_token]) = parts else {
            // Cannot happen short of memory corruption; a miss is the safe answer.
            tracing::warn!("a sealed credential reuse entry did not open; dropped");
            self.entries().remove(key);
            return None;
        };
        Some(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
        })
    }

    /// Keeps `credentials` under `key`, sealed, unless they are already too close to expiry
    /// to be handed out again.
    pub(crate) fn put(&self, key: ReuseKey, credentials: &AwsCredentials, now: DateTime<Utc>) {
        if now >= credentials.expiration - EXPIRY_MARGIN {
            return;
        }
        let plain = Zeroizing::new(
            serde_json::to_vec(&[
                &credentials.access_key_id,
                &credentials.secret_access_key,
                &credentials.session_token,
            ])
            .unwrap_or_default(),
        );
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let Ok(sealed) = self.cipher.encrypt(
            &nonce,
            Payload {
                msg: &plain,
                aad: &key.associated_data(),
            },
        ) else {
            tracing::warn!("credentials could not be sealed for reuse; not kept");
            return;
        };
        let entry = Entry {
            stored_at: now,
            expiration: credentials.expiration,
            nonce: nonce.into(),
            sealed,
        };
        self.entries().insert(key, entry);
    }

    /// Drops every entry of an identity (revoked, disabled, deleted or merged away).
    pub(crate) fn forget_identity(&self, identity: &IdentityId) {
        self.entries().retain(|key, _| key.identity != *identity);
    }

    /// Drops every entry of a pool's identities (the pool revoked or deleted).
    pub(crate) fn forget_pool(&self, pool: &IdentityPoolId) {
        self.entries().retain(|key, _| key.pool != *pool);
    }

    /// Drops everything (change events may have been missed).
    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
    }

    fn ids(n: u128) -> (IdentityPoolId, IdentityId) {
        let pool =
            IdentityPoolId::parse("id", "us-east-1:00000000-0000-4000-8000-000000000001").unwrap();
        let identity = IdentityId::in_pool(&pool, uuid::Uuid::from_u128(n));
        (pool, identity)
    }

    fn session<'a>(role: &'a str, tags: &'a BTreeMap<String, String>) -> Session<'a> {
        Session {
            role_arn: role,
            session_name: "CognitoIdentityCredentials",
            duration_seconds: 3600,
            policy: None,
            amr: &[],
            tags,
        }
    }

    fn credentials(key: &str, expiration: DateTime<Utc>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: key.into(),
            secret_access_key: "the-secret-access-key".into(),
            session_token: "the-session-token".into(),
            expiration,
        }
    }

    #[test]
    fn the_key_tells_sessions_apart() {
        let (pool, id) = ids(1);
        let none = BTreeMap::new();
        let tagged = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let base = ReuseKey::new(&pool, &id, &session("role/a", &none));
        assert!(base == ReuseKey::new(&pool, &id, &session("role/a", &none)));
        let amr = ["authenticated".to_owned()];
        let others = [
            ReuseKey::new(&pool, &id, &session("role/b", &none)),
            ReuseKey::new(&pool, &id, &session("role/a", &tagged)),
            ReuseKey::new(&pool, &ids(2).1, &session("role/a", &none)),
            ReuseKey::new(
                &pool,
                &id,
                &Session {
                    policy: Some("{}"),
                    ..session("role/a", &none)
                },
            ),
            ReuseKey::new(
                &pool,
                &id,
                &Session {
                    duration_seconds: 900,
                    ..session("role/a", &none)
                },
            ),
            ReuseKey::new(
                &pool,
                &id,
                &Session {
                    amr: &amr,
                    ..session("role/a", &none)
                },
            ),
        ];
        for other in &others {
            assert!(base != *other);
        }
    }

    #[test]
    fn entries_are_sealed_and_served_within_the_window_and_the_margin() {
        let reuse = CredentialReuse::new(10);
        let (pool, id) = ids(1);
        let none = BTreeMap::new();
        let key = ReuseKey::new(&pool, &id, &session("role/a", &none));
        let window = Duration::seconds(600);
        reuse.put(
            key.clone(),
            &credentials("AKID1", t0() + Duration::minutes(12)),
            t0(),
        );
        {
            let entries = reuse.entries();
            let entry = entries.peek(&key).unwrap();
            let needle = b"the-secret-access-key";
            assert!(!entry.sealed.windows(needle.len()).any(|w| w == needle));
        }
        let got = reuse.get(&key, window, t0()).unwrap();
        assert_eq!(got.secret_access_key, "the-secret-access-key");
        assert_eq!(got.session_token, "the-session-token");
        // Seven minutes later the window still holds, but expiry is under 5 minutes away.
        assert!(
            reuse
                .get(&key, window, t0() + Duration::minutes(6))
                .is_some()
        );
        assert!(
            reuse
                .get(&key, window, t0() + Duration::minutes(7))
                .is_none()
        );
        // Credentials already near expiry are not kept at all.
        reuse.put(
            key.clone(),
            &credentials("AKID2", t0() + Duration::minutes(5)),
            t0(),
        );
        assert!(reuse.get(&key, window, t0()).is_none());
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_and_forgetting_drops_by_identity_or_pool() {
        let reuse = CredentialReuse::new(2);
        let none = BTreeMap::new();
        let keys: Vec<ReuseKey> = (1..=3)
            .map(|n| {
                let (pool, id) = ids(n);
                ReuseKey::new(&pool, &id, &session("role/a", &none))
            })
            .collect();
        let expiry = t0() + Duration::hours(1);
        let window = Duration::seconds(60);
        reuse.put(keys[0].clone(), &credentials("A", expiry), t0());
        reuse.put(keys[1].clone(), &credentials("B", expiry), t0());
        assert!(reuse.get(&keys[0], window, t0()).is_some());
        reuse.put(keys[2].clone(), &credentials("C", expiry), t0());
        assert!(reuse.get(&keys[1], window, t0()).is_none(), "evicted");
        assert!(reuse.get(&keys[0], window, t0()).is_some());

        reuse.forget_identity(&ids(1).1);
        assert!(reuse.get(&keys[0], window, t0()).is_none());
        assert!(reuse.get(&keys[2], window, t0()).is_some());
        reuse.forget_pool(&ids(3).0);
        assert_eq!(reuse.entries().len(), 0);
    }
}

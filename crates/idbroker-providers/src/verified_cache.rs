//! Remembers ID tokens already verified, so a token presented again (an app calling GetId and
//! then GetCredentialsForIdentity with the same login, a returning user within the token's
//! life) skips the signature check and the claim parsing.
//!
//! Safe by construction:
//! - The key is a SHA-256 of the token *and* of everything it was checked against (the Logins
//!   key, accepted issuers and client ids, `token_use` rule, where the keys come from). A
//!   provider whose configuration changed (a client id removed) gets a different key, so a
//!   cached verdict never answers a question it was not asked. The token itself is not kept.
//! - An entry is used only while the token would still pass the clock checks (`exp` plus the
//!   same skew as a full verification; `nbf` and `iat` only get easier with time) and for at
//!   most `max_age` (the key cache's `refresh_after`) after it was verified: a key the provider
//!   withdrew stops vouching for tokens verified with it at most that long after it stops
//!   being used for new ones (the key set may have been fetched up to `refresh_after` before
//!   the verification, so up to twice that after the withdrawal in all).
//! - Only successes are kept; a refused token is checked in full each time.
//! - The number of entries is capped; the least recently used goes first. The claims stay in
//!   this process's memory only, as they do for the length of a request without the cache.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hashlink::LruCache;
use idbroker_domain::login::VerifiedLogin;
use sha2::{Digest, Sha256};

use crate::endpoints::KeyLocation;
use crate::jwt::{EXP_LEEWAY_SECS, Rules};

pub(crate) struct VerifiedCache {
    entries: Mutex<LruCache<[u8; 32], Entry>>,
    max_age: chrono::Duration,
}

struct Entry {
    login: VerifiedLogin,
    /// The first instant at which the entry must not be used.
    usable_until: DateTime<Utc>,
}

/// What a verification was asked: the digest that names it in the cache.
pub(crate) struct Question([u8; 32]);

impl Question {
    pub(crate) fn new(key: &str, token: &str, rules: &Rules<'_>, location: &KeyLocation) -> Self {
        let mut hash = Sha256::new();
        // Length-prefixed parts: no two different questions hash the same input.
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        part(key.as_bytes());
        for issuer in rules.issuers {
            part(issuer.as_bytes());
        }
        part(b"|");
        for client in rules.client_ids {
            part(client.as_bytes());
        }
        part(&[u8::from(rules.require_id_token_use)]);
        part(format!("{location:?}").as_bytes());
        part(token.as_bytes());
        Self(hash.finalize().into())
    }
}

impl VerifiedCache {
    /// `None` when `capacity` is zero (the cache is off).
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Option<Self> {
        (capacity > 0).then(|| Self {
            entries: Mutex::new(LruCache::new(capacity)),
            max_age: chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX),
        })
    }

    pub(crate) fn get(&self, question: &Question, now: DateTime<Utc>) -> Option<VerifiedLogin> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let usable = entries
            .get(&question.0)
            .map(|entry| now < entry.usable_until);
        match usable {
            Some(true) => entries.get(&question.0).map(|entry| entry.login.clone()),
            Some(false) => {
                entries.remove(&question.0);
                None
            }
            None => None,
        }
    }

    /// Keeps a login `verify` has just accepted at `now`.
    pub(crate) fn put(&self, question: Question, login: &VerifiedLogin, now: DateTime<Utc>) {
        let Some(exp) = login.claims.get("exp").and_then(serde_json::Value::as_i64) else {
            return; // not reached: verification requires `exp`
        };
        let Some(expiry) = DateTime::from_timestamp(exp.saturating_add(EXP_LEEWAY_SECS), 0) else {
            return;
        };
        let usable_until = expiry.min(now.checked_add_signed(self.max_age).unwrap_or(expiry));
        if usable_until <= now {
            return;
        }
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                question.0,
                Entry {
                    login: login.clone(),
                    usable_until,
                },
            );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use idbroker_domain::login::LoginRef;
    use serde_json::json;

    use super::*;
    use crate::endpoints::KeyLocation;

    fn login(exp: i64) -> VerifiedLogin {
        VerifiedLogin {
            login: LoginRef {
                provider: "accounts.google.com".into(),
                subject: "alice".into(),
            },
            claims: BTreeMap::from([("exp".to_owned(), json!(exp))]),
        }
    }

    fn question(token: &str, clients: &[String]) -> Question {
        let issuers = vec!["https://accounts.google.com".to_owned()];
        let rules = Rules {
            issuers: &issuers,
            client_ids: clients,
            require_id_token_use: false,
        };
        Question::new(
            "accounts.google.com",
            token,
            &rules,
            &KeyLocation::Jwks("https://www.googleapis.com/oauth2/v3/certs".into()),
        )
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn a_verified_token_is_remembered_until_its_expiry_plus_the_skew() {
        let cache = VerifiedCache::new(10, Duration::from_secs(3600)).unwrap();
        let clients = vec!["app".to_owned()];
        cache.put(question("t", &clients), &login(1_000), at(900));
        assert!(cache.get(&question("t", &clients), at(950)).is_some());
        assert!(
            cache
                .get(&question("t", &clients), at(1_000 + EXP_LEEWAY_SECS - 1))
                .is_some()
        );
        assert!(
            cache
                .get(&question("t", &clients), at(1_000 + EXP_LEEWAY_SECS))
                .is_none()
        );
        assert_eq!(cache.len(), 0, "an unusable entry is dropped");
    }

    #[test]
    fn never_longer_than_the_key_set_is_trusted() {
        let cache = VerifiedCache::new(10, Duration::from_secs(60)).unwrap();
        let clients = vec!["app".to_owned()];
        cache.put(question("t", &clients), &login(10_000), at(100));
        assert!(cache.get(&question("t", &clients), at(159)).is_some());
        assert!(cache.get(&question("t", &clients), at(160)).is_none());
    }

    #[test]
    fn another_question_about_the_same_token_misses() {
        let cache = VerifiedCache::new(10, Duration::from_secs(3600)).unwrap();
        let both = vec!["app".to_owned(), "old-app".to_owned()];
        cache.put(question("t", &both), &login(1_000), at(900));
        // The provider's client ids changed: the verdict was about the old list.
        assert!(
            cache
                .get(&question("t", &["app".to_owned()]), at(901))
                .is_none()
        );
        assert!(cache.get(&question("u", &both), at(901)).is_none());
        assert!(cache.get(&question("t", &both), at(901)).is_some());
    }

    #[test]
    fn the_least_recently_used_goes_first_at_the_cap() {
        let cache = VerifiedCache::new(2, Duration::from_secs(3600)).unwrap();
        let clients = vec!["app".to_owned()];
        cache.put(question("a", &clients), &login(1_000), at(900));
        cache.put(question("b", &clients), &login(1_000), at(900));
        assert!(cache.get(&question("a", &clients), at(901)).is_some());
        cache.put(question("c", &clients), &login(1_000), at(900));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&question("b", &clients), at(901)).is_none());
        assert!(cache.get(&question("a", &clients), at(901)).is_some());
    }

    #[test]
    fn zero_capacity_is_off_and_expired_logins_are_not_kept() {
        assert!(VerifiedCache::new(0, Duration::from_secs(60)).is_none());
        let cache = VerifiedCache::new(10, Duration::from_secs(60)).unwrap();
        cache.put(question("t", &[]), &login(100), at(100 + EXP_LEEWAY_SECS));
        assert_eq!(cache.len(), 0);
    }
}

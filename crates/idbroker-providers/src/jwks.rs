//! A per-issuer cache of signing keys, shared by every request.
//!
//! - Keys are fetched on first use and kept for `ttl`; after `refresh_after` a request that
//!   finds them triggers a refresh in the background, so callers rarely wait for the IdP.
//! - A token with an unknown `kid` may force one refresh per `unknown_kid_cooldown`: providers
//!   rotate keys and new ones must verify without a restart, but a flood of random kids must
//!   not turn idbroker into a load generator against the IdP.
//! - When the IdP is down, the last good keys keep being served, however old.
//! - Only one refresh per issuer runs at a time; the others wait for it and use its result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use serde_json::Value;
use tokio::time::Instant;

use crate::endpoints::KeyLocation;
use crate::error::VerifyError;
use crate::fetch::{FetchError, Fetcher};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl: Duration,
    pub refresh_after: Duration,
    pub unknown_kid_cooldown: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            refresh_after: Duration::from_secs(2700),
            unknown_kid_cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
struct KeySet {
    keys: Arc<HashMap<String, Jwk>>,
    fetched_at: Instant,
}

#[derive(Default)]
struct Entry {
    keys: RwLock<Option<KeySet>>,
    /// Held while a refresh runs, so refreshes of one issuer never overlap.
    refreshing: tokio::sync::Mutex<()>,
    last_forced: Mutex<Option<Instant>>,
}

struct Inner {
    fetcher: Fetcher,
    policy: CachePolicy,
    entries: Mutex<HashMap<KeyLocation, Arc<Entry>>>,
}

#[derive(Clone)]
pub struct KeyCache(Arc<Inner>);

fn lock_poisoned() -> VerifyError {
    VerifyError::Unreachable("the key cache is unavailable".into())
}

impl KeyCache {
    pub fn new(fetcher: Fetcher, policy: CachePolicy) -> Self {
        Self(Arc::new(Inner {
            fetcher,
            policy,
            entries: Mutex::new(HashMap::new()),
        }))
    }

    fn entry(&self, location: &KeyLocation) -> Result<Arc<Entry>, VerifyError> {
        let mut entries = self.0.entries.lock().map_err(|_| lock_poisoned())?;
        Ok(entries.entry(location.clone()).or_default().clone())
    }

    fn snapshot(entry: &Entry) -> Result<Option<KeySet>, VerifyError> {
        Ok(entry.keys.read().map_err(|_| lock_poisoned())?.clone())
    }

    /// The key with id `kid` for `location`.
    pub async fn key(&self, location: &KeyLocation, kid: &str) -> Result<Jwk, VerifyError> {
        let entry = self.entry(location)?;
        let policy = self.0.policy;
        let keys = match Self::snapshot(&entry)? {
            None => self.refresh(location, &entry, None).await?,
            Some(set) if set.fetched_at.elapsed() >= policy.ttl => {
                // Expired: try to refresh, but the last good keys beat no keys.
                match self.refresh(location, &entry, Some(set.fetched_at)).await {
                    Ok(fresh) => fresh,
                    Err(err) => {
                        tracing::warn!(error = %err, "keeping expired signing keys: the identity provider did not answer");
                        set
                    }
                }
            }
            Some(set) => {
                if set.fetched_at.elapsed() >= policy.refresh_after {
                    self.refresh_in_background(location, &entry, set.fetched_at);
                }
                set
            }
        };
        if let Some(jwk) = keys.keys.get(kid) {
            return Ok(jwk.clone());
        }
        // Unknown kid: perhaps the provider rotated. Look again, at most once per cool-down.
        let may_force = {
            let mut last = entry.last_forced.lock().map_err(|_| lock_poisoned())?;
            let allowed = last.is_none_or(|at| at.elapsed() >= policy.unknown_kid_cooldown);
            if allowed {
                *last = Some(Instant::now());
            }
            allowed
        };
        if may_force
            && let Ok(fresh) = self.refresh(location, &entry, Some(keys.fetched_at)).await
            && let Some(jwk) = fresh.keys.get(kid)
        {
            return Ok(jwk.clone());
        }
        Err(VerifyError::invalid(
            "Couldn't verify signed token: no key with this kid.",
        ))
    }

    fn refresh_in_background(&self, location: &KeyLocation, entry: &Arc<Entry>, seen: Instant) {
        let (cache, location, entry) = (self.clone(), location.clone(), entry.clone());
        tokio::spawn(async move {
            if let Err(err) = cache.refresh(&location, &entry, Some(seen)).await {
                tracing::warn!(error = %err, "background refresh of signing keys failed");
            }
        });
    }

    /// Fetches the keys unless another caller already replaced the set fetched at `seen`.
    async fn refresh(
        &self,
        location: &KeyLocation,
        entry: &Entry,
        seen: Option<Instant>,
    ) -> Result<KeySet, VerifyError> {
        let _guard = entry.refreshing.lock().await;
        if let Some(current) = Self::snapshot(entry)?
            && Some(current.fetched_at) != seen
        {
            return Ok(current); // someone refreshed while we waited
        }
        let fetched = fetch_keys(&self.0.fetcher, location).await;
        let label = match location {
            KeyLocation::Jwks(url) => url.clone(),
            KeyLocation::Discovery { issuer } => issuer.clone(),
        };
        let outcome = if fetched.is_ok() { "ok" } else { "error" };
        metrics::counter!("idbroker_jwks_fetches_total", "source" => label, "outcome" => outcome)
            .increment(1);
        let keys = fetched?;
        let set = KeySet {
            keys: Arc::new(keys),
            fetched_at: Instant::now(),
        };
        *entry.keys.write().map_err(|_| lock_poisoned())? = Some(set.clone());
        Ok(set)
    }
}

fn unreachable(err: FetchError) -> VerifyError {
    match err {
        FetchError::Status(status, _) => VerifyError::Unreachable(format!(
            "The identity provider answered HTTP {status} for its signing keys."
        )),
        FetchError::Unreachable(detail) => VerifyError::Unreachable(format!(
            "The identity provider could not be reached: {detail}"
        )),
    }
}

async fn fetch_keys(
    fetcher: &Fetcher,
    location: &KeyLocation,
) -> Result<HashMap<String, Jwk>, VerifyError> {
    let jwks_url = match location {
        KeyLocation::Jwks(url) => url.clone(),
        KeyLocation::Discovery { issuer } => {
            let doc = fetcher
                .get_json(
                    &format!("{issuer}/.well-known/openid-configuration"),
                    "discovery document",
                )
                .await
                .map_err(unreachable)?;
            // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
            if doc["issuer"].as_str() != Some(issuer.as_str()) {
                return Err(VerifyError::Unreachable(format!(
                    "The discovery document of {issuer} names a different issuer."
                )));
            }
            doc["jwks_uri"]
                .as_str()
                .ok_or_else(|| {
                    VerifyError::Unreachable(format!(
                        "The discovery document of {issuer} has no jwks_uri."
                    ))
                })?
                .to_owned()
        }
    };
    let doc = fetcher
        .get_json(&jwks_url, "key set")
        .await
        .map_err(unreachable)?;
    Ok(parse_key_set(&doc))
}

/// The usable signing keys of a JWKS, by kid. Keys without a kid, for encryption, or of a
/// type we cannot use are skipped rather than spoiling the whole set.
fn parse_key_set(doc: &Value) -> HashMap<String, Jwk> {
    doc["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|jwk| {
            matches!(
                jwk.algorithm,
                AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)
            )
        })
        .filter_map(|jwk| jwk.common.key_id.clone().map(|kid| (kid, jwk)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "good", "alg": "RS256", "use": "sig", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB"},
            {"kty": "weird", "kid": "w"}
        ]});
        let keys = parse_key_set(&doc);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
    }

    #[test]
    fn a_document_without_keys_is_an_empty_set() {
        assert!(parse_key_set(&json!({"nope": 1})).is_empty());
    }
}

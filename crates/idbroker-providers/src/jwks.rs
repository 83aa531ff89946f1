//! A per-issuer cache of signing keys, shared by every request.
//!
//! - Keys are fetched on first use. After `refresh_after` a request that finds them starts a
//!   refresh in the background and uses them at once; past `ttl` they are stale but still
//!   used at once (while one background refresh runs) for up to `max_stale` more, because
//!   the last good keys beat making every login wait for a provider that may be down. Beyond
//!   that they are not used.
//! - At most one fetch per issuer is in flight. It runs in its own task, and every caller
//!   that needs keys meanwhile waits for that fetch's result, success or failure — nobody
//!   waits for more than one fetch timeout, and a caller that gives up does not cancel it.
//! - A failed fetch is remembered with exponential backoff: until it ends, callers without
//!   usable keys fail at once (`Unreachable`) and no fetch is started, so a dead provider
//!   costs one attempt per backoff period, not one per login.
//! - A token with an unknown `kid` may force one refresh per `unknown_kid_cooldown`: providers
//!   rotate keys and new ones must verify without a restart, but a flood of random kids must
//!   not turn idbroker into a load generator against the IdP. While the provider cannot be
//!   reached, an unknown kid is the provider's failure (`Unreachable`), not the token's.
//! - Each issuer has its own entry, task and backoff: one provider's outage never slows
//!   another's logins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::backoff::{Backoff, BackoffPolicy};
use crate::diagnosis::KeyFetch;
use crate::endpoints::KeyLocation;
use crate::error::VerifyError;
use crate::key_source::JwksSource;

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

/// How the verifier treats slow and failing providers (key sets, Facebook, Amazon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamPolicy {
    /// Total time of one fetch: a key refresh (discovery and JWKS together) or one Facebook
    /// or Amazon call. Default 3 s; capped at `fetch::MAX_FETCH_TIMEOUT` (5 s).
    pub fetch_timeout: Duration,
    /// How long past `ttl` cached keys are still used when they cannot be refreshed.
    /// Default 24 h.
    pub max_stale: Duration,
    /// Backoff after failed fetches. Default 1 s doubling to 30 s.
    pub backoff: BackoffPolicy,
    /// Whether a discovered `jwks_uri` may be plain http on a host that is not loopback (when
    /// its issuer is http too): the same switch as `IDBROKER_ALLOW_HTTP_ISSUERS`. Default off.
    pub allow_http: bool,
}

impl Default for UpstreamPolicy {
    fn default() -> Self {
        Self {
            fetch_timeout: crate::fetch::DEFAULT_FETCH_TIMEOUT,
            max_stale: Duration::from_secs(24 * 3600),
            backoff: BackoffPolicy::default(),
            allow_http: false,
        }
    }
}

impl UpstreamPolicy {
    /// The fetch timeout actually used.
    pub fn effective_fetch_timeout(&self) -> Duration {
        self.fetch_timeout.min(crate::fetch::MAX_FETCH_TIMEOUT)
    }
}

#[derive(Clone)]
struct KeySet {
    keys: Arc<HashMap<String, Jwk>>,
    fetched_at: Instant,
}

type Outcome = Result<KeySet, VerifyError>;
/// The result of the one fetch in flight; `None` until it is done.
type Pending = watch::Receiver<Option<Outcome>>;

#[derive(Default)]
struct State {
    keys: Option<KeySet>,
    in_flight: Option<Pending>,
    backoff: Backoff,
    last_forced: Option<Instant>,
}

/// One issuer's keys. The std mutex is only ever held for a few instructions, never across
/// an `.await`.
#[derive(Default)]
struct Entry(Mutex<State>);

struct Inner {
    source: Arc<dyn JwksSource>,
    policy: CachePolicy,
    upstream: UpstreamPolicy,
    entries: Mutex<HashMap<KeyLocation, Arc<Entry>>>,
}

#[derive(Clone)]
pub struct KeyCache(Arc<Inner>);

/// What the cache holds for one issuer, for the admin console: read under the entry's
/// lock, nothing fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCacheState {
    /// Keys in the cached set (0: none cached).
    pub keys: usize,
    /// How long ago the cached set was fetched.
    pub fetched_ago: Option<Duration>,
    /// Failed fetches in a row (0 after a success).
    pub failures: u32,
    /// The last failure, while it is remembered.
    pub last_error: Option<String>,
    /// Whether callers fail at once now (the backoff after a failure).
    pub in_backoff: bool,
}

fn lock_poisoned() -> VerifyError {
    VerifyError::Unreachable("the key cache is unavailable".into())
}

fn no_such_kid() -> VerifyError {
    VerifyError::invalid("Couldn't verify signed token: no key with this kid.")
}

impl KeyCache {
    pub fn new(source: Arc<dyn JwksSource>, policy: CachePolicy, upstream: UpstreamPolicy) -> Self {
        Self(Arc::new(Inner {
            source,
            policy,
            upstream,
            entries: Mutex::new(HashMap::new()),
        }))
    }

    fn entry(&self, location: &KeyLocation) -> Result<Arc<Entry>, VerifyError> {
        let mut entries = self.0.entries.lock().map_err(|_| lock_poisoned())?;
        Ok(entries.entry(location.clone()).or_default().clone())
    }

    /// The state of `location`'s entry; `None` if no token of it was checked since start-up.
    pub fn state(&self, location: &KeyLocation) -> Option<KeyCacheState> {
        let entry = self.0.entries.lock().ok()?.get(location)?.clone();
        let state = entry.0.lock().ok()?;
        let now = Instant::now();
        Some(KeyCacheState {
            keys: state.keys.as_ref().map_or(0, |k| k.keys.len()),
            fetched_ago: state
                .keys
                .as_ref()
                .map(|k| now.saturating_duration_since(k.fetched_at)),
            failures: state.backoff.failures(),
            last_error: state.backoff.last_failure().map(|e| e.to_string()),
            in_backoff: state.backoff.blocked(now).is_some(),
        })
    }

    /// The key with id `kid` for `location`.
    pub async fn key(&self, location: &KeyLocation, kid: &str) -> Result<Jwk, VerifyError> {
        self.key_traced(location, kid).await.0
    }

    /// As `key`, and how the key set was found (for a diagnosis).
    pub async fn key_traced(
        &self,
        location: &KeyLocation,
        kid: &str,
    ) -> (Result<Jwk, VerifyError>, KeyFetch) {
        let mut fetch = KeyFetch::Cached;
        let found = self.lookup(location, kid, &mut fetch).await;
        (found, fetch)
    }

    async fn lookup(
        &self,
        location: &KeyLocation,
        kid: &str,
        fetch: &mut KeyFetch,
    ) -> Result<Jwk, VerifyError> {
        let entry = self.entry(location)?;
        let (keys, just_fetched) = self.usable_keys(location, &entry, fetch).await?;
        if let Some(jwk) = keys.keys.get(kid) {
            return Ok(jwk.clone());
        }
        if just_fetched {
            return Err(no_such_kid()); // looking again now would fetch the same set
        }
        // Unknown kid: perhaps the provider rotated. Look again, at most once per cool-down.
        let pending = {
            let mut state = entry.0.lock().map_err(|_| lock_poisoned())?;
            let now = Instant::now();
            if let Some(err) = state.backoff.blocked(now) {
                *fetch = KeyFetch::InBackoff;
                return Err(err);
            }
            let cooldown = self.0.policy.unknown_kid_cooldown;
            if let Some(pending) = &state.in_flight {
                // A look is under way (forced by another kid, or a refresh): share it.
                pending.clone()
            } else if state
                .last_forced
                .is_some_and(|at| now.duration_since(at) < cooldown)
            {
                // Cannot look again yet; if the last look failed, we do not know the kid
                // is bad, only that the provider is unreachable.
                return Err(state.backoff.last_failure().unwrap_or_else(no_such_kid));
            } else {
                state.last_forced = Some(now);
                self.fetch_shared(location, &entry, &mut state)
            }
        };
        *fetch = KeyFetch::Refetched;
        let fresh = wait(pending).await?;
        fresh.keys.get(kid).cloned().ok_or_else(no_such_kid)
    }

    /// Keys that may be used now, and whether they were fetched for this call. Fresh or
    /// stale-but-bounded keys are returned at once (starting a background refresh when
    /// due); otherwise the caller shares the one fetch in flight, or fails at once while
    /// the provider is in backoff.
    async fn usable_keys(
        &self,
        location: &KeyLocation,
        entry: &Arc<Entry>,
        fetch: &mut KeyFetch,
    ) -> Result<(KeySet, bool), VerifyError> {
        let policy = self.0.policy;
        let pending = {
            let mut state = entry.0.lock().map_err(|_| lock_poisoned())?;
            let now = Instant::now();
            if let Some(set) = state.keys.clone() {
                let age = now.duration_since(set.fetched_at);
                if age < policy.ttl.saturating_add(self.0.upstream.max_stale) {
                    if age >= policy.refresh_after
                        && state.in_flight.is_none()
                        && state.backoff.blocked(now).is_none()
                    {
                        if age >= policy.ttl {
                            tracing::warn!(
                                age_s = age.as_secs(),
                                "using expired signing keys while they are refreshed"
                            );
                        }
                        drop(self.fetch_shared(location, entry, &mut state));
                    }
                    return Ok((set, false));
                }
            }
            if let Some(err) = state.backoff.blocked(now) {
                *fetch = KeyFetch::InBackoff;
                return Err(err);
            }
            self.fetch_shared(location, entry, &mut state)
        };
        *fetch = KeyFetch::Fetched;
        wait(pending).await.map(|set| (set, true))
    }

    /// The fetch in flight for this entry, or a new one. It runs in its own task, bounded
    /// by the fetch timeout, and records its outcome in the entry before announcing it, so
    /// nobody who sees the outcome can find the entry in an older state.
    fn fetch_shared(
        &self,
        location: &KeyLocation,
        entry: &Arc<Entry>,
        state: &mut State,
    ) -> Pending {
        if let Some(pending) = &state.in_flight {
            return pending.clone();
        }
        let (done, pending) = watch::channel(None);
        state.in_flight = Some(pending.clone());
        let (cache, location, entry) = (self.clone(), location.clone(), entry.clone());
        tokio::spawn(async move {
            let outcome = cache.fetch(&location).await;
            if let Ok(mut state) = entry.0.lock() {
                state.in_flight = None;
                match &outcome {
                    Ok(set) => {
                        state.keys = Some(set.clone());
                        state.backoff.succeeded();
                    }
                    Err(err) => {
                        let backoff = &cache.0.upstream.backoff;
                        state.backoff.failed(backoff, Instant::now(), err.clone());
                    }
                }
            }
            // Nobody may be waiting any more (a background refresh): that is fine.
            let _ = done.send(Some(outcome));
        });
        pending
    }

    async fn fetch(&self, location: &KeyLocation) -> Outcome {
        let timeout = self.0.upstream.effective_fetch_timeout();
        let fetched = tokio::time::timeout(timeout, self.0.source.key_set(location))
            .await
            .unwrap_or_else(|_| {
                Err(VerifyError::Unreachable(format!(
                    "The identity provider did not answer within {} ms.",
                    timeout.as_millis()
                )))
            });
        // Bounded: locations are configured or registered issuers, never caller-supplied text.
        let label = match location {
            KeyLocation::Jwks(url) => url.clone(),
            KeyLocation::Discovery { issuer } => issuer.clone(),
        };
        let outcome = if fetched.is_ok() { "ok" } else { "error" };
        metrics::counter!("idbroker_jwks_fetches_total", "source" => label.clone(), "outcome" => outcome)
            .increment(1);
        match fetched {
            Ok(doc) => Ok(KeySet {
                keys: Arc::new(parse_key_set(&doc)),
                fetched_at: Instant::now(),
            }),
            Err(err) => {
                tracing::warn!(source = %label, error = %err, "fetching signing keys failed");
                Err(err)
            }
        }
    }
}

/// Waits for a shared fetch. A fetch task that vanished without an answer (it cannot, short
/// of a panic) reads as an unreachable provider.
async fn wait(mut pending: Pending) -> Outcome {
    let outcome = match pending.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone(),
        Err(_) => None,
    };
    outcome.unwrap_or_else(|| {
        Err(VerifyError::Unreachable(
            "The identity provider's keys could not be fetched.".into(),
        ))
    })
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

//! Verifies the tokens apps bring from identity providers, strictly (RFC 7519, RFC 7517,
//! `docs/spec.md` §6.3), and turns them into `VerifiedLogin`s.
//!
//! - OpenID Connect ID tokens (Google, Apple, Facebook Limited Login, Cognito user pools,
//!   registered issuers): signature with a key from the issuer's JWKS, an algorithm allowlist,
//!   `iss`, `aud`/`azp`, `exp` (5 minutes of skew), `nbf`, `iat` — see `jwt`.
//! - Facebook Graph and Login with Amazon access tokens: asked of the provider's API.
//!
//! Keys are cached per issuer and shared by all requests (`jwks::KeyCache`); the cache gets
//! them from a `JwksSource` (the provider over HTTP, or key sets a test holds in memory). The
//! issuer is checked against the pool's configuration before anything goes over the network.
//! With `remember_verified`, ID tokens already verified are remembered until they expire
//! (`verified_cache`), so a token seen again skips the signature check.

mod backoff;
mod diagnosis;
mod endpoints;
mod error;
mod fetch;
pub mod jwks;
mod jwt;
mod key_source;
mod social;
mod verified_cache;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use idbroker_domain::login::{KeySource, ProviderSpec, VerifiedLogin};
use idbroker_trust::TrustRoots;

pub use backoff::BackoffPolicy;
pub use diagnosis::{Check, Diagnosis, KeyFetch, MAX_CHECK_TEXT};
pub use endpoints::{KeyLocation, ProviderEndpoints};
pub use error::VerifyError;
pub use fetch::{DEFAULT_FETCH_TIMEOUT, Fetcher, MAX_FETCH_TIMEOUT};
pub use jwks::{CachePolicy, KeyCache, KeyCacheState, UpstreamPolicy};
pub use jwt::unverified_issuer;
pub use key_source::JwksSource;

/// Verifies tokens for one idbroker process; cheap to share behind an `Arc`.
pub struct Verifier {
    fetcher: Fetcher,
    keys: KeyCache,
    endpoints: ProviderEndpoints,
    facebook: social::Gate,
    amazon: social::Gate,
    /// Key-set freshness, also the longest a verified token is remembered.
    policy: CachePolicy,
    verified: Option<verified_cache::VerifiedCache>,
}

impl Verifier {
    /// A verifier with the default `UpstreamPolicy` (3 s fetches, 1–30 s backoff).
    pub fn new(endpoints: ProviderEndpoints, policy: CachePolicy) -> Result<Self, VerifyError> {
        Self::with_upstream(endpoints, policy, UpstreamPolicy::default())
    }

    /// `with_trust` with Mozilla's roots alone.
    pub fn with_upstream(
        endpoints: ProviderEndpoints,
        policy: CachePolicy,
        upstream: UpstreamPolicy,
    ) -> Result<Self, VerifyError> {
        Self::with_trust(endpoints, policy, upstream, &TrustRoots::bundled())
    }

    /// Fetches from providers over HTTPS trusting `roots`.
    pub fn with_trust(
        endpoints: ProviderEndpoints,
        policy: CachePolicy,
        upstream: UpstreamPolicy,
        roots: &TrustRoots,
    ) -> Result<Self, VerifyError> {
        let fetcher = Fetcher::new(upstream.effective_fetch_timeout(), roots)?;
        let keys = Arc::new(key_source::HttpJwks {
            fetcher: fetcher.clone(),
            allow_http: upstream.allow_http,
        });
        Ok(Self::with_fetcher(
            endpoints, policy, upstream, fetcher, keys,
        ))
    }

    /// As `with_upstream`, with ID-token signing keys from `keys` instead of the providers'
    /// JWKS endpoints (Facebook and Amazon access tokens still go to their APIs).
    pub fn with_key_source(
        endpoints: ProviderEndpoints,
        policy: CachePolicy,
        upstream: UpstreamPolicy,
        keys: Arc<dyn JwksSource>,
    ) -> Result<Self, VerifyError> {
        let fetcher = Fetcher::new(upstream.effective_fetch_timeout(), &TrustRoots::bundled())?;
        Ok(Self::with_fetcher(
            endpoints, policy, upstream, fetcher, keys,
        ))
    }

    fn with_fetcher(
        endpoints: ProviderEndpoints,
        policy: CachePolicy,
        upstream: UpstreamPolicy,
        fetcher: Fetcher,
        keys: Arc<dyn JwksSource>,
    ) -> Self {
        Self {
            keys: KeyCache::new(keys, policy, upstream),
            fetcher,
            endpoints,
            facebook: social::Gate::new("Facebook", upstream),
            amazon: social::Gate::new("Login with Amazon", upstream),
            policy,
            verified: None,
        }
    }

    /// The key cache's state for a registered OpenID Connect issuer (keys found through its
    /// discovery document); `None` if none of its tokens was checked since start-up.
    pub fn discovery_key_cache(&self, issuer: &str) -> Option<KeyCacheState> {
        self.keys.state(&KeyLocation::Discovery {
            issuer: issuer.to_owned(),
        })
    }

    /// Remembers up to `entries` verified ID tokens (0: none, the default), each until it
    /// expires and never longer than the key set it was checked against is used without a
    /// refresh (`CachePolicy::refresh_after`). See `verified_cache`.
    #[must_use]
    pub fn remember_verified(mut self, entries: usize) -> Self {
        self.verified = verified_cache::VerifiedCache::new(entries, self.policy.refresh_after);
        self
    }

    /// How a token under `spec` is checked: an ID token against these rules and keys, or an
    /// access token asked of its provider. Facebook Limited Login tokens are OIDC ID tokens
    /// from https://www.facebook.com.
    fn route(&self, spec: &ProviderSpec, token: &str) -> Route {
        match spec {
            ProviderSpec::OidcIdToken {
                issuers,
                client_ids,
                keys,
                require_id_token_use,
            } => Route::IdToken {
                issuers: issuers.clone(),
                client_ids: client_ids.clone(),
                require_id_token_use: *require_id_token_use,
                location: self.endpoints.locate(keys),
            },
            ProviderSpec::Facebook { app_id } if jwt::looks_like_jwt(token) => Route::IdToken {
                issuers: vec!["https://www.facebook.com".to_owned()],
                client_ids: vec![app_id.clone()],
                require_id_token_use: false,
                location: self.endpoints.locate(&KeySource::BuiltIn(
                    idbroker_domain::login::BuiltInKeys::FacebookLimitedLogin,
                )),
            },
            ProviderSpec::Facebook { .. } | ProviderSpec::Amazon { .. } => Route::AccessToken,
        }
    }

    /// Verifies `token`, presented under the Logins key `key`, as `spec` says.
    pub async fn verify(
        &self,
        key: &str,
        spec: &ProviderSpec,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedLogin, VerifyError> {
        match self.route(spec, token) {
            Route::IdToken {
                issuers,
                client_ids,
                require_id_token_use,
                location,
            } => {
                let rules = jwt::Rules {
                    issuers: &issuers,
                    client_ids: &client_ids,
                    require_id_token_use,
                };
                let Some(cache) = &self.verified else {
                    return jwt::verify(key, token, &rules, &location, &self.keys, now).await;
                };
                let question = verified_cache::Question::new(key, token, &rules, &location);
                if let Some(login) = cache.get(&question, now) {
                    metrics::counter!("idbroker_verified_token_cache_hits_total").increment(1);
                    return Ok(login);
                }
                let login = jwt::verify(key, token, &rules, &location, &self.keys, now).await?;
                cache.put(question, &login, now);
                Ok(login)
            }
            Route::AccessToken => self.ask_provider(key, spec, token).await,
        }
    }

    /// As `verify`, with every check recorded (an admin's dry run): the same checks in the
    /// same order, going on past a failure where later checks still mean something. Its
    /// `outcome` is what `verify` answers. Keys are fetched and cached exactly as `verify`
    /// would; nothing else changes.
    pub async fn diagnose(
        &self,
        key: &str,
        spec: &ProviderSpec,
        token: &str,
        now: DateTime<Utc>,
    ) -> Diagnosis {
        match self.route(spec, token) {
            Route::IdToken {
                issuers,
                client_ids,
                require_id_token_use,
                location,
            } => {
                let rules = jwt::Rules {
                    issuers: &issuers,
                    client_ids: &client_ids,
                    require_id_token_use,
                };
                jwt::diagnose(key, token, &rules, &location, &self.keys, now).await
            }
            Route::AccessToken => {
                // Only the provider can judge an access token: one check, its answer.
                let outcome = self.ask_provider(key, spec, token).await;
                let mut rec = diagnosis::Recorder::thorough();
                let failure = outcome.as_ref().err().cloned();
                let got = match &outcome {
                    Ok(login) => format!("a valid token of user {}", login.login.subject),
                    Err(err) => err.to_string(),
                };
                let _ = rec.check(
                    "provider_api",
                    failure.map_or(Ok(()), Err),
                    || "the provider's API vouches for the token and the app".to_owned(),
                    || got,
                );
                let claims = outcome
                    .as_ref()
                    .map(|login| login.claims.clone())
                    .unwrap_or_default();
                let verified = outcome.is_ok();
                rec.into_diagnosis(outcome, claims, verified)
            }
        }
    }

    async fn ask_provider(
        &self,
        key: &str,
        spec: &ProviderSpec,
        token: &str,
    ) -> Result<VerifiedLogin, VerifyError> {
        match spec {
            ProviderSpec::Amazon { client_id } => {
                social::amazon(
                    &self.fetcher,
                    &self.amazon,
                    &self.endpoints,
                    key,
                    client_id,
                    token,
                )
                .await
            }
            ProviderSpec::Facebook { app_id } => {
                social::facebook(
                    &self.fetcher,
                    &self.facebook,
                    &self.endpoints,
                    key,
                    app_id,
                    token,
                )
                .await
            }
            // `route` sends ID tokens elsewhere.
            ProviderSpec::OidcIdToken { .. } => Err(VerifyError::Rejected(
                "Invalid login token. Not a valid OpenId Connect identity token.".into(),
            )),
        }
    }
}

/// How one token is checked (see `Verifier::route`).
enum Route {
    IdToken {
        issuers: Vec<String>,
        client_ids: Vec<String>,
        require_id_token_use: bool,
        location: KeyLocation,
    },
    AccessToken,
}

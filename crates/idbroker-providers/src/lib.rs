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

mod backoff;
mod endpoints;
mod error;
mod fetch;
pub mod jwks;
mod jwt;
mod key_source;
mod social;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use idbroker_domain::login::{KeySource, ProviderSpec, VerifiedLogin};
use idbroker_trust::TrustRoots;

pub use backoff::BackoffPolicy;
pub use endpoints::{KeyLocation, ProviderEndpoints};
pub use error::VerifyError;
pub use fetch::{DEFAULT_FETCH_TIMEOUT, Fetcher, MAX_FETCH_TIMEOUT};
pub use jwks::{CachePolicy, KeyCache, UpstreamPolicy};
pub use key_source::JwksSource;

/// Verifies tokens for one idbroker process; cheap to share behind an `Arc`.
pub struct Verifier {
    fetcher: Fetcher,
    keys: KeyCache,
    endpoints: ProviderEndpoints,
    facebook: social::Gate,
    amazon: social::Gate,
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
        match spec {
            ProviderSpec::OidcIdToken {
                issuers,
                client_ids,
                keys,
                require_id_token_use,
            } => {
                let rules = jwt::Rules {
                    issuers,
                    client_ids,
                    require_id_token_use: *require_id_token_use,
                };
                let location = self.endpoints.locate(keys);
                jwt::verify(key, token, &rules, &location, &self.keys, now).await
            }
            ProviderSpec::Facebook { app_id } if jwt::looks_like_jwt(token) => {
                // Facebook Limited Login: an OIDC ID token from https://www.facebook.com.
                let issuers = ["https://www.facebook.com".to_owned()];
                let client_ids = [app_id.clone()];
                let rules = jwt::Rules {
                    issuers: &issuers,
                    client_ids: &client_ids,
                    require_id_token_use: false,
                };
                let location = self.endpoints.locate(&KeySource::BuiltIn(
                    idbroker_domain::login::BuiltInKeys::FacebookLimitedLogin,
                ));
                jwt::verify(key, token, &rules, &location, &self.keys, now).await
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
        }
    }
}

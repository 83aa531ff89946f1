//! Where the key cache gets an issuer's key set. The cache (`jwks`) decides when to ask and
//! what to do with failures; a `JwksSource` only answers one request for one key set.
//! Production asks the provider over HTTP (`HttpJwks`); a test can hold key sets in memory,
//! so the rules above the cache (the service's) are tested without a network.

use async_trait::async_trait;
use idbroker_domain::oidc_provider::check_jwks_uri;
use serde_json::Value;

use crate::endpoints::KeyLocation;
use crate::error::VerifyError;
use crate::fetch::{FetchError, Fetcher};

/// Answers the JWKS document (`{"keys": [...]}`) for a location, or why it cannot:
/// `Unreachable` when the provider did not answer usefully.
#[async_trait]
pub trait JwksSource: Send + Sync {
    async fn key_set(&self, location: &KeyLocation) -> Result<Value, VerifyError>;
}

/// The key set from the provider itself: the JWKS URL, or OpenID Connect discovery first.
pub(crate) struct HttpJwks {
    pub(crate) fetcher: Fetcher,
    /// See `UpstreamPolicy::allow_http`.
    pub(crate) allow_http: bool,
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

#[async_trait]
impl JwksSource for HttpJwks {
    async fn key_set(&self, location: &KeyLocation) -> Result<Value, VerifyError> {
        let jwks_url = match location {
            KeyLocation::Jwks(url) => url.clone(),
            KeyLocation::Discovery { issuer } => {
                let doc = self
                    .fetcher
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
                let jwks_uri = doc["jwks_uri"].as_str().ok_or_else(|| {
                    VerifyError::Unreachable(format!(
                        "The discovery document of {issuer} has no jwks_uri."
                    ))
                })?;
                // The keys must come over a transport as safe as the issuer's own.
                check_jwks_uri(issuer, jwks_uri, self.allow_http).map_err(|why| {
                    VerifyError::Unreachable(format!(
                        "The discovery document of {issuer} names a jwks_uri that cannot be used: {why}."
                    ))
                })?;
                jwks_uri.to_owned()
            }
        };
        self.fetcher
            .get_json(&jwks_url, "key set")
            .await
            .map_err(unreachable)
    }
}

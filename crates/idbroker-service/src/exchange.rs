//! Token exchange (RFC 8693) for other clouds: a subject token — a provider login the pool
//! trusts, or one of idbroker's own tokens — becomes an idbroker token for the identity it
//! proves, with the requested audience: the pool id, or one of the pool's extra audiences
//! (`exchange_audiences`). Google Cloud Workload Identity Federation, Azure federated
//! credentials and internal APIs then trust idbroker as an OpenID Connect issuer
//! (docs/other-clouds.md). A token with an extra audience is for them only: idbroker itself
//! accepts only tokens whose `aud` is the pool id (`own_proof`, `own_subject`).
//!
//! It is GetId followed by GetOpenIdToken, so the identity, its linking and the token's claims
//! are exactly what those operations give: a provider login no identity owns yet creates one,
//! as GetId would; a disabled or revoked identity is refused. Only the classic-flow check of
//! GetOpenIdToken is left out: that flag is about AWS roles, which this token is not for.

use std::collections::BTreeMap;

use idbroker_domain::exchange_audiences::is_audience_shaped;
use idbroker_domain::oidc_provider::issuer_key;
use idbroker_domain::{IdentityId, IdentityPoolId};
use idbroker_providers::unverified_issuer;
use idbroker_store::StoredPool;

use crate::logins::COGNITO_IDENTITY_KEY;
use crate::{Broker, ServiceError};

/// The token an exchange issues.
#[derive(Debug)]
pub struct Exchanged {
    pub identity: IdentityId,
    pub token: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// Why an exchange was refused, in the classes RFC 6749 §5.2 / RFC 8693 §2.2.2 name.
#[derive(Debug)]
pub enum ExchangeError {
    /// The audience (or resource) names no identity pool of this broker, or no pool accepts
    /// the audience, or several do and no resource chose one.
    InvalidTarget(String),
    /// The subject token proves no usable identity of the pool (not a JWT, a provider the pool
    /// does not trust, a bad signature, expired, another pool's token, a disabled identity).
    InvalidGrant(String),
    /// Anything else: validation, rate limits, an unreachable provider, the store.
    Service(ServiceError),
}

impl From<ServiceError> for ExchangeError {
    fn from(err: ServiceError) -> Self {
        Self::Service(err)
    }
}

/// A refused proof is a bad grant; everything else keeps its kind. The message never carries
/// the token (the verifiers' messages never do).
fn grant(err: ServiceError) -> ExchangeError {
    match err {
        ServiceError::NotAuthorized(message) | ServiceError::ResourceNotFound(message) => {
            ExchangeError::InvalidGrant(message)
        }
        other => ExchangeError::Service(other),
    }
}

/// Pools an extra audience is looked up in: two are enough to know it is ambiguous.
const AMBIGUOUS: u32 = 2;

impl Broker {
    /// The pool an exchange is for: `resource` when given (a pool id, which must accept
    /// `audience`), else the pool `audience` names, else the one pool that lists `audience`
    /// among its extra audiences.
    async fn exchange_pool(
        &self,
        audience: &str,
        resource: Option<&str>,
    ) -> Result<StoredPool, ExchangeError> {
        let load = |what: &'static str| {
            move |e: ServiceError| match e {
                ServiceError::ResourceNotFound(_) | ServiceError::Validation(_) => {
                    ExchangeError::InvalidTarget(format!(
                        "The {what} is not an identity pool of this broker."
                    ))
                }
                other => ExchangeError::Service(other),
            }
        };
        if let Some(resource) = resource {
            let pool = self
                .load_pool_for_use(resource)
                .await
                .map_err(load("resource"))?;
            let accepted = audience == pool.pool.id.as_str()
                || pool.pool.exchange_audiences.iter().any(|a| a == audience);
            if !accepted {
                return Err(ExchangeError::InvalidTarget(
                    "The audience is neither the resource's identity pool id nor one of its exchange_audiences.".into(),
                ));
            }
            return Ok(pool);
        }
        if IdentityPoolId::parse("audience", audience).is_ok() || !is_audience_shaped(audience) {
            return self
                .load_pool_for_use(audience)
                .await
                .map_err(load("audience"));
        }
        let pools = self
            .store
            .pools_accepting_audience(audience, AMBIGUOUS)
            .await
            .map_err(ServiceError::from)?;
        match pools.as_slice() {
            [] => Err(ExchangeError::InvalidTarget(
                "The audience is neither an identity pool of this broker nor one of a pool's exchange_audiences.".into(),
            )),
            [pool] => self
                .load_pool_for_use(pool.as_str())
                .await
                .map_err(load("audience")),
            _ => Err(ExchangeError::InvalidTarget(
                "Several identity pools accept this audience: name the pool's id in resource."
                    .into(),
            )),
        }
    }

    /// Exchanges `subject_token` for a token of `audience` (a pool id or an extra audience of
    /// the pool; `resource`, a pool id, chooses the pool when several accept the audience). The
    /// token's unverified `iss` only chooses how it is verified: our issuer means one of our
    /// tokens (for exactly that pool, with the pool id as audience), anything else is the
    /// Logins key `iss` without its scheme (as the pool's providers are keyed:
    /// `accounts.google.com`, a registered issuer, a user pool). `admit` charges the pool's
    /// GetId limit when a provider login is exchanged.
    #[tracing::instrument(skip_all)]
    pub async fn exchange_token(
        &self,
        audience: &str,
        resource: Option<&str>,
        subject_token: &str,
        admit: impl FnOnce(&idbroker_domain::IdentityPoolId) -> Result<(), u64>,
    ) -> Result<Exchanged, ExchangeError> {
        let pool = self.exchange_pool(audience, resource).await?;
        let issuer = unverified_issuer(subject_token).ok_or_else(|| {
            ExchangeError::InvalidGrant("The subject token is not a JWT with an issuer.".into())
        })?;
        let (identity, logins) = if issuer == self.issuer.issuer() {
            (
                self.own_subject(subject_token, &pool)?,
                own_login(subject_token),
            )
        } else {
            let key = issuer_key(&issuer).to_owned();
            if self.is_own_key(&key) {
                return Err(ExchangeError::InvalidGrant(
                    "The subject token's issuer is not a provider.".into(),
                ));
            }
            let logins = BTreeMap::from([(key, subject_token.to_owned())]);
            let id = self
                .get_id(pool.pool.id.as_str(), None, &logins, admit)
                .await
                .map_err(grant)?;
            (id, logins)
        };
        let resolved = self
            .resolve_identity(identity.as_str(), &logins, |_| Ok(()))
            .await
            .map_err(grant)?;
        if resolved.identity.is_guest()
            && !resolved.pool.pool.config.allow_unauthenticated_identities
        {
            return Err(ExchangeError::InvalidGrant(
                "Unauthenticated access is not supported for this identity pool.".into(),
            ));
        }
        let mut request = self.token_request(&resolved).await?;
        if audience != resolved.pool.pool.id.as_str() {
            request.audience = Some(audience.to_owned());
        }
        let expires_in = request.lifetime.num_seconds();
        let token = self.mint(request)?;
        metrics::counter!("idbroker_token_exchanges_total").increment(1);
        tracing::info!(identity_id = %resolved.identity.id, "token exchanged");
        Ok(Exchanged {
            identity: resolved.identity.id,
            token,
            expires_in,
        })
    }

    /// The identity one of our own tokens is for, if it is a valid token for `pool`.
    fn own_subject(&self, token: &str, pool: &StoredPool) -> Result<IdentityId, ExchangeError> {
        let claims = self
            .issuer
            .verify_own(token, self.clock.now())
            .ok_or_else(|| {
                ExchangeError::InvalidGrant("Not a valid token from this broker.".into())
            })?;
        if claims.get("aud").and_then(|a| a.as_str()) != Some(pool.pool.id.as_str()) {
            return Err(ExchangeError::InvalidGrant(
                "The subject token was issued for another identity pool.".into(),
            ));
        }
        let sub = claims.get("sub").and_then(|s| s.as_str()).unwrap_or("");
        IdentityId::parse("sub", sub)
            .map_err(|_| ExchangeError::InvalidGrant("The subject token names no identity.".into()))
    }
}

/// Our own token as a Logins entry (the key the AWS SDKs use for it).
fn own_login(token: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(COGNITO_IDENTITY_KEY.to_owned(), token.to_owned())])
}

//! Tokens idbroker signs (`docs/spec.md` §6.8): GetOpenIdToken, and the minting shared with the
//! developer flow and, later, GetCredentialsForIdentity.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use idbroker_domain::login::{LoginRef, VerifiedLogin, registered_oidc_arn};
use idbroker_domain::{IdentityId, PoolArn, PoolConfig};
use idbroker_store::StoredPool;
use serde_json::{Value, json};

use crate::{Broker, ServiceError, ServiceResult};

/// GetOpenIdToken tokens are "valid for 10 minutes" (API reference), unless the pool says
/// otherwise (`PoolLifetimes`).
pub const OPEN_ID_TOKEN_LIFETIME: Duration = Duration::seconds(600);

/// What goes into one token besides the fixed claims.
pub(crate) struct TokenRequest<'a> {
    pub pool: &'a StoredPool,
    pub identity: &'a IdentityId,
    pub amr: Vec<String>,
    /// Session tags (key → value); empty means no tags claim.
    pub tags: BTreeMap<String, String>,
    pub lifetime: Duration,
    /// `aud`: the pool id unless an exchange asked for one of the pool's extra audiences.
    pub audience: Option<String>,
}

/// The `amr` entries of the logins verified in this call, as Cognito writes them: each login's
/// provider key, and for a registered OpenID Connect provider also
/// `<IAM OIDC provider ARN>:OIDC:<sub>`, the `sub` of the token presented now (the verifier
/// refuses one longer than 255 characters, so the entry stays small). Built-in providers and
/// user pools get their key only.
pub(crate) fn login_amr(config: &PoolConfig, verified: &[VerifiedLogin]) -> Vec<String> {
    let mut amr = Vec::new();
    for login in verified {
        let LoginRef { provider, subject } = &login.login;
        amr.push(provider.clone());
        if let Some(arn) = registered_oidc_arn(config, provider) {
            amr.push(format!("{arn}:OIDC:{subject}"));
        }
    }
    amr
}

impl Broker {
    /// The claims of a token for an identity: `iss`, `aud` = pool id (or an exchange's extra
    /// audience), `sub` = identity id,
    /// `amr`, integer `iat`/`exp`, `jti`, the pool-ARN claim, and principal tags when there are
    /// any.
    pub(crate) fn token_claims(&self, request: &TokenRequest<'_>, now: DateTime<Utc>) -> Value {
        let issuer = self.issuer.issuer();
        let arn = PoolArn::new(
            &self.settings.region,
            &self.settings.account_id,
            &request.pool.pool.id,
        );
        let mut claims = json!({
            "iss": issuer,
            "aud": request.audience.as_deref().unwrap_or(request.pool.pool.id.as_str()),
            "sub": request.identity.as_str(),
            "amr": request.amr,
            "iat": now.timestamp(),
            "exp": (now + request.lifetime).timestamp(),
            "jti": uuid::Uuid::new_v4().to_string(),
            format!("{issuer}/identity-pool-arn"): arn.to_string(),
        });
        if !request.tags.is_empty() {
            // STS session tags: single-element arrays; only `principal_tags`, as in the real
            // service's tokens (no `transitive_tag_keys`).
            let principal: serde_json::Map<String, Value> = request
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect();
            claims["https://aws.amazon.com/tags"] = json!({"principal_tags": principal});
        }
        claims
    }

    /// Signs a token for an identity with `token_claims`.
    pub(crate) fn mint(&self, request: TokenRequest<'_>) -> ServiceResult<String> {
        let now = self.clock.now();
        let claims = self.token_claims(&request, now);
        let token = self.issuer.sign(&claims, now)?;
        metrics::counter!("idbroker_tokens_minted_total").increment(1);
        Ok(token)
    }

    /// The classic (basic) flow is only for pools that allow it and have no role mappings.
    fn check_classic_flow(pool: &StoredPool) -> ServiceResult<()> {
        if pool.pool.config.allow_classic_flow == Some(false) {
            return Err(ServiceError::InvalidParameter(
                "Basic (classic) flow is not enabled, please use enhanced flow.".into(),
            ));
        }
        if !pool.roles.role_mappings.is_empty() {
            return Err(ServiceError::InvalidParameter(
                "Basic (classic) flow is not supported with RoleMappings, please use enhanced flow.".into(),
            ));
        }
        Ok(())
    }

    /// GetOpenIdToken: links the presented logins to the identity (see `resolve_identity`) and
    /// returns a 10-minute token for it. Guest tokens only for guest identities of pools that
    /// still allow guests.
    #[tracing::instrument(skip_all, fields(identity_id = %crate::loggable(identity_id)))]
    pub async fn get_open_id_token(
        &self,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
    ) -> ServiceResult<(IdentityId, String)> {
        let resolved = self
            .resolve_identity(identity_id, logins, Self::check_classic_flow)
            .await?;
        if resolved.identity.is_guest()
            && !resolved.pool.pool.config.allow_unauthenticated_identities
        {
            return Err(ServiceError::NotAuthorized(
                "Unauthenticated access is not supported for this identity pool.".into(),
            ));
        }
        let token = self.token_for(&resolved).await?;
        Ok((resolved.identity.id, token))
    }

    /// A 10-minute token for a resolved identity, with the `amr` and session tags its logins give.
    pub(crate) async fn token_for(
        &self,
        resolved: &crate::ResolvedIdentity,
    ) -> ServiceResult<String> {
        let request = self.token_request(resolved).await?;
        self.mint(request)
    }

    /// What goes into the token for a resolved identity (see `token_for`).
    pub(crate) async fn token_request<'a>(
        &self,
        resolved: &'a crate::ResolvedIdentity,
    ) -> ServiceResult<TokenRequest<'a>> {
        let amr = if resolved.identity.is_guest() {
            vec!["unauthenticated".to_owned()]
        } else {
            let mut amr = vec!["authenticated".to_owned()];
            amr.extend(login_amr(&resolved.pool.pool.config, &resolved.verified));
            amr.extend(
                resolved
                    .own_amr
                    .iter()
                    .filter(|a| *a != "authenticated")
                    .cloned(),
            );
            amr.dedup();
            amr
        };
        // Tags the presented idbroker token carried (a backend's PrincipalTags) stay; the
        // verified logins' maps add theirs.
        let mut tags = resolved.own_tags.clone();
        tags.extend(
            self.principal_tags(&resolved.pool, &resolved.verified)
                .await?,
        );
        // The pool's lifetime, if it sets one (checked against the key policy when set).
        let pool_lifetime = Duration::seconds(
            resolved
                .pool
                .pool
                .lifetimes
                .open_id_token_seconds(OPEN_ID_TOKEN_LIFETIME.num_seconds()),
        );
        // A token minted from one of ours never outlives it: no renewing forever.
        let lifetime = match resolved.own_expires_at {
            Some(exp) => {
                let left = Duration::seconds(exp - self.clock.now().timestamp());
                left.clamp(Duration::seconds(1), pool_lifetime)
            }
            None => pool_lifetime,
        };
        Ok(TokenRequest {
            pool: &resolved.pool,
            identity: &resolved.identity.id,
            amr,
            tags,
            lifetime,
            audience: None,
        })
    }

    /// Session tags from the pool's principal-tag maps and the verified claims of this call.
    pub(crate) async fn principal_tags(
        &self,
        pool: &StoredPool,
        verified: &[idbroker_domain::login::VerifiedLogin],
    ) -> ServiceResult<BTreeMap<String, String>> {
        let mut tags = BTreeMap::new();
        for login in verified {
            if let Some(map) = self
                .store
                .get_principal_tag_map(&pool.pool.id, &login.login.provider)
                .await?
            {
                tags.extend(map.tags_for(&login.claims));
            }
        }
        Ok(tags)
    }
}

impl Broker {
    /// The published signing keys, for admins.
    pub fn signing_keys(&self) -> ServiceResult<Vec<idbroker_issuer::KeyInfo>> {
        Ok(self.issuer.keys()?)
    }

    /// Schedules the next signing key now (an admin's forced rotation).
    pub async fn rotate_signing_keys(&self) -> ServiceResult<()> {
        let plan = self.issuer.maintain(self.clock.now(), true).await?;
        tracing::info!(?plan, "signing key rotation requested");
        self.audit(
            "RotateSigningKeys",
            "signing-keys",
            None,
            Some(serde_json::json!(format!("{plan:?}"))),
        )
        .await;
        Ok(())
    }

    /// Periodic upkeep of the signing keys: rotate when due, pick up other replicas' keys.
    pub async fn maintain_signing_keys(&self) -> ServiceResult<()> {
        self.issuer.maintain(self.clock.now(), false).await?;
        Ok(())
    }
}

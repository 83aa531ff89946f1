//! Federated logins: verifying the tokens of a `Logins` map and applying them to identities
//! (`docs/spec.md` §6.2–§6.4). GetId, and later GetOpenIdToken and GetCredentialsForIdentity, share
//! `verify_logins` and `resolve_identity`; UnlinkIdentity removes logins with proof of ownership.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;
use idbroker_domain::linking::{LinkRules, Trust};
use idbroker_domain::login::{LoginRef, OidcIssuers, VerifiedLogin, classify};
use idbroker_domain::oidc_provider::issuer_key;
use idbroker_domain::pool::oidc_provider_key;
use idbroker_domain::validation::{check_count, check_len};
use idbroker_domain::{Identity, IdentityId, IdentityPoolId, PoolConfig, ValidationError};
use idbroker_store::{StoreError, StoredPool};
use uuid::Uuid;

use crate::{Broker, ServiceError, ServiceResult};

/// LoginsMap: at most 10 entries, keys 1–128, tokens 1–50000 characters. Tokens are never echoed.
pub(crate) fn validate_logins(logins: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    check_count("logins", logins.len(), 10)?;
    for (provider, token) in logins {
        check_len("logins.key", provider, 1, 128)?;
        let len = token.chars().count();
        if !(1..=50_000).contains(&len) {
            return Err(ValidationError::constraint_no_echo(
                "logins.value",
                "Member must have length between 1 and 50000",
            ));
        }
    }
    Ok(())
}

/// The registered OpenID Connect providers a pool uses, looked up once per request.
pub(crate) struct Registered(HashMap<String, (String, Vec<String>)>);

impl OidcIssuers for Registered {
    fn lookup(&self, key: &str) -> Option<(String, Vec<String>)> {
        self.0.get(key).cloned()
    }
}

/// An identity after its logins were checked and applied, with the verified claims of this
/// request (role mapping and principal tags need them; they are never stored).
#[derive(Debug, Clone)]
pub struct ResolvedIdentity {
    pub identity: Identity,
    pub pool: StoredPool,
    pub verified: Vec<VerifiedLogin>,
    /// The `amr` of idbroker tokens presented as logins (developer-authenticated identities).
    pub own_amr: Vec<String>,
    /// When the earliest presented idbroker token expires (epoch seconds): a token minted from
    /// it must not outlive it, or a token could renew itself forever.
    pub own_expires_at: Option<i64>,
    /// The session tags those tokens carry (a backend's PrincipalTags), passed on.
    pub own_tags: BTreeMap<String, String>,
}

/// What one of idbroker's own tokens proves (see `Broker::own_proof`).
pub(crate) struct OwnProof {
    pub amr: Vec<String>,
    pub expires_at: Option<i64>,
    pub tags: BTreeMap<String, String>,
    pub claims: BTreeMap<String, serde_json::Value>,
}

/// The Logins key under which the AWS SDKs pass a developer-authenticated identity's token.
pub const COGNITO_IDENTITY_KEY: &str = "cognito-identity.amazonaws.com";

impl Broker {
    pub(crate) async fn registered_providers(
        &self,
        config: &PoolConfig,
        keys: impl Iterator<Item = &String>,
    ) -> ServiceResult<Registered> {
        let mut found = HashMap::new();
        for key in keys {
            let used_by_pool = config
                .open_id_connect_provider_arns
                .iter()
                .any(|arn| oidc_provider_key(arn) == Some(key.as_str()));
            if used_by_pool && let Some(provider) = self.registered_provider(key).await? {
                found.insert(
                    key.clone(),
                    (provider.issuer.clone(), provider.client_ids.clone()),
                );
            }
        }
        Ok(Registered(found))
    }

    /// A registered provider, from this replica's copy when it has one (every federated login
    /// needs it; it changes only through the admin API, whose events drop the copy).
    async fn registered_provider(
        &self,
        key: &str,
    ) -> ServiceResult<Option<idbroker_domain::oidc_provider::OidcProvider>> {
        let session = self.store.coherence();
        let cache = &self.caches.providers;
        if let Some(provider) = cache.get(&key.to_owned(), session) {
            return Ok(Some(provider));
        }
        let ticket = cache.ticket(session);
        let provider = self.store.get_oidc_provider(key).await?;
        if let Some(provider) = &provider {
            cache.put(
                ticket,
                key.to_owned(),
                provider.clone(),
                self.store.coherence(),
            );
        }
        Ok(provider)
    }

    /// Verifies every token of a Logins map; any failure fails the whole call. Every key is
    /// checked against the pool's providers before any token goes over the network.
    pub(crate) async fn verify_logins(
        &self,
        config: &PoolConfig,
        pool: &IdentityPoolId,
        logins: &BTreeMap<String, String>,
    ) -> ServiceResult<Vec<VerifiedLogin>> {
        // Our own tokens prove an identity, not a login (the real service's words).
        if logins.keys().any(|key| self.is_own_key(key)) {
            return Err(ServiceError::NotAuthorized(
                "Invalid login token. Can't pass in a Cognito token.".into(),
            ));
        }
        // SAML logins (the key is one of the pool's SamlProviderARNs) are verified here; the
        // rest are tokens for `classify` and the verifier.
        let (saml, logins): (BTreeMap<&String, &String>, BTreeMap<&String, &String>) = logins
            .iter()
            .partition(|(key, _)| config.saml_provider_arns.iter().any(|arn| arn == *key));
        let mut saml_verified = Vec::new();
        for (arn, response) in saml {
            saml_verified.push(self.verify_saml_login(config, pool, arn, response).await?);
        }
        let registered = self
            .registered_providers(config, logins.keys().copied())
            .await?;
        let specs = logins
            .keys()
            .map(|key| classify(config, key, &registered))
            .collect::<Result<Vec<_>, _>>()?;
        let now = self.clock.now();
        let checks = logins
            .iter()
            .zip(&specs)
            .map(|((key, token), spec)| self.verifier.verify(key, spec, token, now));
        let mut verified = join_all(checks)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        verified.extend(saml_verified);
        // Key order, as the Logins map gives them (role resolution takes the first mapped).
        verified.sort_by(|a, b| a.login.provider.cmp(&b.login.provider));
        Ok(verified)
    }

    /// The linking rules of this pool; `trust` says who vouches for a named identity.
    pub(crate) fn link_rules(
        stored: &StoredPool,
        trust: Trust,
        exclusive: Option<LoginRef>,
    ) -> LinkRules {
        LinkRules {
            developer_provider: stored.pool.config.developer_provider_name.clone(),
            trust,
            exclusive,
        }
    }

    /// Applies logins: finds, creates, links or merges (see `idbroker_domain::linking`).
    pub(crate) async fn apply_logins(
        &self,
        stored: &StoredPool,
        presented: &[LoginRef],
        target: Option<&IdentityId>,
        rules: &LinkRules,
    ) -> ServiceResult<Identity> {
        let new_id = IdentityId::in_pool(&stored.pool.id, Uuid::new_v4());
        let resolved = self
            .store
            .resolve_logins(
                &stored.pool.id,
                presented,
                target,
                rules,
                &new_id,
                self.clock.now(),
            )
            .await
            .map_err(|e| match e {
                idbroker_store::ResolveError::Store(StoreError::NotFound) => match target {
                    Some(id) => ServiceError::identity_not_found(id),
                    None => ServiceError::pool_not_found(&stored.pool.id),
                },
                other => other.into(),
            })?;
        // This replica forgets at once; the others when the store's event reaches them.
        for gone in &resolved.merged {
            self.forget_identity(gone);
        }
        if resolved.created {
            tracing::info!(identity_id = %resolved.identity.id, "authenticated identity created");
            metrics::counter!("idbroker_identities_created_total", "kind" => "authenticated")
                .increment(1);
        }
        Ok(resolved.identity)
    }

    /// Whether a Logins key names idbroker's own tokens: the key the AWS SDKs use for
    /// developer-authenticated identities, or our issuer without its scheme.
    pub(crate) fn is_own_key(&self, key: &str) -> bool {
        key == COGNITO_IDENTITY_KEY || key == issuer_key(self.issuer.issuer())
    }

    /// The identity an operation that takes IdentityId + Logins acts on (GetOpenIdToken,
    /// GetCredentialsForIdentity): unlinked logins are linked to it (a guest becomes
    /// authenticated and keeps its id), a login owned elsewhere merges, an authenticated
    /// identity needs one of its own logins (or an idbroker token for it), a disabled or
    /// revoked one is refused. `check_pool` runs before anything changes.
    pub async fn resolve_identity(
        &self,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
        check_pool: impl FnOnce(&StoredPool) -> ServiceResult<()>,
    ) -> ServiceResult<ResolvedIdentity> {
        let id = IdentityId::parse("identityId", identity_id)?;
        validate_logins(logins)?;
        let identity = self
            .store
            .get_identity(&id)
            .await?
            .ok_or_else(|| ServiceError::identity_not_found(&id))?;
        let pool = self.load_pool_for_use(identity.pool_id.as_str()).await?;
        check_pool(&pool)?;
        if identity.disabled {
            return Err(crate::revocation::forbidden(&id));
        }
        self.check_not_revoked(&id, &identity.pool_id).await?;

        let (own, public): (BTreeMap<String, String>, BTreeMap<String, String>) = logins
            .clone()
            .into_iter()
            .partition(|(key, _)| self.is_own_key(key));
        let mut own_amr = Vec::new();
        let mut own_expires_at: Option<i64> = None;
        let mut own_tags = BTreeMap::new();
        for token in own.values() {
            let proof = self.own_proof(token, &pool.pool.id, &id)?;
            own_amr.extend(proof.amr);
            if let Some(exp) = proof.expires_at {
                own_expires_at = Some(own_expires_at.map_or(exp, |e| e.min(exp)));
            }
            own_tags.extend(proof.tags);
        }
        let proven = !own.is_empty();
        let verified = self
            .verify_logins(&pool.pool.config, &pool.pool.id, &public)
            .await?;
        let identity = if verified.is_empty() && (proven || identity.is_guest()) {
            // Nothing to link: a guest stays itself (the disabled case was refused above), so
            // no transaction is needed. An authenticated identity without logins goes on to
            // the linking rules, which refuse it.
            identity
        } else {
            let presented: Vec<LoginRef> = verified.iter().map(|v| v.login.clone()).collect();
            let trust = if proven { Trust::Identity } else { Trust::None };
            let rules = Self::link_rules(&pool, trust, None);
            self.apply_logins(&pool, &presented, Some(&id), &rules)
                .await?
        };
        self.mark_guest_used(&identity).await?;
        Ok(ResolvedIdentity {
            identity,
            pool,
            verified,
            own_amr,
            own_expires_at,
            own_tags,
        })
    }

    /// What one of idbroker's own tokens, presented as a login for identity `id` of `pool`,
    /// proves: its `amr`, when it expires and the session tags it carries. Refused unless it
    /// is a valid token of ours for exactly that identity and pool.
    pub(crate) fn own_proof(
        &self,
        token: &str,
        pool: &IdentityPoolId,
        id: &IdentityId,
    ) -> ServiceResult<OwnProof> {
        let claims = self
            .issuer
            .verify_own(token, self.clock.now())
            .ok_or_else(|| {
                ServiceError::NotAuthorized(
                    "Invalid login token. Not a valid token from this broker.".into(),
                )
            })?;
        let for_us = claims.get("aud").and_then(|a| a.as_str()) == Some(pool.as_str())
            && claims.get("sub").and_then(|s| s.as_str()) == Some(id.as_str());
        if !for_us {
            return Err(ServiceError::NotAuthorized(
                "Invalid login token. The token was issued for another identity or identity pool."
                    .into(),
            ));
        }
        Ok(OwnProof {
            amr: claims
                .get("amr")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            expires_at: claims.get("exp").and_then(serde_json::Value::as_i64),
            tags: session_tags(&claims).collect(),
            claims,
        })
    }

    /// UnlinkIdentity: `logins` prove ownership (at least one must be linked to the identity);
    /// `logins_to_remove` names provider keys to unlink. An identity left without logins
    /// becomes inaccessible; an unlinked login makes a new identity next time.
    #[tracing::instrument(skip_all, fields(identity_id = %crate::loggable(identity_id)))]
    pub async fn unlink_identity(
        &self,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
        logins_to_remove: &[String],
    ) -> ServiceResult<()> {
        let id = IdentityId::parse("identityId", identity_id)?;
        validate_logins(logins)?;
        check_count("loginsToRemove", logins_to_remove.len(), 10)?;
        for key in logins_to_remove {
            check_len("loginsToRemove.member", key, 1, 128)?;
        }
        let identity = self
            .store
            .get_identity(&id)
            .await?
            .ok_or_else(|| ServiceError::identity_not_found(&id))?;
        if identity.disabled {
            return Err(ServiceError::NotAuthorized(format!(
                "Access to Identity '{id}' is forbidden."
            )));
        }
        let pool = self.load_pool_for_use(identity.pool_id.as_str()).await?;
        let verified = self
            .verify_logins(&pool.pool.config, &pool.pool.id, logins)
            .await?;
        let proven = verified.iter().any(|v| identity.logins.contains(&v.login));
        if !proven {
            return Err(ServiceError::NotAuthorized(
                "Logins don't match. Please include at least one valid login for this identity or identity pool.".into(),
            ));
        }
        self.store
            .unlink_logins(&id, logins_to_remove, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::identity_not_found(&id),
                other => other.into(),
            })?;
        // Its logins' owner changed; left without logins it is disabled, and with fewer its
        // sessions change anyway: nothing this replica kept about it holds.
        self.forget_identity(&id);
        tracing::info!(removed = ?logins_to_remove, "logins unlinked");
        Ok(())
    }
}

/// The session tags of one of idbroker's own tokens (`principal_tags`, single-element arrays).
fn session_tags(
    claims: &std::collections::BTreeMap<String, serde_json::Value>,
) -> impl Iterator<Item = (String, String)> + '_ {
    claims
        .get("https://aws.amazon.com/tags")
        .and_then(|t| t.get("principal_tags"))
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            let value = value.get(0).and_then(serde_json::Value::as_str)?;
            Some((key.clone(), value.to_owned()))
        })
}

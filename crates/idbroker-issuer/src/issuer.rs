//! The key ring: what is published (JWKS, discovery document), which key signs now, and its
//! upkeep. Every replica keeps the ring in memory, built from the store; `maintain` rotates
//! through the store's lock (so replicas never rotate twice) and reloads.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use idbroker_domain::signing::{KeyPolicy, KeyTimes, RotationPlan, plan_rotation, signing_key};
use idbroker_store::{NewKey, SigningKeyStore, StoreError};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::keys::{SigningAlg, encoding_key, generate, public_jwk};
use crate::sealing::MasterKey;
use crate::signer::JwtSigner;

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(
        "IDBROKER_MASTER_KEY does not match the key that sealed the stored signing keys (stored kek id {stored}, this master key's kek id {ours}); start with the original master key. Nothing was changed."
    )]
    WrongMasterKey { stored: String, ours: String },
    #[error("no signing key is available")]
    NoSigningKey,
    #[error("signing-key cryptography failed: {0}")]
    Crypto(&'static str),
    #[error("signing-key storage failed")]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// `IDBROKER_ISSUER`: the `iss` of every token and the base of the discovery URLs.
    pub issuer: String,
    pub alg: SigningAlg,
    pub policy: KeyPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    Current,
    /// Published until the tokens it signed have expired.
    Retiring,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    pub signs_from: DateTime<Utc>,
    pub signs_until: Option<DateTime<Utc>>,
    pub published_until: Option<DateTime<Utc>>,
}

struct Signer {
    times: KeyTimes,
    key: JwtSigner,
}

/// What the HTTP face serves, prepared once per reload.
pub struct Published {
    pub jwks_json: String,
    pub discovery_json: String,
    keys: Vec<KeyInfo>,
    verifiers: BTreeMap<String, (Algorithm, DecodingKey)>,
    signers: Vec<Signer>,
}

pub struct Issuer {
    store: Arc<dyn SigningKeyStore>,
    master: MasterKey,
    config: IssuerConfig,
    ring: RwLock<Arc<Published>>,
}

/// The algorithms of the published keys, each once; the configured one while none is
/// published (the first key is about to be made with it).
fn published_algs(keys: &[KeyInfo], configured: SigningAlg) -> Vec<&str> {
    let mut algs: Vec<&str> = keys.iter().map(|k| k.alg.as_str()).collect();
    algs.sort_unstable();
    algs.dedup();
    if algs.is_empty() {
        algs.push(configured.name());
    }
    algs
}

fn poisoned() -> IssuerError {
    IssuerError::Crypto("the key ring lock is poisoned")
}

impl Issuer {
    pub fn new(store: Arc<dyn SigningKeyStore>, master: MasterKey, config: IssuerConfig) -> Self {
        let empty = Published {
            jwks_json: json!({"keys": []}).to_string(),
            discovery_json: String::new(),
            keys: Vec::new(),
            verifiers: BTreeMap::new(),
            signers: Vec::new(),
        };
        Self {
            store,
            master,
            config,
            ring: RwLock::new(Arc::new(empty)),
        }
    }

    /// The key policy: how long keys sign and stay published, so how long tokens may live.
    pub fn policy(&self) -> &KeyPolicy {
        &self.config.policy
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn published(&self) -> Result<Arc<Published>, IssuerError> {
        Ok(self.ring.read().map_err(|_| poisoned())?.clone())
    }

    /// Creates the next key if one is due (or `force`d), then reloads the ring. Safe to call
    /// from every replica at once: the store's lock lets one of them rotate.
    pub async fn maintain(
        &self,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<RotationPlan, IssuerError> {
        let keys = self.store.signing_keys(now).await?;
        self.check_master_key(&keys)?;
        let times: Vec<KeyTimes> = keys.iter().map(|k| k.times.clone()).collect();
        let mut applied = RotationPlan::Nothing;
        if plan_rotation(&times, now, &self.config.policy, force) != RotationPlan::Nothing {
            let candidate = self.new_key()?;
            applied = self
                .store
                .rotate_signing_keys(now, &self.config.policy, force, &candidate)
                .await?;
            if applied != RotationPlan::Nothing {
                tracing::info!(kid = %candidate.kid, plan = ?applied, "signing key created");
            }
        }
        self.reload(now).await?;
        Ok(applied)
    }

    /// Rebuilds the ring from the store (picks up keys other replicas created).
    pub async fn reload(&self, now: DateTime<Utc>) -> Result<(), IssuerError> {
        let keys = self.store.signing_keys(now).await?;
        self.check_master_key(&keys)?;
        let current = signing_key(
            &keys.iter().map(|k| k.times.clone()).collect::<Vec<_>>(),
            now,
        )
        .map(|t| t.kid.clone());
        let mut jwks = Vec::new();
        let mut infos = Vec::new();
        let mut verifiers = BTreeMap::new();
        let mut signers = Vec::new();
        for key in keys.iter().filter(|k| k.times.published_at(now)) {
            let alg = SigningAlg::parse(&key.alg)
                .ok_or(IssuerError::Crypto("a stored key has an unknown algorithm"))?;
            let jwk: Jwk = serde_json::from_str(&key.public_jwk)
                .map_err(|_| IssuerError::Crypto("a stored public key is corrupt"))?;
            let decoding = DecodingKey::from_jwk(&jwk)
                .map_err(|_| IssuerError::Crypto("a stored public key is corrupt"))?;
            verifiers.insert(key.times.kid.clone(), (alg.algorithm(), decoding));
            jwks.push(jwk);
            // Only keys that sign now or later need their private part in memory.
            if key.times.signs_until.is_none_or(|until| until > now) {
                let pem = self.master.open(&key.sealed_private, &key.times.kid)?;
                signers.push(Signer {
                    times: key.times.clone(),
                    key: JwtSigner::from_pem(alg, &pem)?,
                });
            }
            let state = if current.as_deref() == Some(key.times.kid.as_str()) {
                KeyState::Current
            } else if key.times.signs_from > now {
                KeyState::Next
            } else {
                KeyState::Retiring
            };
            infos.push(KeyInfo {
                kid: key.times.kid.clone(),
                alg: key.alg.clone(),
                state,
                created_at: key.created_at,
                signs_from: key.times.signs_from,
                signs_until: key.times.signs_until,
                published_until: key.times.published_until,
            });
        }
        let published = Published {
            jwks_json: serde_json::to_string(&JwkSet { keys: jwks })
                .map_err(|_| IssuerError::Crypto("cannot encode the JWKS"))?,
            discovery_json: self
                .discovery(&published_algs(&infos, self.config.alg))
                .to_string(),
            keys: infos,
            verifiers,
            signers,
        };
        *self.ring.write().map_err(|_| poisoned())? = Arc::new(published);
        Ok(())
    }

    fn check_master_key(&self, keys: &[idbroker_store::StoredKey]) -> Result<(), IssuerError> {
        let ours = self.master.kek_id();
        match keys.iter().find(|k| k.kek_id != ours) {
            Some(k) => Err(IssuerError::WrongMasterKey {
                stored: k.kek_id.clone(),
                ours,
            }),
            None => Ok(()),
        }
    }

    fn new_key(&self) -> Result<NewKey, IssuerError> {
        let alg = self.config.alg;
        let pem = generate(alg)?;
        let kid = uuid::Uuid::new_v4().simple().to_string();
        let jwk = public_jwk(alg, &encoding_key(alg, pem.0.as_bytes())?, &kid)?;
        Ok(NewKey {
            sealed_private: self.master.seal(pem.0.as_bytes(), &kid)?,
            kid,
            alg: alg.name().to_owned(),
            public_jwk: serde_json::to_string(&jwk)
                .map_err(|_| IssuerError::Crypto("cannot encode a public key"))?,
            kek_id: self.master.kek_id(),
        })
    }

    /// The discovery document: only what is true of idbroker. It names no
    /// `authorization_endpoint` nor userinfo endpoint: idbroker has no interactive login, and
    /// every URL it names must answer. Its token endpoint does one grant only, RFC 8693 token
    /// exchange (for other clouds), so that is the only grant type listed. `algs` are the
    /// algorithms of the published keys, so a relying party is never told of one it cannot check.
    fn discovery(&self, algs: &[&str]) -> Value {
        let issuer = &self.config.issuer;
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "claims_supported": [
                "iss", "aud", "sub", "amr", "iat", "exp", "jti",
                format!("{issuer}/identity-pool-arn"),
                "https://aws.amazon.com/tags",
            ],
        })
    }

    /// Signs `claims` with the key that signs at `now`.
    pub fn sign(&self, claims: &Value, now: DateTime<Utc>) -> Result<String, IssuerError> {
        let ring = self.published()?;
        let signer = ring
            .signers
            .iter()
            .filter(|s| s.times.signs_at(now))
            .max_by_key(|s| s.times.signs_from)
            .ok_or(IssuerError::NoSigningKey)?;
        signer.key.sign(&signer.times.kid, claims)
    }

    /// Checks a token idbroker issued (signature with a published key, `iss`, `exp` with
    /// 5 minutes of skew) and returns its claims. Audience and subject are the caller's to check.
    pub fn verify_own(&self, token: &str, now: DateTime<Utc>) -> Option<BTreeMap<String, Value>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let ring = self.published().ok()?;
        let (alg, key) = ring.verifiers.get(header.kid.as_deref()?)?;
        if header.alg != *alg {
            return None;
        }
        let mut validation = Validation::new(*alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "exp", "sub", "aud"]);
        let data = jsonwebtoken::decode::<BTreeMap<String, Value>>(token, key, &validation).ok()?;
        let exp = data.claims.get("exp")?.as_i64()?;
        (now.timestamp() < exp + 300).then_some(data.claims)
    }

    pub fn keys(&self) -> Result<Vec<KeyInfo>, IssuerError> {
        Ok(self.published()?.keys.clone())
    }
}

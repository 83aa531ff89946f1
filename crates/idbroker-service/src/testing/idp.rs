//! An OpenID Connect identity provider for the service's tests: it signs ID tokens with
//! idbroker's own `Issuer` (keys in memory) and hands its key set to the broker's `Verifier`
//! through `JwksSource`, so logins verify with the real verifier and no network. The HTTP
//! fetching of key sets is tested in `idbroker-providers` and the API tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use idbroker_domain::signing::KeyPolicy;
use idbroker_issuer::{Issuer, IssuerConfig, MasterKey, MemoryKeys, SigningAlg};
use idbroker_providers::{JwksSource, KeyLocation, VerifyError};
use serde_json::{Value, json};

/// The provider's issuer; its Logins key is the issuer without the scheme.
pub const IDP_ISSUER: &str = "https://idp.example.test";
/// The client id tokens are issued to (the registered provider's client id).
pub const IDP_CLIENT_ID: &str = "test-client";

pub struct TestIdp {
    signer: Issuer,
    reachable: AtomicBool,
}

impl TestIdp {
    pub(super) async fn new(now: DateTime<Utc>) -> Result<Self, String> {
        let signer = Issuer::new(
            Arc::new(MemoryKeys::new()),
            MasterKey::new([9; 32]),
            IssuerConfig {
                issuer: IDP_ISSUER.into(),
                // ES256: a key is made in microseconds (RSA would take a while unoptimised).
                alg: SigningAlg::ES256,
                policy: KeyPolicy {
                    rotation_period: Duration::days(7),
                    prepublish: Duration::hours(24),
                },
            },
        );
        signer
            .maintain(now, false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            signer,
            reachable: AtomicBool::new(true),
        })
    }

    /// The Logins key of this provider.
    pub fn login_key(&self) -> &'static str {
        idbroker_domain::oidc_provider::issuer_key(IDP_ISSUER)
    }

    /// A valid ID token for `subject`, issued at `now` for `IDP_CLIENT_ID`, with `extra`
    /// claims merged in (they may override the standard ones).
    pub fn id_token(&self, subject: &str, now: DateTime<Utc>, extra: Value) -> String {
        let mut claims = json!({
            "iss": IDP_ISSUER,
            "aud": IDP_CLIENT_ID,
            "sub": subject,
            "iat": now.timestamp(),
            "exp": (now + Duration::minutes(10)).timestamp(),
        });
        if let (Value::Object(claims), Value::Object(extra)) = (&mut claims, extra) {
            claims.extend(extra);
        }
        self.signer
            .sign(&claims, now)
            .expect("the test provider signs its tokens")
    }

    /// Whether the provider answers for its keys; when it does not, the verifier gets
    /// `Unreachable`, as from a provider that is down.
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::SeqCst);
    }
}

#[async_trait]
impl JwksSource for TestIdp {
    async fn key_set(&self, location: &KeyLocation) -> Result<Value, VerifyError> {
        let ours = matches!(location, KeyLocation::Discovery { issuer } if issuer == IDP_ISSUER);
        if !ours || !self.reachable.load(Ordering::SeqCst) {
            return Err(VerifyError::Unreachable(
                "The identity provider could not be reached: test provider down".into(),
            ));
        }
        let published = self
            .signer
            .published()
            .map_err(|e| VerifyError::Unreachable(e.to_string()))?;
        serde_json::from_str(&published.jwks_json)
            .map_err(|e| VerifyError::Unreachable(e.to_string()))
    }
}

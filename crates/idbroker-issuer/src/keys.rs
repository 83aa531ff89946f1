//! Generating signing keys. RS256 is the default (every relying party supports it); RS512
//! (what Cognito uses) and ES256 can be chosen. All three are accepted by AWS STS.

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::pkcs8::EncodePrivateKey as _;
use zeroize::Zeroizing;

use crate::IssuerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    RS256,
    RS512,
    ES256,
}

impl SigningAlg {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RS256" => Some(Self::RS256),
            "RS512" => Some(Self::RS512),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS512 => "RS512",
            Self::ES256 => "ES256",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::RS512 => Algorithm::RS512,
            Self::ES256 => Algorithm::ES256,
        }
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::RS256 => KeyAlgorithm::RS256,
            Self::RS512 => KeyAlgorithm::RS512,
            Self::ES256 => KeyAlgorithm::ES256,
        }
    }
}

/// A private key in PKCS#8 PEM, wiped from memory when dropped.
pub struct PrivatePem(pub Zeroizing<String>);

pub fn encoding_key(alg: SigningAlg, pem: &[u8]) -> Result<EncodingKey, IssuerError> {
    match alg {
        SigningAlg::RS256 | SigningAlg::RS512 => EncodingKey::from_rsa_pem(pem),
        SigningAlg::ES256 => EncodingKey::from_ec_pem(pem),
    }
    .map_err(|_| IssuerError::Crypto("a stored signing key cannot be read"))
}

/// The public JWK (`kty`, `kid`, `alg`, `use: sig`, public parts only).
pub fn public_jwk(alg: SigningAlg, key: &EncodingKey, kid: &str) -> Result<Jwk, IssuerError> {
    let mut jwk = Jwk::from_encoding_key(key, alg.algorithm())
        .map_err(|_| IssuerError::Crypto("cannot derive the public key"))?;
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.key_algorithm = Some(alg.key_algorithm());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// A fresh key pair.
pub fn generate(alg: SigningAlg) -> Result<PrivatePem, IssuerError> {
    let mut rng = rand::rngs::OsRng;
    let pem = match alg {
        SigningAlg::RS256 | SigningAlg::RS512 => rsa::RsaPrivateKey::new(&mut rng, 2048)
            .map_err(|_| IssuerError::Crypto("RSA key generation failed"))?
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|_| IssuerError::Crypto("RSA key encoding failed"))?,
        SigningAlg::ES256 => p256::SecretKey::random(&mut rng)
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .map_err(|_| IssuerError::Crypto("EC key encoding failed"))?,
    };
    Ok(PrivatePem(Zeroizing::new(pem.to_string())))
}

//! JWT signing with a key parsed once. jsonwebtoken re-reads and re-validates the private key
//! on every signature, which cost more than the RSA signature itself on GetOpenIdToken's path;
//! so idbroker signs with aws-lc-rs (jsonwebtoken's backend here too) holding the parsed key
//! pair. Tokens are still checked with jsonwebtoken (`Issuer::verify_own`, and the tests).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RSA_PKCS1_SHA512, RsaEncoding,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::SecretDocument;
use serde_json::{Value, json};

use crate::IssuerError;
use crate::keys::SigningAlg;

enum KeyPair {
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    /// ES256 signatures in JWS's fixed-width r‖s form, not DER.
    Ec(EcdsaKeyPair),
}

pub struct JwtSigner {
    alg: SigningAlg,
    key: KeyPair,
    rng: SystemRandom,
}

fn unreadable<E>(_: E) -> IssuerError {
    IssuerError::Crypto("a stored signing key cannot be read")
}

impl JwtSigner {
    /// Parses a PKCS#8 PEM private key of the algorithm's kind.
    pub fn from_pem(alg: SigningAlg, pem: &[u8]) -> Result<Self, IssuerError> {
        let text = std::str::from_utf8(pem).map_err(unreadable)?;
        let (_, der) = SecretDocument::from_pem(text).map_err(unreadable)?;
        let key = match alg {
            SigningAlg::RS256 => KeyPair::Rsa(
                RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(unreadable)?,
                &RSA_PKCS1_SHA256,
            ),
            SigningAlg::RS512 => KeyPair::Rsa(
                RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(unreadable)?,
                &RSA_PKCS1_SHA512,
            ),
            SigningAlg::ES256 => KeyPair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_bytes())
                    .map_err(unreadable)?,
            ),
        };
        Ok(Self {
            alg,
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The compact JWS `header.claims.signature`, each part base64url without padding.
    pub fn sign(&self, kid: &str, claims: &Value) -> Result<String, IssuerError> {
        let failed = |_| IssuerError::Crypto("signing failed");
        let header = json!({"typ": "JWT", "alg": self.alg.name(), "kid": kid});
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(failed)?);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(failed)?, &mut token);
        let signature = match &self.key {
            KeyPair::Rsa(pair, encoding) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &self.rng, token.as_bytes(), &mut signature)
                    .map_err(|_| IssuerError::Crypto("signing failed"))?;
                signature
            }
            KeyPair::Ec(pair) => pair
                .sign(&self.rng, token.as_bytes())
                .map_err(|_| IssuerError::Crypto("signing failed"))?
                .as_ref()
                .to_vec(),
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

//! Sealing private keys at rest: AES-256-GCM under the master key, with the key id as
//! associated data (a sealed key cannot be swapped onto another kid). The master key has an
//! id of its own (`kek_id`), stored beside each ciphertext, so a wrong master key is reported
//! as such instead of as a decryption failure.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::IssuerError;

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(kek_id={})", self.kek_id())
    }
}

impl MasterKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A public fingerprint of the master key (not enough to recover it).
    pub fn kek_id(&self) -> String {
        let digest = Sha256::new_with_prefix(b"idbroker-kek-id-v1")
            .chain_update(self.0)
            .finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn seal(&self, plaintext: &[u8], kid: &str) -> Result<String, IssuerError> {
        let cipher = Aes256Gcm::new_from_slice(&self.0)
            .map_err(|_| IssuerError::Crypto("bad master key length"))?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|_| IssuerError::Crypto("the system random generator failed"))?;
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| IssuerError::Crypto("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str, kid: &str) -> Result<Zeroizing<Vec<u8>>, IssuerError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| IssuerError::Crypto("sealed key is not base64"))?;
        if bytes.len() < 12 + 16 {
            return Err(IssuerError::Crypto("sealed key is truncated"));
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| IssuerError::Crypto("sealed key is truncated"))?;
        let cipher = Aes256Gcm::new_from_slice(&self.0)
            .map_err(|_| IssuerError::Crypto("bad master key length"))?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                IssuerError::Crypto("a sealed signing key does not open with this master key")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_master_key_and_kid() {
        let key = MasterKey::new([1; 32]);
        let sealed = key.seal(b"secret", "kid-1").unwrap();
        assert_eq!(&*key.open(&sealed, "kid-1").unwrap(), b"secret");
        assert!(key.open(&sealed, "kid-2").is_err());
        assert!(MasterKey::new([2; 32]).open(&sealed, "kid-1").is_err());
        assert!(!sealed.contains("secret"));
    }

    #[test]
    fn kek_ids_differ_and_debug_hides_the_key() {
        let (a, b) = (MasterKey::new([1; 32]), MasterKey::new([2; 32]));
        assert_ne!(a.kek_id(), b.kek_id());
        assert!(!format!("{a:?}").contains("1, 1"));
    }
}

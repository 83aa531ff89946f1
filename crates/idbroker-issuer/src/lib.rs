//! idbroker as an OpenID Connect issuer.
//!
//! - `sealing`: private keys are sealed with AES-256-GCM under `IDBROKER_MASTER_KEY`.
//! - `keys`: key generation (RS256, RS512, ES256) and the public JWK.
//! - `signer`: signing with a key parsed once (aws-lc-rs).
//! - `issuer`: the key ring in memory (JWKS, discovery, current signer), its maintenance
//!   (rotation through the store's lock, see `idbroker_domain::signing`), minting tokens and
//!   checking tokens idbroker issued itself.
//! - `memory` (feature `test-support`): signing keys held in memory, for tests.

mod issuer;
mod keys;
#[cfg(feature = "test-support")]
mod memory;
mod sealing;
mod signer;

pub use issuer::{Issuer, IssuerConfig, IssuerError, KeyInfo, KeyState, Published};
pub use keys::SigningAlg;
#[cfg(feature = "test-support")]
pub use memory::MemoryKeys;
pub use sealing::MasterKey;

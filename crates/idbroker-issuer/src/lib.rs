//! idbroker as an OpenID Connect issuer.
//!
//! - `sealing`: private keys are sealed with AES-256-GCM under `IDBROKER_MASTER_KEY`.
//! - `keys`: key generation (RS256, RS512, ES256) and the public JWK.
//! - `signer`: signing with a key parsed once (aws-lc-rs).
//! - `issuer`: the key ring in memory (JWKS, discovery, current signer), its maintenance
//!   (rotation through the store's lock, see `idbroker_domain::signing`), minting tokens and
//!   checking tokens idbroker issued itself.

mod issuer;
mod keys;
mod sealing;
mod signer;

pub use issuer::{Issuer, IssuerConfig, IssuerError, KeyInfo, KeyState, Published};
pub use keys::SigningAlg;
pub use sealing::MasterKey;

//! SAML 2.0 for idbroker: an identity provider's metadata (`metadata`) and the strict
//! verification of a base64 `SAMLResponse` presented as a Cognito login (`response`).
//!
//! The XML signature itself is checked by xmlsec (C, through `samael`), with only the
//! certificates of the registered metadata (never a key from the message's `KeyInfo`).
//! Everything idbroker uses is then read from the bytes xmlsec digested for the one signed
//! element (its pre-digest, exclusive canonical XML), so nothing outside the signature is
//! read. The checks before and around that, and why they stop signature wrapping, are in
//! docs/architecture.md ("SAML").

mod guard;
pub mod metadata;
pub mod response;
mod text;

pub use metadata::{CertificateInfo, IdpMetadata, MetadataError};
pub use response::{Expectations, SamlError, TrustedIdp, VerifiedAssertion, verify_response};

pub use idbroker_domain::saml_provider::ROLE_ATTRIBUTE;

/// The largest `SAMLResponse` accepted, in base64 characters; refused before decoding.
pub const MAX_RESPONSE_BASE64: usize = 256 * 1024;

/// The largest metadata document accepted (bytes).
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

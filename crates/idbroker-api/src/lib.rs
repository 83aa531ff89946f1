//! The REST contract of idbroker's `/v1` face: every request and response body, in one casing
//! (snake_case), with unknown request fields refused. The server, the CLI and the API tests
//! share these types, so a change to the contract is one change here (and a visible diff in the
//! committed OpenAPI document, `docs/openapi.json`).
//!
//! The AWS face keeps Cognito's PascalCase shapes; they live in the server's domain types, and
//! the conversions between the two are the server's business, not this crate's.
//!
//! The query types (`Paging`, `…Query`) are query strings only: there an absent parameter is
//! `None` and `None` is not written, so their members need no serde attributes.

pub mod audit;
pub mod developer;
pub mod explain;
pub mod identities;
pub mod keys;
pub mod ledger;
pub mod oidc_providers;
pub mod pools;
pub mod problem;
pub mod revocation;
pub mod saml_providers;
pub mod trust_policy;
pub mod unknown_field;

#[cfg(feature = "client")]
pub mod client;

pub use problem::ProblemBody;

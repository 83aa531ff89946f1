//! The Cognito-identity domain, free of I/O and of the clock.
//!
//! Everything here is a value: identifiers parsed from strings, the configuration of an identity
//! pool and its roles, and the rules Cognito's API model puts on them. Time is always passed in.
//! The reference for every rule is the repository's `docs/spec.md`: "spec §N" in a comment is
//! its section N (§2–§4 for the model), "behaviour N" its numbered behaviour N (§9); the
//! validation messages follow the AWS wording
//! ("1 validation error detected: Value … at … failed to satisfy constraint: …").

pub mod exchange_audiences;
pub mod identity;
pub mod ids;
pub mod lifetimes;
pub mod linking;
pub mod login;
pub mod oidc_provider;
pub mod paging;
pub mod pool;
pub mod principal_tags;
pub mod role_resolution;
pub mod roles;
pub mod saml_provider;
pub mod signing;
pub mod tags;
pub mod trust_policy;
pub mod validation;

pub use identity::Identity;
pub use ids::{AccountId, IdentityId, IdentityPoolId, PoolArn, Region};
pub use lifetimes::PoolLifetimes;
pub use paging::{MaxResults, PageToken};
pub use pool::{CognitoIdentityProvider, IdentityPool, PoolConfig, PoolExtensions, PoolSummary};
pub use principal_tags::PrincipalTagMap;
pub use roles::{PoolRoles, RoleMapping};
pub use tags::Tags;
pub use validation::ValidationError;

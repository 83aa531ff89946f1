//! The service's rules, tested on `idbroker_service::testing::TestBroker`: a real SQLite
//! store, signing keys in memory, a test clock, an in-memory identity provider and a scripted
//! STS (see that module for why those two are stand-ins). Each test runs in milliseconds.
//! The same rules seen through HTTP, with PostgreSQL, moto and real SDKs, are in `tests/api/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod amr;
mod audit;
mod credential_reuse;
mod credentials;
mod errors;
mod login_cache;
mod pool_cache;
mod regions;
mod replicas;

use std::collections::BTreeMap;

use idbroker_service::ServiceError;

/// The error kind of a result that must have failed.
fn kind<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> &'static str {
    result.expect_err("the call must fail").kind()
}

/// No logins.
fn none() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// Admits every call (GetId's per-pool limit is the HTTP face's).
fn admit(_: &idbroker_domain::IdentityPoolId) -> Result<(), u64> {
    Ok(())
}

//! API tests: each starts the real application on port 0 (on PostgreSQL or SQLite, a fresh
//! database per test) and talks to it over real HTTP, with the real AWS SDK where a client would
//! use one and with raw requests where the wire format itself is under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

mod helpers;
mod idp;

mod abuse;
mod coherence;
mod console;
mod credential_reuse;
mod credentials;
mod database_faults;
mod developer;
mod development_mode;
mod explain;
mod facebook;
mod identities;
mod lifetimes;
mod logins;
mod observability;
mod oidc_registry;
mod oneshot;
mod openid_provider;
mod pools;
mod protocol;
mod provider_outage;
mod rate_limits;
mod rest;
mod revocation;
mod saml;
mod signatures;
mod signing_keys;
mod sts_front;
mod token_exchange;
mod tokens;
mod trust_policy;
mod verify;

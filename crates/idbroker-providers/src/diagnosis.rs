//! The record of a verification, for `Verifier::diagnose` (an admin's dry run).
//!
//! `verify` and `diagnose` run the same code (`jwt::examine`) with a different `Recorder`: a
//! stopping one ends at the first failed check, as verification always has; a thorough one
//! writes every check down and goes on where later checks still mean something (the claims of
//! a token whose signature failed), but never past a point verification would not pass (no key
//! is fetched for a token whose issuer is wrong). Either way the verdict is the first failure,
//! so a diagnosis cannot disagree with what the public call answers.

use std::collections::BTreeMap;

use idbroker_domain::login::VerifiedLogin;
use serde_json::Value;

use crate::error::VerifyError;

/// Longest `expected` or `got` text of a check, in characters: they may quote claims, and a
/// token may be 50,000 characters of claims.
pub const MAX_CHECK_TEXT: usize = 200;

/// One check of a token, in the order verification runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `format`, `algorithm`, `issuer`, `kid`, `key`, `key_algorithm`, `signature`, `expiry`,
    /// `not_before`, `issued_at`, `audience` or `azp`, `token_use`, `subject`, `provider_api`.
    pub name: &'static str,
    pub passed: bool,
    pub expected: String,
    pub got: String,
}

/// How the signing key set was found for this token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFetch {
    /// From the cache; nothing was fetched.
    Cached,
    /// Fetched (or a fetch in flight was awaited) because nothing usable was cached.
    Fetched,
    /// The kid was not in the cached set, so the set was fetched again.
    Refetched,
    /// The provider failed recently and is in backoff: nothing was fetched.
    InBackoff,
}

/// What `Verifier::diagnose` found.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub checks: Vec<Check>,
    /// How the key set was found, when a key was looked up.
    pub key_set: Option<KeyFetch>,
    /// The token's claims as decoded (empty when it has no readable payload, or it is an
    /// access token only its provider can read).
    pub claims: BTreeMap<String, Value>,
    /// Whether `claims` passed the signature check (otherwise they are what the token says).
    pub claims_verified: bool,
    /// Exactly what `Verifier::verify` answers for this token at this time.
    pub outcome: Result<VerifiedLogin, VerifyError>,
}

/// Returned by a stopping recorder's failed check: verification is over.
#[derive(Debug)]
pub(crate) struct Stop;

pub(crate) struct Recorder {
    thorough: bool,
    checks: Vec<Check>,
    verdict: Option<VerifyError>,
    pub(crate) key_set: Option<KeyFetch>,
}

/// `text`, cut to `MAX_CHECK_TEXT` characters.
pub(crate) fn bounded(text: String) -> String {
    if text.chars().count() <= MAX_CHECK_TEXT {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_CHECK_TEXT).collect();
    cut.push('…');
    cut
}

impl Recorder {
    /// Verification: the first failure ends it, and nothing is written down.
    pub(crate) fn stopping() -> Self {
        Self {
            thorough: false,
            checks: Vec::new(),
            verdict: None,
            key_set: None,
        }
    }

    /// Diagnosis: every check is written down.
    pub(crate) fn thorough() -> Self {
        Self {
            thorough: true,
            ..Self::stopping()
        }
    }

    pub(crate) fn is_thorough(&self) -> bool {
        self.thorough
    }

    /// Records one check and whether it passed. The texts are only built when diagnosing, so
    /// verification pays nothing for them. A stopping recorder answers `Err(Stop)` on failure.
    pub(crate) fn check(
        &mut self,
        name: &'static str,
        outcome: Result<(), VerifyError>,
        expected: impl FnOnce() -> String,
        got: impl FnOnce() -> String,
    ) -> Result<bool, Stop> {
        let passed = outcome.is_ok();
        if self.thorough {
            self.checks.push(Check {
                name,
                passed,
                expected: bounded(expected()),
                got: bounded(got()),
            });
        }
        if let Err(err) = outcome {
            self.verdict.get_or_insert(err);
            if !self.thorough {
                return Err(Stop);
            }
        }
        Ok(passed)
    }

    /// The verdict: the first failure, or `value` when every check passed.
    pub(crate) fn finish<T>(&self, value: Option<T>) -> Result<T, VerifyError> {
        match (&self.verdict, value) {
            (Some(err), _) => Err(err.clone()),
            (None, Some(value)) => Ok(value),
            // Every path that ends without a value has recorded why; this is a safety net.
            (None, None) => Err(VerifyError::invalid("Couldn't verify signed token.")),
        }
    }

    pub(crate) fn into_diagnosis(
        self,
        outcome: Result<VerifiedLogin, VerifyError>,
        claims: BTreeMap<String, Value>,
        claims_verified: bool,
    ) -> Diagnosis {
        Diagnosis {
            checks: self.checks,
            key_set: self.key_set,
            claims,
            claims_verified,
            outcome,
        }
    }
}

//! Per-pool lifetimes, an idbroker extension (REST face and bootstrap files, not the AWS face):
//! how long a pool's credentials and idbroker tokens live, and how long credentials may be
//! handed out again. Each is optional; unset means the server-wide default (STS
//! `DurationSeconds` from the settings, 10 minutes for GetOpenIdToken, 24 hours as the cap of a
//! developer `TokenDuration`, no reuse).

use serde::{Deserialize, Serialize};

use crate::signing::KeyPolicy;
use crate::validation::{Validated, ValidationError};

/// STS `DurationSeconds` bounds (AssumeRoleWithWebIdentity).
pub const MIN_CREDENTIAL_DURATION: i64 = 900;
pub const MAX_CREDENTIAL_DURATION: i64 = 43_200;
/// The longest credential reuse window: 15 minutes, so that a change of role or a revocation
/// never waits long on credentials handed out again.
pub const MAX_CREDENTIAL_REUSE: i64 = 900;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolLifetimes {
    /// STS `DurationSeconds` for this pool's credentials (900–43200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_duration_seconds: Option<i64>,
    /// Lifetime of GetOpenIdToken tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_seconds: Option<i64>,
    /// The longest `TokenDuration` GetOpenIdTokenForDeveloperIdentity accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime_seconds: Option<i64>,
    /// How long the same identity and role get the same credentials back instead of a new STS
    /// call (0–900; 0 or unset: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_reuse_seconds: Option<i64>,
}

impl PoolLifetimes {
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }

    /// The lifetime of a GetOpenIdToken token: the pool's, else `default` (never above the
    /// pool's cap).
    pub fn open_id_token_seconds(&self, default: i64) -> i64 {
        self.token_lifetime_seconds.unwrap_or_else(|| {
            self.max_token_lifetime_seconds
                .map_or(default, |cap| default.min(cap))
        })
    }

    /// The credential reuse window, if the pool turns reuse on.
    pub fn credential_reuse(&self) -> Option<chrono::Duration> {
        self.credential_reuse_seconds
            .filter(|s| *s > 0)
            .map(chrono::Duration::seconds)
    }

    /// Checks the bounds. Token lifetimes are capped by the key policy so that a token always
    /// expires before the key that verifies it is retired from the JWKS.
    pub fn validate(&self, keys: &KeyPolicy) -> Validated {
        check_range(
            "credential_duration_seconds",
            self.credential_duration_seconds,
            MIN_CREDENTIAL_DURATION,
            MAX_CREDENTIAL_DURATION,
            "",
        )?;
        check_range(
            "credential_reuse_seconds",
            self.credential_reuse_seconds,
            0,
            MAX_CREDENTIAL_REUSE,
            " (0: off)",
        )?;
        let max = keys.max_token_lifetime().num_seconds();
        let why = " (a token must expire before its signing key leaves the JWKS)";
        check_range(
            "token_lifetime_seconds",
            self.token_lifetime_seconds,
            1,
            max,
            why,
        )?;
        check_range(
            "max_token_lifetime_seconds",
            self.max_token_lifetime_seconds,
            1,
            max,
            why,
        )?;
        if let (Some(lifetime), Some(cap)) =
            (self.token_lifetime_seconds, self.max_token_lifetime_seconds)
            && lifetime > cap
        {
            return Err(ValidationError::message(format!(
                "token_lifetime_seconds ({lifetime}) must not exceed max_token_lifetime_seconds ({cap})"
            )));
        }
        Ok(())
    }
}

fn check_range(field: &str, value: Option<i64>, min: i64, max: i64, why: &str) -> Validated {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(ValidationError::message(format!(
            "{field} must be between {min} and {max} seconds{why}; got {v}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn policy() -> KeyPolicy {
        KeyPolicy {
            rotation_period: Duration::days(7),
            prepublish: Duration::hours(1),
        }
    }

    #[test]
    fn the_token_bound_is_the_key_retention_less_the_skew() {
        assert_eq!(policy().max_token_lifetime().num_seconds(), 86_400);
        assert!(
            policy().max_token_lifetime() + crate::signing::RELYING_PARTY_SKEW
                <= policy().retention()
        );
    }

    #[test]
    fn each_bound_is_checked() {
        let credentials = |v| PoolLifetimes {
            credential_duration_seconds: Some(v),
            ..Default::default()
        };
        let token = |v| PoolLifetimes {
            token_lifetime_seconds: Some(v),
            ..Default::default()
        };
        let cap = |v| PoolLifetimes {
            max_token_lifetime_seconds: Some(v),
            ..Default::default()
        };
        let reuse = |v| PoolLifetimes {
            credential_reuse_seconds: Some(v),
            ..Default::default()
        };
        let both = |t, c| PoolLifetimes {
            token_lifetime_seconds: Some(t),
            max_token_lifetime_seconds: Some(c),
            ..Default::default()
        };
        // (lifetimes, None if valid, else the field the error must name)
        let cases: Vec<(PoolLifetimes, Option<&str>)> = vec![
            (PoolLifetimes::default(), None),
            (credentials(899), Some("credential_duration_seconds")),
            (credentials(900), None),
            (credentials(43_200), None),
            (credentials(43_201), Some("credential_duration_seconds")),
            (reuse(-1), Some("credential_reuse_seconds")),
            (reuse(0), None),
            (reuse(1), None),
            (reuse(900), None),
            (reuse(901), Some("credential_reuse_seconds")),
            (token(0), Some("token_lifetime_seconds")),
            (token(1), None),
            (token(86_400), None),
            (token(86_401), Some("token_lifetime_seconds")),
            (cap(0), Some("max_token_lifetime_seconds")),
            (cap(1), None),
            (cap(86_400), None),
            (cap(86_401), Some("max_token_lifetime_seconds")),
            (both(600, 600), None),
            (both(601, 600), Some("must not exceed")),
        ];
        for (lifetimes, expected) in cases {
            let result = lifetimes.validate(&policy());
            match expected {
                None => assert!(result.is_ok(), "{lifetimes:?}: {result:?}"),
                Some(field) => {
                    let err = result.expect_err(&format!("{lifetimes:?} should be refused"));
                    assert!(err.0.contains(field), "{lifetimes:?}: {err}");
                    assert!(
                        !err.is_model(),
                        "InvalidParameterException, not a model error"
                    );
                }
            }
        }
    }

    #[test]
    fn the_token_bound_message_names_the_bound() {
        let err = PoolLifetimes {
            token_lifetime_seconds: Some(90_000),
            ..Default::default()
        }
        .validate(&policy())
        .unwrap_err();
        assert!(err.0.contains("86400"), "{err}");
        assert!(err.0.contains("signing key"), "{err}");
    }

    #[test]
    fn the_open_id_token_lifetime_is_the_pools_or_the_default_under_the_cap() {
        let lifetimes = |token, cap| PoolLifetimes {
            token_lifetime_seconds: token,
            max_token_lifetime_seconds: cap,
            ..Default::default()
        };
        assert_eq!(lifetimes(None, None).open_id_token_seconds(600), 600);
        assert_eq!(lifetimes(Some(60), None).open_id_token_seconds(600), 60);
        assert_eq!(lifetimes(None, Some(300)).open_id_token_seconds(600), 300);
        assert_eq!(lifetimes(None, Some(3600)).open_id_token_seconds(600), 600);
        assert_eq!(
            lifetimes(Some(200), Some(300)).open_id_token_seconds(600),
            200
        );
    }

    #[test]
    fn reuse_is_off_unless_a_positive_window_is_set() {
        let reuse = |v| PoolLifetimes {
            credential_reuse_seconds: v,
            ..Default::default()
        };
        assert_eq!(reuse(None).credential_reuse(), None);
        assert_eq!(reuse(Some(0)).credential_reuse(), None);
        assert_eq!(
            reuse(Some(300)).credential_reuse(),
            Some(Duration::seconds(300))
        );
        let err = reuse(Some(901)).validate(&policy()).unwrap_err();
        assert!(err.0.contains("between 0 and 900"), "{err}");
    }

    #[test]
    fn absent_fields_stay_absent_in_json() {
        assert_eq!(
            serde_json::to_string(&PoolLifetimes::default()).unwrap(),
            "{}"
        );
        let parsed: PoolLifetimes =
            serde_json::from_str(r#"{"token_lifetime_seconds":60}"#).unwrap();
        assert_eq!(parsed.token_lifetime_seconds, Some(60));
        assert_eq!(parsed.credential_duration_seconds, None);
    }
}

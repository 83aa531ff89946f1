//! The life of idbroker's signing keys, as times (`docs/spec.md` §6.8 and §7). A key is
//! published in the JWKS from the moment it exists, signs from `signs_from`
//! until the next key takes over (`signs_until`), and stays published until every token it
//! signed has expired, plus skew (`published_until`).
//!
//! The next key is created `prepublish` before it starts signing, so relying parties (AWS STS)
//! that cached the JWKS have seen it by the time tokens carry its kid.

use chrono::{DateTime, Duration, Utc};

/// Tokens idbroker mints live at most this long (GetOpenIdTokenForDeveloperIdentity's maximum).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::seconds(86_400);
/// Clock skew relying parties allow past `exp` (IAM: 5 minutes).
pub const RELYING_PARTY_SKEW: Duration = Duration::seconds(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// How long a key signs before the next one takes over.
    pub rotation_period: Duration,
    /// How long a new key is published before it signs.
    pub prepublish: Duration,
}

impl KeyPolicy {
    /// How long a key stays published after it stops signing.
    pub fn retention(&self) -> Duration {
        MAX_TOKEN_LIFETIME + RELYING_PARTY_SKEW
    }

    /// The longest a token may live: it must expire (plus the relying parties' skew) before
    /// the key that signed it leaves the JWKS, `retention()` after the key stops signing.
    pub fn max_token_lifetime(&self) -> Duration {
        self.retention() - RELYING_PARTY_SKEW
    }

    /// Checks the settings against each other so that no token outlives its key in the JWKS
    /// and the JWKS stays small (at most `MAX_PUBLISHED_KEYS`).
    pub fn validate(&self) -> Result<(), String> {
        if self.prepublish <= Duration::zero() {
            return Err("the key pre-publication time must be positive".into());
        }
        if self.prepublish >= self.rotation_period {
            return Err(format!(
                "keys are pre-published for {} s but rotate every {} s: the rotation period must be longer",
                self.prepublish.num_seconds(),
                self.rotation_period.num_seconds()
            ));
        }
        if self.rotation_period < self.retention() {
            return Err(format!(
                "the rotation period ({} s) must be at least the longest token lifetime plus skew ({} s), or the JWKS would grow without bound",
                self.rotation_period.num_seconds(),
                self.retention().num_seconds()
            ));
        }
        Ok(())
    }
}

/// With a valid policy, the JWKS holds at most: the retiring key, the current key, the next.
pub const MAX_PUBLISHED_KEYS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTimes {
    pub kid: String,
    pub signs_from: DateTime<Utc>,
    pub signs_until: Option<DateTime<Utc>>,
    pub published_until: Option<DateTime<Utc>>,
}

impl KeyTimes {
    pub fn signs_at(&self, now: DateTime<Utc>) -> bool {
        self.signs_from <= now && self.signs_until.is_none_or(|until| now < until)
    }

    pub fn published_at(&self, now: DateTime<Utc>) -> bool {
        self.published_until.is_none_or(|until| now < until)
    }
}

/// The key that signs at `now`: the newest one whose signing window contains `now`.
pub fn signing_key(keys: &[KeyTimes], now: DateTime<Utc>) -> Option<&KeyTimes> {
    keys.iter()
        .filter(|k| k.signs_at(now))
        .max_by_key(|k| k.signs_from)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationPlan {
    /// Keys are as they should be.
    Nothing,
    /// No key at all: the first one signs at once (nobody can have cached a JWKS yet).
    First { signs_from: DateTime<Utc> },
    /// Create the next key, signing from `signs_from`; the current key signs until then and
    /// stays published until `retire_at`.
    Next {
        current: String,
        signs_from: DateTime<Utc>,
        retire_at: DateTime<Utc>,
    },
}

/// Decides whether a key must be created at `now` (`force`: an admin asked for a rotation).
pub fn plan_rotation(
    keys: &[KeyTimes],
    now: DateTime<Utc>,
    policy: &KeyPolicy,
    force: bool,
) -> RotationPlan {
    let pending = keys.iter().any(|k| k.signs_from > now);
    let Some(current) = signing_key(keys, now) else {
        return if pending {
            RotationPlan::Nothing // the next key takes over shortly
        } else {
            RotationPlan::First { signs_from: now }
        };
    };
    if pending {
        return RotationPlan::Nothing; // already scheduled
    }
    let scheduled = current.signs_from + policy.rotation_period;
    if !force && now < scheduled - policy.prepublish {
        return RotationPlan::Nothing;
    }
    let signs_from = if force {
        now + policy.prepublish
    } else {
        scheduled.max(now + policy.prepublish)
    };
    RotationPlan::Next {
        current: current.kid.clone(),
        signs_from,
        retire_at: signs_from + policy.retention(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    fn policy() -> KeyPolicy {
        KeyPolicy {
            rotation_period: Duration::days(7),
            prepublish: Duration::hours(24),
        }
    }

    fn key(kid: &str, from: i64, until: Option<i64>, published: Option<i64>) -> KeyTimes {
        KeyTimes {
            kid: kid.into(),
            signs_from: t(from),
            signs_until: until.map(t),
            published_until: published.map(t),
        }
    }

    #[test]
    fn the_first_key_signs_at_once() {
        assert_eq!(
            plan_rotation(&[], t(0), &policy(), false),
            RotationPlan::First { signs_from: t(0) }
        );
    }

    #[test]
    fn the_next_key_is_published_a_prepublish_period_before_it_signs() {
        let keys = [key("a", 0, None, None)];
        assert_eq!(
            plan_rotation(&keys, t(24 * 6 - 1), &policy(), false),
            RotationPlan::Nothing
        );
        assert_eq!(
            plan_rotation(&keys, t(24 * 6), &policy(), false),
            RotationPlan::Next {
                current: "a".into(),
                signs_from: t(24 * 7),
                retire_at: t(24 * 7) + policy().retention()
            }
        );
    }

    #[test]
    fn a_late_rotation_still_prepublishes() {
        let keys = [key("a", 0, None, None)];
        let RotationPlan::Next { signs_from, .. } =
            plan_rotation(&keys, t(24 * 30), &policy(), false)
        else {
            panic!("due")
        };
        assert_eq!(signs_from, t(24 * 30) + Duration::hours(24));
    }

    #[test]
    fn a_forced_rotation_prepublishes_too_and_happens_once() {
        let keys = [key("a", 0, None, None)];
        let RotationPlan::Next { signs_from, .. } = plan_rotation(&keys, t(1), &policy(), true)
        else {
            panic!("forced")
        };
        assert_eq!(signs_from, t(25));
        let scheduled = [key("a", 0, Some(25), Some(50)), key("b", 25, None, None)];
        assert_eq!(
            plan_rotation(&scheduled, t(2), &policy(), true),
            RotationPlan::Nothing
        );
    }

    #[test]
    fn the_signing_key_hands_over_at_signs_until() {
        let keys = [key("a", 0, Some(25), Some(50)), key("b", 25, None, None)];
        assert_eq!(signing_key(&keys, t(24)).unwrap().kid, "a");
        assert_eq!(signing_key(&keys, t(25)).unwrap().kid, "b");
        assert!(keys[0].published_at(t(49)) && !keys[0].published_at(t(50)));
    }

    #[test]
    fn settings_that_would_let_a_token_outlive_its_key_are_refused() {
        assert!(policy().validate().is_ok());
        let short = KeyPolicy {
            rotation_period: Duration::hours(12),
            prepublish: Duration::hours(1),
        };
        assert!(short.validate().is_err());
        let no_prepublish = KeyPolicy {
            rotation_period: Duration::days(7),
            prepublish: Duration::zero(),
        };
        assert!(no_prepublish.validate().is_err());
        let too_much = KeyPolicy {
            rotation_period: Duration::days(2),
            prepublish: Duration::days(2),
        };
        assert!(too_much.validate().is_err());
    }

    #[test]
    fn a_valid_policy_never_publishes_more_than_three_keys() {
        let p = KeyPolicy {
            rotation_period: MAX_TOKEN_LIFETIME + RELYING_PARTY_SKEW,
            prepublish: Duration::hours(1),
        };
        p.validate().unwrap();
        // Simulate a long run of scheduled rotations and count published keys each hour.
        let mut keys: Vec<KeyTimes> = Vec::new();
        let mut now = t(0);
        for _ in 0..24 * 20 {
            match plan_rotation(&keys, now, &p, false) {
                RotationPlan::Nothing => {}
                RotationPlan::First { signs_from } => keys.push(KeyTimes {
                    kid: format!("k{}", keys.len()),
                    signs_from,
                    signs_until: None,
                    published_until: None,
                }),
                RotationPlan::Next {
                    current,
                    signs_from,
                    retire_at,
                } => {
                    let cur = keys.iter_mut().find(|k| k.kid == current).unwrap();
                    cur.signs_until = Some(signs_from);
                    cur.published_until = Some(retire_at);
                    keys.push(KeyTimes {
                        kid: format!("k{}", keys.len()),
                        signs_from,
                        signs_until: None,
                        published_until: None,
                    });
                }
            }
            let published = keys.iter().filter(|k| k.published_at(now)).count();
            assert!(
                published <= MAX_PUBLISHED_KEYS,
                "{published} keys published at {now}"
            );
            assert!(signing_key(&keys, now).is_some());
            now += Duration::hours(1);
        }
    }
}

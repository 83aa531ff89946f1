//! Remembering that an upstream failed. While a provider is down, callers that need it fail
//! at once with the last failure instead of each waiting out a timeout, and the provider is
//! asked again once per backoff period (doubling with each failure in a row), not once per
//! login.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::VerifyError;

/// How long to leave a failed upstream alone: `initial` after the first failure, doubling
/// with each further failure in a row, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            // Short enough that a provider back from an outage is noticed within half a minute.
            max: Duration::from_secs(30),
        }
    }
}

impl BackoffPolicy {
    /// The pause after `failures` failures in a row (the first is 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

/// One upstream's recent failures. Kept under a std mutex, never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    until: Option<Instant>,
    last_error: Option<VerifyError>,
}

impl Backoff {
    /// The last failure, if callers must not ask the upstream before the backoff ends.
    pub fn blocked(&self, now: Instant) -> Option<VerifyError> {
        match (self.until, &self.last_error) {
            (Some(until), Some(err)) if now < until => Some(err.clone()),
            _ => None,
        }
    }

    /// Failures in a row so far (0 after a success).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The failure of the last attempt, if it failed (backoff over or not).
    pub fn last_failure(&self) -> Option<VerifyError> {
        self.last_error.clone()
    }

    pub fn failed(&mut self, policy: &BackoffPolicy, now: Instant, err: VerifyError) {
        self.failures = self.failures.saturating_add(1);
        self.until = Some(now + policy.delay(self.failures));
        self.last_error = Some(err);
    }

    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// For upstreams whose calls cannot be shared (each carries its own token): after a
    /// failure, the first caller past the backoff probes, and the others keep failing fast
    /// until it is done — at most `attempt`, so a probe whose caller went away cannot block
    /// the upstream for longer.
    pub fn start_probe(&mut self, now: Instant, attempt: Duration) {
        if self.failures > 0 {
            self.until = Some(now + attempt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = BackoffPolicy::default();
        let secs: Vec<u64> = [1, 2, 3, 6, 7, 100, u32::MAX]
            .into_iter()
            .map(|n| policy.delay(n).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 30, 30, 30, 30]);
    }

    #[test]
    fn blocked_only_until_the_backoff_ends() {
        let now = Instant::now();
        let mut b = Backoff::default();
        assert!(b.blocked(now).is_none());
        b.failed(
            &BackoffPolicy::default(),
            now,
            VerifyError::Unreachable("down".into()),
        );
        assert!(b.blocked(now).is_some());
        assert!(b.blocked(now + Duration::from_secs(1)).is_none());
        assert!(b.last_failure().is_some());
        b.start_probe(now + Duration::from_secs(1), Duration::from_secs(3));
        assert!(b.blocked(now + Duration::from_secs(2)).is_some());
        b.succeeded();
        assert!(b.blocked(now).is_none() && b.last_failure().is_none());
    }
}

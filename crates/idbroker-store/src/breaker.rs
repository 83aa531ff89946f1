//! Failing fast while the database is known to be down: pure state, the caller passes the time.
//!
//! Without it every call during an outage waited the full acquire timeout before failing.
//! Once the database is found unreachable, calls are refused at once for a back-off (doubling
//! from `initial` to `max`); when it expires, exactly one caller gets to probe the database
//! while the rest keep failing fast; the first success (a probe's or any call's) clears it.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The database is not known to be down: go ahead.
    Pass,
    /// Down, and the back-off has expired: this caller probes (and must report the outcome
    /// with `probe_succeeded`, `probe_failed` or `probe_abandoned`).
    Probe,
    /// Down: fail at once.
    Refuse,
}

#[derive(Debug)]
struct Down {
    /// When the next probe may go.
    retry_at: Instant,
    backoff: Duration,
    probing: bool,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    initial: Duration,
    max: Duration,
    down: Option<Down>,
}

impl Breaker {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            down: None,
        }
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.is_some()
    }

    pub(crate) fn admit(&mut self, now: Instant) -> Admission {
        match &mut self.down {
            None => Admission::Pass,
            Some(down) if !down.probing && now >= down.retry_at => {
                down.probing = true;
                Admission::Probe
            }
            Some(_) => Admission::Refuse,
        }
    }

    /// The database was found unreachable. Returns true if this newly marks it down.
    pub(crate) fn unreachable(&mut self, now: Instant) -> bool {
        if self.down.is_some() {
            // Calls admitted before it went down fail one after another; they say nothing new
            // and must not push the next probe further out.
            return false;
        }
        self.down = Some(Down {
            retry_at: now + self.initial,
            backoff: self.initial,
            probing: false,
        });
        true
    }

    /// Anything the database answered. Returns true if it was down until now.
    pub(crate) fn reachable(&mut self) -> bool {
        self.down.take().is_some()
    }

    pub(crate) fn probe_succeeded(&mut self) -> bool {
        self.reachable()
    }

    pub(crate) fn probe_failed(&mut self, now: Instant) {
        if let Some(down) = &mut self.down {
            down.backoff = (down.backoff * 2).min(self.max);
            down.retry_at = now + down.backoff;
            down.probing = false;
        }
    }

    /// The probing caller went away without an answer (its future was dropped): let the next
    /// caller probe instead.
    pub(crate) fn probe_abandoned(&mut self) {
        if let Some(down) = &mut self.down {
            down.probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn breaker() -> Breaker {
        Breaker::new(S, 5 * S)
    }

    #[test]
    fn calls_pass_while_the_database_is_up() {
        let mut b = breaker();
        let t0 = Instant::now();
        assert_eq!(b.admit(t0), Admission::Pass);
        assert!(!b.is_down());
    }

    #[test]
    fn once_unreachable_calls_are_refused_until_the_backoff_expires() {
        let mut b = breaker();
        let t0 = Instant::now();
        assert!(b.unreachable(t0));
        assert!(b.is_down());
        assert_eq!(b.admit(t0), Admission::Refuse);
        assert_eq!(b.admit(t0 + S / 2), Admission::Refuse);
        assert_eq!(b.admit(t0 + S), Admission::Probe);
    }

    #[test]
    fn only_one_probe_at_a_time() {
        let mut b = breaker();
        let t0 = Instant::now();
        b.unreachable(t0);
        assert_eq!(b.admit(t0 + S), Admission::Probe);
        assert_eq!(b.admit(t0 + S), Admission::Refuse);
        assert_eq!(b.admit(t0 + 3 * S), Admission::Refuse);
    }

    #[test]
    fn failed_probes_double_the_backoff_up_to_the_max() {
        let mut b = breaker();
        let mut now = Instant::now();
        b.unreachable(now);
        let mut waits = Vec::new();
        for _ in 0..5 {
            // Find when the next probe is allowed, to the second.
            let mut wait = Duration::ZERO;
            while b.admit(now + wait) != Admission::Probe {
                wait += S;
            }
            waits.push(wait.as_secs());
            now += wait;
            b.probe_failed(now);
        }
        assert_eq!(waits, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn a_successful_probe_or_call_clears_it() {
        let mut b = breaker();
        let t0 = Instant::now();
        b.unreachable(t0);
        assert_eq!(b.admit(t0 + S), Admission::Probe);
        assert!(b.probe_succeeded());
        assert_eq!(b.admit(t0 + S), Admission::Pass);

        b.unreachable(t0 + 2 * S);
        assert!(b.reachable());
        assert!(!b.reachable());
        assert_eq!(b.admit(t0 + 2 * S), Admission::Pass);
    }

    #[test]
    fn late_failures_do_not_extend_the_backoff() {
        let mut b = breaker();
        let t0 = Instant::now();
        assert!(b.unreachable(t0));
        assert!(!b.unreachable(t0 + S / 2));
        assert_eq!(b.admit(t0 + S), Admission::Probe);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_caller_probe() {
        let mut b = breaker();
        let t0 = Instant::now();
        b.unreachable(t0);
        assert_eq!(b.admit(t0 + S), Admission::Probe);
        b.probe_abandoned();
        assert_eq!(b.admit(t0 + S), Admission::Probe);
    }
}

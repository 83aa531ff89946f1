//! The one place store operations are retried, and refused while the database is down.
//!
//! - A connection failure that left nothing written (`Unavailability::Connection`: a read,
//!   or a write whose transaction never reached COMMIT) is run again once, on a fresh
//!   connection: a restarted server or one stale connection costs no failed call. A second
//!   failure in a row means the database is unreachable.
//! - A pool timeout is ambiguous: every connection busy (a lock they queue on) or none could
//!   be opened (the database is gone). The health connection tells which.
//! - Once unreachable, calls fail at once (`KnownDown`) while `Breaker` backs off; then one
//!   probe on the health connection decides, so no call waits an acquire timeout for a
//!   database known to be down.
//! - Clashes with concurrent transactions are retried (with a short, growing pause) where the
//!   operation asks for it (`Retry::Clashes`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::breaker::{Admission, Breaker};
use crate::{ResolveError, StoreError, StoreOptions, Unavailability};

use super::health::{Health, HealthConnection};

/// How old a health check may be to settle a pool timeout: a burst of timeouts asks once.
const HEALTH_MAX_AGE: Duration = Duration::from_millis(250);

/// Which retries an operation gets: every operation is run again once after a connection
/// failure that left nothing written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Only that.
    ConnectionOnly,
    /// Also up to this many runs in all after a clash with a concurrent transaction.
    Clashes(u32),
}

/// An operation's error type: a `StoreError` or one that may hold one.
pub(crate) trait Outcome: Sized + Send {
    fn store_error(&self) -> Option<&StoreError>;
    fn from_store(err: StoreError) -> Self;
    fn into_store(self) -> Result<StoreError, Self>;
}

impl Outcome for StoreError {
    fn store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
    fn from_store(err: StoreError) -> Self {
        err
    }
    fn into_store(self) -> Result<StoreError, Self> {
        Ok(self)
    }
}

impl Outcome for ResolveError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Store(err) => Some(err),
            Self::Link(_) => None,
        }
    }
    fn from_store(err: StoreError) -> Self {
        Self::Store(err)
    }
    fn into_store(self) -> Result<StoreError, Self> {
        match self {
            Self::Store(err) => Ok(err),
            other => Err(other),
        }
    }
}

fn reason<E: Outcome>(result: &Result<impl Sized, E>) -> Option<Unavailability> {
    result
        .as_ref()
        .err()
        .and_then(Outcome::store_error)
        .and_then(StoreError::unavailability)
}

pub(crate) struct Guard {
    breaker: Mutex<Breaker>,
    /// Mirrors `breaker.is_down()`, so calls skip the lock while the database is up.
    down: AtomicBool,
    health: HealthConnection,
    pub(crate) max_connections: u32,
    pub(crate) background_statement_timeout: Duration,
    /// A connection failure is run again only within this much of the call's start: the retry
    /// is for one stale connection, and must not double a call that already waited its bounds.
    retry_window: Duration,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("down", &self.down)
            .finish_non_exhaustive()
    }
}

/// Reports a probe as abandoned if the probing call is dropped before it knows the answer.
struct ProbeGuard<'a> {
    guard: &'a Guard,
    done: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.guard.with_breaker(Breaker::probe_abandoned);
        }
    }
}

impl Guard {
    pub(crate) fn new(url: &str, max_connections: u32, options: &StoreOptions) -> Self {
        metrics::gauge!("idbroker_db_up").set(1.0);
        Self {
            breaker: Mutex::new(Breaker::new(
                options.down_backoff_initial,
                options.down_backoff_max,
            )),
            down: AtomicBool::new(false),
            health: HealthConnection::new(url, options.health_timeout),
            max_connections,
            background_statement_timeout: options.background_statement_timeout,
            retry_window: options.acquire_timeout,
        }
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut Breaker) -> R) -> R {
        // A poisoned lock only means a panic elsewhere; the state itself is always valid.
        let mut breaker = self
            .breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = f(&mut breaker);
        self.down.store(breaker.is_down(), Ordering::Relaxed);
        out
    }

    fn reachable(&self) {
        if self.down.load(Ordering::Relaxed) && self.with_breaker(Breaker::reachable) {
            tracing::info!("database reachable again");
            metrics::gauge!("idbroker_db_up").set(1.0);
        }
    }

    fn unreachable(&self) {
        if self.with_breaker(|b| b.unreachable(Instant::now())) {
            tracing::error!("database unreachable: failing calls fast until it answers");
            metrics::gauge!("idbroker_db_up").set(0.0);
        }
    }

    fn known_down() -> StoreError {
        StoreError::unavailable(
            Unavailability::KnownDown,
            "the database is unreachable (backing off)",
        )
    }

    /// Lets a call through, or refuses it while the database is known to be down.
    async fn admit(&self) -> Result<(), StoreError> {
        if !self.down.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.with_breaker(|b| b.admit(Instant::now())) {
            Admission::Pass => Ok(()),
            Admission::Refuse => Err(Self::known_down()),
            Admission::Probe => {
                let mut probe = ProbeGuard {
                    guard: self,
                    done: false,
                };
                // A slow answer lets calls through again: if the database is really gone
                // they fail on their own and the breaker opens again.
                let answers = self.health.check(Duration::ZERO).await != Health::Refused;
                probe.done = true;
                if answers {
                    self.with_breaker(Breaker::probe_succeeded);
                    tracing::info!("database reachable again");
                    metrics::gauge!("idbroker_db_up").set(1.0);
                    Ok(())
                } else {
                    self.with_breaker(|b| b.probe_failed(Instant::now()));
                    Err(Self::known_down())
                }
            }
        }
    }

    /// What one attempt's outcome says about the database; turns a pool timeout into
    /// `Unreachable` when the health connection cannot reach it either.
    async fn settle<T, E: Outcome>(&self, result: Result<T, E>) -> Result<T, E> {
        match reason(&result) {
            None | Some(Unavailability::TimedOut) => {
                // The database answered (perhaps with an error, or a lock timeout).
                self.reachable();
                result
            }
            Some(Unavailability::Saturated) => {
                match self.health.check(HEALTH_MAX_AGE).await {
                    Health::Answers => {
                        self.reachable();
                        return result;
                    }
                    // Busy, perhaps very: a pool timeout, not an outage.
                    Health::Slow => return result,
                    Health::Refused => {}
                }
                self.unreachable();
                result.map_err(as_unreachable)
            }
            Some(_) => result,
        }
    }

    pub(crate) async fn run<T, E, F, Fut>(&self, retry: Retry, mut attempt: F) -> Result<T, E>
    where
        E: Outcome,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        let max_runs = match retry {
            Retry::ConnectionOnly => 1,
            Retry::Clashes(n) => n.max(1),
        };
        let (mut runs, mut connection_retried) = (0, false);
        let started = Instant::now();
        loop {
            runs += 1;
            if let Err(err) = self.admit().await {
                return Err(Self::count(E::from_store(err)));
            }
            let result = self.settle(attempt().await).await;
            let Err(err) = &result else {
                return result;
            };
            if reason(&result) == Some(Unavailability::Connection) {
                if connection_retried || started.elapsed() >= self.retry_window {
                    // Two in a row, the second on a fresh connection: not one stale
                    // connection. The database is gone if the health connection is refused
                    // too; otherwise this call fails alone and nothing is refused at once.
                    if self.health.check(HEALTH_MAX_AGE).await == Health::Refused {
                        self.unreachable();
                    }
                    return result.map_err(|err| Self::count(as_unreachable(err)));
                }
                connection_retried = true;
                tracing::info!(error = ?err.store_error(), "connection failed before anything was written; running the operation again");
                metrics::counter!("idbroker_db_retries_total", "cause" => "connection")
                    .increment(1);
                continue;
            }
            let clashed = err.store_error().is_some_and(StoreError::is_retryable);
            if clashed && runs < max_runs {
                // A short, growing pause lets the transaction we clashed with finish.
                tokio::time::sleep(Duration::from_millis(u64::from(runs) * 5)).await;
                continue;
            }
            return result.map_err(|err| Self::count(exhausted(err)));
        }
    }

    fn count<E: Outcome>(err: E) -> E {
        if let Some(reason) = err.store_error().and_then(StoreError::unavailability) {
            metrics::counter!("idbroker_db_unavailable_total", "reason" => reason.as_str())
                .increment(1);
        }
        err
    }

    /// Readiness: whether the database answers on the health connection. A yes also ends a
    /// known outage; a no does not start one (only failed calls do).
    pub(crate) async fn database_answers(&self) -> bool {
        let answers = self.health.answers(HEALTH_MAX_AGE).await;
        if answers {
            self.reachable();
        }
        answers
    }

    pub(crate) async fn close(&self) {
        self.health.close().await;
    }
}

/// A clash with concurrent transactions that no retry is left for (SQLite's busy timeout on an
/// operation that is not retried, or retries used up) is the database failing to finish in
/// time, as PostgreSQL's lock timeout is: a retryable 503, not an internal error.
fn exhausted<E: Outcome>(err: E) -> E {
    match err.into_store() {
        Ok(StoreError::Retryable(source)) => {
            E::from_store(StoreError::unavailable(Unavailability::TimedOut, source))
        }
        Ok(other) => E::from_store(other),
        Err(other) => other,
    }
}

/// An unavailability re-tagged as the database being unreachable (the health connection
/// confirmed it, or two connections failed in a row).
fn as_unreachable<E: Outcome>(err: E) -> E {
    match err.into_store() {
        Ok(StoreError::Unavailable { source, .. }) => {
            E::from_store(StoreError::unavailable(Unavailability::Unreachable, source))
        }
        Ok(other) => E::from_store(other),
        Err(other) => other,
    }
}

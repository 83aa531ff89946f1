//! How long database work may take before a call gives up, and how the store behaves while
//! the database is down.

use std::time::Duration;

/// Bounds on every piece of database work. The defaults make a public call that cannot get a
/// connection or its rows fail within about 4–6 s, never more than 8 s:
///
/// - waiting for a connection: at most `acquire_timeout` (2 s);
/// - waiting for a row or table lock: at most `lock_timeout` (2 s), so a call queued behind
///   another one's lock fails after 2 s rather than holding its connection for as long as the
///   lock lasts (a 45 s table lock used to stall every request for 45 s);
/// - one statement: at most `statement_timeout` (4 s); it includes lock waits, so it only
///   bites on a statement that is slow by itself;
///
/// so a single-statement call is bounded by 2 + 4 = 6 s, and the usual "blocked behind a lock"
/// case by 2 + 2 = 4 s. Connection-level failures are retried once, but the retry passes the
/// same fail-fast check, so it never adds another full acquire timeout once the database is
/// known to be down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections in the request pool; `None`: 16 on PostgreSQL, 4 on SQLite (one writer at
    /// a time, a few readers beside it).
    pub max_connections: Option<u32>,
    /// How long a call waits for a pooled connection (including opening one) before it fails
    /// as unavailable. Default 2 s.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` on every pooled connection. Default 4 s.
    pub statement_timeout: Duration,
    /// PostgreSQL `lock_timeout` on every pooled connection, and SQLite's busy timeout (how
    /// long a writer waits for the database write lock). Default 2 s.
    pub lock_timeout: Duration,
    /// `statement_timeout` for the batch clean-ups (ledger pruning, idle guests), which run in
    /// the background and may delete many rows at once. Default 60 s.
    pub background_statement_timeout: Duration,
    /// After the database was found unreachable, calls fail at once for this long before one
    /// probe checks it again; each failed probe doubles the wait up to `down_backoff_max`.
    /// Default 1 s.
    pub down_backoff_initial: Duration,
    /// Default 5 s.
    pub down_backoff_max: Duration,
    /// Deadline of one check on the dedicated health connection (readiness, probes while
    /// down, and telling "unreachable" from "saturated" after a pool timeout). Must stay
    /// under 1 s: `/readyz` answers within 1 s. Default 800 ms.
    pub health_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(4),
            lock_timeout: Duration::from_secs(2),
            background_statement_timeout: Duration::from_secs(60),
            down_backoff_initial: Duration::from_secs(1),
            down_backoff_max: Duration::from_secs(5),
            health_timeout: Duration::from_millis(800),
        }
    }
}

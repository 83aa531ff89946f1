//! The health connection: one connection of its own, outside the request pool, so the answer
//! to "does the database answer?" never waits behind requests (a saturated pool, a table lock
//! they queue on). It is opened on first use and re-opened when it broke; every check has a
//! deadline, and a check fresher than the caller's `max_age` is reused.

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection};
use tokio::sync::Mutex;

pub(crate) struct HealthConnection {
    /// Holds credentials: never logged.
    url: String,
    timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    conn: Option<AnyConnection>,
    last: Option<(Instant, Health)>,
}

/// What one check found. Only a refusal says the database is down: a check that ran out of
/// time may just have queued behind load on a busy machine, and taking that for an outage
/// would turn a slowdown into one (every call refused while the breaker backs off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    Answers,
    /// Connecting or the query failed: the database is not there.
    Refused,
    /// No answer within the deadline.
    Slow,
}

impl std::fmt::Debug for HealthConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthConnection")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HealthConnection {
    pub(crate) fn new(url: &str, timeout: Duration) -> Self {
        Self {
            url: url.to_owned(),
            timeout,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether the database answers a trivial query within the deadline.
    pub(crate) async fn answers(&self, max_age: Duration) -> bool {
        self.check(max_age).await == Health::Answers
    }

    /// One check (or one at most `max_age` old).
    pub(crate) async fn check(&self, max_age: Duration) -> Health {
        let deadline = tokio::time::Instant::now() + self.timeout;
        // Another check in flight holds the connection; if it outlasts our deadline, the
        // database is not answering in time either.
        let Ok(mut state) = tokio::time::timeout_at(deadline, self.state.lock()).await else {
            return Health::Slow;
        };
        if let Some((at, ok)) = state.last
            && at.elapsed() <= max_age
        {
            return ok;
        }
        // Taken out while in use: if this future is dropped mid-query, the connection goes
        // with it instead of staying behind half-used.
        let conn = state.conn.take();
        let connecting = conn.is_none();
        let checked = tokio::time::timeout_at(deadline, async {
            let mut conn = match conn {
                Some(conn) => conn,
                None => AnyConnection::connect(&self.url).await?,
            };
            conn.ping().await?;
            Ok::<_, sqlx::Error>(conn)
        })
        .await;
        let health = match checked {
            Ok(Ok(conn)) => {
                state.conn = Some(conn);
                Health::Answers
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "database health check failed");
                Health::Refused
            }
            // No connection could even be opened in time: a host that drops packets is as
            // gone as one that refuses them.
            Err(_) if connecting => {
                tracing::warn!(timeout = ?self.timeout, "database health check could not connect in time");
                Health::Refused
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "database health check timed out");
                Health::Slow
            }
        };
        state.last = Some((Instant::now(), health));
        health
    }

    pub(crate) async fn close(&self) {
        if let Some(conn) = self.state.lock().await.conn.take() {
            let _ = conn.close().await;
        }
    }
}

//! The store's one error type; callers never see `sqlx::Error`.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflicts with existing data ({constraint})")]
    Conflict { constraint: String },
    #[error("changed concurrently by another request")]
    ConcurrentModification,
    #[error("{0} does not exist")]
    UnknownReference(String),
    /// A transient clash with a concurrent transaction (deadlock, serialisation failure,
    /// SQLite busy, a unique race); the operation may be retried as a whole.
    #[error("clashed with a concurrent transaction")]
    Retryable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database could not do the work now, for a reason worth retrying later from the
    /// outside (a connection failure, a lock or statement timeout, the pool exhausted, or the
    /// database known to be down). The source holds the details, for the log only.
    #[error("database unavailable ({reason})")]
    Unavailable {
        reason: Unavailability,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why the database was unavailable. Decides whether the store retries and whether it
/// considers the database down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// An established connection broke (reset, server shutting down) before anything was
    /// written, or no connection could be opened: the work did not happen.
    Connection,
    /// The connection broke while a write or its COMMIT was in flight: it may or may not have
    /// happened, so it is never retried here.
    InDoubt,
    /// A lock or statement timeout: the database answers but the work could not finish in
    /// time. Not a sign the database is down.
    TimedOut,
    /// No pooled connection became free in time while the database answered.
    Saturated,
    /// The database did not answer (a pool timeout the health check confirmed, or two
    /// connection failures in a row), or the pool was closed on shutdown.
    Unreachable,
    /// Refused without trying: the database is known to be down and is in its back-off.
    KnownDown,
}

impl std::fmt::Display for Unavailability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Unavailability {
    /// A short label, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::InDoubt => "in_doubt",
            Self::TimedOut => "timed_out",
            Self::Saturated => "saturated",
            Self::Unreachable => "unreachable",
            Self::KnownDown => "known_down",
        }
    }
}

/// How a PostgreSQL SQLSTATE makes the database unavailable, if it does.
pub(crate) fn unavailability_of_sqlstate(code: &str) -> Option<Unavailability> {
    match code {
        // lock_not_available (lock_timeout, NOWAIT), query_canceled (statement_timeout).
        "55P03" | "57014" => Some(Unavailability::TimedOut),
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away or
        // not there yet.
        "57P01" | "57P02" | "57P03" => Some(Unavailability::Connection),
        // Class 08: connection exception.
        _ if code.starts_with("08") => Some(Unavailability::Connection),
        _ => None,
    }
}

/// How a sqlx error makes the database unavailable, if it does.
pub(crate) fn unavailability_of(err: &sqlx::Error) -> Option<Unavailability> {
    match err {
        // The store tells saturation from an unreachable database afterwards (`SqlStore::run`).
        sqlx::Error::PoolTimedOut => Some(Unavailability::Saturated),
        // Closed on shutdown: nothing to retry, and not a sign the database is down.
        sqlx::Error::PoolClosed => Some(Unavailability::Unreachable),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            Some(Unavailability::Connection)
        }
        sqlx::Error::Database(db) => db.code().and_then(|c| unavailability_of_sqlstate(&c)),
        _ => None,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        if let Some(reason) = unavailability_of(&err) {
            return Self::Unavailable {
                reason,
                source: Box::new(err),
            };
        }
        if let sqlx::Error::Database(db) = &err {
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    return Self::Conflict {
                        constraint: db.constraint().unwrap_or("unique").to_owned(),
                    };
                }
                // Unless a caller maps it first: a parent row a concurrent delete removed.
                ErrorKind::ForeignKeyViolation => return Self::NotFound,
                _ => {}
            }
            // PostgreSQL serialization failure and deadlock; SQLite BUSY and LOCKED (with
            // their extended codes).
            let code = db.code().unwrap_or_default();
            if matches!(
                code.as_ref(),
                "40001" | "40P01" | "5" | "6" | "261" | "262" | "517" | "773"
            ) {
                return Self::Retryable(Box::new(err));
            }
        }
        Self::Backend(Box::new(err))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Backend(Box::new(err))
    }
}

impl StoreError {
    /// Whether running the whole operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_) | Self::Conflict { .. })
    }

    /// Why the database was unavailable, if that is what this error says.
    pub fn unavailability(&self) -> Option<Unavailability> {
        match self {
            Self::Unavailable { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    pub(crate) fn unavailable(
        reason: Unavailability,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            reason,
            source: source.into(),
        }
    }

    /// The error of a write (or COMMIT) that was sent: a broken connection now leaves the
    /// outcome unknown, so it must not be retried.
    pub(crate) fn sent(self) -> Self {
        match self {
            Self::Unavailable {
                reason: Unavailability::Connection,
                source,
            } => Self::Unavailable {
                reason: Unavailability::InDoubt,
                source,
            },
            other => other,
        }
    }
}

/// `StoreError::from(err).sent()`, for `map_err` on a write or COMMIT.
pub(crate) fn sent(err: sqlx::Error) -> StoreError {
    StoreError::from(err).sent()
}

/// Maps a foreign-key violation from `err` to `UnknownReference(what)`, anything else as usual.
pub(crate) fn reference_error(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation
    {
        return StoreError::UnknownReference(what());
    }
    err.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_and_statement_timeouts_are_timeouts() {
        assert_eq!(
            unavailability_of_sqlstate("55P03"),
            Some(Unavailability::TimedOut)
        );
        assert_eq!(
            unavailability_of_sqlstate("57014"),
            Some(Unavailability::TimedOut)
        );
    }

    #[test]
    fn connection_exceptions_and_shutdowns_are_connection_failures() {
        for code in [
            "08000", "08003", "08006", "08001", "08P01", "57P01", "57P02", "57P03",
        ] {
            assert_eq!(
                unavailability_of_sqlstate(code),
                Some(Unavailability::Connection),
                "{code}"
            );
        }
    }

    #[test]
    fn other_sqlstates_are_not_unavailability() {
        // unique_violation, serialization_failure, deadlock, syntax error, SQLite BUSY.
        for code in ["23505", "40001", "40P01", "42601", "5", "57000"] {
            assert_eq!(unavailability_of_sqlstate(code), None, "{code}");
        }
    }

    #[test]
    fn pool_and_io_failures_are_unavailable_not_backend() {
        let timed_out = StoreError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(timed_out.unavailability(), Some(Unavailability::Saturated));
        let reset = StoreError::from(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(reset.unavailability(), Some(Unavailability::Connection));
        assert_eq!(
            StoreError::from(sqlx::Error::PoolClosed).unavailability(),
            Some(Unavailability::Unreachable)
        );
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
    }

    #[test]
    fn a_connection_failure_of_a_sent_write_is_in_doubt() {
        let reset = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(sent(reset).unavailability(), Some(Unavailability::InDoubt));
        // Other outcomes of a sent write keep their meaning.
        assert_eq!(
            sent(sqlx::Error::PoolTimedOut).unavailability(),
            Some(Unavailability::Saturated)
        );
    }
}

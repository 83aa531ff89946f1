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
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
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

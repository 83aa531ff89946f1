//! The store's one error type; callers never see `sqlx::Error`.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflicts with existing data ({constraint})")]
    Conflict { constraint: String },
    #[error("changed concurrently by another request")]
    ConcurrentModification,
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
                // Every foreign key points at a parent row that a concurrent delete removed.
                ErrorKind::ForeignKeyViolation => return Self::NotFound,
                _ => {}
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

//! The service's one error type: the error kinds both faces render (Cognito's names on the AWS
//! face). `Display` is safe to show to clients; causes stay in `source()` for the logs.

use idbroker_domain::{IdentityId, IdentityPoolId, ValidationError};
use idbroker_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceConflict(String),
    #[error("{0}")]
    ConcurrentModification(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("An internal error occurred.")]
    Internal(#[source] StoreError),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub(crate) fn pool_not_found(id: &IdentityPoolId) -> Self {
        Self::ResourceNotFound(format!("IdentityPool '{id}' not found."))
    }

    pub(crate) fn identity_not_found(id: &IdentityId) -> Self {
        Self::ResourceNotFound(format!("Identity '{id}' not found."))
    }
}

impl From<ValidationError> for ServiceError {
    fn from(err: ValidationError) -> Self {
        Self::InvalidParameter(err.0)
    }
}

/// The generic mapping; call sites that know better (which resource was not found) map first.
impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::ResourceNotFound("Resource not found.".into()),
            StoreError::ConcurrentModification => Self::ConcurrentModification(
                "The identity pool was changed by another request; read it again and retry.".into(),
            ),
            StoreError::LimitExceeded(message) => Self::LimitExceeded(message),
            other => Self::Internal(other),
        }
    }
}

//! The service's one error type: the error kinds both faces render (Cognito's names on the AWS
//! face). `Display` is safe to show to clients; causes stay in `source()` for the logs.

use idbroker_domain::linking::LinkError;
use idbroker_domain::login::LoginKeyError;
use idbroker_domain::{IdentityId, IdentityPoolId, ValidationError};
use idbroker_providers::VerifyError;
use idbroker_store::{ResolveError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidParameter(String),
    /// A constraint of the API model (length, pattern, range, required member, size).
    #[error("{0}")]
    Validation(String),
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
    /// A neighbour (a provider, STS) failed; the cause is for the log.
    #[error("{0}")]
    ExternalService(String, Cause),
    #[error("{0}")]
    DeveloperUserAlreadyRegistered(String),
    /// STS refused the pool's role; its own words (the account's IAM set-up) are the cause.
    #[error("{0}")]
    InvalidIdentityPoolConfiguration(String, Cause),
    #[error("{0}")]
    TooManyRequests(String),
    /// A rate limit of ours refused the call; retry after this many seconds.
    #[error("Rate exceeded")]
    RateLimited(u64),
    /// The database cannot serve the call right now (down, or the work timed out): worth
    /// retrying shortly. The message is generic; the cause is for the log.
    #[error("{0}")]
    Unavailable(String, Cause),
    #[error("An internal error occurred.")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Why a call failed on our side or a neighbour's: kept beside the client's message for the
/// one log line the face writes when it answers (never in a `From` conversion, so a failure
/// is logged once), and never shown to a client.
#[derive(Debug, Default)]
pub struct Cause(Option<Box<dyn std::error::Error + Send + Sync>>);

impl Cause {
    pub fn of(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(Some(err.into()))
    }

    /// No cause beyond the message (e.g. a deadline we enforce ourselves).
    pub fn none() -> Self {
        Self(None)
    }

    pub fn get(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.as_deref()
    }
}

impl ServiceError {
    /// The error's name on both faces (Cognito's, as the AWS face sends it in `__type`; the
    /// REST face's problem `title`). One table, so the faces cannot disagree.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidParameter(_) => "InvalidParameterException",
            Self::Validation(_) => "ValidationException",
            Self::NotAuthorized(_) => "NotAuthorizedException",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::ResourceConflict(_) => "ResourceConflictException",
            Self::ConcurrentModification(_) => "ConcurrentModificationException",
            Self::LimitExceeded(_) => "LimitExceededException",
            Self::ExternalService(..) => "ExternalServiceException",
            Self::DeveloperUserAlreadyRegistered(_) => "DeveloperUserAlreadyRegisteredException",
            Self::InvalidIdentityPoolConfiguration(..) => {
                "InvalidIdentityPoolConfigurationException"
            }
            Self::TooManyRequests(_) | Self::RateLimited(_) => "TooManyRequestsException",
            // Cognito models no "unavailable" error; InternalErrorException is modelled, and
            // with 503 and Retry-After the SDKs' retry policy treats it as transient.
            Self::Unavailable(..) | Self::Internal(_) => "InternalErrorException",
        }
    }

    /// Seconds a client should wait before trying again, when the error says so.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited(seconds) => Some(*seconds),
            Self::Unavailable(..) => Some(1),
            _ => None,
        }
    }

    pub(crate) fn pool_not_found(id: &IdentityPoolId) -> Self {
        Self::ResourceNotFound(format!("IdentityPool '{id}' not found."))
    }

    pub(crate) fn identity_not_found(id: &IdentityId) -> Self {
        Self::ResourceNotFound(format!("Identity '{id}' not found."))
    }
}

impl From<ValidationError> for ServiceError {
    fn from(err: ValidationError) -> Self {
        if err.is_model() {
            Self::Validation(err.0)
        } else {
            Self::InvalidParameter(err.0)
        }
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
            // Connection details and SQL stay in the cause, for the log.
            err @ StoreError::Unavailable { .. } => Self::Unavailable(
                "The service is temporarily unavailable; retry the request shortly.".into(),
                Cause::of(err),
            ),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<LinkError> for ServiceError {
    fn from(err: LinkError) -> Self {
        match err {
            LinkError::Forbidden(_) | LinkError::LoginsDontMatch => {
                Self::NotAuthorized(err.to_string())
            }
            LinkError::ProviderAlreadyLinked(_) => Self::ResourceConflict(err.to_string()),
            LinkError::TooManyLogins => Self::LimitExceeded(err.to_string()),
            LinkError::AlreadyRegistered(_) => {
                Self::DeveloperUserAlreadyRegistered(err.to_string())
            }
        }
    }
}

impl From<ResolveError> for ServiceError {
    fn from(err: ResolveError) -> Self {
        match err {
            ResolveError::Link(link) => link.into(),
            ResolveError::Store(store) => store.into(),
        }
    }
}

impl From<LoginKeyError> for ServiceError {
    fn from(err: LoginKeyError) -> Self {
        Self::NotAuthorized(err.to_string())
    }
}

impl From<VerifyError> for ServiceError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::Rejected(message) => Self::NotAuthorized(message),
            VerifyError::Unreachable(message) => Self::ExternalService(message, Cause::none()),
        }
    }
}

impl From<idbroker_issuer::IssuerError> for ServiceError {
    fn from(err: idbroker_issuer::IssuerError) -> Self {
        match err {
            idbroker_issuer::IssuerError::Store(store) => store.into(),
            other => Self::Internal(Box::new(other)),
        }
    }
}

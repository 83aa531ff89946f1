//! The one error type of token verification.

/// Why a token was not accepted. `Rejected` is the token's fault (NotAuthorizedException);
/// `Unreachable` is the provider's (ExternalServiceException).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Unreachable(String),
}

impl VerifyError {
    pub(crate) fn invalid(detail: impl std::fmt::Display) -> Self {
        Self::Rejected(format!("Invalid login token. {detail}"))
    }
}

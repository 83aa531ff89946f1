//! The one log line for a failed call, written by the face that answers it (both faces call
//! `log` when they turn a `ServiceError` into their error shape), so a failure is logged once
//! and with its cause, which the client never sees.

use idbroker_service::ServiceError;

pub(crate) fn log(err: &ServiceError) {
    match err {
        ServiceError::Internal(source) => {
            tracing::error!(error = %err, cause = ?source, "internal error");
        }
        ServiceError::Unavailable(_, cause) => match cause.get() {
            Some(cause) => tracing::warn!(%cause, "unavailable"),
            None => tracing::warn!(error = %err, "unavailable"),
        },
        ServiceError::ExternalService(_, cause)
        | ServiceError::InvalidIdentityPoolConfiguration(_, cause) => {
            if let Some(cause) = cause.get() {
                tracing::warn!(kind = err.kind(), %cause, "a neighbour failed");
            }
        }
        // The caller's own mistakes are answered, not logged as failures.
        _ => {}
    }
}

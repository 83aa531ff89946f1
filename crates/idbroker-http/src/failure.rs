//! The one log line for a failed call, written by the face that answers it (both faces call
//! `log` when they turn a `ServiceError` into their error shape), so a failure is logged once
//! and with its cause, which the client never sees.

use idbroker_service::ServiceError;

pub(crate) fn log(err: &ServiceError) {
    match err {
        ServiceError::Internal(source) => {
            tracing::error!(error = %err, cause = ?source, "internal error");
        }
        ServiceError::Unavailable(_, cause)
        | ServiceError::ExternalService(_, cause)
        | ServiceError::InvalidIdentityPoolConfiguration(_, cause) => match cause.get() {
            Some(cause) => tracing::warn!(kind = err.kind(), error = %err, %cause, "call failed"),
            None => tracing::warn!(kind = err.kind(), error = %err, "call failed"),
        },
        // The caller's own mistakes are answered, not logged as failures.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use idbroker_service::Cause;
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    use super::*;
    use crate::aws::error::AwsError;
    use crate::rest::problem::Problem;

    /// Counts the events logged while `work` runs.
    struct Count(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> Layer<S> for Count {
        fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn events_while(work: impl FnOnce()) -> usize {
        let count = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(Count(Arc::clone(&count)));
        tracing::subscriber::with_default(subscriber, work);
        count.load(Ordering::SeqCst)
    }

    fn failures() -> Vec<ServiceError> {
        let cause = || Cause::of(std::io::Error::other("connection refused"));
        vec![
            ServiceError::Unavailable("retry".into(), cause()),
            ServiceError::Unavailable("deadline".into(), Cause::none()),
            ServiceError::ExternalService("AWS STS could not be reached.".into(), cause()),
            ServiceError::ExternalService("Facebook could not be reached.".into(), Cause::none()),
            ServiceError::InvalidIdentityPoolConfiguration("check roles".into(), cause()),
            ServiceError::Internal(Box::new(std::io::Error::other("bug"))),
        ]
    }

    /// The message a face answers an error with.
    type Answer = fn(ServiceError) -> String;

    fn answers() -> [(&'static str, Answer); 2] {
        [
            ("REST", |err| Problem::from(err).detail),
            ("AWS", |err| AwsError::from(err).message),
        ]
    }

    #[test]
    fn each_face_logs_a_failure_once_with_its_cause_and_never_sends_the_cause() {
        for (face, answer) in answers() {
            for err in failures() {
                let kind = err.kind();
                let logged = events_while(|| {
                    let message = answer(err);
                    assert!(!message.contains("connection refused"), "{face}: {message}");
                    assert!(!message.contains("bug"), "{face}: {message}");
                });
                assert_eq!(logged, 1, "{face} face, {kind}");
            }
        }
    }

    #[test]
    fn a_callers_mistake_is_answered_not_logged() {
        let logged = events_while(|| {
            let _ = Problem::from(ServiceError::NotAuthorized("Logins don't match".into()));
        });
        assert_eq!(logged, 0);
    }
}

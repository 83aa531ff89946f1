//! A scripted STS for the service's tests.
//!
//! This is a stand-in on purpose: these tests are about the service's rules around STS (one
//! retry with a fresh token, which failure becomes which error, nothing recorded without
//! credentials), so each test says what STS answers. The real STS protocol and its client
//! (`idbroker_sts::Sts`: error codes, its own retries and backoff) are exercised against
//! moto in the API tests (`tests/api/`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use idbroker_sts::{AssumeRequest, AwsCredentials, CredentialsIssuer, StsError};

use super::TestClock;
use crate::Clock;

/// What the fake STS answers to one call.
#[derive(Debug, Clone)]
pub enum StsAnswer {
    /// Credentials for the requested duration, with a new access key id.
    Credentials,
    Error(StsError),
}

impl StsAnswer {
    /// A refusal with this STS error code (`AccessDenied`, `InvalidIdentityToken`, …), as the
    /// real client reports it.
    pub fn refused(code: &str) -> Self {
        Self::Error(StsError::Refused {
            code: code.to_owned(),
            detail: format!("scripted {code}"),
        })
    }

    /// `IDPCommunicationError`, as the real client reports it once its own retries are spent.
    pub fn idp_communication_error() -> Self {
        Self::Error(StsError::Unavailable(
            "IDPCommunicationError: scripted".into(),
        ))
    }

    /// STS could not be reached at all.
    pub fn unreachable() -> Self {
        Self::Error(StsError::Unavailable("STS could not be reached".into()))
    }
}

/// One call the service made, as STS saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsCall {
    pub role_arn: String,
    pub session_name: String,
    pub web_identity_token: String,
    pub duration_seconds: i32,
    pub policy: Option<String>,
}

struct Script {
    next: VecDeque<StsAnswer>,
    otherwise: StsAnswer,
    calls: Vec<StsCall>,
    issued: u32,
}

/// Answers from a script: the queued answers in order, then `otherwise` (credentials unless
/// changed). Records every call.
pub struct FakeSts {
    clock: Arc<TestClock>,
    script: Mutex<Script>,
}

impl FakeSts {
    pub(super) fn new(clock: Arc<TestClock>) -> Self {
        Self {
            clock,
            script: Mutex::new(Script {
                next: VecDeque::new(),
                otherwise: StsAnswer::Credentials,
                calls: Vec::new(),
                issued: 0,
            }),
        }
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues answers for the next calls, in order.
    pub fn then(&self, answers: impl IntoIterator<Item = StsAnswer>) {
        self.script().next.extend(answers);
    }

    /// The answer once the queue is empty.
    pub fn otherwise(&self, answer: StsAnswer) {
        self.script().otherwise = answer;
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<StsCall> {
        self.script().calls.clone()
    }
}

#[async_trait]
impl CredentialsIssuer for FakeSts {
    async fn assume_role_with_web_identity(
        &self,
        request: AssumeRequest<'_>,
    ) -> Result<AwsCredentials, StsError> {
        let mut script = self.script();
        script.calls.push(StsCall {
            role_arn: request.role_arn.to_owned(),
            session_name: request.session_name.to_owned(),
            web_identity_token: request.web_identity_token.to_owned(),
            duration_seconds: request.duration_seconds,
            policy: request.policy.map(str::to_owned),
        });
        let answer = match script.next.pop_front() {
            Some(answer) => answer,
            None => script.otherwise.clone(),
        };
        match answer {
            StsAnswer::Credentials => {
                script.issued += 1;
                Ok(AwsCredentials {
                    access_key_id: format!("ASIATESTKEY{:05}", script.issued),
                    secret_access_key: "test-secret".into(),
                    session_token: "test-session".into(),
                    expiration: self.clock.now()
                        + chrono::Duration::seconds(i64::from(request.duration_seconds)),
                })
            }
            StsAnswer::Error(err) => Err(err),
        }
    }
}

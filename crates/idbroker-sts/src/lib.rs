//! Temporary AWS credentials from STS `AssumeRoleWithWebIdentity`, called on an identity's
//! behalf with a token idbroker signed (reference §6.6, §7).
//!
//! The call is unsigned (STS models it as no-auth), so idbroker needs no AWS credentials. The
//! client is built once from the standard AWS configuration chain, so `AWS_ENDPOINT_URL_STS`,
//! `AWS_ENDPOINT_URL` and `AWS_REGION` work; settings may also name the endpoint.
//! Credentials never reach logs: `AwsCredentials`'s `Debug` hides the secret parts.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls;
use chrono::{DateTime, Utc};

/// One STS request.
pub struct AssumeRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub web_identity_token: &'a str,
    pub duration_seconds: i32,
    /// An inline scope-down session policy (JSON), if any.
    pub policy: Option<&'a str>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Why STS gave no credentials, in the terms idbroker answers with (reference §7 table).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    /// STS refused this role or token: trust policy, token, claims, region
    /// (InvalidIdentityPoolConfigurationException). The detail is for the log only.
    #[error("STS refused the request ({code}): {detail}")]
    Refused { code: String, detail: String },
    /// STS throttled us (TooManyRequestsException).
    #[error("STS is throttling requests")]
    Throttled,
    /// STS said our token had expired; a fresh one may succeed.
    #[error("STS says the web identity token expired")]
    TokenExpired,
    /// STS could not be reached or failed (ExternalServiceException).
    #[error("STS is unavailable: {0}")]
    Unavailable(String),
    /// Our own request was wrong (InternalErrorException).
    #[error("the STS request was malformed: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait CredentialsIssuer: Send + Sync {
    async fn assume_role_with_web_identity(
        &self,
        request: AssumeRequest<'_>,
    ) -> Result<AwsCredentials, StsError>;
}

/// How long one STS attempt may take, and how long all retries of a call together.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_BUDGET: Duration = Duration::from_secs(12);
const MAX_ATTEMPTS: u32 = 3;

pub struct Sts {
    client: aws_sdk_sts::Client,
}

impl Sts {
    /// Builds the client once: the standard AWS configuration chain, ring-based TLS, no
    /// credentials (the call is unsigned), the SDK's own retries off (ours are per error kind).
    pub async fn new(region: &str, endpoint_url: Option<&str>) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .http_client(http)
            .no_credentials()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            );
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        Self {
            client: aws_sdk_sts::Client::new(&config),
        }
    }

    async fn attempt(&self, request: &AssumeRequest<'_>) -> Result<AwsCredentials, StsError> {
        let output = self
            .client
            .assume_role_with_web_identity()
            .role_arn(request.role_arn)
            .role_session_name(request.session_name)
            .web_identity_token(request.web_identity_token)
            .duration_seconds(request.duration_seconds)
            .set_policy(request.policy.map(str::to_owned))
            .send()
            .await
            .map_err(classify)?;
        let creds = output
            .credentials
            .ok_or_else(|| StsError::Unavailable("STS answered without credentials".into()))?;
        let expiration =
            DateTime::from_timestamp(creds.expiration.secs(), creds.expiration.subsec_nanos())
                .ok_or_else(|| {
                    StsError::Unavailable("STS answered with an impossible expiration".into())
                })?;
        Ok(AwsCredentials {
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key,
            session_token: creds.session_token,
            expiration,
        })
    }
}

/// Maps an SDK failure to what idbroker does about it.
fn classify<E: ProvideErrorMetadata + fmt::Debug, R: fmt::Debug>(err: SdkError<E, R>) -> StsError {
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default().to_owned();
            let detail = service.err().message().unwrap_or_default().to_owned();
            match code.as_str() {
                "AccessDenied"
                | "InvalidIdentityToken"
                | "IDPRejectedClaim"
                | "RegionDisabledException"
                | "PackedPolicyTooLarge" => StsError::Refused { code, detail },
                "IDPCommunicationError" => StsError::Unavailable(format!("{code}: {detail}")),
                "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
                    StsError::Throttled
                }
                "ExpiredTokenException" => StsError::TokenExpired,
                "MalformedPolicyDocument" | "ValidationError" => {
                    StsError::Malformed(format!("{code}: {detail}"))
                }
                _ => StsError::Unavailable(format!("{code}: {detail}")),
            }
        }
        SdkError::TimeoutError(_) => StsError::Unavailable("STS did not answer in time".into()),
        SdkError::DispatchFailure(_) => StsError::Unavailable("STS could not be reached".into()),
        SdkError::ResponseError(_) => {
            StsError::Unavailable("STS answered with something unreadable".into())
        }
        _ => StsError::Unavailable("STS call failed".into()),
    }
}

fn retryable(err: &StsError) -> bool {
    matches!(err, StsError::Unavailable(_))
}

#[async_trait]
impl CredentialsIssuer for Sts {
    /// Transient failures (IDPCommunicationError, 5xx, timeouts) are retried with backoff
    /// within a time budget; everything else is answered at once.
    async fn assume_role_with_web_identity(
        &self,
        request: AssumeRequest<'_>,
    ) -> Result<AwsCredentials, StsError> {
        let started = tokio::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let attempt_started = tokio::time::Instant::now();
            let result = self.attempt(&request).await;
            let outcome = match &result {
                Ok(_) => "ok".to_owned(),
                Err(StsError::Refused { code, .. }) => code.clone(),
                Err(StsError::Throttled) => "Throttling".to_owned(),
                Err(StsError::TokenExpired) => "ExpiredTokenException".to_owned(),
                Err(StsError::Unavailable(_)) => "unavailable".to_owned(),
                Err(StsError::Malformed(_)) => "malformed".to_owned(),
            };
            metrics::counter!("idbroker_sts_requests_total", "outcome" => outcome).increment(1);
            metrics::histogram!("idbroker_sts_request_duration_seconds")
                .record(attempt_started.elapsed().as_secs_f64());
            match result {
                Err(err) if retryable(&err) && attempt < MAX_ATTEMPTS => {
                    let backoff = Duration::from_millis(200 * 2u64.pow(attempt - 1));
                    if started.elapsed() + backoff + ATTEMPT_TIMEOUT > RETRY_BUDGET {
                        return Err(err);
                    }
                    tracing::warn!(error = %err, attempt, "STS call failed; retrying");
                    tokio::time::sleep(backoff).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn credentials_never_print_their_secrets() {
        let creds = AwsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
            session_token: "session-secret".into(),
            expiration: Utc.timestamp_opt(0, 0).unwrap(),
        };
        let printed = format!("{creds:?}");
        assert!(printed.contains("ASIAEXAMPLE"));
        assert!(!printed.contains("very-secret") && !printed.contains("session-secret"));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(retryable(&StsError::Unavailable("x".into())));
        assert!(!retryable(&StsError::Throttled));
        assert!(!retryable(&StsError::Refused {
            code: "AccessDenied".into(),
            detail: String::new()
        }));
    }
}

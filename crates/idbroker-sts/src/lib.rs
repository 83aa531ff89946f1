//! Temporary AWS credentials from STS `AssumeRoleWithWebIdentity`, called on an identity's
//! behalf with a token idbroker signed (`docs/spec.md` §6.6, §7).
//!
//! The call is unsigned (STS models it as no-auth), so idbroker needs no AWS credentials. The
//! client is built once from the standard AWS configuration chain, so `AWS_ENDPOINT_URL_STS`,
//! `AWS_ENDPOINT_URL` and `AWS_REGION` work; settings may also name the endpoint.
//! Credentials never reach logs: `AwsCredentials`'s `Debug` hides the secret parts.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls;
use chrono::{DateTime, Utc};
use idbroker_trust::TrustRoots;

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

/// Why STS gave no credentials, in the terms idbroker answers with (spec §7 table).
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
    /// The client could not be built (start-up only).
    #[error("cannot build the STS client: {0}")]
    Setup(String),
}

#[async_trait]
pub trait CredentialsIssuer: Send + Sync {
    async fn assume_role_with_web_identity(
        &self,
        request: AssumeRequest<'_>,
    ) -> Result<AwsCredentials, StsError>;
}

/// The caps on `StsPolicy`: a public request that calls STS must finish within ~8 s, and
/// the rest of the request (store, signing) needs some of that.
pub const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const MAX_BUDGET: Duration = Duration::from_secs(6);
pub const MAX_ATTEMPTS: u32 = 2;

/// How long STS may take and how a failing STS is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StsPolicy {
    /// One attempt, connection included. Default and cap 3 s.
    pub attempt_timeout: Duration,
    /// All attempts of one call together, pauses included. Default and cap 6 s.
    pub budget: Duration,
    /// Attempts per call (transient failures only are retried). Default and cap 2; at least 1.
    pub max_attempts: u32,
    /// After a call found STS unavailable, later calls fail at once (`Unavailable`) for this
    /// long, doubling with each failure in a row up to `backoff_max`. Default 1 s.
    pub backoff_initial: Duration,
    /// Default 10 s.
    pub backoff_max: Duration,
}

impl Default for StsPolicy {
    fn default() -> Self {
        Self {
            attempt_timeout: MAX_ATTEMPT_TIMEOUT,
            budget: MAX_BUDGET,
            max_attempts: MAX_ATTEMPTS,
            backoff_initial: Duration::from_secs(1),
            // STS outages are usually short: look again within seconds.
            backoff_max: Duration::from_secs(10),
        }
    }
}

impl StsPolicy {
    /// The policy with every knob inside its bounds.
    pub fn bounded(self) -> Self {
        Self {
            attempt_timeout: self.attempt_timeout.min(MAX_ATTEMPT_TIMEOUT),
            budget: self.budget.min(MAX_BUDGET),
            max_attempts: self.max_attempts.clamp(1, MAX_ATTEMPTS),
            ..self
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }
}

/// Whether STS was unavailable lately. Under a std mutex, never held across an `.await`.
#[derive(Debug, Default)]
struct Health {
    failures: u32,
    /// Calls fail at once until then.
    until: Option<tokio::time::Instant>,
    last_error: String,
}

pub struct Sts {
    client: aws_sdk_sts::Client,
    /// Where the calls go, for the log (start-up, and every failure to reach it).
    endpoint: String,
    policy: StsPolicy,
    health: Mutex<Health>,
}

impl Sts {
    /// `with_policy` with the default `StsPolicy`.
    pub async fn new(region: &str, endpoint_url: Option<&str>) -> Result<Self, StsError> {
        Self::with_policy(region, endpoint_url, StsPolicy::default()).await
    }

    /// `with_trust` with Mozilla's roots alone.
    pub async fn with_policy(
        region: &str,
        endpoint_url: Option<&str>,
        policy: StsPolicy,
    ) -> Result<Self, StsError> {
        Self::with_trust(region, endpoint_url, policy, &TrustRoots::bundled()).await
    }

    /// Builds the client once: the standard AWS configuration chain, ring-based TLS trusting
    /// exactly `roots` (the SDK's own reading of the system store is off: it would only warn
    /// in an image without one), no credentials (the call is unsigned), the SDK's own retries
    /// off (ours are per error kind).
    pub async fn with_trust(
        region: &str,
        endpoint_url: Option<&str>,
        policy: StsPolicy,
        roots: &TrustRoots,
    ) -> Result<Self, StsError> {
        let policy = policy.bounded();
        // `TrustRoots` parsed every certificate the way the SDK does (which panics on a bad
        // one), so the SDK gets only good ones.
        let trust = tls::TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(roots.to_pem());
        let context = tls::TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| StsError::Setup(format!("its trust roots: {e}")))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(context)
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .http_client(http)
            .no_credentials()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(policy.attempt_timeout)
                    .operation_attempt_timeout(policy.attempt_timeout)
                    .build(),
            );
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let endpoint = config.endpoint_url().map_or_else(
            || format!("the AWS STS endpoint of {region}"),
            str::to_owned,
        );
        tracing::info!(%endpoint, "STS client ready");
        Ok(Self {
            client: aws_sdk_sts::Client::new(&config),
            endpoint,
            policy,
            health: Mutex::new(Health::default()),
        })
    }

    /// `Err` while STS is in backoff. After a failure, the first call past the backoff goes
    /// through and the others keep failing fast until it is done (at most one budget, so a
    /// caller that went away cannot hold STS shut for longer).
    fn admit(&self) -> Result<(), StsError> {
        let Ok(mut health) = self.health.lock() else {
            return Ok(()); // a panic elsewhere must not take STS away
        };
        let now = tokio::time::Instant::now();
        if health.until.is_some_and(|until| now < until) {
            return Err(StsError::Unavailable(format!(
                "STS was unavailable moments ago ({}); not asked again yet",
                health.last_error
            )));
        }
        if health.failures > 0 {
            health.until = Some(now + self.policy.budget);
        }
        Ok(())
    }

    fn record(&self, result: &Result<AwsCredentials, StsError>) {
        let Ok(mut health) = self.health.lock() else {
            return;
        };
        match result {
            // Only an STS that did not answer usefully is left alone; a refusal or a
            // throttle is an answer.
            Err(StsError::Unavailable(detail)) => {
                health.failures = health.failures.saturating_add(1);
                health.until =
                    Some(tokio::time::Instant::now() + self.policy.backoff(health.failures));
                health.last_error.clone_from(detail);
            }
            _ => *health = Health::default(),
        }
    }

    /// Attempts within the policy: transient failures are retried with a short pause while
    /// another whole attempt still fits the budget.
    async fn attempts(&self, request: &AssumeRequest<'_>) -> Result<AwsCredentials, StsError> {
        let started = tokio::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let attempt_started = tokio::time::Instant::now();
            let result = self.attempt(request).await;
            let outcome = match &result {
                Ok(_) => "ok".to_owned(),
                Err(StsError::Refused { code, .. }) => code.clone(),
                Err(StsError::Throttled) => "Throttling".to_owned(),
                Err(StsError::TokenExpired) => "ExpiredTokenException".to_owned(),
                Err(StsError::Unavailable(_)) => "unavailable".to_owned(),
                Err(StsError::Malformed(_) | StsError::Setup(_)) => "malformed".to_owned(),
            };
            metrics::counter!("idbroker_sts_requests_total", "outcome" => outcome).increment(1);
            metrics::histogram!("idbroker_sts_request_duration_seconds")
                .record(attempt_started.elapsed().as_secs_f64());
            match result {
                Err(err) if retryable(&err) && attempt < self.policy.max_attempts => {
                    let pause = Duration::from_millis(200 * 2u64.pow(attempt - 1));
                    if started.elapsed() + pause + self.policy.attempt_timeout > self.policy.budget
                    {
                        return Err(err);
                    }
                    // Not a failure yet: the answer, success or failure, is logged once by the face.
                    tracing::debug!(error = %err, attempt, "STS call failed; retrying");
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
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
            .map_err(|err| match classify(err) {
                // Which endpoint could not be reached, for the log (the cause says why).
                StsError::Unavailable(detail) => {
                    StsError::Unavailable(format!("{detail} (endpoint {})", self.endpoint))
                }
                other => other,
            })?;
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
        SdkError::DispatchFailure(failure) => StsError::Unavailable(format!(
            "STS could not be reached: {}",
            failure
                .as_connector_error()
                .map_or_else(|| "no cause given".to_owned(), |cause| causes(cause))
        )),
        SdkError::ResponseError(_) => {
            StsError::Unavailable("STS answered with something unreadable".into())
        }
        _ => StsError::Unavailable("STS call failed".into()),
    }
}

/// A connection failure and its causes (DNS, connection refused, TLS, timeout), for the log.
/// They are about the connection; the request (and its token) is not in them.
fn causes(err: &dyn std::error::Error) -> String {
    let mut out = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        out.push(cause.to_string());
        source = cause.source();
    }
    out.join(": ")
}

fn retryable(err: &StsError) -> bool {
    matches!(err, StsError::Unavailable(_))
}

#[async_trait]
impl CredentialsIssuer for Sts {
    /// Transient failures (IDPCommunicationError, 5xx, timeouts) are retried within the
    /// budget; everything else is answered at once. While STS is in backoff after such a
    /// failure, the call fails at once.
    async fn assume_role_with_web_identity(
        &self,
        request: AssumeRequest<'_>,
    ) -> Result<AwsCredentials, StsError> {
        if let Err(err) = self.admit() {
            metrics::counter!("idbroker_sts_requests_total", "outcome" => "backoff").increment(1);
            return Err(err);
        }
        // The budget holds even if an attempt overran its own timeout.
        let result = tokio::time::timeout(self.policy.budget, self.attempts(&request))
            .await
            .unwrap_or_else(|_| Err(StsError::Unavailable("STS did not answer in time".into())));
        self.record(&result);
        result
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
    fn the_policy_fits_the_public_request() {
        let default = StsPolicy::default();
        assert!(default.attempt_timeout <= Duration::from_secs(3));
        assert!(default.budget <= Duration::from_secs(6));
        assert!(default.max_attempts <= 2);
        let wild = StsPolicy {
            attempt_timeout: Duration::from_secs(30),
            budget: Duration::from_secs(60),
            max_attempts: 10,
            ..default
        }
        .bounded();
        assert_eq!(wild, StsPolicy::default());
        assert_eq!(
            StsPolicy {
                max_attempts: 0,
                ..default
            }
            .bounded()
            .max_attempts,
            1
        );
        let secs: Vec<u64> = [1, 2, 7, 40].map(|n| default.backoff(n).as_secs()).to_vec();
        assert_eq!(secs, [1, 2, 10, 10]);
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

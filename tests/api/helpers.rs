//! `spawn_app`: the application on a fresh database and a free port, plus typed clients.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_cognitoidentity::config::retry::RetryConfig;
use aws_sdk_cognitoidentity::config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentity::error::ProvideErrorMetadata;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::identity::Identity;
use idbroker::Application;
use idbroker::settings::{MasterKey, Settings};
use idbroker_domain::{AccountId, Region as BrokerRegion};
use idbroker_http::{AdminCredentials, AdminToken};
use idbroker_issuer::SigningAlg;
use idbroker_providers::ProviderEndpoints;
use idbroker_service::{Broker, Clock, SystemClock};
use idbroker_store::Backend;
use idbroker_store::testing::TestDatabase;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const ACCESS_KEY_ID: &str = "AKIDTESTADMIN0001";
pub const SECRET_ACCESS_KEY: &str = "test-admin-secret-0123456789";
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// Nothing listens here: the built-in providers are unreachable unless a test points them at
/// its own identity provider, so no test ever calls the real Google or Facebook.
const NOWHERE: &str = "http://127.0.0.1:9";

/// Runs one async test body against each backend, on a fresh database each time.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name($crate::helpers::spawn_app(idbroker_store::Backend::Postgres).await).await; })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name($crate::helpers::spawn_app(idbroker_store::Backend::Sqlite).await).await; })*
        }
    };
}
pub(crate) use on_both_stores;

/// Runs one async test body, given the backend, against each backend (for tests that set up
/// more than an app: identity providers, STS fronts, replicas).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(idbroker_store::Backend::Postgres).await; })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(idbroker_store::Backend::Sqlite).await; })*
        }
    };
}
pub(crate) use on_both_backends;

pub struct TestApp {
    pub address: String,
    /// The AWS SDK, signing with the admin credentials (public operations go unsigned, as
    /// the model says).
    pub sdk: aws_sdk_cognitoidentity::Client,
    pub http: reqwest::Client,
    _db: TestDatabase,
}

/// The application's own defaults (`Settings::for_tests`), with only what the API tests need
/// different: fixed identities, unreachable providers and STS, no rate limits, text logs.
pub fn settings(database_url: &str) -> Settings {
    let mut s = Settings::for_tests(database_url).unwrap();
    s.issuer = "http://127.0.0.1".to_owned();
    s.region = BrokerRegion::parse(REGION).unwrap();
    s.account_id = AccountId::parse(ACCOUNT).unwrap();
    s.admin = AdminCredentials {
        access_key_id: ACCESS_KEY_ID.to_owned(),
        secret_access_key: SECRET_ACCESS_KEY.to_owned(),
    };
    s.admin_token = AdminToken(ADMIN_TOKEN.to_owned());
    s.master_key = MasterKey([7; 32]);
    s.providers = ProviderEndpoints {
        google_jwks_url: format!("{NOWHERE}/google"),
        apple_jwks_url: format!("{NOWHERE}/apple"),
        facebook_jwks_url: format!("{NOWHERE}/facebook"),
        facebook_graph_url: NOWHERE.to_owned(),
        amazon_api_url: NOWHERE.to_owned(),
        cognito_idp_url: NOWHERE.to_owned(),
    };
    // ES256 keys are generated in microseconds; RS256 has its own tests.
    s.signing_alg = SigningAlg::ES256;
    // Nothing listens here: tests that need STS point this at their STS front.
    s.sts_endpoint_url = Some(NOWHERE.to_owned());
    // Off: tests fire bursts from one address; the limits have their own test.
    s.rate_limits.per_ip = 0;
    s.rate_limits.per_pool = 0;
    s.log_format = idbroker::settings::LogFormat::Text;
    s.shutdown_timeout = std::time::Duration::from_secs(5);
    s
}

/// Settings whose built-in providers all live at the test identity provider `base`.
pub fn settings_with_idp(database_url: &str, base: &str) -> Settings {
    let mut s = settings(database_url);
    s.providers = ProviderEndpoints {
        google_jwks_url: format!("{base}/jwks"),
        apple_jwks_url: format!("{base}/jwks"),
        facebook_jwks_url: format!("{base}/jwks"),
        facebook_graph_url: base.to_owned(),
        amazon_api_url: base.to_owned(),
        cognito_idp_url: base.to_owned(),
    };
    s
}

/// Starts the application and returns its base URL.
pub async fn start(settings: Settings) -> String {
    start_with_clock(settings, Arc::new(SystemClock)).await.0
}

/// Starts the application on a clock of the test's choosing; returns its URL and broker.
pub async fn start_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> (String, Arc<Broker>) {
    let reserved = RESERVED.lock().unwrap().remove(&settings.listen.port());
    let app = Application::build_on(settings, reserved, clock)
        .await
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let broker = app.broker();
    tokio::spawn(app.run_until_stopped());
    (address, broker)
}

/// A clock the test moves by hand.
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(std::sync::Mutex::new(chrono::Utc::now())))
    }

    /// A clock that starts at `now` (in the past, say: it only moves forward).
    pub fn at(now: chrono::DateTime<chrono::Utc>) -> Arc<Self> {
        Arc::new(Self(std::sync::Mutex::new(now)))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        ManualClock::now(self)
    }

    /// Moves with `now` (it only moves forward), so the rate limits refill when the test says.
    fn monotonic(&self) -> std::time::Duration {
        (ManualClock::now(self) - chrono::DateTime::UNIX_EPOCH)
            .to_std()
            .unwrap_or_default()
    }
}

pub fn sdk_client(
    address: &str,
    access_key_id: &str,
    secret: &str,
) -> aws_sdk_cognitoidentity::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_cognitoidentity::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(address)
        .credentials_provider(Credentials::new(access_key_id, secret, None, None, "tests"))
        .retry_config(RetryConfig::disabled())
        .http_client(http)
        .build();
    aws_sdk_cognitoidentity::Client::from_conf(config)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, settings).await
}

/// A free loopback port, so a test can name the issuer URL before the app binds it.
/// Listeners reserved by `free_port`, handed to the app that is started on their port.
static RESERVED: std::sync::Mutex<std::collections::BTreeMap<u16, std::net::TcpListener>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// A loopback port for an app a test starts later (its issuer URL must name the port in
/// advance). The port stays bound until `start_with_clock` serves on it, so no other test's
/// socket can take it in between.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    RESERVED.lock().unwrap().insert(port, listener);
    port
}

/// A port nothing holds, for a server that is not ours (a PostgreSQL cluster).
pub fn unheld_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Settings listening on a chosen port with the issuer at that address, so relying parties
/// (the tests' independent verifier) can fetch discovery and JWKS from it.
pub fn settings_on(database_url: &str, port: u16) -> Settings {
    let mut s = settings(database_url);
    s.listen = format!("127.0.0.1:{port}").parse().unwrap();
    s.issuer = format!("http://127.0.0.1:{port}");
    s
}

/// `settings_with_idp` listening on `port` with the issuer there (as `settings_on`), for tests
/// whose tokens a relying party verifies.
pub fn settings_with_idp_on(database_url: &str, base: &str, port: u16) -> Settings {
    let on = settings_on(database_url, port);
    Settings {
        listen: on.listen,
        issuer: on.issuer,
        ..settings_with_idp(database_url, base)
    }
}

/// The application with settings made from the database URL by `make`.
pub async fn spawn_app_with(backend: Backend, make: impl FnOnce(&str) -> Settings) -> TestApp {
    spawn_app_on_clock(backend, make, Arc::new(SystemClock)).await
}

impl TestApp {
    /// A second application instance on the same database, as another replica would be.
    pub async fn replica(&self, settings: Settings) -> (String, aws_sdk_cognitoidentity::Client) {
        let address = start(settings).await;
        let sdk = sdk_client(&address, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
        (address, sdk)
    }

    pub fn database_url(&self) -> &str {
        self._db.url()
    }

    /// The typed REST client (`idbroker_api::client`) with the admin token; `.public()` drops it.
    pub fn rest(&self) -> idbroker_api::client::Client {
        idbroker_api::client::Client::with_http(
            self.http.clone(),
            &self.address,
            Some(ADMIN_TOKEN.to_owned()),
        )
        .expect("the test app's address is a base URL")
    }

    /// A raw REST call with the admin token, for what the typed client cannot send (malformed
    /// or unknown members, wrong types): status and JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.address))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Registers an OpenID Connect provider and returns its ARN.
    pub async fn register_oidc(&self, issuer: &str, client_ids: &[&str]) -> String {
        self.rest()
            .create_oidc_provider(&idbroker_api::oidc_providers::CreateProvider {
                issuer: issuer.to_owned(),
                client_ids: client_ids.iter().map(|c| (*c).to_owned()).collect(),
            })
            .await
            .unwrap_or_else(|e| panic!("registering {issuer}: {e}"))
            .arn
    }
}

/// A raw response: status, headers and parsed JSON body.
pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: serde_json::Value,
}

impl Raw {
    pub fn error_type(&self) -> &str {
        self.json["__type"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or_default()
    }

    /// Asserts an AWS JSON error of `kind` with the status, headers and body AWS uses.
    pub fn assert_error(&self, kind: &str) {
        assert_eq!(self.error_type(), kind, "body: {}", self.json);
        assert_eq!(self.status, 400, "body: {}", self.json);
        assert_eq!(
            self.headers
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok()),
            Some(format!("{kind}:").as_str())
        );
        assert!(!self.message().is_empty());
        assert!(self.headers.contains_key("x-amzn-requestid"));
    }
}

impl TestApp {
    /// POSTs `body` to the AWS face as `operation`, with extra headers, unsigned.
    pub async fn raw(
        &self,
        operation: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, String)],
    ) -> Raw {
        let mut req = self
            .http
            .post(format!("{}/", self.address))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{TARGET_PREFIX}{operation}"))
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Raw {
            status,
            headers,
            json,
        }
    }

    /// POSTs `body` signed with SigV4 as the SDKs sign it, with the given key, secret and time.
    pub async fn signed(
        &self,
        operation: &str,
        body: &str,
        key: (&str, &str),
        at: SystemTime,
    ) -> Raw {
        let headers = sign_headers(&self.address, operation, body, key, at, REGION);
        self.raw(operation, body.to_owned(), &headers).await
    }

    /// An admin call with a JSON body, signed now with the admin credentials.
    pub async fn signed_json(&self, operation: &str, body: &serde_json::Value) -> Raw {
        self.signed(
            operation,
            &body.to_string(),
            (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
            SystemTime::now(),
        )
        .await
    }

    /// The number of pools the admin API lists.
    pub async fn pool_count(&self) -> usize {
        self.sdk
            .list_identity_pools()
            .max_results(60)
            .send()
            .await
            .unwrap()
            .identity_pools()
            .len()
    }

    pub async fn create_pool(&self, name: &str, allow_guests: bool) -> String {
        self.sdk
            .create_identity_pool()
            .identity_pool_name(name)
            .allow_unauthenticated_identities(allow_guests)
            .send()
            .await
            .unwrap()
            .identity_pool_id
    }
}

/// SigV4 headers for a POST / with the given body, as an SDK would produce them.
pub fn sign_headers(
    address: &str,
    operation: &str,
    body: &str,
    (key, secret): (&str, &str),
    at: SystemTime,
    region: &str,
) -> Vec<(&'static str, String)> {
    let host = address.trim_start_matches("http://").to_owned();
    let target = format!("{TARGET_PREFIX}{operation}");
    let unsigned = [
        ("content-type", "application/x-amz-json-1.1"),
        ("host", host.as_str()),
        ("x-amz-target", target.as_str()),
    ];
    let identity: Identity = Credentials::new(key, secret, None, None, "tests").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("cognito-identity")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let request = SignableRequest::new(
        "POST",
        format!("{address}/"),
        unsigned.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params.into()).unwrap().into_parts();
    let mut headers: Vec<(&'static str, String)> = instructions
        .headers()
        .map(|(name, value)| {
            let name: &'static str = match name {
                "authorization" => "authorization",
                "x-amz-date" => "x-amz-date",
                other => panic!("unexpected signing header {other}"),
            };
            (name, value.to_owned())
        })
        .collect();
    // reqwest sends the same Host header that was signed.
    headers.sort_unstable();
    headers
}

/// The AWS error code of an SDK failure.
pub fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &aws_sdk_cognitoidentity::error::SdkError<E, R>,
) -> String {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("not a service error: {err:?}"))
}

/// The AWS error message of an SDK failure.
pub fn message<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &aws_sdk_cognitoidentity::error::SdkError<E, R>,
) -> String {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::message)
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("not a service error: {err:?}"))
}

/// As `spawn_app_with`, on a clock of the test's choosing (it drives the rate limits too).
pub async fn spawn_app_on_clock(
    backend: Backend,
    make: impl FnOnce(&str) -> Settings,
    clock: Arc<dyn Clock>,
) -> TestApp {
    let db = TestDatabase::new(backend).await;
    let (address, _) = start_with_clock(make(db.url()), clock).await;
    TestApp {
        sdk: sdk_client(&address, ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        http: reqwest::Client::new(),
        address,
        _db: db,
    }
}

impl TestApp {
    /// The credential ledger's entries for one identity (`GET /v1/issuances`).
    pub async fn issuances_of(&self, identity: &str) -> Vec<idbroker_api::ledger::IssuanceBody> {
        self.rest()
            .issuances(&idbroker_api::ledger::LedgerQuery {
                identity_id: Some(identity.to_owned()),
                ..Default::default()
            })
            .await
            .unwrap()
            .issuances
    }

    /// The ids of every identity in a pool, disabled ones included, in listing order.
    pub async fn identity_ids(&self, pool: &str) -> Vec<String> {
        self.sdk
            .list_identities()
            .identity_pool_id(pool)
            .max_results(60)
            .send()
            .await
            .unwrap()
            .identities()
            .iter()
            .map(|i| i.identity_id.clone().expect("a listed identity has an id"))
            .collect()
    }
}

/// What an SDK call returns: its output, or the SDK's error (read with `code`/`message`).
pub type SdkResult<T, E> = Result<
    T,
    aws_sdk_cognitoidentity::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
>;

use aws_sdk_cognitoidentity::operation::create_identity_pool::{self as create, builders};
use aws_sdk_cognitoidentity::operation::delete_identity_pool as delete_pool;
use aws_sdk_cognitoidentity::operation::describe_identity as describe_id;
use aws_sdk_cognitoidentity::operation::describe_identity_pool as describe_pool;
use aws_sdk_cognitoidentity::operation::get_id;

/// CreateIdentityPool with a name and the guest setting, on any client (a replica's, say).
pub async fn create_pool_on(
    sdk: &aws_sdk_cognitoidentity::Client,
    name: &str,
    allow_guests: bool,
) -> SdkResult<create::CreateIdentityPoolOutput, create::CreateIdentityPoolError> {
    let call = sdk.create_identity_pool().identity_pool_name(name);
    call.allow_unauthenticated_identities(allow_guests)
        .send()
        .await
}

/// The calls most tests make, one line each.
impl TestApp {
    /// A new guest identity in `pool` (GetId without logins).
    pub async fn guest(&self, pool: &str) -> String {
        self.get_id(pool, &[]).await.unwrap().identity_id.unwrap()
    }

    /// GetId with these logins.
    pub async fn get_id(
        &self,
        pool: &str,
        logins: &[(&str, &str)],
    ) -> SdkResult<get_id::GetIdOutput, get_id::GetIdError> {
        let mut call = self.sdk.get_id().identity_pool_id(pool);
        for (provider, token) in logins {
            call = call.logins(*provider, *token);
        }
        call.send().await
    }

    /// A pool built from CreateIdentityPool with this name and guest setting, plus whatever
    /// `more` adds (providers, tags); returns its id.
    pub async fn create_pool_with(
        &self,
        name: &str,
        allow_guests: bool,
        more: impl FnOnce(
            builders::CreateIdentityPoolFluentBuilder,
        ) -> builders::CreateIdentityPoolFluentBuilder,
    ) -> String {
        let call = self.sdk.create_identity_pool().identity_pool_name(name);
        let call = more(call.allow_unauthenticated_identities(allow_guests));
        call.send().await.unwrap().identity_pool_id
    }

    pub async fn describe_pool(
        &self,
        pool: &str,
    ) -> SdkResult<
        describe_pool::DescribeIdentityPoolOutput,
        describe_pool::DescribeIdentityPoolError,
    > {
        self.sdk
            .describe_identity_pool()
            .identity_pool_id(pool)
            .send()
            .await
    }

    pub async fn delete_pool(
        &self,
        pool: &str,
    ) -> SdkResult<delete_pool::DeleteIdentityPoolOutput, delete_pool::DeleteIdentityPoolError>
    {
        self.sdk
            .delete_identity_pool()
            .identity_pool_id(pool)
            .send()
            .await
    }

    pub async fn describe_identity(
        &self,
        identity: &str,
    ) -> SdkResult<describe_id::DescribeIdentityOutput, describe_id::DescribeIdentityError> {
        self.sdk
            .describe_identity()
            .identity_id(identity)
            .send()
            .await
    }

    /// A GET of `path` on the app, without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.address);
        self.http.get(url).send().await.unwrap()
    }

    /// A POST of `path` on the app with no body and no credentials.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.address);
        self.http.post(url).send().await.unwrap()
    }
}

impl TestApp {
    /// GetOpenIdTokenForDeveloperIdentity on `pool` for one developer user, signed; the caller
    /// adds what else it needs (an identity id, principal tags, a duration) and sends it.
    pub fn developer_login(
        &self,
        pool: &str,
        provider: &str,
        user: &str,
    ) -> aws_sdk_cognitoidentity::operation::get_open_id_token_for_developer_identity::builders::GetOpenIdTokenForDeveloperIdentityFluentBuilder{
        let call = self.sdk.get_open_id_token_for_developer_identity();
        call.identity_pool_id(pool).logins(provider, user)
    }
}

/// Asserts an SDK failure's AWS error code and message.
pub fn assert_sdk_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &aws_sdk_cognitoidentity::error::SdkError<E, R>,
    expected_code: &str,
    expected_message: &str,
) {
    assert_eq!(
        (code(err).as_str(), message(err).as_str()),
        (expected_code, expected_message)
    );
}

//! A `Broker` for tests of the service's rules (the `test-support` feature; the crate's own
//! tests enable it through a dev-dependency on itself).
//!
//! `TestBroker::builder().build().await` gives a broker over a fresh SQLite file (the real
//! store, migrated), a clock the test moves (`TestClock`), signing keys in memory
//! (`idbroker_issuer::MemoryKeys`), a real `Verifier` whose key sets come from an in-memory
//! OpenID Connect provider (`TestIdp`) and a scripted STS (`FakeSts`). A rule of the service
//! is then tested in milliseconds, with no PostgreSQL, moto or npm.
//!
//! Only STS and the provider's key endpoint are stand-ins, because a test of the service's
//! rules must say what they answer. The real STS (moto), real providers over HTTP and
//! PostgreSQL are exercised by the API tests (`tests/api/`) and the store's contract tests.

// Test-only code (behind the `test-support` feature): failing loudly is the point.
#![allow(clippy::panic, clippy::expect_used)]

mod idp;
mod sts;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use idbroker_domain::signing::KeyPolicy;
use idbroker_domain::{AccountId, IdentityId, IdentityPool, PoolConfig, PoolRoles, Region, Tags};
use idbroker_issuer::{Issuer, IssuerConfig, MasterKey, MemoryKeys, SigningAlg};
use idbroker_providers::{CachePolicy, ProviderEndpoints, UpstreamPolicy, Verifier};
use idbroker_store::SqlStore;
use idbroker_store::testing::TestDatabase;

use crate::{AwsCredentials, Broker, BrokerSettings, Clock, ServiceResult, StsSettings};

pub use idp::{IDP_CLIENT_ID, IDP_ISSUER, TestIdp};
pub use sts::{FakeSts, StsAnswer, StsCall};

/// The account every test broker runs in.
pub const ACCOUNT: &str = "123456789012";
/// Roles the fixture pools use.
pub const GUEST_ROLE: &str = "arn:aws:iam::123456789012:role/TestGuest";
pub const AUTHENTICATED_ROLE: &str = "arn:aws:iam::123456789012:role/TestAuthenticated";
/// The developer provider of `developer_pool`.
pub const DEVELOPER_PROVIDER: &str = "login.test.example";

/// A clock the test sets; it starts at a fixed instant so runs are repeatable.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct TestBrokerBuilder {
    pool_cache_ttl: Duration,
    sts: StsSettings,
}

impl TestBrokerBuilder {
    /// How long public operations may use a copy of a pool or provider that no change event
    /// dropped (production's default: 300 s).
    pub fn pool_cache_ttl(mut self, ttl: Duration) -> Self {
        self.pool_cache_ttl = ttl;
        self
    }

    pub fn sts_settings(mut self, sts: StsSettings) -> Self {
        self.sts = sts;
        self
    }

    pub async fn build(self) -> TestBroker {
        let db = TestDatabase::sqlite();
        let store = Arc::new(
            SqlStore::connect(db.url())
                .await
                .expect("the test database opens"),
        );
        store.migrate().await.expect("the test database migrates");
        let start = Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid start time");
        let clock = Arc::new(TestClock::new(start));
        let idp = Arc::new(TestIdp::new(start).await.expect("the test provider starts"));
        let verifier = Verifier::with_key_source(
            ProviderEndpoints::default(),
            CachePolicy::default(),
            UpstreamPolicy::default(),
            idp.clone(),
        )
        .expect("the verifier builds");
        let issuer = Issuer::new(
            Arc::new(MemoryKeys::new()),
            MasterKey::new([1; 32]),
            IssuerConfig {
                issuer: "https://idbroker.test.example".into(),
                // ES256: a key is made in microseconds (RSA would take a while unoptimised).
                alg: SigningAlg::ES256,
                policy: KeyPolicy {
                    rotation_period: chrono::Duration::days(7),
                    prepublish: chrono::Duration::hours(24),
                },
            },
        );
        issuer
            .maintain(start, false)
            .await
            .expect("the first signing key is made");
        let sts = Arc::new(FakeSts::new(clock.clone()));
        let settings = BrokerSettings {
            region: Region::parse("us-east-1").expect("a valid region"),
            account_id: AccountId::parse(ACCOUNT).expect("a valid account"),
            allow_http_issuers: false,
            sts: self.sts,
            ledger_retention: chrono::Duration::days(30),
            guest_idle: None,
            pool_cache_ttl: self.pool_cache_ttl,
        };
        let broker = Broker::new(
            store.clone(),
            clock.clone(),
            Arc::new(verifier),
            Arc::new(issuer),
            sts.clone(),
            settings,
        );
        TestBroker {
            broker,
            store,
            clock,
            sts,
            idp,
            _db: db,
        }
    }
}

/// A broker and the parts a test looks at or steers.
pub struct TestBroker {
    pub broker: Broker,
    /// The broker's store, for looking at rows (and changing them behind the broker's back).
    pub store: Arc<SqlStore>,
    pub clock: Arc<TestClock>,
    pub sts: Arc<FakeSts>,
    pub idp: Arc<TestIdp>,
    /// Removes the SQLite file when the test ends.
    _db: TestDatabase,
}

impl TestBroker {
    pub fn builder() -> TestBrokerBuilder {
        TestBrokerBuilder {
            pool_cache_ttl: Duration::from_secs(300),
            sts: StsSettings::default(),
        }
    }

    /// The SQLite database's URL, for changing rows behind the store's back.
    pub fn database_url(&self) -> &str {
        self._db.url()
    }

    /// `builder().build()`.
    pub async fn new() -> Self {
        Self::builder().build().await
    }

    /// Creates a pool that allows guests, named `name`, with no tags and no roles.
    pub async fn bare_pool(&self, name: &str) -> IdentityPool {
        self.broker
            .create_identity_pool(guest_config(name), Tags::default(), Default::default())
            .await
            .expect("the fixture pool is created")
    }

    /// Creates a pool with `config` and no tags, and gives it the fixture roles.
    pub async fn pool(&self, config: PoolConfig) -> IdentityPool {
        let pool = self
            .broker
            .create_identity_pool(config, Tags::default(), Default::default())
            .await
            .expect("the fixture pool is created");
        self.broker
            .set_identity_pool_roles(pool.id.as_str(), pool_roles(GUEST_ROLE))
            .await
            .expect("the fixture roles are set");
        pool
    }

    /// A pool that allows guests.
    pub async fn guest_pool(&self) -> IdentityPool {
        self.pool(guest_config("guests")).await
    }

    /// A pool with the developer provider `DEVELOPER_PROVIDER` (no guests).
    pub async fn developer_pool(&self) -> IdentityPool {
        self.pool(PoolConfig {
            developer_provider_name: Some(DEVELOPER_PROVIDER.into()),
            ..guest_config("developers")
        })
        .await
    }

    /// Registers `TestIdp` as an OpenID Connect provider and makes a pool that trusts it.
    pub async fn federated_pool(&self) -> IdentityPool {
        let provider = self
            .broker
            .create_oidc_provider(IDP_ISSUER, vec![IDP_CLIENT_ID.into()])
            .await
            .expect("the test provider is registered");
        self.pool(PoolConfig {
            allow_unauthenticated_identities: false,
            open_id_connect_provider_arns: vec![provider.arn],
            ..guest_config("federated")
        })
        .await
    }

    /// GetId in `pool` with these logins, admitted by any rate limit.
    pub async fn get_id(
        &self,
        pool: &IdentityPool,
        logins: &BTreeMap<String, String>,
    ) -> ServiceResult<IdentityId> {
        self.broker
            .get_id(pool.id.as_str(), None, logins, |_| Ok(()))
            .await
    }

    /// A new guest identity in `pool` (GetId without logins).
    pub async fn guest(&self, pool: &IdentityPool) -> IdentityId {
        self.get_id(pool, &BTreeMap::new())
            .await
            .expect("the fixture guest is created")
    }

    /// GetCredentialsForIdentity for a guest: no logins, no custom role.
    pub async fn guest_credentials(
        &self,
        identity: &IdentityId,
    ) -> ServiceResult<(IdentityId, AwsCredentials)> {
        self.broker
            .get_credentials_for_identity(identity.as_str(), &BTreeMap::new(), None)
            .await
    }

    /// A valid ID token of the test provider for `subject`, issued now.
    pub fn id_token(&self, subject: &str) -> String {
        self.idp
            .id_token(subject, self.clock.now(), serde_json::json!({}))
    }

    /// The Logins map of one test-provider login.
    pub fn idp_login(&self, subject: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(self.idp.login_key().to_owned(), self.id_token(subject))])
    }
}

/// The fixture roles, with `guest` as the guests' role and no role mappings.
pub fn pool_roles(guest: &str) -> PoolRoles {
    PoolRoles {
        roles: BTreeMap::from([
            ("unauthenticated".to_owned(), guest.to_owned()),
            ("authenticated".to_owned(), AUTHENTICATED_ROLE.to_owned()),
        ]),
        role_mappings: BTreeMap::new(),
    }
}

/// A pool configuration named `name` that allows guests and nothing else.
pub fn guest_config(name: &str) -> PoolConfig {
    PoolConfig {
        identity_pool_name: name.to_owned(),
        allow_unauthenticated_identities: true,
        ..PoolConfig::default()
    }
}

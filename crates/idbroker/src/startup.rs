//! Builds the application from settings: store (migrated), signing keys (created or checked
//! against the master key), broker, HTTP server on a bound listener. Binding first lets tests
//! ask for port 0 and read the real port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use anyhow::Context;
use idbroker_http::{AppState, SigV4Verifier};
use idbroker_issuer::{Issuer, IssuerConfig, MasterKey};
use idbroker_providers::Verifier;
use idbroker_service::{Broker, BrokerSettings, Clock, SystemClock};
use idbroker_store::SqlStore;
use idbroker_sts::Sts;
use idbroker_trust::TrustRoots;

use crate::Settings;

/// How often old ledger entries and (when configured) idle guests are deleted. Both are
/// counted in days; once an hour keeps the scans rare.
const CLEAN_UP_INTERVAL: Duration = Duration::from_secs(3600);

/// How often recorded latencies are folded into histogram buckets (see `metrics::run_upkeep`).
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    server: Server,
    broker: Arc<Broker>,
    /// How often signing keys are checked (`Settings::key_upkeep_interval`).
    key_upkeep_interval: Duration,
    /// Kept to close the connection pool once the server has drained.
    store: Arc<SqlStore>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As `build`, with the clock of the broker and the rate limits chosen by the caller (tests
    /// move time forward).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Self::build_on(settings, None, clock).await
    }

    /// As `build_with_clock`, serving on `listener` when given (already bound to
    /// `settings.listen`: a caller that had to know the port in advance keeps it bound, so
    /// nothing else can take it in between).
    pub async fn build_on(
        settings: Settings,
        listener: Option<TcpListener>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        // One set of roots for every outbound HTTPS client (STS and the providers); a bad extra
        // CA file stops start-up before anything else is touched.
        let roots = TrustRoots::load(settings.extra_ca_file.as_deref())
            .context("cannot load the trust roots for outbound HTTPS (IDBROKER_EXTRA_CA_FILE)")?;
        for error in roots.system_errors() {
            tracing::warn!(%error, "a system trust store certificate could not be read (skipped)");
        }
        let counts = roots.counts();
        tracing::info!(
            bundled = counts.bundled,
            system = counts.system,
            extra = counts.extra,
            "trust roots for outbound HTTPS"
        );
        let store = Arc::new(
            SqlStore::connect_with(&settings.database_url, settings.database.clone())
                .await
                .context("cannot connect to the database (IDBROKER_DATABASE_URL)")?,
        );
        store
            .migrate()
            .await
            .context("cannot apply database migrations")?;
        // Before anything is cached: until the listener listens, caches are not used.
        store.listen_for_changes();
        let verifier = Verifier::with_trust(
            settings.providers.clone(),
            settings.jwks_cache,
            settings.upstream,
            &roots,
        )
        .context("cannot set up identity-provider verification")?
        .remember_verified(settings.verified_token_cache_entries);
        let issuer = Issuer::new(
            store.clone(),
            MasterKey::new(settings.master_key.0),
            IssuerConfig {
                issuer: settings.issuer.clone(),
                alg: settings.signing_alg,
                policy: settings.key_policy,
            },
        );
        // Creates the first key, or proves the master key opens the stored ones, before serving.
        issuer
            .maintain(clock.now(), false)
            .await
            .context("cannot prepare the signing keys")?;
        // Built once and shared: the standard AWS chain, unsigned calls.
        let sts = Sts::with_trust(
            settings.region.as_str(),
            settings.sts_endpoint_url.as_deref(),
            settings.sts_policy,
            &roots,
        )
        .await
        .context("cannot set up the STS client")?;
        let broker = Arc::new(Broker::new(
            store.clone(),
            clock.clone(),
            Arc::new(verifier),
            Arc::new(issuer),
            Arc::new(sts),
            BrokerSettings {
                region: settings.region.clone(),
                account_id: settings.account_id.clone(),
                allow_http_issuers: settings.allow_http_issuers,
                sts: settings.sts.clone(),
                ledger_retention: settings.ledger_retention,
                guest_idle: settings.guest_idle,
                pool_cache_ttl: settings.pool_cache_ttl,
            },
        ));
        if let Some(path) = &settings.bootstrap {
            let actor = format!("bootstrap {}", path.display());
            let applied =
                idbroker_service::with_actor(actor, crate::bootstrap::apply(&broker, path)).await?;
            tracing::info!(file = %path.display(), ?applied, "bootstrap file applied");
        }
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(settings.listen).with_context(|| {
                format!("cannot listen on {} (IDBROKER_LISTEN)", settings.listen)
            })?,
        };
        let port = listener.local_addr()?.port();
        let state = AppState {
            broker: broker.clone(),
            verifier: SigV4Verifier::new(settings.admin.clone(), settings.region.as_str()),
            admin_token: Some(settings.admin_token.clone()),
            limits: Arc::new(idbroker_http::rate_limit::RateLimits::new(
                settings.rate_limits,
                clock,
            )),
            timeouts: settings.timeouts,
            admin_origins: settings.admin_cors_origins.clone(),
            // The session cookie is Secure when browsers reach idbroker over https.
            console: settings.console_idle.map(|idle| {
                idbroker_http::console::Console::new(idle, settings.issuer.starts_with("https://"))
            }),
        };
        let server = idbroker_http::serve(listener, state, settings.shutdown_timeout)?;
        Ok(Self {
            port,
            server,
            broker,
            key_upkeep_interval: settings.key_upkeep_interval,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn broker(&self) -> Arc<Broker> {
        self.broker.clone()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (within the shutdown
    /// timeout) and closes the database pool. Meanwhile signing keys are kept up to date, old
    /// ledger entries pruned, expired SAML assertion ids dropped from the replay cache and, when
    /// configured, idle guests deleted.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let broker = self.broker.clone();
        let key_upkeep_interval = self.key_upkeep_interval;
        let upkeep = tokio::spawn(async move {
            let mut key_ticks = tokio::time::interval(key_upkeep_interval);
            let mut clean_up_ticks = tokio::time::interval(CLEAN_UP_INTERVAL);
            let mut metrics_ticks = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = metrics_ticks.tick() => idbroker_http::metrics::run_upkeep(),
                    _ = key_ticks.tick() => {
                        if let Err(err) = broker.maintain_signing_keys().await {
                            tracing::error!(error = %err, "signing-key upkeep failed");
                        }
                    }
                    _ = clean_up_ticks.tick() => {
                        if let Err(err) = broker.prune_ledger().await {
                            tracing::error!(error = %err, "credential-ledger clean-up failed");
                        }
                        if let Err(err) = broker.delete_idle_guests().await {
                            tracing::error!(error = %err, "idle-guest clean-up failed");
                        }
                        if let Err(err) = broker.prune_saml_assertions().await {
                            tracing::error!(error = %err, "SAML replay-cache clean-up failed");
                        }
                    }
                }
            }
        });
        let result = self.server.await;
        upkeep.abort();
        self.store.close().await;
        tracing::info!("idbroker stopped");
        result
    }
}

//! Builds the application from settings: store (migrated), broker, HTTP server on a bound
//! listener. Binding first lets tests ask for port 0 and read the real port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use anyhow::Context;
use idbroker_http::{AppState, SigV4Verifier};
use idbroker_providers::Verifier;
use idbroker_service::{Broker, BrokerSettings, SystemClock};
use idbroker_store::SqlStore;

use crate::Settings;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = SqlStore::connect(&settings.database_url)
            .await
            .context("cannot connect to the database (IDBROKER_DATABASE_URL)")?;
        store
            .migrate()
            .await
            .context("cannot apply database migrations")?;
        let verifier = Verifier::new(settings.providers.clone(), settings.jwks_cache)
            .context("cannot set up identity-provider verification")?;
        let broker = Broker::new(
            Arc::new(store),
            Arc::new(SystemClock),
            Arc::new(verifier),
            BrokerSettings {
                region: settings.region.clone(),
                account_id: settings.account_id.clone(),
                allow_http_issuers: settings.allow_http_issuers,
            },
        );
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("cannot listen on {} (IDBROKER_LISTEN)", settings.listen))?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            broker: Arc::new(broker),
            verifier: SigV4Verifier::new(settings.admin.clone(), settings.region.as_str()),
            admin_token: Some(settings.admin_token.clone()),
        };
        let server = idbroker_http::serve(listener, state)?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

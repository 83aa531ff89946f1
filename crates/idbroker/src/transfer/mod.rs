//! Moving in and out: `idbroker export`, `idbroker import` and `idbroker pools copy`. They
//! work on the database directly (IDBROKER_DATABASE_URL, like `idbroker migrate`): no server
//! needs to run, and keeping pool and identity ids exactly is something only the database
//! side can do (the APIs mint new ids). The rules are the service's
//! (`idbroker_service::transfer`); the file format is in `format`.

pub mod copy;
pub mod export;
pub mod format;
pub mod import;

use std::path::Path;
use std::sync::Arc;

use idbroker_service::SystemClock;
use idbroker_service::transfer::Transfer;
use idbroker_store::SqlStore;

use crate::Settings;

/// The configured database, migrated (an empty database can be imported into), and the
/// service's transfer rules over it.
pub async fn open(config: Option<&Path>) -> anyhow::Result<Transfer> {
    let settings = Settings::load_for_migrate(config)?;
    crate::telemetry::init(settings.log_format);
    connect(&settings).await
}

/// As `open`, with settings already loaded.
pub async fn connect(settings: &Settings) -> anyhow::Result<Transfer> {
    let store = SqlStore::connect_with(&settings.database_url, settings.database.clone()).await?;
    store.migrate().await?;
    Ok(Transfer::new(
        Arc::new(store),
        Arc::new(SystemClock),
        settings.account_id.clone(),
        settings.allow_http_issuers,
    ))
}

/// A service error for the operator, with the cause the service keeps for logs (an operator
/// at a terminal is the log's reader here).
pub(crate) fn explain(err: idbroker_service::ServiceError) -> anyhow::Error {
    use idbroker_service::ServiceError;
    match &err {
        ServiceError::Unavailable(message, cause) => match cause.get() {
            Some(cause) => anyhow::anyhow!("{message} ({cause})"),
            None => anyhow::anyhow!("{message}"),
        },
        _ => anyhow::Error::new(err),
    }
}

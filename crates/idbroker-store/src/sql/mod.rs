//! The SQL store: one set of queries for PostgreSQL and SQLite through sqlx's `Any` driver.
//!
//! The two dialects differ only in their migrations and in row locking (`FOR UPDATE`, which
//! SQLite does not need because it serialises writers). Placeholders are `$N`, which both accept.

mod identities;
mod keys;
mod ledger;
mod logins;
mod oidc;
mod pools;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::IdentityPoolId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::{Health, StoreError, StoreResult};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// Which backend a database URL names, if any we support.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

impl SqlStore {
    /// Connects to `url` (`postgres://…` or `sqlite://…`).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            StoreError::Backend("database URL must start with postgres:// or sqlite://".into())
        })?;
        let max_connections = match backend {
            Backend::Postgres => 16,
            // SQLite has one writer at a time; a few readers beside it are plenty.
            Backend::Sqlite => 4,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the writer; the setting persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool, backend })
    }

    /// Applies the backend's pending migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqlStore {
    /// After an optimistic update matched no row: was the row gone, or had it moved on?
    pub(crate) async fn missing_or_moved(&self, id: &IdentityPoolId) -> StoreError {
        match sqlx::query("SELECT id FROM identity_pools WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
        {
            Ok(Some(_)) => StoreError::ConcurrentModification,
            Ok(None) => StoreError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// Locks the pool row for the rest of `tx` (PostgreSQL); `NotFound` if there is none.
    pub(crate) async fn lock_pool(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &IdentityPoolId,
    ) -> StoreResult<()> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT id FROM identity_pools WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT id FROM identity_pools WHERE id = $1",
        };
        sqlx::query(sql)
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl Health for SqlStore {
    fn connections(&self) -> (u32, u32) {
        (
            self.pool.size(),
            u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        )
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

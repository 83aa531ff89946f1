//! The SQL store: one set of queries for PostgreSQL and SQLite through sqlx's `Any` driver.
//!
//! The two dialects differ only in their migrations and in row locking (`FOR UPDATE`, which
//! SQLite does not need because it serialises writers). Placeholders are `$N`, which both accept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::{
    Identity, IdentityId, IdentityPool, IdentityPoolId, PoolConfig, PoolRoles, PoolSummary,
    PrincipalTagMap, Tags,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

use crate::{Health, IdentityStore, PoolStore, StoreError, StoreResult, StoredPool};

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

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn identity_from_row(row: &AnyRow) -> StoreResult<Identity> {
    Ok(Identity {
        id: IdentityId::from_trusted(row.try_get("id")?),
        pool_id: IdentityPoolId::from_trusted(row.try_get("pool_id")?),
        logins: Vec::new(),
        created_at: from_millis(row.try_get("created_at")?)?,
        last_modified_at: from_millis(row.try_get("updated_at")?)?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
    })
}

impl SqlStore {
    /// After an optimistic update matched no row: was the row gone, or had it moved on?
    async fn missing_or_moved(&self, id: &IdentityPoolId) -> StoreError {
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
    async fn lock_pool(
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

async fn insert_tags(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &IdentityPoolId,
    tags: &Tags,
) -> StoreResult<()> {
    for (key, value) in tags {
        sqlx::query(
            "INSERT INTO pool_tags (pool_id, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (pool_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(id.as_str())
        .bind(key.as_str())
        .bind(value.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl PoolStore for SqlStore {
    async fn create_pool(&self, pool: &IdentityPool, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO identity_pools (id, name, config, roles, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $5)",
        )
        .bind(pool.id.as_str())
        .bind(pool.config.identity_pool_name.as_str())
        .bind(to_json(&pool.config)?)
        .bind(to_json(&PoolRoles::default())?)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        insert_tags(&mut tx, &pool.id, &pool.tags).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_pool(&self, id: &IdentityPoolId) -> StoreResult<Option<StoredPool>> {
        let Some(row) =
            sqlx::query("SELECT config, roles, version FROM identity_pools WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let config: PoolConfig = from_json(&row.try_get::<String, _>("config")?)?;
        let roles: PoolRoles = from_json(&row.try_get::<String, _>("roles")?)?;
        let version: i64 = row.try_get("version")?;
        let tags = sqlx::query("SELECT key, value FROM pool_tags WHERE pool_id = $1")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
            .collect::<Result<Tags, sqlx::Error>>()?;
        Ok(Some(StoredPool {
            pool: IdentityPool {
                id: id.clone(),
                config,
                tags,
            },
            roles,
            version,
        }))
    }

    async fn list_pools(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<PoolSummary>> {
        sqlx::query("SELECT id, name FROM identity_pools WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(PoolSummary {
                    id: IdentityPoolId::from_trusted(r.try_get("id")?),
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    async fn update_pool(
        &self,
        id: &IdentityPoolId,
        expected_version: i64,
        config: &PoolConfig,
        tags: Option<&Tags>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE identity_pools SET name = $1, config = $2, version = version + 1, updated_at = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(config.identity_pool_name.as_str())
        .bind(to_json(config)?)
        .bind(millis(now))
        .bind(id.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Err(self.missing_or_moved(id).await);
        }
        if let Some(tags) = tags {
            sqlx::query("DELETE FROM pool_tags WHERE pool_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            insert_tags(&mut tx, id, tags).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_pool(&self, id: &IdentityPoolId) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM identity_pools WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_roles(
        &self,
        id: &IdentityPoolId,
        expected_version: i64,
        roles: &PoolRoles,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let updated = sqlx::query(
            "UPDATE identity_pools SET roles = $1, version = version + 1, updated_at = $2 \
             WHERE id = $3 AND version = $4",
        )
        .bind(to_json(roles)?)
        .bind(millis(now))
        .bind(id.as_str())
        .bind(expected_version)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(self.missing_or_moved(id).await);
        }
        Ok(())
    }

    async fn add_tags(&self, id: &IdentityPoolId, tags: &Tags, max: usize) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        self.lock_pool(&mut tx, id).await?;
        insert_tags(&mut tx, id, tags).await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM pool_tags WHERE pool_id = $1")
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if usize::try_from(count).unwrap_or(usize::MAX) > max {
            tx.rollback().await?;
            return Err(StoreError::LimitExceeded(format!(
                "an identity pool can have at most {max} tags"
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_tags(&self, id: &IdentityPoolId, keys: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        self.lock_pool(&mut tx, id).await?;
        for key in keys {
            sqlx::query("DELETE FROM pool_tags WHERE pool_id = $1 AND key = $2")
                .bind(id.as_str())
                .bind(key.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn put_principal_tag_map(
        &self,
        id: &IdentityPoolId,
        provider: &str,
        map: &PrincipalTagMap,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO principal_tag_maps (pool_id, provider_name, config) VALUES ($1, $2, $3) \
             ON CONFLICT (pool_id, provider_name) DO UPDATE SET config = excluded.config",
        )
        .bind(id.as_str())
        .bind(provider)
        .bind(to_json(map)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_principal_tag_map(
        &self,
        id: &IdentityPoolId,
        provider: &str,
    ) -> StoreResult<Option<PrincipalTagMap>> {
        sqlx::query(
            "SELECT config FROM principal_tag_maps WHERE pool_id = $1 AND provider_name = $2",
        )
        .bind(id.as_str())
        .bind(provider)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| from_json(&row.try_get::<String, _>("config")?))
        .transpose()
    }
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_identity(&self, identity: &Identity) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO identities (id, pool_id, disabled_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(identity.id.as_str())
        .bind(identity.pool_id.as_str())
        .bind(identity.disabled.then(|| millis(identity.last_modified_at)))
        .bind(millis(identity.created_at))
        .bind(millis(identity.last_modified_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_identity(&self, id: &IdentityId) -> StoreResult<Option<Identity>> {
        sqlx::query(
            "SELECT id, pool_id, disabled_at, created_at, updated_at FROM identities WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(identity_from_row)
        .transpose()
    }

    async fn list_identities(
        &self,
        pool: &IdentityPoolId,
        after: Option<&str>,
        limit: u32,
        hide_disabled: bool,
    ) -> StoreResult<Vec<Identity>> {
        let sql = if hide_disabled {
            "SELECT id, pool_id, disabled_at, created_at, updated_at FROM identities \
             WHERE pool_id = $1 AND id > $2 AND disabled_at IS NULL ORDER BY id LIMIT $3"
        } else {
            "SELECT id, pool_id, disabled_at, created_at, updated_at FROM identities \
             WHERE pool_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        };
        sqlx::query(sql)
            .bind(pool.as_str())
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(identity_from_row)
            .collect()
    }

    async fn delete_identity(&self, id: &IdentityId) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM identities WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

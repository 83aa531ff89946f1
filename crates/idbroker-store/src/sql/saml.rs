//! Registered SAML providers and the replay cache of their assertions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::IdentityPoolId;
use idbroker_domain::saml_provider::SamlProvider;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Retry, SqlStore, found, millis};
use crate::error::sent;
use crate::{SamlProviderStore, StoreError, StoreResult};

/// One provider by name, with the columns `provider_from_row` reads.
pub(super) const SELECT_PROVIDER: &str = "SELECT name, entity_id, metadata, legacy_sha1, subject_attribute \
     FROM saml_providers WHERE name = $1";

pub(super) fn provider_from_row(row: &AnyRow) -> StoreResult<SamlProvider> {
    Ok(SamlProvider {
        name: row.try_get("name")?,
        entity_id: row.try_get("entity_id")?,
        metadata: row.try_get("metadata")?,
        legacy_sha1: row.try_get::<i64, _>("legacy_sha1")? != 0,
        subject_attribute: row.try_get("subject_attribute")?,
    })
}

pub(super) async fn insert_provider(
    conn: &mut AnyConnection,
    provider: &SamlProvider,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO saml_providers \
         (name, entity_id, metadata, legacy_sha1, subject_attribute, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(provider.name.as_str())
    .bind(provider.entity_id.as_str())
    .bind(provider.metadata.as_str())
    .bind(i64::from(provider.legacy_sha1))
    .bind(provider.subject_attribute.as_deref())
    .bind(millis(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces everything but the name; the rows changed (0: no such provider).
pub(super) async fn update_provider(
    conn: &mut AnyConnection,
    provider: &SamlProvider,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE saml_providers SET entity_id = $1, metadata = $2, legacy_sha1 = $3, \
         subject_attribute = $4, updated_at = $5 WHERE name = $6",
    )
    .bind(provider.entity_id.as_str())
    .bind(provider.metadata.as_str())
    .bind(i64::from(provider.legacy_sha1))
    .bind(provider.subject_attribute.as_deref())
    .bind(millis(now))
    .bind(provider.name.as_str())
    .execute(conn)
    .await?
    .rows_affected())
}

#[async_trait]
impl SamlProviderStore for SqlStore {
    async fn create_saml_provider(
        &self,
        provider: &SamlProvider,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            insert_provider(&mut conn, provider, now)
                .await
                .map_err(sent)?;
            Ok(())
        })
        .await
    }

    async fn get_saml_provider(&self, name: &str) -> StoreResult<Option<SamlProvider>> {
        self.run(Retry::ConnectionOnly, move || async move {
            sqlx::query(SELECT_PROVIDER)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(provider_from_row)
                .transpose()
        })
        .await
    }

    async fn list_saml_providers(&self) -> StoreResult<Vec<SamlProvider>> {
        self.run(Retry::ConnectionOnly, move || async move {
            sqlx::query(
                "SELECT name, entity_id, metadata, legacy_sha1, subject_attribute \
                 FROM saml_providers ORDER BY name",
            )
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(provider_from_row)
            .collect()
        })
        .await
    }

    async fn update_saml_provider(
        &self,
        provider: &SamlProvider,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            let updated = update_provider(&mut conn, provider, now)
                .await
                .map_err(sent)?;
            found(updated)
        })
        .await
    }

    async fn pools_using_saml_provider(
        &self,
        name: &str,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>> {
        self.run(Retry::ConnectionOnly, move || async move {
            sqlx::query(
                "SELECT p.id, p.name FROM pool_saml_providers u \
                 JOIN identity_pools p ON p.id = u.pool_id \
                 WHERE u.provider_name = $1 ORDER BY p.id LIMIT $2",
            )
            .bind(name)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
            .collect()
        })
        .await
    }

    async fn delete_saml_provider(&self, name: &str) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            let deleted = sqlx::query("DELETE FROM saml_providers WHERE name = $1")
                .bind(name)
                .execute(&mut *conn)
                .await
                .map_err(|e| match StoreError::from(e).sent() {
                    // pool_saml_providers still points here: a pool uses this provider.
                    StoreError::NotFound => StoreError::Conflict {
                        constraint: "pool_saml_providers".into(),
                    },
                    other => other,
                })?
                .rows_affected();
            found(deleted)
        })
        .await
    }

    async fn saml_provider_has_logins(&self, arn: &str) -> StoreResult<bool> {
        self.run(Retry::ConnectionOnly, move || async move {
            // Pool by pool, so each probe is a prefix of identity_logins' primary key (pool,
            // provider, subject) and no index on the provider alone is needed.
            let row = sqlx::query(
                "SELECT 1 AS found FROM identity_pools p WHERE EXISTS \
                 (SELECT 1 FROM identity_logins l WHERE l.pool_id = p.id AND l.provider_key = $1) \
                 LIMIT 1",
            )
            .bind(arn)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.is_some())
        })
        .await
    }

    async fn saml_assertion_uses(
        &self,
        provider: &str,
        assertion_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(IdentityPoolId, i64)>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let row = sqlx::query(
                "SELECT pool_id, uses FROM saml_assertions \
                 WHERE provider_name = $1 AND assertion_id = $2 AND expires_at > $3",
            )
            .bind(provider)
            .bind(assertion_id)
            .bind(millis(now))
            .fetch_optional(&self.pool)
            .await?;
            row.map(|row| {
                Ok((
                    IdentityPoolId::from_trusted(row.try_get::<String, _>("pool_id")?),
                    row.try_get::<i64, _>("uses")?,
                ))
            })
            .transpose()
        })
        .await
    }

    async fn use_saml_assertion(
        &self,
        provider: &str,
        assertion_id: &str,
        pool: &IdentityPoolId,
        expires_at: DateTime<Utc>,
        max_uses: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            sqlx::query(
                "DELETE FROM saml_assertions WHERE provider_name = $1 AND assertion_id = $2 AND expires_at <= $3",
            )
            .bind(provider)
            .bind(assertion_id)
            .bind(millis(now))
            .execute(&mut *conn)
            .await
            .map_err(sent)?;
            // One statement: the insert wins or the conflict's update is counted, atomically on
            // both databases, so two replicas cannot both take the last use.
            let accepted = sqlx::query(
                "INSERT INTO saml_assertions (provider_name, assertion_id, pool_id, uses, expires_at) \
                 VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (provider_name, assertion_id) DO UPDATE SET uses = saml_assertions.uses + 1 \
                 WHERE saml_assertions.pool_id = excluded.pool_id AND saml_assertions.uses < $5",
            )
            .bind(provider)
            .bind(assertion_id)
            .bind(pool.as_str())
            .bind(millis(expires_at))
            .bind(max_uses)
            .execute(&mut *conn)
            .await
            .map_err(sent)?
            .rows_affected();
            Ok(accepted == 1)
        })
        .await
    }

    async fn prune_saml_assertions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            Ok(
                sqlx::query("DELETE FROM saml_assertions WHERE expires_at <= $1")
                    .bind(millis(now))
                    .execute(&mut *conn)
                    .await
                    .map_err(sent)?
                    .rows_affected(),
            )
        })
        .await
    }
}

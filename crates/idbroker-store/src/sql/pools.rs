//! Pools, their tags, roles and principal-tag maps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::{
    IdentityPool, IdentityPoolId, PoolConfig, PoolExtensions, PoolLifetimes, PoolRoles,
    PoolSummary, PrincipalTagMap, Tags,
};
use sqlx::Row;

use idbroker_domain::pool::oidc_provider_key;
use idbroker_domain::saml_provider::saml_provider_name;

use super::{Retry, SqlStore, found, from_json, millis, to_json};
use crate::changes::Change;
use crate::error::sent;
use crate::{PoolStore, StoreError, StoreResult, StoredPool, reference_error};

/// Records which registered OpenID Connect providers the pool uses; the foreign key refuses a
/// provider that is not registered and keeps a used provider from being deleted.
pub(super) async fn link_oidc_providers(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &IdentityPoolId,
    config: &PoolConfig,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM pool_oidc_providers WHERE pool_id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    for arn in &config.open_id_connect_provider_arns {
        let Some(key) = oidc_provider_key(arn) else {
            continue; // validated before it gets here
        };
        sqlx::query("INSERT INTO pool_oidc_providers (pool_id, provider_key) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(key)
            .execute(&mut **tx)
            .await
            .map_err(|e| reference_error(e, || arn.clone()))?;
    }
    Ok(())
}

/// Records which registered SAML providers the pool uses, as for OpenID Connect providers.
pub(super) async fn link_saml_providers(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &IdentityPoolId,
    config: &PoolConfig,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM pool_saml_providers WHERE pool_id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    for arn in &config.saml_provider_arns {
        let Some(name) = saml_provider_name(arn) else {
            return Err(StoreError::UnknownReference(arn.clone()));
        };
        sqlx::query("INSERT INTO pool_saml_providers (pool_id, provider_name) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(name)
            .execute(&mut **tx)
            .await
            .map_err(|e| reference_error(e, || arn.clone()))?;
    }
    Ok(())
}

/// The lifetime columns of an `identity_pools` row (NULL: the server-wide default).
pub(super) fn lifetimes_of(row: &sqlx::any::AnyRow) -> StoreResult<PoolLifetimes> {
    Ok(PoolLifetimes {
        credential_duration_seconds: row.try_get("credential_duration_seconds")?,
        token_lifetime_seconds: row.try_get("token_lifetime_seconds")?,
        max_token_lifetime_seconds: row.try_get("max_token_lifetime_seconds")?,
        credential_reuse_seconds: row.try_get("credential_reuse_seconds")?,
    })
}

/// Replaces the pool's extra token-exchange audiences (in the pool's transaction).
pub(super) async fn replace_exchange_audiences(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &IdentityPoolId,
    audiences: &[String],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM pool_exchange_audiences WHERE pool_id = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    for audience in audiences {
        sqlx::query("INSERT INTO pool_exchange_audiences (pool_id, audience) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(audience.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The pool's extra token-exchange audiences, sorted.
pub(super) async fn exchange_audiences_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT audience FROM pool_exchange_audiences WHERE pool_id = $1 ORDER BY audience",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("audience")?)).collect()
}

pub(super) async fn insert_tags(
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
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO identity_pools (id, name, config, roles, version, created_at, updated_at, \
                 credential_duration_seconds, token_lifetime_seconds, max_token_lifetime_seconds, \
                 credential_reuse_seconds) \
                 VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, $8, $9)",
            )
            .bind(pool.id.as_str())
            .bind(pool.config.identity_pool_name.as_str())
            .bind(to_json(&pool.config)?)
            .bind(to_json(&PoolRoles::default())?)
            .bind(millis(now))
            .bind(pool.lifetimes.credential_duration_seconds)
            .bind(pool.lifetimes.token_lifetime_seconds)
            .bind(pool.lifetimes.max_token_lifetime_seconds)
            .bind(pool.lifetimes.credential_reuse_seconds)
            .execute(&mut *tx)
            .await?;
            insert_tags(&mut tx, &pool.id, &pool.tags).await?;
            replace_exchange_audiences(&mut tx, &pool.id, &pool.exchange_audiences).await?;
            link_oidc_providers(&mut tx, &pool.id, &pool.config).await?;
            link_saml_providers(&mut tx, &pool.id, &pool.config).await?;
            tx.commit().await.map_err(sent)?;
            Ok(())
        })
        .await
    }

    async fn get_pool(&self, id: &IdentityPoolId) -> StoreResult<Option<StoredPool>> {
        self.run(Retry::ConnectionOnly, move || async move {
            // One query with the tags and exchange audiences joined in (one row each, not
            // their product): every public operation starts here.
            let rows = sqlx::query(
                "SELECT p.config, p.roles, p.version, p.credential_duration_seconds, \
                 p.token_lifetime_seconds, p.max_token_lifetime_seconds, p.credential_reuse_seconds, \
                 x.key, x.value, x.audience \
                 FROM identity_pools p LEFT JOIN ( \
                   SELECT pool_id, key, value, NULL AS audience FROM pool_tags \
                   UNION ALL \
                   SELECT pool_id, NULL, NULL, audience FROM pool_exchange_audiences \
                 ) x ON x.pool_id = p.id WHERE p.id = $1",
            )
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let config: PoolConfig = from_json(&row.try_get::<String, _>("config")?)?;
            let roles: PoolRoles = from_json(&row.try_get::<String, _>("roles")?)?;
            let version: i64 = row.try_get("version")?;
            let lifetimes = lifetimes_of(row)?;
            let mut tags = Tags::new();
            let mut exchange_audiences = Vec::new();
            for row in &rows {
                if let Some(key) = row.try_get::<Option<String>, _>("key")? {
                    tags.insert(key, row.try_get("value")?);
                }
                if let Some(audience) = row.try_get::<Option<String>, _>("audience")? {
                    exchange_audiences.push(audience);
                }
            }
            exchange_audiences.sort();
            Ok(Some(StoredPool {
                pool: IdentityPool {
                    id: id.clone(),
                    config,
                    tags,
                    lifetimes,
                    exchange_audiences,
                },
                roles,
                version,
            }))
        })
        .await
    }

    async fn list_pools(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<PoolSummary>> {
        self.run(Retry::ConnectionOnly, move || async move {
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
        })
        .await
    }

    async fn update_pool(
        &self,
        id: &IdentityPoolId,
        expected_version: i64,
        config: &PoolConfig,
        tags: Option<&Tags>,
        extensions: Option<&PoolExtensions>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let lifetimes = extensions.map(|e| &e.lifetimes);
            // Without new extensions (the AWS face) the columns and audiences keep their values.
            let updated = sqlx::query(
                "UPDATE identity_pools SET name = $1, config = $2, version = version + 1, updated_at = $3, \
                 credential_duration_seconds = CASE WHEN $6 THEN $7 ELSE credential_duration_seconds END, \
                 token_lifetime_seconds = CASE WHEN $6 THEN $8 ELSE token_lifetime_seconds END, \
                 max_token_lifetime_seconds = CASE WHEN $6 THEN $9 ELSE max_token_lifetime_seconds END, \
                 credential_reuse_seconds = CASE WHEN $6 THEN $10 ELSE credential_reuse_seconds END \
                 WHERE id = $4 AND version = $5",
            )
            .bind(config.identity_pool_name.as_str())
            .bind(to_json(config)?)
            .bind(millis(now))
            .bind(id.as_str())
            .bind(expected_version)
            .bind(lifetimes.is_some())
            .bind(lifetimes.and_then(|l| l.credential_duration_seconds))
            .bind(lifetimes.and_then(|l| l.token_lifetime_seconds))
            .bind(lifetimes.and_then(|l| l.max_token_lifetime_seconds))
            .bind(lifetimes.and_then(|l| l.credential_reuse_seconds))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                tx.rollback().await?;
                return Err(self.missing_or_moved(id).await);
            }
            link_oidc_providers(&mut tx, id, config).await?;
            link_saml_providers(&mut tx, id, config).await?;
            if let Some(tags) = tags {
                sqlx::query("DELETE FROM pool_tags WHERE pool_id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                insert_tags(&mut tx, id, tags).await?;
            }
            if let Some(extensions) = extensions {
                replace_exchange_audiences(&mut tx, id, &extensions.exchange_audiences).await?;
            }
            self.commit_announcing(tx, &[Change::Pool(id.clone())])
                .await
        })
        .await
    }

    async fn pools_accepting_audience(
        &self,
        audience: &str,
        limit: u32,
    ) -> StoreResult<Vec<IdentityPoolId>> {
        self.run(Retry::ConnectionOnly, move || async move {
            sqlx::query(
                "SELECT pool_id FROM pool_exchange_audiences WHERE audience = $1 \
                 ORDER BY pool_id LIMIT $2",
            )
            .bind(audience)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(IdentityPoolId::from_trusted(r.try_get("pool_id")?)))
            .collect()
        })
        .await
    }

    async fn delete_pool(&self, id: &IdentityPoolId) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            // A pool's identities and logins go with it (ON DELETE CASCADE): for a large pool
            // that is one long statement, so it gets the batch clean-ups' timeout.
            let mut tx = self.pool.begin().await?;
            self.background_timeout(&mut tx).await?;
            // Inside the transaction a broken connection means a rollback: only COMMIT's
            // outcome can be in doubt.
            let deleted = sqlx::query("DELETE FROM identity_pools WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            found(deleted)?;
            self.commit_announcing(tx, &[Change::Pool(id.clone())])
                .await
        })
        .await
    }

    async fn set_roles(
        &self,
        id: &IdentityPoolId,
        expected_version: i64,
        roles: &PoolRoles,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            // A transaction, so the change event commits with the change.
            let mut tx = self.pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE identity_pools SET roles = $1, version = version + 1, updated_at = $2 \
                 WHERE id = $3 AND version = $4",
            )
            .bind(to_json(roles)?)
            .bind(millis(now))
            .bind(id.as_str())
            .bind(expected_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                // Ended first: the check takes a connection of its own.
                tx.rollback().await?;
                return Err(self.missing_or_moved(id).await);
            }
            self.commit_announcing(tx, &[Change::Pool(id.clone())])
                .await
        })
        .await
    }

    async fn add_tags(&self, id: &IdentityPoolId, tags: &Tags, max: usize) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
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
            self.commit_announcing(tx, &[Change::Pool(id.clone())])
                .await
        })
        .await
    }

    async fn remove_tags(&self, id: &IdentityPoolId, keys: &[String]) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            self.lock_pool(&mut tx, id).await?;
            for key in keys {
                sqlx::query("DELETE FROM pool_tags WHERE pool_id = $1 AND key = $2")
                    .bind(id.as_str())
                    .bind(key.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            self.commit_announcing(tx, &[Change::Pool(id.clone())])
                .await
        })
        .await
    }

    async fn put_principal_tag_map(
        &self,
        id: &IdentityPoolId,
        provider: &str,
        map: &PrincipalTagMap,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO principal_tag_maps (pool_id, provider_name, config) VALUES ($1, $2, $3) \
                 ON CONFLICT (pool_id, provider_name) DO UPDATE SET config = excluded.config",
            )
            .bind(id.as_str())
            .bind(provider)
            .bind(to_json(map)?)
            .execute(&mut *tx)
            .await?;
            self.commit_announcing(tx, &[Change::Pool(id.clone())])
                .await
        })
        .await
    }

    async fn get_principal_tag_map(
        &self,
        id: &IdentityPoolId,
        provider: &str,
    ) -> StoreResult<Option<PrincipalTagMap>> {
        self.run(Retry::ConnectionOnly, move || async move {
            sqlx::query(
                "SELECT config FROM principal_tag_maps WHERE pool_id = $1 AND provider_name = $2",
            )
            .bind(id.as_str())
            .bind(provider)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| from_json(&row.try_get::<String, _>("config")?))
            .transpose()
        })
        .await
    }
}

//! Registered OpenID Connect providers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::oidc_provider::OidcProvider;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Retry, SqlStore, found, from_json, millis, to_json};
use crate::changes::Change;
use crate::error::sent;
use crate::{OidcProviderStore, StoreError, StoreResult};

fn provider_from_row(row: &AnyRow) -> StoreResult<OidcProvider> {
    Ok(OidcProvider {
        issuer: row.try_get("issuer")?,
        client_ids: from_json(&row.try_get::<String, _>("client_ids")?)?,
    })
}

#[async_trait]
impl OidcProviderStore for SqlStore {
    async fn create_oidc_provider(
        &self,
        provider: &OidcProvider,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            sqlx::query(
                "INSERT INTO oidc_providers (key, issuer, client_ids, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(provider.key())
            .bind(provider.issuer.as_str())
            .bind(to_json(&provider.client_ids)?)
            .bind(millis(now))
            .execute(&mut *conn)
            .await
            .map_err(sent)?;
            Ok(())
        })
        .await
    }

    async fn get_oidc_provider(&self, key: &str) -> StoreResult<Option<OidcProvider>> {
        self.run(Retry::ConnectionOnly, move || async move {
            sqlx::query("SELECT issuer, client_ids FROM oidc_providers WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(provider_from_row)
                .transpose()
        })
        .await
    }

    async fn list_oidc_providers(&self) -> StoreResult<Vec<OidcProvider>> {
        self.run(Retry::ConnectionOnly, move || async move {
            sqlx::query("SELECT issuer, client_ids FROM oidc_providers ORDER BY key")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(provider_from_row)
                .collect()
        })
        .await
    }

    async fn update_oidc_client_ids(
        &self,
        key: &str,
        client_ids: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE oidc_providers SET client_ids = $1, updated_at = $2 WHERE key = $3",
            )
            .bind(to_json(&client_ids)?)
            .bind(millis(now))
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            found(updated)?;
            self.commit_announcing(tx, &[Change::OidcProvider(key.to_owned())])
                .await
        })
        .await
    }

    async fn delete_oidc_provider(&self, key: &str) -> StoreResult<()> {
        // pool_oidc_providers still points here: a pool uses this provider.
        let in_use = |err: StoreError| match err {
            StoreError::NotFound => StoreError::Conflict {
                constraint: "pool_oidc_providers".into(),
            },
            other => other,
        };
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM oidc_providers WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(|e| in_use(StoreError::from(e)))?
                .rows_affected();
            found(deleted)?;
            self.commit_announcing(tx, &[Change::OidcProvider(key.to_owned())])
                .await
                .map_err(in_use)
        })
        .await
    }
}

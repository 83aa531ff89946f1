//! The credential ledger.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, from_millis, millis};
use crate::{Issuance, IssuanceFilter, LedgerStore, StoreResult};

fn issuance_from_row(row: &AnyRow) -> StoreResult<Issuance> {
    Ok(Issuance {
        id: row.try_get("id")?,
        issued_at: from_millis(row.try_get("issued_at")?)?,
        identity_id: row.try_get("identity_id")?,
        pool_id: row.try_get("pool_id")?,
        role_arn: row.try_get("role_arn")?,
        access_key_id: row.try_get("access_key_id")?,
        expires_at: from_millis(row.try_get("expires_at")?)?,
    })
}

#[async_trait]
impl LedgerStore for SqlStore {
    async fn record_issuance(&self, i: &Issuance) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO credential_issuances (id, issued_at, identity_id, pool_id, role_arn, access_key_id, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(i.id.as_str())
        .bind(millis(i.issued_at))
        .bind(i.identity_id.as_str())
        .bind(i.pool_id.as_str())
        .bind(i.role_arn.as_str())
        .bind(i.access_key_id.as_str())
        .bind(millis(i.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_issuances(
        &self,
        filter: &IssuanceFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Issuance>> {
        let (sql, value) = match filter {
            IssuanceFilter::AccessKeyId(v) => ("access_key_id", v),
            IssuanceFilter::IdentityId(v) => ("identity_id", v),
            IssuanceFilter::PoolId(v) => ("pool_id", v),
        };
        // Newest first; a page continues strictly after the last (issued_at, id) it showed.
        let query = format!(
            "SELECT id, issued_at, identity_id, pool_id, role_arn, access_key_id, expires_at FROM credential_issuances \
             WHERE {sql} = $1 AND ($2 = '' OR (issued_at, id) < (SELECT issued_at, id FROM credential_issuances WHERE id = $2)) \
             ORDER BY issued_at DESC, id DESC LIMIT $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(value.as_str())
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(issuance_from_row)
            .collect()
    }

    async fn prune_issuances(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM credential_issuances WHERE issued_at < $1")
                .bind(millis(before))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

//! The credential ledger.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Retry, SqlStore, from_millis, millis};
use crate::error::sent;
use crate::{
    AdminChange, AuditFilter, Issuance, IssuanceFilter, IssuanceWindow, LedgerStore, StoreError,
    StoreResult,
};

/// Writes one audit row (also inside another operation's transaction).
pub(super) async fn insert_admin_change<'e, E>(executor: E, c: &AdminChange) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO admin_audit (id, at, actor, action, resource, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.id.as_str())
    .bind(c.at.timestamp_micros())
    .bind(c.actor.as_str())
    .bind(c.action.as_str())
    .bind(c.resource.as_str())
    .bind(c.before.as_deref())
    .bind(c.after.as_deref())
    .execute(executor)
    .await?;
    Ok(())
}

fn from_micros(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

fn change_from_row(row: &AnyRow) -> StoreResult<AdminChange> {
    Ok(AdminChange {
        id: row.try_get("id")?,
        at: from_micros(row.try_get("at")?)?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        before: row.try_get("before_json")?,
        after: row.try_get("after_json")?,
    })
}

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
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
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
            .execute(&mut *conn)
            .await
            .map_err(sent)?;
            Ok(())
        })
        .await
    }

    async fn find_issuances(
        &self,
        filter: &IssuanceFilter,
        window: &IssuanceWindow,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Issuance>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let (sql, value) = match filter {
                IssuanceFilter::AccessKeyId(v) => ("access_key_id", v),
                IssuanceFilter::IdentityId(v) => ("identity_id", v),
                IssuanceFilter::PoolId(v) => ("pool_id", v),
            };
            // Newest first; a page continues strictly after the last (issued_at, id) it showed.
            let query = format!(
                "SELECT id, issued_at, identity_id, pool_id, role_arn, access_key_id, expires_at FROM credential_issuances \
                 WHERE {sql} = $1 AND ($2 = '' OR (issued_at, id) < (SELECT issued_at, id FROM credential_issuances WHERE id = $2)) \
                 AND issued_at >= $4 AND expires_at > $5 \
                 ORDER BY issued_at DESC, id DESC LIMIT $3"
            );
            // An open end of the window is the smallest instant, so one query serves all.
            let bound = |at: Option<DateTime<Utc>>| at.map_or(i64::MIN, millis);
            sqlx::query(sqlx::AssertSqlSafe(query))
                .bind(value.as_str())
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .bind(bound(window.issued_since))
                .bind(bound(window.live_at))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(issuance_from_row)
                .collect()
        })
        .await
    }

    async fn prune_issuances(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.run(Retry::ConnectionOnly, move || async move {
            // One transaction, so the batch may run longer than a request's statement timeout.
            let mut tx = self.pool.begin().await?;
            self.background_timeout(&mut tx).await?;
            let issuances = sqlx::query("DELETE FROM credential_issuances WHERE issued_at < $1")
                .bind(millis(before))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let changes = sqlx::query("DELETE FROM admin_audit WHERE at < $1")
                .bind(before.timestamp_micros())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await.map_err(sent)?;
            Ok(issuances + changes)
        })
        .await
    }

    async fn record_admin_change(&self, c: &AdminChange) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            insert_admin_change(&mut *conn, c).await.map_err(sent)
        })
        .await
    }

    async fn find_admin_changes(
        &self,
        filter: &AuditFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AdminChange>> {
        self.run(Retry::ConnectionOnly, move || async move {
            // Only the conditions a filter sets are in the statement (no `$1 = '' OR …`), so
            // the planner sees an equality and a range it can answer with an index.
            let mut conditions = Vec::new();
            let mut texts: Vec<&str> = Vec::new();
            let mut instants: Vec<i64> = Vec::new();
            for (column, value) in [
                ("resource", &filter.resource),
                ("actor", &filter.actor),
                ("action", &filter.action),
            ] {
                if let Some(value) = value {
                    texts.push(value);
                    conditions.push(format!("{column} = ${}", texts.len()));
                }
            }
            if let Some(after) = after {
                texts.push(after);
                let n = texts.len();
                conditions.push(format!(
                    "(at, id) < (SELECT at, id FROM admin_audit WHERE id = ${n})"
                ));
            }
            for (op, at) in [(">=", filter.since), ("<", filter.until)] {
                if let Some(at) = at {
                    instants.push(at.timestamp_micros());
                    let n = texts.len() + instants.len();
                    conditions.push(format!("at {op} ${n}"));
                }
            }
            let limit_at = texts.len() + instants.len() + 1;
            let query = format!(
                "SELECT id, at, actor, action, resource, before_json, after_json FROM admin_audit \
                 {}{} ORDER BY at DESC, id DESC LIMIT ${limit_at}",
                if conditions.is_empty() { "" } else { "WHERE " },
                conditions.join(" AND "),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(query));
            for text in texts {
                q = q.bind(text);
            }
            for at in instants {
                q = q.bind(at);
            }
            q.bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(change_from_row)
                .collect()
        })
        .await
    }
}

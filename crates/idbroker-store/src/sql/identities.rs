//! Identities and the logins linked to them.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::login::LoginRef;
use idbroker_domain::{Identity, IdentityId, IdentityPoolId};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Retry, SqlStore, found, from_millis, millis};
use crate::Backend;
use crate::changes::Change;
use crate::error::sent;
use crate::{IdentityStore, StoreResult};

/// Guests (no logins, not disabled) unused since `$1`, at most `$2` of them.
const IDLE_GUESTS: &str = "SELECT i.id FROM identities i \
     WHERE COALESCE(i.last_used_at, i.created_at) < $1 AND i.disabled_at IS NULL \
       AND NOT EXISTS (SELECT 1 FROM identity_logins l WHERE l.identity_id = i.id) \
     LIMIT $2";

const IDENTITY_COLUMNS: &str = "id, pool_id, disabled_at, created_at, updated_at, last_used_at";

fn identity_from_row(row: &AnyRow, logins: Vec<LoginRef>) -> StoreResult<Identity> {
    Ok(Identity {
        id: IdentityId::from_trusted(row.try_get("id")?),
        pool_id: IdentityPoolId::from_trusted(row.try_get("pool_id")?),
        logins,
        created_at: from_millis(row.try_get("created_at")?)?,
        last_modified_at: from_millis(row.try_get("updated_at")?)?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(from_millis)
            .transpose()?,
    })
}

/// A change event for each deleted identity.
fn identity_changes(ids: Vec<String>) -> Vec<Change> {
    ids.into_iter()
        .map(|id| Change::Identity(IdentityId::from_trusted(id)))
        .collect()
}

/// The logins of each of `ids`, in one query.
pub(super) async fn logins_of<'e, E>(
    executor: E,
    ids: &[&str],
) -> StoreResult<HashMap<String, Vec<LoginRef>>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    // Only numbered placeholders are formatted into the text; the ids are bound.
    let sql = format!(
        "SELECT identity_id, provider_key, subject FROM identity_logins WHERE identity_id IN ({}) \
         ORDER BY provider_key, subject",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let mut logins: HashMap<String, Vec<LoginRef>> = HashMap::new();
    for row in query.fetch_all(executor).await? {
        logins
            .entry(row.try_get("identity_id")?)
            .or_default()
            .push(LoginRef {
                provider: row.try_get("provider_key")?,
                subject: row.try_get("subject")?,
            });
    }
    Ok(logins)
}

/// One identity with its logins, read on `conn` (a pooled connection or a transaction) in one
/// query: this read is on every token and credentials call.
pub(super) async fn identity_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> StoreResult<Option<Identity>> {
    let rows = sqlx::query(
        "SELECT i.id, i.pool_id, i.disabled_at, i.created_at, i.updated_at, i.last_used_at, \
                l.provider_key, l.subject \
         FROM identities i LEFT JOIN identity_logins l ON l.identity_id = i.id \
         WHERE i.id = $1 ORDER BY l.provider_key, l.subject",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut logins = Vec::new();
    for row in &rows {
        if let Some(provider) = row.try_get::<Option<String>, _>("provider_key")? {
            logins.push(LoginRef {
                provider,
                subject: row.try_get("subject")?,
            });
        }
    }
    identity_from_row(first, logins).map(Some)
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_identity(&self, identity: &Identity) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            sqlx::query(
                "INSERT INTO identities (id, pool_id, disabled_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(identity.id.as_str())
            .bind(identity.pool_id.as_str())
            .bind(identity.disabled.then(|| millis(identity.last_modified_at)))
            .bind(millis(identity.created_at))
            .bind(millis(identity.last_modified_at))
            .execute(&mut *conn)
            .await
            .map_err(sent)?;
            Ok(())
        })
        .await
    }

    async fn get_identity(&self, id: &IdentityId) -> StoreResult<Option<Identity>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.pool.acquire().await?;
            identity_in(&mut conn, id.as_str()).await
        })
        .await
    }

    async fn list_identities(
        &self,
        pool: &IdentityPoolId,
        after: Option<&str>,
        limit: u32,
        hide_disabled: bool,
    ) -> StoreResult<Vec<Identity>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let filter = if hide_disabled {
                "AND disabled_at IS NULL"
            } else {
                ""
            };
            let sql = format!(
                "SELECT {IDENTITY_COLUMNS} FROM identities WHERE pool_id = $1 AND id > $2 {filter} ORDER BY id LIMIT $3"
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(pool.as_str())
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
            let ids = rows
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut logins = logins_of(
                &self.pool,
                &ids.iter().map(String::as_str).collect::<Vec<_>>(),
            )
            .await?;
            rows.iter()
                .zip(&ids)
                .map(|(row, id)| identity_from_row(row, logins.remove(id).unwrap_or_default()))
                .collect()
        })
        .await
    }

    async fn delete_identity(&self, id: &IdentityId) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM identities WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            found(deleted)?;
            self.commit_announcing(tx, &[Change::Identity(id.clone())])
                .await
        })
        .await
    }

    async fn mark_used(
        &self,
        id: &IdentityId,
        now: DateTime<Utc>,
        recorded_after: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.acquire().await?;
            sqlx::query(
                "UPDATE identities SET last_used_at = $1 \
                 WHERE id = $2 AND COALESCE(last_used_at, created_at) < $3",
            )
            .bind(millis(now))
            .bind(id.as_str())
            .bind(millis(recorded_after))
            .execute(&mut *conn)
            .await
            .map_err(sent)?;
            Ok(())
        })
        .await
    }

    async fn delete_idle_guests(&self, idle_since: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        self.run(Retry::ConnectionOnly, move || async move {
            let (idle_since, limit) = (millis(idle_since), i64::from(limit));
            if self.backend == Backend::Sqlite {
                let mut tx = self.pool.begin().await?;
                // SQLite runs one writer at a time, so one statement is atomic against linking.
                let sql = format!("DELETE FROM identities WHERE id IN ({IDLE_GUESTS}) RETURNING id");
                let deleted: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(idle_since)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                let count = deleted.len() as u64;
                self.commit_announcing(tx, &identity_changes(deleted)).await?;
                return Ok(count);
            }
            // PostgreSQL: lock the candidates (skipping any a linking transaction holds), then
            // delete with a fresh look at the logins, so a guest linked meanwhile is kept, login
            // and all.
            let mut tx = self.pool.begin().await?;
            self.background_timeout(&mut tx).await?;
            let sql = format!("{IDLE_GUESTS} FOR UPDATE OF i SKIP LOCKED");
            let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(idle_since)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            // Only numbered placeholders are formatted into the text; the ids are bound.
            let sql = format!(
                "DELETE FROM identities WHERE id IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM identity_logins l WHERE l.identity_id = identities.id) \
                 RETURNING id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_scalar(AssertSqlSafe(sql));
            for id in &ids {
                query = query.bind(id.as_str());
            }
            let deleted: Vec<String> = query.fetch_all(&mut *tx).await?;
            let count = deleted.len() as u64;
            self.commit_announcing(tx, &identity_changes(deleted)).await?;
            Ok(count)
        })
        .await
    }
}

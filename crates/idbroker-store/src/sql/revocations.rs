//! Revocations of identities and pools.

use async_trait::async_trait;
use idbroker_domain::{IdentityId, IdentityPoolId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Retry, SqlStore, from_millis, millis};
use crate::changes::Change;
use crate::{Revocation, RevocationScope, RevocationStore, StoreError, StoreResult};

const COLUMNS: &str = "scope, target, revoked_before, created_at, actor";

fn revocation_from_row(row: &AnyRow) -> StoreResult<Revocation> {
    let scope = match row.try_get::<String, _>("scope")?.as_str() {
        "identity" => RevocationScope::Identity,
        "pool" => RevocationScope::Pool,
        other => return Err(StoreError::Corrupt(format!("revocation scope {other:?}"))),
    };
    Ok(Revocation {
        scope,
        target: row.try_get("target")?,
        revoked_before: from_millis(row.try_get("revoked_before")?)?,
        created_at: from_millis(row.try_get("created_at")?)?,
        actor: row.try_get("actor")?,
    })
}

async fn read(
    conn: &mut sqlx::AnyConnection,
    scope: RevocationScope,
    target: &str,
) -> StoreResult<Option<Revocation>> {
    let query = format!("SELECT {COLUMNS} FROM revocations WHERE scope = $1 AND target = $2");
    sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(scope.as_str())
        .bind(target)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(revocation_from_row)
        .transpose()
}

/// What a revocation (or its removal) changes, for caches: revocations themselves are never
/// cached, but an identity revoked is as good as disabled.
fn revoked(scope: RevocationScope, target: &str) -> Vec<Change> {
    let change = match scope {
        RevocationScope::Identity => IdentityId::parse("identity", target).map(Change::Identity),
        RevocationScope::Pool => IdentityPoolId::parse("pool", target).map(Change::Pool),
    };
    vec![change.unwrap_or(Change::All)]
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn put_revocation(&self, r: &Revocation) -> StoreResult<Option<Revocation>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let previous = read(&mut tx, r.scope, &r.target).await?;
            // Revoking again moves the instant (and names the latest actor).
            sqlx::query(
                "INSERT INTO revocations (scope, target, revoked_before, created_at, actor) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (scope, target) DO UPDATE SET revoked_before = excluded.revoked_before, \
                 created_at = excluded.created_at, actor = excluded.actor",
            )
            .bind(r.scope.as_str())
            .bind(r.target.as_str())
            .bind(millis(r.revoked_before))
            .bind(millis(r.created_at))
            .bind(r.actor.as_str())
            .execute(&mut *tx)
            .await?;
            self.commit_announcing(tx, &revoked(r.scope, &r.target))
                .await?;
            Ok(previous)
        })
        .await
    }

    async fn delete_revocation(
        &self,
        scope: RevocationScope,
        target: &str,
    ) -> StoreResult<Option<Revocation>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let previous = read(&mut tx, scope, target).await?;
            sqlx::query("DELETE FROM revocations WHERE scope = $1 AND target = $2")
                .bind(scope.as_str())
                .bind(target)
                .execute(&mut *tx)
                .await?;
            self.commit_announcing(tx, &revoked(scope, target)).await?;
            Ok(previous)
        })
        .await
    }

    async fn revocation_of(
        &self,
        identity: &IdentityId,
        pool: &IdentityPoolId,
    ) -> StoreResult<Option<Revocation>> {
        self.run(Retry::ConnectionOnly, move || async move {
            // Two primary-key probes in one statement; the identity's own record first.
            let query = format!(
                "SELECT {COLUMNS} FROM revocations \
                 WHERE (scope = 'identity' AND target = $1) OR (scope = 'pool' AND target = $2) \
                 ORDER BY scope"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(query))
                .bind(identity.as_str())
                .bind(pool.as_str())
                .fetch_all(&self.pool)
                .await?;
            rows.first().map(revocation_from_row).transpose()
        })
        .await
    }
}

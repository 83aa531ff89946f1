//! idbroker's signing keys and their rotation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::signing::{KeyPolicy, KeyTimes, RotationPlan, plan_rotation};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Retry, SqlStore, from_millis, millis};
use crate::changes::Change;
use crate::{NewKey, SigningKeyStore, StoreResult, StoredKey};

fn key_from_row(row: &AnyRow) -> StoreResult<StoredKey> {
    let optional = |name: &str| -> StoreResult<Option<DateTime<Utc>>> {
        row.try_get::<Option<i64>, _>(name)?
            .map(from_millis)
            .transpose()
    };
    Ok(StoredKey {
        times: KeyTimes {
            kid: row.try_get("kid")?,
            signs_from: from_millis(row.try_get("signs_from")?)?,
            signs_until: optional("signs_until")?,
            published_until: optional("published_until")?,
        },
        alg: row.try_get("alg")?,
        public_jwk: row.try_get("public_jwk")?,
        sealed_private: row.try_get("sealed_private")?,
        kek_id: row.try_get("kek_id")?,
        created_at: from_millis(row.try_get("created_at")?)?,
    })
}

async fn published_keys(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
) -> StoreResult<Vec<StoredKey>> {
    sqlx::query(
        "SELECT kid, alg, public_jwk, sealed_private, kek_id, created_at, signs_from, signs_until, published_until \
         FROM signing_keys WHERE published_until IS NULL OR published_until > $1 ORDER BY signs_from",
    )
    .bind(millis(now))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(key_from_row)
    .collect()
}

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn signing_keys(&self, now: DateTime<Utc>) -> StoreResult<Vec<StoredKey>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.pool.acquire().await?;
            published_keys(&mut conn, now).await
        })
        .await
    }

    async fn rotate_signing_keys(
        &self,
        now: DateTime<Utc>,
        policy: &KeyPolicy,
        force: bool,
        candidate: &NewKey,
    ) -> StoreResult<RotationPlan> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            // The lock row serialises rotations across replicas (a row lock on PostgreSQL, the
            // database write lock on SQLite), so two replicas can never both add a key.
            sqlx::query("UPDATE signing_key_lock SET id = id WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            let keys = published_keys(&mut tx, now).await?;
            let times: Vec<KeyTimes> = keys.iter().map(|k| k.times.clone()).collect();
            let plan = plan_rotation(&times, now, policy, force);
            let signs_from = match &plan {
                RotationPlan::Nothing => {
                    tx.rollback().await?;
                    return Ok(plan);
                }
                RotationPlan::First { signs_from } => *signs_from,
                RotationPlan::Next {
                    current,
                    signs_from,
                    retire_at,
                } => {
                    sqlx::query(
                        "UPDATE signing_keys SET signs_until = $1, published_until = $2 WHERE kid = $3",
                    )
                    .bind(millis(*signs_from))
                    .bind(millis(*retire_at))
                    .bind(current.as_str())
                    .execute(&mut *tx)
                    .await?;
                    *signs_from
                }
            };
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private, kek_id, created_at, signs_from) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(candidate.kid.as_str())
            .bind(candidate.alg.as_str())
            .bind(candidate.public_jwk.as_str())
            .bind(candidate.sealed_private.as_str())
            .bind(candidate.kek_id.as_str())
            .bind(millis(now))
            .bind(millis(signs_from))
            .execute(&mut *tx)
            .await?;
            // Keys no relying party can need any more.
            sqlx::query(
                "DELETE FROM signing_keys WHERE published_until IS NOT NULL AND published_until <= $1",
            )
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
            // Every replica reloads its key ring at once instead of at its next upkeep.
            self.commit_announcing(tx, &[Change::SigningKeys]).await?;
            Ok(plan)
        })
        .await
    }
}

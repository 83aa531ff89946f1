//! Linking logins to identities: the transactional half of `idbroker_domain::linking`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::linking::{LinkPlan, LinkRequest, LinkRules, LinkedIdentity, plan};
use idbroker_domain::login::LoginRef;
use idbroker_domain::{Identity, IdentityId, IdentityPoolId};
use sqlx::{AnyConnection, Row};
use std::collections::BTreeSet;

use super::identities::identity_in;
use super::{Backend, Retry, SqlStore, found, millis};
use crate::error::sent;
use crate::{LoginStore, ResolveError, Resolved, StoreError, StoreResult};

/// How often, in all, a transaction that clashed with a concurrent one is run.
const MAX_ATTEMPTS: u32 = 8;

fn linked(identity: &Identity) -> LinkedIdentity {
    LinkedIdentity {
        id: identity.id.clone(),
        logins: identity.logins.iter().cloned().collect(),
        disabled: identity.disabled,
    }
}

/// The identities owning any of `presented` in `pool`.
async fn owners(
    conn: &mut AnyConnection,
    pool: &IdentityPoolId,
    presented: &[LoginRef],
) -> StoreResult<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for login in presented {
        let row = sqlx::query(
            "SELECT identity_id FROM identity_logins WHERE pool_id = $1 AND provider_key = $2 AND subject = $3",
        )
        .bind(pool.as_str())
        .bind(login.provider.as_str())
        .bind(login.subject.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            ids.insert(row.try_get("identity_id")?);
        }
    }
    Ok(ids)
}

async fn insert_login(
    conn: &mut AnyConnection,
    pool: &IdentityPoolId,
    identity: &str,
    login: &LoginRef,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO identity_logins (pool_id, provider_key, subject, identity_id, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(pool.as_str())
    .bind(login.provider.as_str())
    .bind(login.subject.as_str())
    .bind(identity)
    .bind(millis(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// After logins were removed: touch the identity, disable it if it has none left, read it back.
async fn finish_unlink(
    conn: &mut AnyConnection,
    identity: &IdentityId,
    now: DateTime<Utc>,
) -> StoreResult<Identity> {
    let remaining: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM identity_logins WHERE identity_id = $1")
            .bind(identity.as_str())
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
    let disabled_at = (remaining == 0).then(|| millis(now));
    sqlx::query("UPDATE identities SET updated_at = $1, disabled_at = COALESCE($2, disabled_at) WHERE id = $3")
        .bind(millis(now))
        .bind(disabled_at)
        .bind(identity.as_str())
        .execute(&mut *conn)
        .await?;
    identity_in(conn, identity.as_str())
        .await?
        .ok_or(StoreError::NotFound)
}

impl SqlStore {
    /// Serialises writers of one pool's logins where the database needs help: SQLite takes its
    /// write lock up front (instead of failing to upgrade a read lock mid-transaction); on
    /// PostgreSQL the row locks taken in `lock_identities` are enough.
    async fn begin_login_write(
        &self,
        conn: &mut AnyConnection,
        pool: &IdentityPoolId,
    ) -> StoreResult<()> {
        if self.backend == Backend::Sqlite {
            let touched = sqlx::query("UPDATE identity_pools SET version = version WHERE id = $1")
                .bind(pool.as_str())
                .execute(&mut *conn)
                .await?
                .rows_affected();
            found(touched)?;
        }
        Ok(())
    }

    /// Locks the identities a plan will touch (PostgreSQL), in id order so two transactions
    /// never wait on each other in a cycle.
    async fn lock_identities(
        &self,
        conn: &mut AnyConnection,
        ids: &BTreeSet<String>,
    ) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            for id in ids {
                sqlx::query("SELECT id FROM identities WHERE id = $1 FOR UPDATE")
                    .bind(id.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    async fn try_resolve(
        &self,
        pool: &IdentityPoolId,
        presented: &[LoginRef],
        target: Option<&IdentityId>,
        rules: &LinkRules,
        new_id: &IdentityId,
        now: DateTime<Utc>,
    ) -> Result<Resolved, ResolveError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        self.begin_login_write(&mut tx, pool).await?;

        let mut involved = owners(&mut tx, pool, presented).await?;
        involved.extend(target.map(|t| t.as_str().to_owned()));
        self.lock_identities(&mut tx, &involved).await?;
        // Ownership may have moved while we waited for the locks; if so, start again.
        let mut after_lock = owners(&mut tx, pool, presented).await?;
        after_lock.extend(target.map(|t| t.as_str().to_owned()));
        if after_lock != involved {
            return Err(StoreError::Retryable("logins moved during linking".into()).into());
        }

        let target_identity = match target {
            Some(id) => {
                let identity = identity_in(&mut tx, id.as_str())
                    .await?
                    .ok_or(StoreError::NotFound)?;
                if &identity.pool_id != pool {
                    return Err(StoreError::NotFound.into());
                }
                Some(linked(&identity))
            }
            None => None,
        };
        let mut owner_identities = Vec::new();
        for id in involved
            .iter()
            .filter(|id| Some(id.as_str()) != target.map(IdentityId::as_str))
        {
            let identity = identity_in(&mut tx, id)
                .await?
                .ok_or(StoreError::NotFound)?;
            owner_identities.push(linked(&identity));
        }
        if let Some(t) = &target_identity
            && t.logins.iter().any(|l| presented.contains(l))
        {
            owner_identities.push(t.clone());
        }

        let decision = plan(&LinkRequest {
            presented,
            target: target_identity.as_ref(),
            owners: &owner_identities,
            rules,
        })?;

        let (survivor, created, merged) = match decision {
            LinkPlan::Create { logins } => {
                sqlx::query(
                    "INSERT INTO identities (id, pool_id, disabled_at, created_at, updated_at) VALUES ($1, $2, NULL, $3, $3)",
                )
                .bind(new_id.as_str())
                .bind(pool.as_str())
                .bind(millis(now))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                for login in &logins {
                    insert_login(&mut tx, pool, new_id.as_str(), login, now).await?;
                }
                (new_id.clone(), true, Vec::new())
            }
            LinkPlan::Use {
                survivor,
                link,
                merged,
            } => {
                for login in &link {
                    insert_login(&mut tx, pool, survivor.as_str(), login, now).await?;
                }
                for gone in &merged {
                    sqlx::query(
                        "UPDATE identity_logins SET identity_id = $1 WHERE identity_id = $2",
                    )
                    .bind(survivor.as_str())
                    .bind(gone.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                    sqlx::query(
                        "UPDATE identities SET disabled_at = $1, updated_at = $1 WHERE id = $2",
                    )
                    .bind(millis(now))
                    .bind(gone.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                }
                if !link.is_empty() || !merged.is_empty() {
                    sqlx::query("UPDATE identities SET updated_at = $1 WHERE id = $2")
                        .bind(millis(now))
                        .bind(survivor.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                }
                (survivor, false, merged)
            }
        };
        let identity = identity_in(&mut tx, survivor.as_str())
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(sent)?;
        Ok(Resolved {
            identity,
            created,
            merged,
        })
    }
}

#[async_trait]
impl LoginStore for SqlStore {
    async fn resolve_logins(
        &self,
        pool: &IdentityPoolId,
        presented: &[LoginRef],
        target: Option<&IdentityId>,
        rules: &LinkRules,
        new_id: &IdentityId,
        now: DateTime<Utc>,
    ) -> Result<Resolved, ResolveError> {
        self.run(Retry::Clashes(MAX_ATTEMPTS), move || {
            self.try_resolve(pool, presented, target, rules, new_id, now)
        })
        .await
    }

    async fn login_owner(
        &self,
        pool: &IdentityPoolId,
        login: &LoginRef,
    ) -> StoreResult<Option<IdentityId>> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut conn = self.pool.acquire().await?;
            Ok(owners(&mut conn, pool, std::slice::from_ref(login))
                .await?
                .into_iter()
                .next()
                .map(IdentityId::from_trusted))
        })
        .await
    }

    async fn remove_login(
        &self,
        identity: &IdentityId,
        login: &LoginRef,
        now: DateTime<Utc>,
    ) -> StoreResult<Identity> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let current = identity_in(&mut tx, identity.as_str())
                .await?
                .ok_or(StoreError::NotFound)?;
            self.begin_login_write(&mut tx, &current.pool_id).await?;
            let removed = sqlx::query(
                "DELETE FROM identity_logins WHERE identity_id = $1 AND provider_key = $2 AND subject = $3",
            )
            .bind(identity.as_str())
            .bind(login.provider.as_str())
            .bind(login.subject.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            found(removed)?;
            let after = finish_unlink(&mut tx, identity, now).await?;
            tx.commit().await.map_err(sent)?;
            Ok(after)
        })
        .await
    }

    async fn unlink_logins(
        &self,
        identity: &IdentityId,
        providers: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<Identity> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let current = identity_in(&mut tx, identity.as_str())
                .await?
                .ok_or(StoreError::NotFound)?;
            self.begin_login_write(&mut tx, &current.pool_id).await?;
            for provider in providers {
                sqlx::query(
                    "DELETE FROM identity_logins WHERE identity_id = $1 AND provider_key = $2",
                )
                .bind(identity.as_str())
                .bind(provider.as_str())
                .execute(&mut *tx)
                .await?;
            }
            let after = finish_unlink(&mut tx, identity, now).await?;
            tx.commit().await.map_err(sent)?;
            Ok(after)
        })
        .await
    }
}

//! Whole records in and out, for export, import and `pools copy`: each import is one
//! transaction that first reads what is there, so importing the same record again writes
//! nothing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::login::LoginRef;
use idbroker_domain::oidc_provider::OidcProvider;
use idbroker_domain::saml_provider::SamlProvider;
use idbroker_domain::{Identity, IdentityId, IdentityPool, IdentityPoolId, PrincipalTagMap, Tags};
use sqlx::Row;

use super::identities::identity_in;
use super::ledger::insert_admin_change;
use super::pools::{
    exchange_audiences_in, insert_tags, lifetimes_of, link_oidc_providers, link_saml_providers,
    replace_exchange_audiences,
};
use super::saml;
use super::{Backend, Retry, SqlStore, from_json, millis, to_json};
use crate::changes::Change;
use crate::error::sent;
use crate::{
    Applied, IdentityImport, ImportAudit, PoolImport, PoolSnapshot, StoreError, StoreResult,
    TransferStore,
};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

async fn maps_in<'e, E>(executor: E, pool: &str) -> StoreResult<BTreeMap<String, PrincipalTagMap>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let mut maps = BTreeMap::new();
    for row in sqlx::query(
        "SELECT provider_name, config FROM principal_tag_maps WHERE pool_id = $1 \
         ORDER BY provider_name",
    )
    .bind(pool)
    .fetch_all(executor)
    .await?
    {
        maps.insert(
            row.try_get("provider_name")?,
            from_json(&row.try_get::<String, _>("config")?)?,
        );
    }
    Ok(maps)
}

impl SqlStore {
    /// The pool as it is inside `tx`, its row locked on PostgreSQL until `tx` ends.
    async fn snapshot_in(
        &self,
        tx: &mut Tx<'_>,
        id: &IdentityPoolId,
    ) -> StoreResult<Option<PoolSnapshot>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT config, roles, credential_duration_seconds, token_lifetime_seconds, \
             max_token_lifetime_seconds, credential_reuse_seconds FROM identity_pools WHERE id = $1{lock}"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?
        else {
            return Ok(None);
        };
        let mut tags = Tags::new();
        for tag in sqlx::query("SELECT key, value FROM pool_tags WHERE pool_id = $1")
            .bind(id.as_str())
            .fetch_all(&mut **tx)
            .await?
        {
            tags.insert(tag.try_get("key")?, tag.try_get("value")?);
        }
        Ok(Some(PoolSnapshot {
            pool: IdentityPool {
                id: id.clone(),
                config: from_json(&row.try_get::<String, _>("config")?)?,
                tags,
                lifetimes: lifetimes_of(&row)?,
                exchange_audiences: exchange_audiences_in(tx, id.as_str()).await?,
            },
            roles: from_json(&row.try_get::<String, _>("roles")?)?,
            principal_tag_maps: maps_in(&mut **tx, id.as_str()).await?,
        }))
    }
}

/// Writes the snapshot's tags, principal-tag maps and provider links over whatever the pool had.
async fn replace_parts(tx: &mut Tx<'_>, snapshot: &PoolSnapshot) -> StoreResult<()> {
    let id = &snapshot.pool.id;
    for table in ["pool_tags", "principal_tag_maps"] {
        // Only the two fixed table names above are formatted into the text.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE pool_id = $1"
        )))
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    }
    insert_tags(tx, id, &snapshot.pool.tags).await?;
    for (provider, map) in &snapshot.principal_tag_maps {
        sqlx::query(
            "INSERT INTO principal_tag_maps (pool_id, provider_name, config) VALUES ($1, $2, $3)",
        )
        .bind(id.as_str())
        .bind(provider.as_str())
        .bind(to_json(map)?)
        .execute(&mut **tx)
        .await?;
    }
    replace_exchange_audiences(tx, id, &snapshot.pool.exchange_audiences).await?;
    link_oidc_providers(tx, id, &snapshot.pool.config).await?;
    link_saml_providers(tx, id, &snapshot.pool.config).await
}

#[async_trait]
impl TransferStore for SqlStore {
    async fn principal_tag_maps(
        &self,
        pool: &IdentityPoolId,
    ) -> StoreResult<BTreeMap<String, PrincipalTagMap>> {
        self.run(Retry::ConnectionOnly, move || async move {
            maps_in(&self.pool, pool.as_str()).await
        })
        .await
    }

    async fn import_oidc_provider(
        &self,
        provider: &OidcProvider,
        now: DateTime<Utc>,
        audit: ImportAudit<'_, Vec<String>>,
    ) -> StoreResult<Applied> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let existing = sqlx::query("SELECT issuer, client_ids FROM oidc_providers WHERE key = $1")
                .bind(provider.key())
                .fetch_optional(&mut *tx)
                .await?;
            let applied = match existing {
                None => {
                    sqlx::query(
                        "INSERT INTO oidc_providers (key, issuer, client_ids, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $4)",
                    )
                    .bind(provider.key())
                    .bind(provider.issuer.as_str())
                    .bind(to_json(&provider.client_ids)?)
                    .bind(millis(now))
                    .execute(&mut *tx)
                    .await?;
                    insert_admin_change(&mut *tx, &audit(None)).await?;
                    Applied::Created
                }
                Some(row) => {
                    let issuer: String = row.try_get("issuer")?;
                    let client_ids: Vec<String> =
                        from_json(&row.try_get::<String, _>("client_ids")?)?;
                    if issuer != provider.issuer {
                        return Err(StoreError::Conflict {
                            constraint: format!("oidc_providers.issuer ({issuer})"),
                        });
                    }
                    if client_ids == provider.client_ids {
                        return Ok(Applied::Unchanged);
                    }
                    sqlx::query(
                        "UPDATE oidc_providers SET client_ids = $1, updated_at = $2 WHERE key = $3",
                    )
                    .bind(to_json(&provider.client_ids)?)
                    .bind(millis(now))
                    .bind(provider.key())
                    .execute(&mut *tx)
                    .await?;
                    insert_admin_change(&mut *tx, &audit(Some(&client_ids))).await?;
                    Applied::Updated
                }
            };
            self.commit_announcing(tx, &[Change::OidcProvider(provider.key().to_owned())])
                .await?;
            Ok(applied)
        })
        .await
    }

    async fn import_saml_provider(
        &self,
        provider: &SamlProvider,
        now: DateTime<Utc>,
        audit: ImportAudit<'_, SamlProvider>,
    ) -> StoreResult<Applied> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            let existing = sqlx::query(saml::SELECT_PROVIDER)
                .bind(provider.name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let applied = match existing {
                None => {
                    saml::insert_provider(&mut tx, provider, now).await?;
                    insert_admin_change(&mut *tx, &audit(None)).await?;
                    Applied::Created
                }
                Some(row) => {
                    let before = saml::provider_from_row(&row)?;
                    if before == *provider {
                        return Ok(Applied::Unchanged);
                    }
                    saml::update_provider(&mut tx, provider, now).await?;
                    insert_admin_change(&mut *tx, &audit(Some(&before))).await?;
                    Applied::Updated
                }
            };
            // SAML providers are read from the database at each login (no copy to drop).
            tx.commit().await.map_err(sent)?;
            Ok(applied)
        })
        .await
    }

    async fn import_pool(
        &self,
        snapshot: &PoolSnapshot,
        now: DateTime<Utc>,
        audit: ImportAudit<'_, PoolSnapshot>,
    ) -> StoreResult<PoolImport> {
        self.run(Retry::ConnectionOnly, move || async move {
            let pool = &snapshot.pool;
            let mut tx = self.pool.begin().await?;
            let before = self.snapshot_in(&mut tx, &pool.id).await?;
            let applied = match &before {
                Some(current) if current == snapshot => {
                    return Ok(PoolImport::Applied(Applied::Unchanged));
                }
                Some(current) => {
                    // Set once: identities' developer logins are keyed on it.
                    if let Some(name) = &current.pool.config.developer_provider_name
                        && pool.config.developer_provider_name.as_ref() != Some(name)
                    {
                        return Ok(PoolImport::DeveloperProviderSet(name.clone()));
                    }
                    sqlx::query(
                        "UPDATE identity_pools SET name = $1, config = $2, roles = $3, \
                         version = version + 1, updated_at = $4, credential_duration_seconds = $6, \
                         token_lifetime_seconds = $7, max_token_lifetime_seconds = $8, \
                         credential_reuse_seconds = $9 WHERE id = $5",
                    )
                    .bind(pool.config.identity_pool_name.as_str())
                    .bind(to_json(&pool.config)?)
                    .bind(to_json(&snapshot.roles)?)
                    .bind(millis(now))
                    .bind(pool.id.as_str())
                    .bind(pool.lifetimes.credential_duration_seconds)
                    .bind(pool.lifetimes.token_lifetime_seconds)
                    .bind(pool.lifetimes.max_token_lifetime_seconds)
                    .bind(pool.lifetimes.credential_reuse_seconds)
                    .execute(&mut *tx)
                    .await?;
                    Applied::Updated
                }
                None => {
                    sqlx::query(
                        "INSERT INTO identity_pools (id, name, config, roles, version, created_at, updated_at, \
                         credential_duration_seconds, token_lifetime_seconds, max_token_lifetime_seconds, \
                         credential_reuse_seconds) \
                         VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, $8, $9)",
                    )
                    .bind(pool.id.as_str())
                    .bind(pool.config.identity_pool_name.as_str())
                    .bind(to_json(&pool.config)?)
                    .bind(to_json(&snapshot.roles)?)
                    .bind(millis(now))
                    .bind(pool.lifetimes.credential_duration_seconds)
                    .bind(pool.lifetimes.token_lifetime_seconds)
                    .bind(pool.lifetimes.max_token_lifetime_seconds)
                    .bind(pool.lifetimes.credential_reuse_seconds)
                    .execute(&mut *tx)
                    .await?;
                    Applied::Created
                }
            };
            replace_parts(&mut tx, snapshot).await?;
            insert_admin_change(&mut *tx, &audit(before.as_ref())).await?;
            self.commit_announcing(tx, &[Change::Pool(pool.id.clone())])
                .await?;
            Ok(PoolImport::Applied(applied))
        })
        .await
    }

    async fn import_identity(&self, identity: &Identity) -> StoreResult<IdentityImport> {
        self.run(Retry::ConnectionOnly, move || async move {
            let mut tx = self.pool.begin().await?;
            if let Some(existing) = identity_in(&mut tx, identity.id.as_str()).await? {
                return Ok(IdentityImport::Exists(existing));
            }
            for login in &identity.logins {
                if let Some(owner) = login_owner_in(&mut tx, &identity.pool_id, login).await? {
                    return Ok(IdentityImport::LoginTaken {
                        login: login.clone(),
                        owner,
                    });
                }
            }
            sqlx::query(
                "INSERT INTO identities (id, pool_id, disabled_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(identity.id.as_str())
            .bind(identity.pool_id.as_str())
            .bind(identity.disabled.then(|| millis(identity.last_modified_at)))
            .bind(millis(identity.created_at))
            .bind(millis(identity.last_modified_at))
            .execute(&mut *tx)
            .await?; // a foreign-key violation (the pool is gone) is NotFound
            for login in &identity.logins {
                sqlx::query(
                    "INSERT INTO identity_logins (pool_id, provider_key, subject, identity_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(identity.pool_id.as_str())
                .bind(login.provider.as_str())
                .bind(login.subject.as_str())
                .bind(identity.id.as_str())
                .bind(millis(identity.created_at))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await.map_err(sent)?;
            Ok(IdentityImport::Created)
        })
        .await
    }
}

async fn login_owner_in(
    tx: &mut Tx<'_>,
    pool: &IdentityPoolId,
    login: &LoginRef,
) -> StoreResult<Option<IdentityId>> {
    Ok(sqlx::query(
        "SELECT identity_id FROM identity_logins \
         WHERE pool_id = $1 AND provider_key = $2 AND subject = $3",
    )
    .bind(pool.as_str())
    .bind(login.provider.as_str())
    .bind(login.subject.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .map(|row| row.try_get::<String, _>("identity_id"))
    .transpose()?
    .map(IdentityId::from_trusted))
}

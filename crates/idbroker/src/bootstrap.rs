//! Configuration as code: a TOML file of OpenID Connect providers and identity pools (with
//! their roles) that `idbroker serve --bootstrap FILE` applies at start-up, idempotently.
//! Pools are matched by name; a pool that differs from the file is replaced with the file's
//! version; applying the same file twice changes nothing. Pool members use the Cognito API's
//! names, as on both HTTP faces.
//!
//! ```toml
//! [[oidc_providers]]
//! issuer = "https://login.example.com"
//! client_ids = ["web"]
//!
//! [[pools]]
//! IdentityPoolName = "demo"
//! AllowUnauthenticatedIdentities = true
//! OpenIdConnectProviderARNs = ["arn:aws:iam::000000000000:oidc-provider/login.example.com"]
//! [pools.Roles]
//! authenticated = "arn:aws:iam::000000000000:role/demo-authenticated"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use idbroker_domain::oidc_provider::issuer_key;
use idbroker_domain::{PoolConfig, PoolRoles, RoleMapping};
use idbroker_service::{Broker, ServiceError};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    oidc_providers: Vec<Provider>,
    #[serde(default)]
    pools: Vec<Pool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Provider {
    issuer: String,
    client_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Pool {
    #[serde(flatten)]
    config: PoolConfig,
    #[serde(default)]
    identity_pool_tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    roles: Option<BTreeMap<String, String>>,
    #[serde(default)]
    role_mappings: Option<BTreeMap<String, RoleMapping>>,
}

/// What applying the file did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

fn parse(path: &Path) -> anyhow::Result<File> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read bootstrap file {}", path.display()))?;
    // toml's errors name the line and column at fault.
    toml::from_str(&text).with_context(|| format!("invalid bootstrap file {}", path.display()))
}

async fn pools_by_name(broker: &Broker) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = broker.list_identity_pools(60, cursor.as_deref()).await?;
        for pool in page.items {
            by_name
                .entry(pool.name)
                .or_default()
                .push(pool.id.to_string());
        }
        match page.next_token {
            Some(next) => cursor = Some(next),
            None => return Ok(by_name),
        }
    }
}

pub async fn apply(broker: &Broker, path: &Path) -> anyhow::Result<Applied> {
    let file = parse(path)?;
    let mut applied = Applied::default();
    for provider in file.oidc_providers {
        let key = issuer_key(&provider.issuer).to_owned();
        match broker.get_oidc_provider(&key).await {
            Ok(existing) if existing.client_ids == provider.client_ids => applied.unchanged += 1,
            Ok(_) => {
                broker
                    .update_oidc_provider_client_ids(&key, provider.client_ids)
                    .await?;
                applied.updated += 1;
            }
            Err(ServiceError::ResourceNotFound(_)) => {
                broker
                    .create_oidc_provider(&provider.issuer, provider.client_ids)
                    .await
                    .with_context(|| format!("OpenID Connect provider {}", provider.issuer))?;
                applied.created += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }

    let existing = pools_by_name(broker).await?;
    let mut seen = std::collections::BTreeSet::new();
    for pool in file.pools {
        let name = pool.config.identity_pool_name.clone();
        if !seen.insert(name.clone()) {
            bail!("the bootstrap file names pool '{name}' twice");
        }
        let context = || format!("pool '{name}'");
        let id = match existing.get(&name).map(Vec::as_slice) {
            None | Some([]) => {
                let created = broker
                    .create_identity_pool(
                        pool.config,
                        pool.identity_pool_tags.clone().unwrap_or_default(),
                    )
                    .await
                    .with_context(context)?;
                applied.created += 1;
                created.id.to_string()
            }
            Some([id]) => {
                let current = broker.describe_identity_pool(id).await?;
                let tags_differ = pool
                    .identity_pool_tags
                    .as_ref()
                    .is_some_and(|t| *t != current.tags);
                if current.config != pool.config || tags_differ {
                    broker
                        .update_identity_pool(id, pool.config, pool.identity_pool_tags.clone())
                        .await
                        .with_context(context)?;
                    applied.updated += 1;
                } else {
                    applied.unchanged += 1;
                }
                id.clone()
            }
            Some(_) => bail!(
                "several identity pools are named '{name}'; the bootstrap file cannot tell which to manage"
            ),
        };
        if pool.roles.is_some() || pool.role_mappings.is_some() {
            let wanted = PoolRoles {
                roles: pool.roles.unwrap_or_default(),
                role_mappings: pool.role_mappings.unwrap_or_default(),
            };
            let (_, current) = broker.get_identity_pool_roles(&id).await?;
            if current != wanted {
                broker
                    .set_identity_pool_roles(&id, wanted)
                    .await
                    .with_context(context)?;
            }
        }
    }
    Ok(applied)
}

//! Configuration as code: a TOML file of OpenID Connect providers, SAML providers and identity
//! pools (with their roles) that `idbroker serve --bootstrap FILE` applies at start-up,
//! idempotently, providers before the pools that name them. OpenID Connect providers are
//! matched by issuer, SAML providers and pools by name; one that differs from the file is
//! replaced with the file's version; applying the same file twice changes nothing. A pool is the REST face's pool body
//! (`idbroker_api::pools::PoolRequest`, snake_case) plus the members of its roles body
//! (`roles`, `role_mappings`): one shape for both. The whole file is checked before anything
//! in it is applied: an unknown member anywhere (named, with the nearest known one), a value
//! that breaks a rule of the model, a pool named twice, or a provider ARN that is neither
//! registered nor in the file refuses it all.
//!
//! ```toml
//! [[oidc_providers]]
//! issuer = "https://login.example.com"
//! client_ids = ["web"]
//!
//! [[saml_providers]]
//! name = "corp"
//! metadata_file = "corp-idp-metadata.xml" # relative to this file; or `metadata = """…"""`
//!
//! [[pools]]
//! identity_pool_name = "demo"
//! allow_unauthenticated_identities = true
//! open_id_connect_provider_arns = ["arn:aws:iam::000000000000:oidc-provider/login.example.com"]
//! [pools.roles]
//! authenticated = "arn:aws:iam::000000000000:role/demo-authenticated"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use idbroker_api::pools::{PoolRequest, RolesBody};
use idbroker_api::unknown_field::{self, UnknownField};
use idbroker_domain::oidc_provider::{OidcProvider, issuer_key};
use idbroker_domain::tags::validate_tags;
use idbroker_domain::{PoolConfig, PoolExtensions, PoolRoles, Tags};
use idbroker_http::rest::contract::{pool_config, pool_roles};
use idbroker_service::{Broker, SamlReading, SamlReadingChange, ServiceError};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    oidc_providers: Vec<Provider>,
    #[serde(default)]
    saml_providers: Vec<RawSamlProvider>,
    /// Read as tables first: a pool is split into its pool body and its roles body.
    #[serde(default)]
    pools: Vec<toml::Table>,
}

struct File {
    oidc_providers: Vec<Provider>,
    saml_providers: Vec<SamlProvider>,
    pools: Vec<Pool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Provider {
    issuer: String,
    client_ids: Vec<String>,
}

/// A `[[saml_providers]]` entry as written: its metadata inline or in a file of its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSamlProvider {
    name: String,
    metadata: Option<String>,
    /// Relative to the bootstrap file's folder.
    metadata_file: Option<PathBuf>,
    #[serde(default)]
    legacy_sha1: bool,
    /// The attribute whose value is the subject; absent: the NameID.
    subject_attribute: Option<String>,
}

/// A name from the file in a message: bounded and escaped (it is checked only later).
fn loggable(name: &str) -> String {
    name.chars()
        .take(128)
        .flat_map(char::escape_default)
        .collect()
}

/// A SAML provider with its metadata read.
struct SamlProvider {
    name: String,
    metadata: String,
    reading: SamlReading,
}

/// The metadata of a `[[saml_providers]]` entry: exactly one of `metadata` and `metadata_file`.
fn saml_provider(raw: RawSamlProvider, base: &Path) -> anyhow::Result<SamlProvider> {
    let metadata = match (raw.metadata, raw.metadata_file) {
        (Some(inline), None) => inline,
        (None, Some(file)) => {
            let path = base.join(file);
            // The service bounds the metadata; a file far larger is not read into memory.
            let len = std::fs::metadata(&path)
                .with_context(|| format!("cannot read metadata_file {}", path.display()))?
                .len();
            if len > idbroker_service::MAX_SAML_METADATA_BYTES as u64 {
                bail!(
                    "metadata_file {} is larger than {} bytes",
                    path.display(),
                    idbroker_service::MAX_SAML_METADATA_BYTES
                );
            }
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read metadata_file {}", path.display()))?
        }
        (Some(_), Some(_)) => bail!("give `metadata` or `metadata_file`, not both"),
        (None, None) => bail!("`metadata` or `metadata_file` is required"),
    };
    Ok(SamlProvider {
        name: raw.name,
        metadata,
        reading: SamlReading {
            legacy_sha1: raw.legacy_sha1,
            subject_attribute: raw.subject_attribute,
        },
    })
}

struct Pool {
    config: PoolConfig,
    identity_pool_tags: Option<Tags>,
    /// Lifetimes and exchange audiences, replaced with the file's (absent members: unset), as
    /// the REST face's PUT does.
    extensions: PoolExtensions,
    /// None when the file says nothing of roles (they are then left as they are).
    roles: Option<PoolRoles>,
}

/// The members of the roles body a pool table may carry beside its pool body.
const ROLE_MEMBERS: [&str; 2] = ["roles", "role_mappings"];

/// One `[[pools]]` table as the REST pool body plus the roles body's members.
fn pool(mut table: toml::Table) -> anyhow::Result<Pool> {
    let mut roles_table = toml::Table::new();
    for member in ROLE_MEMBERS {
        if let Some(value) = table.remove(member) {
            roles_table.insert(member.to_owned(), value);
        }
    }
    let has_roles = !roles_table.is_empty();
    let request =
        PoolRequest::deserialize(toml::Value::Table(table)).map_err(|e| unknown_member(&e))?;
    let roles =
        RolesBody::deserialize(toml::Value::Table(roles_table)).map_err(|e| unknown_member(&e))?;
    let (config, identity_pool_tags, extensions) = pool_config(request);
    Ok(Pool {
        config,
        identity_pool_tags,
        extensions,
        roles: has_roles.then(|| pool_roles(roles)),
    })
}

/// toml's message, or for an unknown member, the member and the nearest known one (the pool
/// body's members and the roles body's, since a pool table holds both).
fn unknown_member(err: &toml::de::Error) -> anyhow::Error {
    let text = err.message().to_owned();
    match unknown_field::parse(&text) {
        Some(UnknownField {
            field,
            mut expected,
            ..
        }) => {
            // A pool table holds the roles body's members too; a nested table does not.
            if expected.iter().any(|name| name == "identity_pool_name") {
                expected.extend(ROLE_MEMBERS.map(str::to_owned));
            }
            let nearest = unknown_field::nearest(&field, expected.iter().map(String::as_str));
            anyhow!(
                UnknownField {
                    field,
                    nearest,
                    expected
                }
                .message(idbroker_http::echo::field_name)
            )
        }
        None => anyhow!(text),
    }
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
    let invalid = || format!("invalid bootstrap file {}", path.display());
    // toml's errors name the line and column at fault; an unknown member is named with the
    // nearest known one, and its line.
    let raw: RawFile = toml::from_str(&text)
        .map_err(|e| match (unknown_field::parse(e.message()), e.span()) {
            (Some(_), Some(span)) => {
                let line = text[..span.start].lines().count().max(1);
                anyhow!("line {line}: {}", unknown_member(&e))
            }
            _ => anyhow!(e),
        })
        .with_context(invalid)?;
    // Every pool is read before anything is applied: a mistake anywhere refuses the whole file.
    let pools = raw
        .pools
        .into_iter()
        .enumerate()
        .map(|(i, table)| pool(table).with_context(|| format!("{}: pool {}", invalid(), i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let base = path.parent().unwrap_or(Path::new("."));
    let saml_providers = raw
        .saml_providers
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let entry = format!("SAML provider {} ('{}')", i + 1, loggable(&raw.name));
            saml_provider(raw, base).with_context(|| format!("{}: {entry}", invalid()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(File {
        oidc_providers: raw.oidc_providers,
        saml_providers,
        pools,
    })
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

/// The rules the service would apply, checked for the whole file before any of it is applied,
/// so a mistake in the last pool does not leave the first ones created.
async fn check(broker: &Broker, file: &File) -> anyhow::Result<()> {
    let settings = broker.settings();
    let mut file_arns = std::collections::BTreeSet::new();
    for provider in &file.oidc_providers {
        let checked = OidcProvider::new(
            &provider.issuer,
            provider.client_ids.clone(),
            settings.allow_http_issuers,
        )
        .with_context(|| format!("OpenID Connect provider {}", provider.issuer))?;
        file_arns.insert(checked.arn(&settings.account_id));
    }
    let mut saml_names = std::collections::BTreeSet::new();
    for provider in &file.saml_providers {
        let context = || format!("SAML provider '{}'", loggable(&provider.name));
        if !saml_names.insert(provider.name.as_str()) {
            bail!("the bootstrap file names {} twice", context());
        }
        let arn = broker
            .check_saml_provider(&provider.name, &provider.metadata, provider.reading.clone())
            .with_context(context)?;
        broker
            .check_saml_subject_source(
                &provider.name,
                provider.reading.subject_attribute.as_deref(),
            )
            .await
            .with_context(context)?;
        file_arns.insert(arn);
    }
    let registered: std::collections::BTreeSet<String> = broker
        .list_oidc_providers()
        .await?
        .into_iter()
        .map(|p| p.arn)
        .chain(
            broker
                .list_saml_providers()
                .await?
                .into_iter()
                .map(|p| p.arn),
        )
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for pool in &file.pools {
        let name = &pool.config.identity_pool_name;
        let context = || format!("pool '{name}'");
        if !names.insert(name) {
            bail!("the bootstrap file names pool '{name}' twice");
        }
        pool.config.validate().with_context(context)?;
        broker
            .validate_extensions(&pool.extensions)
            .with_context(context)?;
        if let Some(tags) = &pool.identity_pool_tags {
            validate_tags("identity_pool_tags", tags).with_context(context)?;
        }
        if let Some(roles) = &pool.roles {
            roles.validate(&pool.config).with_context(context)?;
        }
        if let Some(arn) = pool
            .config
            .open_id_connect_provider_arns
            .iter()
            .find(|arn| !registered.contains(*arn) && !file_arns.contains(*arn))
        {
            bail!(
                "pool '{name}': the OpenID Connect provider {arn} is neither registered nor in the file"
            );
        }
        if let Some(arn) = pool
            .config
            .saml_provider_arns
            .iter()
            .find(|arn| !registered.contains(*arn) && !file_arns.contains(*arn))
        {
            bail!("pool '{name}': the SAML provider {arn} is neither registered nor in the file");
        }
    }
    Ok(())
}

pub async fn apply(broker: &Broker, path: &Path) -> anyhow::Result<Applied> {
    let file = parse(path)?;
    check(broker, &file)
        .await
        .with_context(|| format!("invalid bootstrap file {}", path.display()))?;
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

    for provider in file.saml_providers {
        let context = || format!("SAML provider '{}'", provider.name);
        match broker.get_saml_provider(&provider.name).await {
            Ok(existing)
                if existing.metadata == provider.metadata
                    && existing.legacy_sha1 == provider.reading.legacy_sha1
                    && existing.subject_attribute == provider.reading.subject_attribute =>
            {
                applied.unchanged += 1;
            }
            Ok(_) => {
                broker
                    .update_saml_provider(
                        &provider.name,
                        &provider.metadata,
                        // The file says how the provider is read: an absent subject
                        // attribute is the NameID.
                        SamlReadingChange {
                            legacy_sha1: Some(provider.reading.legacy_sha1),
                            subject_attribute: Some(provider.reading.subject_attribute),
                        },
                    )
                    .await
                    .with_context(context)?;
                applied.updated += 1;
            }
            Err(ServiceError::ResourceNotFound(_)) => {
                broker
                    .create_saml_provider(&provider.name, &provider.metadata, provider.reading)
                    .await
                    .with_context(context)?;
                applied.created += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }

    let existing = pools_by_name(broker).await?;
    for pool in file.pools {
        let name = pool.config.identity_pool_name.clone();
        let context = || format!("pool '{name}'");
        let id = match existing.get(&name).map(Vec::as_slice) {
            None | Some([]) => {
                let created = broker
                    .create_identity_pool(
                        pool.config,
                        pool.identity_pool_tags.clone().unwrap_or_default(),
                        pool.extensions,
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
                if current.config != pool.config
                    || current.lifetimes != pool.extensions.lifetimes
                    || current.exchange_audiences != pool.extensions.exchange_audiences
                    || tags_differ
                {
                    broker
                        .update_identity_pool(
                            id,
                            pool.config,
                            pool.identity_pool_tags.clone(),
                            Some(pool.extensions),
                        )
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
        if let Some(wanted) = pool.roles {
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

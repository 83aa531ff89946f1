//! `idbroker export`: the database (or some of its pools) as an export file. Identities are
//! read a page at a time and written as they come, so memory does not grow with the pool.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use idbroker_domain::oidc_provider::issuer_key;
use idbroker_domain::pool::oidc_provider_key;
use idbroker_domain::saml_provider::saml_provider_name;
use idbroker_domain::{IdentityId, IdentityPoolId};
use idbroker_service::transfer::{PoolSnapshot, Transfer};

use super::format::Record;

/// Identities read per query.
const IDENTITY_PAGE: u32 = 500;
/// Pools read per query.
const POOL_PAGE: u32 = 60;

/// What was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub providers: usize,
    pub saml_providers: usize,
    pub pools: usize,
    pub identities: usize,
}

fn line(out: &mut impl Write, record: &Record) -> anyhow::Result<()> {
    out.write_all(record.to_line()?.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes every pool (or those of `only`, each of which must exist), the OpenID Connect and
/// SAML providers (with `only`: those the chosen pools use) and the identities.
pub async fn export(
    transfer: &Transfer,
    only: &[String],
    out: &mut impl Write,
) -> anyhow::Result<Written> {
    let mut pools = Vec::new();
    if only.is_empty() {
        let mut after: Option<IdentityPoolId> = None;
        loop {
            let ids = transfer.pool_ids(after.as_ref(), POOL_PAGE).await?;
            for id in &ids {
                pools.push(transfer.pool(id.as_str()).await?);
            }
            match ids.last() {
                Some(last) if ids.len() == POOL_PAGE as usize => after = Some(last.clone()),
                _ => break,
            }
        }
    } else {
        let wanted: BTreeSet<&String> = only.iter().collect();
        for id in wanted {
            pools.push(transfer.pool(id).await?);
        }
    }
    let used: BTreeSet<&str> = pools
        .iter()
        .flat_map(|p| &p.pool.config.open_id_connect_provider_arns)
        .filter_map(|arn| oidc_provider_key(arn))
        .collect();
    let used_saml: BTreeSet<&str> = pools
        .iter()
        .flat_map(|p| &p.pool.config.saml_provider_arns)
        .filter_map(|arn| saml_provider_name(arn))
        .collect();

    let mut written = Written::default();
    line(out, &Record::header())?;
    for provider in transfer.oidc_providers().await? {
        if only.is_empty() || used.contains(issuer_key(&provider.issuer)) {
            line(out, &Record::provider(&provider))?;
            written.providers += 1;
        }
    }
    for provider in transfer.saml_providers().await? {
        if only.is_empty() || used_saml.contains(provider.name.as_str()) {
            line(out, &Record::saml_provider(&provider))?;
            written.saml_providers += 1;
        }
    }
    for pool in &pools {
        line(out, &Record::pool(pool))?;
        written.pools += 1;
    }
    for pool in &pools {
        written.identities += identities(transfer, pool, out).await?;
    }
    out.flush()?;
    Ok(written)
}

async fn identities(
    transfer: &Transfer,
    pool: &PoolSnapshot,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let mut count = 0;
    let mut after: Option<IdentityId> = None;
    loop {
        let page = transfer
            .identities(pool, after.as_ref(), IDENTITY_PAGE)
            .await?;
        for identity in &page {
            line(out, &Record::identity(identity))?;
        }
        count += page.len();
        match page.last() {
            Some(last) if page.len() == IDENTITY_PAGE as usize => after = Some(last.id.clone()),
            _ => return Ok(count),
        }
    }
}

/// `export --file`: written to a new temporary file in the target's folder (created
/// exclusively with a random name and mode 0600, so a planted symlink or a guessed name is
/// never followed and the identities' ids and login subjects are not readable by others),
/// synced, renamed over `path` and the folder synced, so `path` is either the old file or
/// the whole new one, even after a crash.
pub async fn to_file(transfer: &Transfer, only: &[String], path: &Path) -> anyhow::Result<Written> {
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("cannot create a file in {}", parent.display()))?;
    let mut out = std::io::BufWriter::new(temp);
    // On an error the temporary file is removed when `out` is dropped.
    let written = export(transfer, only, &mut out).await?;
    let temp = out.into_inner().map_err(|e| e.into_error())?;
    temp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot sync {}", parent.display()))?;
    Ok(written)
}

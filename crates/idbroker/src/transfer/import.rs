//! `idbroker import FILE`: reads an export file into the database. The file (a regular file:
//! it is read twice) is first checked whole, so a broken or self-contradicting file changes
//! nothing and the message names its line: every line parsed and validated, records in the
//! export's order (OpenID Connect providers by key, SAML providers by name, pools by id,
//! identities by pool and id, so an id is never listed twice), each pool's OpenID Connect and
//! SAML providers in the file or registered here, each
//! identity's pool in the file or here and the identity consistent with it (region,
//! providers, developer user ids), and no login on two identities of a pool. Then each
//! record is applied in a transaction of its own. Conflicts with the database are reported
//! with their line and leave the record as the database has it; the import goes on and ends
//! with a failure status. Anything else (the database gone) stops it; what was applied
//! stays, and running the import again finishes the job, since applying a record twice
//! changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use anyhow::{Context, bail};
use idbroker_domain::pool::oidc_provider_key;
use idbroker_domain::saml_provider::saml_provider_name;
use idbroker_domain::{IdentityId, IdentityPoolId, PoolConfig};
use idbroker_service::transfer::{Applied, IdentityRecord, ImportOutcome, PoolSnapshot, Transfer};

use super::explain;
use super::format::{HEADER_KIND, Item, MAX_LINE_BYTES, Record, VERSION};

/// Counts per kind of record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub conflicts: usize,
}

impl Tally {
    fn add(&mut self, outcome: &ImportOutcome) {
        match outcome {
            ImportOutcome::Applied(Applied::Created) => self.created += 1,
            ImportOutcome::Applied(Applied::Updated) => self.updated += 1,
            ImportOutcome::Applied(Applied::Unchanged) => self.unchanged += 1,
            ImportOutcome::Conflict(_) => self.conflicts += 1,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged, {} conflicts",
            self.created, self.updated, self.unchanged, self.conflicts
        )
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub providers: Tally,
    pub saml_providers: Tally,
    pub pools: Tally,
    pub identities: Tally,
}

impl Report {
    pub fn conflicts(&self) -> usize {
        self.providers.conflicts
            + self.saml_providers.conflicts
            + self.pools.conflicts
            + self.identities.conflicts
    }
}

/// The lines of a file, each at most `MAX_LINE_BYTES`, numbered from 1; blank lines skipped.
struct Lines<R> {
    reader: R,
    number: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    fn next_line(&mut self) -> anyhow::Result<Option<(usize, String)>> {
        loop {
            self.buf.clear();
            self.number += 1;
            let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX) + 1;
            let read = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut self.buf)
                .with_context(|| format!("line {}: cannot read", self.number))?;
            if read == 0 {
                return Ok(None);
            }
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
            } else if self.buf.len() > MAX_LINE_BYTES {
                bail!(
                    "line {}: longer than {MAX_LINE_BYTES} bytes; not an idbroker export line",
                    self.number
                );
            }
            let mut text = std::str::from_utf8(&self.buf)
                .with_context(|| format!("line {}: not UTF-8", self.number))?;
            if self.number == 1 {
                // Some editors start a UTF-8 file with a byte-order mark.
                text = text.strip_prefix('\u{feff}').unwrap_or(text);
            }
            if !text.trim().is_empty() {
                return Ok(Some((self.number, text.to_owned())));
            }
        }
    }
}

/// The file to import, opened once for both passes. Only a regular file: it is read twice,
/// which a pipe or a terminal cannot serve.
struct Source<'a> {
    path: &'a Path,
    file: File,
    /// Length and modification time when the check began: the apply pass refuses a file
    /// changed since.
    stamp: (u64, Option<std::time::SystemTime>),
}

impl<'a> Source<'a> {
    fn open(path: &'a Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            bail!(
                "{} is not a regular file: import reads its file twice (to check it whole, then to apply it); save the export to a file first",
                path.display()
            );
        }
        Ok(Self {
            path,
            file,
            stamp: (meta.len(), meta.modified().ok()),
        })
    }

    /// The file from its start, refused if it changed since it was opened.
    fn rewind(&mut self) -> anyhow::Result<&File> {
        let meta = self.file.metadata()?;
        if (meta.len(), meta.modified().ok()) != self.stamp {
            bail!(
                "{} changed while it was being imported; nothing more was applied",
                self.path.display()
            );
        }
        self.file.rewind()?;
        Ok(&self.file)
    }
}

/// Every line of the file as an item, in order; `visit` gets each with its line number.
async fn each_item<F>(source: &mut Source<'_>, mut visit: F) -> anyhow::Result<()>
where
    F: AsyncFnMut(usize, Item) -> anyhow::Result<()>,
{
    let path = source.path;
    let mut lines = Lines {
        reader: BufReader::new(source.rewind()?),
        number: 0,
        buf: Vec::new(),
    };
    let mut first = true;
    while let Some((number, text)) = lines.next_line()? {
        let item = Record::parse(&text)
            .and_then(Item::try_from)
            .with_context(|| format!("line {number}"))?;
        match (&item, first) {
            (Item::Header(VERSION), true) => {}
            (Item::Header(version), true) => bail!(
                "line {number}: format version {version}; this idbroker reads version {VERSION}"
            ),
            (Item::Header(_), false) => bail!("line {number}: a second header"),
            (_, true) => bail!(
                "line {number}: an idbroker export starts with {{\"kind\":\"{HEADER_KIND}\",\"version\":{VERSION}}}"
            ),
            _ => {}
        }
        first = false;
        visit(number, item).await?;
    }
    if first {
        bail!("{} is empty: not an idbroker export", path.display());
    }
    Ok(())
}

/// What the check pass keeps of a pool: its configuration (from the file, or from the
/// database for a pool the file does not carry).
struct PoolFacts {
    config: PoolConfig,
}

/// The check pass's memory: the pools (the file's and those its identities name; bounded by
/// the number of pools), the provider keys of the file, where the order is, and the logins of
/// the current pool as 128-bit keyed hashes with their line (about 40 bytes per login of the
/// largest pool; identities come grouped by pool, so the set starts over with each pool).
struct Checker<'a> {
    transfer: &'a Transfer,
    pools: HashMap<IdentityPoolId, PoolFacts>,
    provider_keys: BTreeSet<String>,
    saml_names: BTreeSet<String>,
    /// 1 OpenID Connect providers, 2 SAML providers, 3 pools, 4 identities: the export's order.
    stage: u8,
    last_provider: Option<String>,
    last_saml: Option<String>,
    last_pool: Option<IdentityPoolId>,
    last_identity: Option<(IdentityPoolId, IdentityId)>,
    logins: HashMap<u128, usize>,
    hashers: (RandomState, RandomState),
    /// The line being checked.
    line: usize,
}

impl<'a> Checker<'a> {
    fn new(transfer: &'a Transfer) -> Self {
        Self {
            transfer,
            pools: HashMap::new(),
            provider_keys: BTreeSet::new(),
            saml_names: BTreeSet::new(),
            stage: 1,
            last_provider: None,
            last_saml: None,
            last_pool: None,
            last_identity: None,
            logins: HashMap::new(),
            hashers: (RandomState::new(), RandomState::new()),
            line: 0,
        }
    }

    fn order(&mut self, stage: u8) -> anyhow::Result<()> {
        const NAMES: [&str; 5] = [
            "",
            "an oidc_provider",
            "a saml_provider",
            "a pool",
            "identity",
        ];
        if stage < self.stage {
            bail!(
                "{} record after {} records: an export lists OpenID Connect providers, then SAML providers, then pools, then identities",
                NAMES[usize::from(stage)],
                NAMES[usize::from(self.stage)]
            );
        }
        self.stage = stage;
        Ok(())
    }

    async fn item(&mut self, item: Item) -> anyhow::Result<()> {
        match item {
            Item::Header(_) => Ok(()),
            Item::Provider { issuer, client_ids } => {
                self.order(1)?;
                let provider = self
                    .transfer
                    .check_oidc_provider(&issuer, client_ids)
                    .map_err(explain)?;
                let key = provider.key().to_owned();
                if self.last_provider.as_ref().is_some_and(|last| *last >= key) {
                    bail!(
                        "OpenID Connect provider {key} is out of order or listed twice (providers come sorted by key)"
                    );
                }
                self.last_provider = Some(key.clone());
                self.provider_keys.insert(key);
                Ok(())
            }
            Item::SamlProvider {
                name,
                metadata,
                reading,
            } => {
                self.order(2)?;
                self.transfer
                    .check_saml_provider(&name, &metadata, reading)
                    .map_err(explain)
                    .with_context(|| format!("SAML provider '{name}'"))?;
                if self.last_saml.as_ref().is_some_and(|last| *last >= name) {
                    bail!(
                        "SAML provider '{name}' is out of order or listed twice (SAML providers come sorted by name)"
                    );
                }
                self.last_saml = Some(name.clone());
                self.saml_names.insert(name);
                Ok(())
            }
            Item::Pool(snapshot) => {
                self.order(3)?;
                self.pool(*snapshot).await
            }
            Item::Identity(identity) => {
                self.order(4)?;
                self.identity(identity).await
            }
        }
    }

    async fn pool(&mut self, snapshot: PoolSnapshot) -> anyhow::Result<()> {
        self.transfer.check_pool(&snapshot).map_err(explain)?;
        let id = snapshot.pool.id.clone();
        if self.last_pool.as_ref().is_some_and(|last| *last >= id) {
            bail!("pool {id} is out of order or listed twice (pools come sorted by id)");
        }
        for arn in &snapshot.pool.config.open_id_connect_provider_arns {
            let Some(key) = oidc_provider_key(arn) else {
                continue;
            };
            if !self.provider_keys.contains(key)
                && !self
                    .transfer
                    .oidc_provider_registered(key)
                    .await
                    .map_err(explain)?
            {
                bail!(
                    "{arn} is neither in the file nor a registered OpenID Connect provider; add its oidc_provider record or register it first"
                );
            }
        }
        for arn in &snapshot.pool.config.saml_provider_arns {
            let Some(name) = saml_provider_name(arn) else {
                continue;
            };
            if !self.saml_names.contains(name)
                && !self
                    .transfer
                    .saml_provider_registered(name)
                    .await
                    .map_err(explain)?
            {
                bail!(
                    "{arn} is neither in the file nor a registered SAML provider; add its saml_provider record or register it first"
                );
            }
        }
        self.last_pool = Some(id.clone());
        self.pools.insert(
            id,
            PoolFacts {
                config: snapshot.pool.config,
            },
        );
        Ok(())
    }

    async fn identity(&mut self, identity: IdentityRecord) -> anyhow::Result<()> {
        identity.validate().map_err(explain)?;
        let key = (identity.pool_id.clone(), identity.id.clone());
        match &self.last_identity {
            Some(last) if *last >= key => bail!(
                "identity {} is out of order or listed twice (identities come grouped by pool, sorted by id)",
                identity.id
            ),
            Some((pool, _)) if *pool == identity.pool_id => {}
            _ => self.logins.clear(),
        }
        self.last_identity = Some(key);
        if !self.pools.contains_key(&identity.pool_id) {
            let Some(config) = self
                .transfer
                .existing_pool(&identity.pool_id)
                .await
                .map_err(explain)?
            else {
                bail!(
                    "IdentityPool '{}' not found: neither in the file (before this line) nor here",
                    identity.pool_id
                );
            };
            self.pools
                .insert(identity.pool_id.clone(), PoolFacts { config });
        }
        let Some(pool) = self.pools.get(&identity.pool_id) else {
            bail!("IdentityPool '{}' not found", identity.pool_id);
        };
        self.transfer
            .check_identity_in_pool(&identity, &pool.config)
            .map_err(explain)?;
        let developer = pool
            .config
            .developer_provider_name
            .clone()
            .unwrap_or_default();
        let logins = identity
            .logins
            .iter()
            .map(|l| (l.provider.as_str(), l.subject.as_str()))
            .chain(
                identity
                    .developer_user_ids
                    .iter()
                    .map(|user| (developer.as_str(), user.as_str())),
            );
        for (provider, subject) in logins {
            let hash = u128::from(self.hashers.0.hash_one((provider, subject))) << 64
                | u128::from(self.hashers.1.hash_one((provider, subject)));
            if let Some(line) = self.logins.get(&hash) {
                bail!(
                    "login {provider} / {subject} is also on the identity of line {line}: a login belongs to one identity"
                );
            }
            self.logins.insert(hash, self.line);
        }
        Ok(())
    }
}

/// The check pass: the whole file against every rule that can be checked before writing.
async fn check_source(transfer: &Transfer, source: &mut Source<'_>) -> anyhow::Result<()> {
    let mut checker = Checker::new(transfer);
    each_item(source, async |number, item| {
        checker.line = number;
        checker
            .item(item)
            .await
            .with_context(|| format!("line {number}"))
    })
    .await
}

/// Checks the whole file, then applies it; conflicts are printed to stderr as they come and
/// counted in `report`, which holds what was done also when the import fails.
pub async fn import(transfer: &Transfer, path: &Path, report: &mut Report) -> anyhow::Result<()> {
    let mut source = Source::open(path)?;
    check_source(transfer, &mut source).await?;
    // ARNs of SAML providers whose record conflicted: the file's logins under them were keyed
    // by the file's subject source, not this database's, so they are refused too.
    let mut refused_saml = std::collections::BTreeSet::new();
    each_item(&mut source, async |number, item| {
        let (tally, outcome) = match item {
            Item::Header(_) => return Ok(()),
            Item::Provider { issuer, client_ids } => {
                let provider = transfer
                    .check_oidc_provider(&issuer, client_ids)
                    .map_err(explain)?;
                (
                    &mut report.providers,
                    transfer.import_oidc_provider(&provider).await,
                )
            }
            Item::SamlProvider {
                name,
                metadata,
                reading,
            } => {
                let provider = transfer
                    .check_saml_provider(&name, &metadata, reading)
                    .map_err(explain)?;
                let outcome = transfer.import_saml_provider(&provider).await;
                if let Ok(ImportOutcome::Conflict(_)) = &outcome {
                    refused_saml.insert(transfer.saml_provider_arn(&name));
                }
                (&mut report.saml_providers, outcome)
            }
            Item::Pool(snapshot) => (&mut report.pools, transfer.import_pool(&snapshot).await),
            Item::Identity(identity) => {
                let outcome = match identity
                    .logins
                    .iter()
                    .find(|login| refused_saml.contains(&login.provider))
                {
                    Some(login) => Ok(ImportOutcome::Conflict(format!(
                        "identity {} has a login of {}, whose SAML provider record was refused above",
                        identity.id, login.provider
                    ))),
                    None => transfer.import_identity(&identity).await,
                };
                (&mut report.identities, outcome)
            }
        };
        let outcome = outcome.map_err(|e| explain(e).context(format!("line {number}")))?;
        if let ImportOutcome::Conflict(why) = &outcome {
            eprintln!("idbroker: line {number}: conflict: {why}");
        }
        tally.add(&outcome);
        Ok(())
    })
    .await
}

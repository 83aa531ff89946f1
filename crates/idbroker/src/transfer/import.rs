//! `idbroker import FILE`: reads an export file into the database. The file is read twice:
//! first every line is parsed and checked (so a broken file changes nothing and the message
//! names its line), then each record is applied in a transaction of its own. Conflicts are
//! reported with their line and leave the record as the database has it; the import goes on
//! and ends with a failure status. Anything else (the database gone) stops it; what was applied
//! stays, and running the import again finishes the job, since applying a record twice
//! changes nothing.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use idbroker_service::transfer::{Applied, ImportOutcome, Transfer};

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
    pub pools: Tally,
    pub identities: Tally,
}

impl Report {
    pub fn conflicts(&self) -> usize {
        self.providers.conflicts + self.pools.conflicts + self.identities.conflicts
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
            let text = std::str::from_utf8(&self.buf)
                .with_context(|| format!("line {}: not UTF-8", self.number))?;
            if !text.trim().is_empty() {
                return Ok(Some((self.number, text.to_owned())));
            }
        }
    }
}

/// Every line of the file as an item, in order; `visit` gets each with its line number.
async fn each_item<F>(path: &Path, mut visit: F) -> anyhow::Result<()>
where
    F: AsyncFnMut(usize, Item) -> anyhow::Result<()>,
{
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut lines = Lines {
        reader: BufReader::new(file),
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

/// Checks every line against the rules that need no database.
pub async fn check(transfer: &Transfer, path: &Path) -> anyhow::Result<()> {
    each_item(path, async |number, item| {
        let checked = match item {
            Item::Header(_) => Ok(()),
            Item::Provider { issuer, client_ids } => {
                transfer.check_oidc_provider(&issuer, client_ids).map(drop)
            }
            Item::Pool(snapshot) => transfer.check_pool(&snapshot),
            Item::Identity(identity) => identity.validate(),
        };
        checked.map_err(|e| explain(e).context(format!("line {number}")))
    })
    .await
}

/// Checks the whole file, then applies it; conflicts are printed to stderr as they come.
pub async fn import(transfer: &Transfer, path: &Path) -> anyhow::Result<Report> {
    check(transfer, path).await?;
    let mut report = Report::default();
    each_item(path, async |number, item| {
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
            Item::Pool(snapshot) => (&mut report.pools, transfer.import_pool(&snapshot).await),
            Item::Identity(identity) => (
                &mut report.identities,
                transfer.import_identity(&identity).await,
            ),
        };
        let outcome = outcome.map_err(|e| explain(e).context(format!("line {number}")))?;
        if let ImportOutcome::Conflict(why) = &outcome {
            eprintln!("idbroker: line {number}: conflict: {why}");
        }
        tally.add(&outcome);
        Ok(())
    })
    .await?;
    Ok(report)
}

//! The admin command line: `idbroker pools|roles|providers|identities|keys …` talk to a running
//! idbroker over its REST API (endpoint and admin token from flags or `IDBROKER_ENDPOINT` /
//! `IDBROKER_ADMIN_TOKEN`). Tables for people, `--output json` for scripts; a failed call
//! prints the server's problem detail and exits non-zero.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::Table;
use idbroker_api::audit::AuditQuery;
use idbroker_api::client::{Client, ClientError};
use idbroker_api::developer::{
    DeveloperTokenRequest, LookupQuery, MergeRequest, UnlinkDeveloperRequest,
};
use idbroker_api::explain::{ExplainRequest, Explanation};
use idbroker_api::identities::IdentityPaging;
use idbroker_api::ledger::LedgerQuery;
use idbroker_api::oidc_providers::CreateProvider;
use idbroker_api::pools::{Paging, PoolRequest, PrincipalTagsBody, RolesBody, TagsBody};
use idbroker_api::revocation::{RevocationBody, RevokeRequest};
use idbroker_api::saml_providers::{CreateSamlProvider, UpdateSamlProvider};
use idbroker_api::trust_policy::{TrustPolicyCheck, TrustPolicyCheckRequest, TrustRole};
use idbroker_api::unknown_field;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

#[derive(Args)]
pub struct Connection {
    /// Base URL of the idbroker to manage.
    #[arg(
        long,
        env = "IDBROKER_ENDPOINT",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub endpoint: String,
    /// The REST admin token (IDBROKER_ADMIN_TOKEN of that idbroker).
    #[arg(
        long,
        env = "IDBROKER_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum Admin {
    /// Identity pools.
    #[command(subcommand)]
    Pools(PoolsCommand),
    /// A pool's IAM roles and role mappings.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Registered OpenID Connect providers.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Registered SAML 2.0 identity providers.
    #[command(subcommand)]
    SamlProviders(SamlProvidersCommand),
    /// Identities.
    #[command(subcommand)]
    Identities(IdentitiesCommand),
    /// idbroker's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A pool's resource tags.
    #[command(subcommand)]
    Tags(TagsCommand),
    /// A pool's principal-tag maps (attributes for access control).
    #[command(subcommand, name = "principal-tags")]
    PrincipalTags(PrincipalTagsCommand),
    /// Developer-authenticated identities.
    #[command(subcommand)]
    Developer(DeveloperCommand),
    /// The IAM trust policy a pool's role needs, and a check of an existing one.
    #[command(subcommand, name = "trust-policy")]
    TrustPolicy(TrustPolicyCommand),
    /// A dry run of GetId and GetCredentialsForIdentity for a user's logins: each token's
    /// checks, the identity, the role, the session tags, and the error the public call would
    /// answer. Nothing changes; STS is not called.
    Explain {
        pool_id: String,
        /// A login as the app sends it, KEY=TOKEN (KEY=@FILE reads the token from FILE, so it
        /// stays out of the shell's history); repeat for several.
        #[arg(long = "login", value_parser = parse_pair)]
        logins: Vec<(String, String)>,
        /// Explain GetCredentialsForIdentity for this identity instead of GetId.
        #[arg(long)]
        identity_id: Option<String>,
        #[arg(long)]
        custom_role_arn: Option<String>,
    },
    /// Revoke an identity (or, with --pool, every identity of a pool): GetOpenIdToken and
    /// GetCredentialsForIdentity refuse it until `revoke --undo`. Prints the IAM policy that
    /// denies the sessions already issued (attach it to the roles listed) and the access keys
    /// the ledger recorded that may still be live.
    Revoke {
        /// The identity to revoke (or re-enable).
        // One of the two, checked in `run` (clap's message would list the admin token as
        // missing even when its variable is set).
        #[arg(conflicts_with = "pool")]
        identity_id: Option<String>,
        /// Revoke every identity of this pool instead.
        #[arg(long)]
        pool: Option<String>,
        /// Deny sessions issued before this RFC 3339 instant (default: now).
        #[arg(long, conflicts_with = "undo")]
        before: Option<String>,
        /// Re-enable the identity (or pool) instead.
        #[arg(long)]
        undo: bool,
    },
    /// The audit of admin changes, newest first.
    Audit {
        /// Only changes to this resource (a pool or identity id, a provider ARN).
        #[arg(long)]
        resource: Option<String>,
    },
    /// The credential ledger: which identity held which access key, and when.
    Issuances {
        // One filter, checked in `run` rather than by clap, whose message would name only the
        // first and list the admin token as required even when its variable is set.
        #[arg(long, group = "by")]
        access_key_id: Option<String>,
        #[arg(long, group = "by")]
        identity_id: Option<String>,
        #[arg(long, group = "by")]
        pool_id: Option<String>,
        /// Only credentials issued at or after this RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TagsCommand {
    /// List a pool's tags.
    List { pool_id: String },
    /// Add or overwrite tags: KEY=VALUE …
    Add {
        pool_id: String,
        #[arg(required = true, value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Remove a tag.
    Remove { pool_id: String, key: String },
}

#[derive(Subcommand)]
pub enum PrincipalTagsCommand {
    /// Show the map of one provider.
    Get { pool_id: String, provider: String },
    /// Set the map of one provider: --use-defaults and/or TAG=CLAIM pairs.
    Set {
        pool_id: String,
        provider: String,
        /// client ← aud, username ← sub.
        #[arg(long)]
        use_defaults: bool,
        #[arg(value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
}

#[derive(Subcommand)]
pub enum DeveloperCommand {
    /// A token for one of your users (GetOpenIdTokenForDeveloperIdentity).
    Token {
        pool_id: String,
        /// The pool's developer provider name.
        #[arg(long)]
        provider: String,
        #[arg(long)]
        user: String,
        /// Link the user to this identity.
        #[arg(long)]
        identity_id: Option<String>,
        /// Token lifetime in seconds (1–86400, default 900).
        #[arg(long)]
        duration: Option<i64>,
    },
    /// Find a user's identity (--user) or an identity's users (--identity-id).
    Lookup {
        pool_id: String,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        identity_id: Option<String>,
    },
    /// Merge the source user's identity into the destination user's.
    Merge {
        pool_id: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        source: String,
        #[arg(long)]
        destination: String,
    },
    /// Detach a user from its identity.
    Unlink {
        pool_id: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        identity_id: String,
    },
}

#[derive(Subcommand)]
pub enum TrustPolicyCommand {
    /// Print the trust policy the role needs (JSON, for `aws iam create-role
    /// --assume-role-policy-document file://…`).
    Show {
        pool_id: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Check a role's existing trust policy; exits non-zero when any finding is an error.
    Check {
        pool_id: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The policy: a JSON file, a JSON string, or IAM's URL-encoded text; `-` reads stdin.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Authenticated,
    Unauthenticated,
}

impl From<RoleArg> for TrustRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Authenticated => Self::Authenticated,
            RoleArg::Unauthenticated => Self::Unauthenticated,
        }
    }
}

/// A policy to check, as the file holds it (JSON or IAM's URL-encoded form), or the string a
/// file of quoted JSON holds; the server tells what it cannot read.
fn read_policy(path: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read the policy from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    // Sent as the file's text, not re-serialized: parsing it here would silently keep one of
    // two repeated members, which the server refuses. A file holding a JSON string (IAM's
    // URL-encoded text, quoted) is sent as that string.
    Ok(match serde_json::from_str(&text) {
        Ok(serde_json::Value::String(inner)) => serde_json::Value::String(inner),
        _ => serde_json::Value::String(text.trim().to_owned()),
    })
}

/// Findings as a table, or a line saying there are none.
fn findings_table(check: &TrustPolicyCheck) -> Table {
    table(
        &["severity", "code", "statement", "message"],
        check.findings.iter().map(|f| {
            vec![
                serde_json::to_value(f.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                f.code.clone(),
                f.statement
                    .map_or_else(|| "-".to_owned(), |i| i.to_string()),
                f.message.clone(),
            ]
        }),
    )
}

/// A login's token: the text, or the contents of FILE for `@FILE` (trimmed).
fn login_token(value: String) -> anyhow::Result<String> {
    match value.strip_prefix('@') {
        Some(path) => Ok(std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token from {path}"))?
            .trim()
            .to_owned()),
        None => Ok(value),
    }
}

fn pass(passed: bool) -> String {
    if passed { "ok" } else { "FAIL" }.to_owned()
}

/// An explanation for people: one row per login check, then the identity, the role rules and
/// the verdict (`--output json` has everything, claims included).
fn explanation_table(e: &Explanation) -> Table {
    let mut rows = Vec::new();
    for login in &e.logins {
        let step = format!("login {}", login.provider_key);
        let entry = &login.pool_entry;
        let detail = if entry.matched {
            entry.client_ids.join(", ")
        } else {
            format!("closest: {}", entry.closest.join(", "))
        };
        rows.push(vec![
            step.clone(),
            "pool entry".to_owned(),
            pass(entry.matched),
            entry.kind.clone(),
            detail,
        ]);
        if let Some(source) = login.key_set {
            let source = serde_json::to_value(source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            rows.push(vec![
                step.clone(),
                "key set".to_owned(),
                String::new(),
                String::new(),
                source,
            ]);
        }
        for check in &login.checks {
            rows.push(vec![
                step.clone(),
                check.name.clone(),
                pass(check.passed),
                check.expected.clone(),
                check.got.clone(),
            ]);
        }
    }
    if let Some(identity) = &e.identity {
        let outcome = serde_json::to_value(identity.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut detail = identity.identity_id.clone().unwrap_or_default();
        if !identity.merged.is_empty() {
            detail.push_str(&format!(" (merging {})", identity.merged.join(", ")));
        }
        if let Some(error) = &identity.error {
            detail = error.message.clone();
        }
        rows.push(vec![
            "identity".to_owned(),
            outcome,
            pass(identity.error.is_none()),
            String::new(),
            detail,
        ]);
    }
    if let Some(role) = &e.role {
        let decided = match (&role.mapping_type, &role.mapping_key) {
            (Some(kind), Some(key)) => format!("{kind} mapping of {key}"),
            _ => role.decided_by.clone(),
        };
        for (i, rule) in role.rules.iter().enumerate() {
            rows.push(vec![
                "role".to_owned(),
                format!("rule {}", i + 1),
                if rule.matched { "match" } else { "no match" }.to_owned(),
                format!("{} {} {}", rule.claim, rule.match_type, rule.value),
                format!("{:?} → {}", rule.claim_values, rule.role_arn),
            ]);
        }
        if let Some(setting) = &role.ambiguous_role_resolution {
            rows.push(vec![
                "role".to_owned(),
                "ambiguous".to_owned(),
                String::new(),
                String::new(),
                setting.clone(),
            ]);
        }
        let result = role
            .role_arn
            .clone()
            .or_else(|| role.error.as_ref().map(|e| e.message.clone()))
            .unwrap_or_default();
        rows.push(vec![
            "role".to_owned(),
            decided,
            pass(role.error.is_none()),
            String::new(),
            result,
        ]);
    }
    for (key, value) in &e.principal_tags {
        rows.push(vec![
            "tag".to_owned(),
            key.clone(),
            String::new(),
            String::new(),
            value.clone(),
        ]);
    }
    let verdict = match &e.public_error {
        Some(error) => vec![
            "verdict".to_owned(),
            error.operation.clone(),
            "FAIL".to_owned(),
            error.kind.clone(),
            error.message.clone(),
        ],
        None => vec![
            "verdict".to_owned(),
            "GetCredentialsForIdentity".to_owned(),
            "ok".to_owned(),
            String::new(),
            "would succeed up to STS (not called)".to_owned(),
        ],
    };
    rows.push(verdict);
    table(&["step", "check", "result", "expected", "got"], rows)
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{text}' is not KEY=VALUE"))
}

#[derive(Subcommand)]
pub enum PoolsCommand {
    /// List pools.
    List,
    /// Show one pool.
    Get { pool_id: String },
    /// Create a pool, from flags or from a JSON file (the body of `POST /v1/identity-pools`).
    Create {
        /// The pool's name.
        #[arg(long, required_unless_present = "file")]
        name: Option<String>,
        /// Allow guest (unauthenticated) identities.
        #[arg(long)]
        allow_guests: bool,
        /// A JSON file with the pool body (snake_case: `identity_pool_name`, …).
        #[arg(long, conflicts_with_all = ["name", "allow_guests"])]
        file: Option<PathBuf>,
    },
    /// Delete a pool and its identities.
    Delete { pool_id: String },
    /// Copy pool configurations (with their ids) from a Cognito Identity endpoint into this
    /// idbroker's database (IDBROKER_DATABASE_URL; not over REST, which cannot keep ids).
    Copy(crate::transfer::copy::CopyArgs),
}

#[derive(Subcommand)]
pub enum RolesCommand {
    /// Show a pool's roles and role mappings.
    Get { pool_id: String },
    /// Set a pool's roles (and, from a file, its role mappings).
    Set {
        pool_id: String,
        #[arg(long, required_unless_present = "file")]
        authenticated: Option<String>,
        #[arg(long)]
        unauthenticated: Option<String>,
        /// A JSON file with the roles body ({"roles": …, "role_mappings": …}).
        #[arg(long, conflicts_with_all = ["authenticated", "unauthenticated"])]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ProvidersCommand {
    /// Register an OpenID Connect provider.
    Add {
        #[arg(long)]
        issuer: String,
        /// A client id (audience) the pools accept; repeat for several.
        #[arg(long = "client-id", required = true)]
        client_ids: Vec<String>,
    },
    /// List registered providers.
    List,
    /// Remove a provider (refused while a pool uses it).
    Remove {
        /// The provider key: its issuer without https://.
        key: String,
    },
}

#[derive(Subcommand)]
pub enum IdentitiesCommand {
    /// List a pool's identities.
    List {
        pool_id: String,
        /// Leave out merged-away identities.
        #[arg(long)]
        hide_disabled: bool,
    },
    /// Show one identity.
    Get { identity_id: String },
    /// Delete an identity.
    Delete { identity_id: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List the published signing keys.
    List,
    /// Schedule the next signing key now.
    Rotate,
}

/// Every page of a cursor-paged list: `fetch` gets the cursor and returns a page's items and
/// the next cursor.
async fn all_pages<T, F, Fut>(mut fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ClientError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = fetch(cursor).await?;
        items.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

/// A request body from a JSON file, refused (naming the member and the nearest known one) if
/// it is not the route's shape.
fn read_json<T: DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        let reason = match unknown_field::parse(&e.to_string()) {
            Some(unknown) => unknown.message(idbroker_http::echo::field_name),
            None => e.to_string(),
        };
        anyhow::anyhow!("{} is not a valid body: {reason}", path.display())
    })
}

/// Rows as a table for people: upper-cased column names, no borders, two spaces between
/// columns.
fn table(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_header(columns.iter().map(|c| c.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// Prints `value` as JSON, or `rows` as a table when there is one and tables are wanted.
fn show<T: Serialize>(output: Output, value: &T, rows: Option<Table>) -> anyhow::Result<()> {
    match (output, rows) {
        (Output::Table, Some(rows)) => println!("{}", rows.trim_fmt()),
        _ => println!("{}", serde_json::to_string_pretty(value)?),
    }
    Ok(())
}

/// A revocation for a person: what was recorded, the policy to attach (as JSON, ready for
/// `aws iam put-role-policy`), the notes, and the live access keys.
fn print_revocation(answer: &RevocationBody) -> anyhow::Result<()> {
    let mut facts = vec![
        vec![
            "identity_pool_id".to_owned(),
            answer.identity_pool_id.clone(),
        ],
        vec!["revoked_before".to_owned(), answer.revoked_before.clone()],
        vec!["replaced".to_owned(), answer.replaced.to_string()],
        vec![
            "roles".to_owned(),
            if answer.roles.is_empty() {
                "-".to_owned()
            } else {
                answer.roles.join(", ")
            },
        ],
    ];
    if let Some(id) = &answer.identity_id {
        facts.insert(0, vec!["identity_id".to_owned(), id.clone()]);
    }
    println!("{}", table(&["field", "value"], facts).trim_fmt());
    for note in &answer.notes {
        println!("\nnote: {note}");
    }
    match (&answer.deny_policy, &answer.pool_deny_policy) {
        (Some(policy), _) => println!(
            "\nDeny policy (attach to each role above):\n{}",
            serde_json::to_string_pretty(policy)?
        ),
        (None, Some(policy)) => println!(
            "\nPool-wide deny policy (offered; it denies every identity's older sessions):\n{}",
            serde_json::to_string_pretty(policy)?
        ),
        (None, None) => {}
    }
    let live = table(
        &[
            "access_key_id",
            "identity_id",
            "role_arn",
            "issued_at",
            "expires_at",
        ],
        answer.live_credentials.iter().map(|c| {
            vec![
                c.access_key_id.clone(),
                c.identity_id.clone(),
                c.role_arn.clone(),
                c.issued_at.clone(),
                c.expires_at.clone(),
            ]
        }),
    );
    if answer.live_credentials.is_empty() {
        println!("\nno live credentials in the ledger");
    } else {
        println!("\nLive credentials:\n{}", live.trim_fmt());
        if answer.live_credentials_truncated {
            println!("(more: idbroker issuances --pool-id|--identity-id …)");
        }
    }
    Ok(())
}

/// A pool's roles, then one row per role mapping (its type; the rules are in `--output json`).
fn roles_table(body: &RolesBody) -> Table {
    let roles = body
        .roles
        .iter()
        .map(|(kind, arn)| vec![kind.clone(), arn.clone()]);
    let mappings = body.role_mappings.iter().map(|(provider, mapping)| {
        vec![
            format!("mapping for {provider}"),
            serde_json::to_value(mapping.mapping_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ]
    });
    table(&["role", "arn"], roles.chain(mappings))
}

#[derive(Subcommand)]
pub enum SamlProvidersCommand {
    /// Register a SAML identity provider from its metadata document.
    Add {
        /// The provider's name, the last part of its ARN.
        #[arg(long)]
        name: String,
        /// The IdP's SAML metadata (XML).
        #[arg(long)]
        metadata_file: std::path::PathBuf,
        /// Accept RSA-SHA1 signatures and SHA-1 digests from it.
        #[arg(long)]
        legacy_sha1: bool,
        /// The SAML attribute (its Name) whose one value is the user's subject, in place of
        /// the NameID (for IdPs that send a transient NameID).
        #[arg(long)]
        subject_attribute: Option<String>,
    },
    /// List registered SAML providers.
    List,
    /// Show one SAML provider.
    Show { name: String },
    /// Replace a provider's metadata (certificate rotation).
    Update {
        name: String,
        #[arg(long)]
        metadata_file: std::path::PathBuf,
        /// Change whether SHA-1 is accepted (kept when absent).
        #[arg(long)]
        legacy_sha1: Option<bool>,
        /// Take the subject from this attribute from now on (kept when absent). Users who
        /// signed in before get new identities.
        #[arg(long, conflicts_with = "subject_name_id")]
        subject_attribute: Option<String>,
        /// Take the subject from the NameID again.
        #[arg(long)]
        subject_name_id: bool,
    },
    /// Remove a SAML provider (refused while a pool uses it or identities have its logins).
    Remove { name: String },
}

fn read_metadata(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the metadata file {}: {e}", path.display()))
}

/// Registered SAML providers, with the ARN a pool's `saml_provider_arns` takes.
fn saml_provider_table(providers: &[idbroker_api::saml_providers::SamlProviderBody]) -> Table {
    table(
        &[
            "name",
            "arn",
            "entity_id",
            "certificates",
            "valid_until",
            "legacy_sha1",
            "subject",
        ],
        providers.iter().map(|p| {
            vec![
                p.name.clone(),
                p.arn.clone(),
                p.entity_id.clone(),
                p.certificate_fingerprints.len().to_string(),
                p.valid_until.clone().unwrap_or_default(),
                p.legacy_sha1.to_string(),
                p.subject_attribute
                    .as_ref()
                    .map_or_else(|| "NameID".to_owned(), |a| format!("attribute {a}")),
            ]
        }),
    )
}

fn role_name(role: RoleArg) -> &'static str {
    TrustRole::from(role).as_str()
}

/// Registered providers, with the ARN a pool's `open_id_connect_provider_arns` takes.
fn provider_table(providers: &[idbroker_api::oidc_providers::ProviderBody]) -> Table {
    table(
        &["key", "arn", "issuer", "client_ids"],
        providers.iter().map(|p| {
            vec![
                p.key.clone(),
                p.arn.clone(),
                p.issuer.clone(),
                p.client_ids.join(","),
            ]
        }),
    )
}

fn string_map(pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    pairs.into_iter().collect()
}

/// The longest one admin call may take, from connecting to the last byte.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// An HTTPS client trusting what the server's own outbound clients trust (Mozilla's roots,
/// the system's, `IDBROKER_EXTRA_CA_FILE`): an idbroker behind a TLS proxy with a private CA
/// is managed with the same setting.
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    let extra = std::env::var_os("IDBROKER_EXTRA_CA_FILE").map(std::path::PathBuf::from);
    let roots = idbroker_trust::TrustRoots::load(extra.as_deref())
        .context("cannot load the trust roots (IDBROKER_EXTRA_CA_FILE)")?;
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(CALL_TIMEOUT);
    for cert in roots.certificates() {
        builder = builder.add_root_certificate(reqwest::Certificate::from_der(cert.as_ref())?);
    }
    Ok(builder.build()?)
}

pub async fn run(connection: Connection, command: Admin) -> anyhow::Result<()> {
    let token = connection.admin_token.clone().context(
        "an admin token is needed: pass --admin-token or set IDBROKER_ADMIN_TOKEN \
             (in development mode it is `admin_token` in idbroker-data/dev-secrets.toml, and the \
             server prints it at start-up)",
    )?;
    let client = Client::with_http(http_client()?, &connection.endpoint, Some(token))
        .with_context(|| format!("bad endpoint {}", connection.endpoint))?;
    let out = connection.output;
    let pool_columns = ["identity_pool_id", "identity_pool_name"];
    match command {
        Admin::Pools(PoolsCommand::List) => {
            let pools = all_pages(|cursor| {
                let client = &client;
                async move {
                    let page = client
                        .list_pools(&Paging {
                            limit: None,
                            cursor,
                        })
                        .await?;
                    Ok((page.identity_pools, page.next_cursor))
                }
            })
            .await?;
            let rows = table(
                &pool_columns,
                pools
                    .iter()
                    .map(|p| vec![p.identity_pool_id.clone(), p.identity_pool_name.clone()]),
            );
            show(out, &json!({ "identity_pools": pools }), Some(rows))
        }
        Admin::Pools(PoolsCommand::Get { pool_id }) => {
            show(out, &client.get_pool(&pool_id).await?, None)
        }
        Admin::Pools(PoolsCommand::Create {
            name,
            allow_guests,
            file,
        }) => {
            let request = match file {
                Some(file) => read_json(&file)?,
                None => PoolRequest {
                    identity_pool_name: name.unwrap_or_default(),
                    allow_unauthenticated_identities: allow_guests,
                    ..PoolRequest::default()
                },
            };
            let pool = client.create_pool(&request).await?;
            let rows = table(
                &pool_columns,
                [vec![
                    pool.identity_pool_id.clone(),
                    pool.identity_pool_name.clone(),
                ]],
            );
            show(out, &pool, Some(rows))
        }
        // `main` runs it: it needs the database, not the REST API.
        Admin::Pools(PoolsCommand::Copy(_)) => {
            bail!("`pools copy` works on the database; run it through the idbroker command")
        }
        Admin::Pools(PoolsCommand::Delete { pool_id }) => {
            client.delete_pool(&pool_id).await?;
            show(out, &json!({"deleted": pool_id}), None)
        }
        Admin::Roles(RolesCommand::Get { pool_id }) => {
            let roles = client.get_roles(&pool_id).await?;
            show(out, &roles, Some(roles_table(&roles)))
        }
        Admin::Roles(RolesCommand::Set {
            pool_id,
            authenticated,
            unauthenticated,
            file,
        }) => {
            let body = match file {
                Some(file) => read_json(&file)?,
                None => {
                    let mut roles = BTreeMap::new();
                    if let Some(arn) = authenticated {
                        roles.insert("authenticated".to_owned(), arn);
                    }
                    if let Some(arn) = unauthenticated {
                        roles.insert("unauthenticated".to_owned(), arn);
                    }
                    RolesBody {
                        roles,
                        ..RolesBody::default()
                    }
                }
            };
            let roles = client.set_roles(&pool_id, &body).await?;
            show(out, &roles, Some(roles_table(&roles)))
        }
        Admin::Providers(ProvidersCommand::Add { issuer, client_ids }) => {
            let provider = client
                .create_oidc_provider(&CreateProvider { issuer, client_ids })
                .await?;
            let rows = provider_table(std::slice::from_ref(&provider));
            show(out, &provider, Some(rows))
        }
        Admin::Providers(ProvidersCommand::List) => {
            let list = client.list_oidc_providers().await?;
            let rows = provider_table(&list.oidc_providers);
            show(out, &list, Some(rows))
        }
        Admin::Providers(ProvidersCommand::Remove { key }) => {
            client.delete_oidc_provider(&key).await?;
            show(
                out,
                &json!({"deleted": key}),
                Some(table(&["deleted"], [vec![key.clone()]])),
            )
        }
        Admin::SamlProviders(SamlProvidersCommand::Add {
            name,
            metadata_file,
            legacy_sha1,
            subject_attribute,
        }) => {
            let metadata = read_metadata(&metadata_file)?;
            let provider = client
                .create_saml_provider(&CreateSamlProvider {
                    name,
                    metadata,
                    legacy_sha1,
                    subject_attribute,
                })
                .await?;
            let rows = saml_provider_table(std::slice::from_ref(&provider));
            show(out, &provider, Some(rows))
        }
        Admin::SamlProviders(SamlProvidersCommand::List) => {
            let list = client.list_saml_providers().await?;
            let rows = saml_provider_table(&list.saml_providers);
            show(out, &list, Some(rows))
        }
        Admin::SamlProviders(SamlProvidersCommand::Show { name }) => {
            let provider = client.get_saml_provider(&name).await?;
            let rows = saml_provider_table(std::slice::from_ref(&provider));
            show(out, &provider, Some(rows))
        }
        Admin::SamlProviders(SamlProvidersCommand::Update {
            name,
            metadata_file,
            legacy_sha1,
            subject_attribute,
            subject_name_id,
        }) => {
            let metadata = read_metadata(&metadata_file)?;
            let subject_attribute = if subject_name_id {
                Some(None)
            } else {
                subject_attribute.map(Some)
            };
            let provider = client
                .update_saml_provider(
                    &name,
                    &UpdateSamlProvider {
                        metadata,
                        legacy_sha1,
                        subject_attribute,
                    },
                )
                .await?;
            let rows = saml_provider_table(std::slice::from_ref(&provider));
            show(out, &provider, Some(rows))
        }
        Admin::SamlProviders(SamlProvidersCommand::Remove { name }) => {
            client.delete_saml_provider(&name).await?;
            show(
                out,
                &json!({"deleted": name}),
                Some(table(&["deleted"], [vec![name.clone()]])),
            )
        }
        Admin::Identities(IdentitiesCommand::List {
            pool_id,
            hide_disabled,
        }) => {
            let identities = all_pages(|cursor| {
                let (client, pool_id) = (&client, &pool_id);
                async move {
                    let page = client
                        .list_identities(
                            pool_id,
                            &IdentityPaging {
                                limit: None,
                                cursor,
                                hide_disabled: Some(hide_disabled),
                            },
                        )
                        .await?;
                    Ok((page.identities, page.next_cursor))
                }
            })
            .await?;
            let rows = table(
                &["identity_id", "logins", "disabled", "created_at"],
                identities.iter().map(|i| {
                    vec![
                        i.identity_id.clone(),
                        i.logins.join(","),
                        i.disabled.to_string(),
                        i.created_at.clone(),
                    ]
                }),
            );
            show(out, &json!({ "identities": identities }), Some(rows))
        }
        Admin::Identities(IdentitiesCommand::Get { identity_id }) => {
            show(out, &client.get_identity(&identity_id).await?, None)
        }
        Admin::Identities(IdentitiesCommand::Delete { identity_id }) => {
            client.delete_identity(&identity_id).await?;
            show(out, &json!({"deleted": identity_id}), None)
        }
        Admin::Tags(TagsCommand::List { pool_id }) => {
            show(out, &client.get_tags(&pool_id).await?, None)
        }
        Admin::Tags(TagsCommand::Add { pool_id, tags }) => {
            let body = TagsBody {
                tags: string_map(tags),
            };
            show(out, &client.add_tags(&pool_id, &body).await?, None)
        }
        Admin::Tags(TagsCommand::Remove { pool_id, key }) => {
            client.remove_tag(&pool_id, &key).await?;
            show(out, &json!({ "removed": key }), None)
        }
        Admin::PrincipalTags(PrincipalTagsCommand::Get { pool_id, provider }) => show(
            out,
            &client.get_principal_tags(&pool_id, &provider).await?,
            None,
        ),
        Admin::PrincipalTags(PrincipalTagsCommand::Set {
            pool_id,
            provider,
            use_defaults,
            tags,
        }) => {
            let body = PrincipalTagsBody {
                use_defaults,
                principal_tags: string_map(tags),
            };
            show(
                out,
                &client
                    .set_principal_tags(&pool_id, &provider, &body)
                    .await?,
                None,
            )
        }
        Admin::Developer(DeveloperCommand::Token {
            pool_id,
            provider,
            user,
            identity_id,
            duration,
        }) => {
            let body = DeveloperTokenRequest {
                logins: BTreeMap::from([(provider, user)]),
                identity_id,
                token_duration: duration,
                ..DeveloperTokenRequest::default()
            };
            show(out, &client.developer_token(&pool_id, &body).await?, None)
        }
        Admin::Developer(DeveloperCommand::Lookup {
            pool_id,
            user,
            identity_id,
        }) => {
            let query = LookupQuery {
                identity_id,
                user,
                ..LookupQuery::default()
            };
            show(out, &client.developer_lookup(&pool_id, &query).await?, None)
        }
        Admin::Developer(DeveloperCommand::Merge {
            pool_id,
            provider,
            source,
            destination,
        }) => {
            let body = MergeRequest {
                developer_provider_name: provider,
                source_user: source,
                destination_user: destination,
            };
            show(out, &client.developer_merge(&pool_id, &body).await?, None)
        }
        Admin::Developer(DeveloperCommand::Unlink {
            pool_id,
            provider,
            user,
            identity_id,
        }) => {
            let body = UnlinkDeveloperRequest {
                identity_id,
                developer_provider_name: provider,
                user: user.clone(),
            };
            client.developer_unlink(&pool_id, &body).await?;
            show(out, &json!({ "unlinked": user }), None)
        }
        Admin::TrustPolicy(TrustPolicyCommand::Show { pool_id, role }) => {
            // Always JSON: the output is the document to hand to IAM.
            let policy = client.trust_policy(&pool_id, role.into()).await?;
            show(Output::Json, &policy, None)
        }
        Admin::TrustPolicy(TrustPolicyCommand::Check {
            pool_id,
            role,
            file,
        }) => {
            let request = TrustPolicyCheckRequest {
                role: role.into(),
                policy: read_policy(&file)?,
            };
            let check = client.check_trust_policy(&pool_id, &request).await?;
            if check.findings.is_empty() && out == Output::Table {
                println!(
                    "no findings: the policy is what the {} role needs",
                    role_name(role)
                );
            } else {
                show(out, &check, Some(findings_table(&check)))?;
            }
            if check.has_errors() {
                bail!("the trust policy has error findings");
            }
            Ok(())
        }
        Admin::Explain {
            pool_id,
            logins,
            identity_id,
            custom_role_arn,
        } => {
            let logins = logins
                .into_iter()
                .map(|(key, token)| Ok((key, login_token(token)?)))
                .collect::<anyhow::Result<_>>()?;
            let request = ExplainRequest {
                logins,
                identity_id,
                custom_role_arn,
            };
            let explanation = client.explain(&pool_id, &request).await?;
            show(out, &explanation, Some(explanation_table(&explanation)))
        }
        Admin::Revoke {
            identity_id,
            pool,
            before,
            undo,
        } => {
            let (what, target) = match (&identity_id, &pool) {
                (Some(id), _) => ("identity", id.as_str()),
                (None, Some(pool)) => ("identity pool", pool.as_str()),
                (None, None) => bail!("name an identity, or a pool with --pool"),
            };
            if undo {
                match identity_id.as_deref() {
                    Some(id) => client.reenable_identity(id).await?,
                    None => client.reenable_pool(target).await?,
                }
                println!("{what} {target} re-enabled");
                return Ok(());
            }
            let request = RevokeRequest { before };
            let answer = match identity_id.as_deref() {
                Some(id) => client.revoke_identity(id, &request).await?,
                None => client.revoke_pool(target, &request).await?,
            };
            match out {
                Output::Json => show(out, &answer, None),
                Output::Table => print_revocation(&answer),
            }
        }
        Admin::Audit { resource } => {
            let changes = all_pages(|cursor| {
                let (client, resource) = (&client, resource.clone());
                async move {
                    let page = client
                        .audit(&AuditQuery {
                            resource,
                            cursor,
                            ..AuditQuery::default()
                        })
                        .await?;
                    Ok((page.changes, page.next_cursor))
                }
            })
            .await?;
            let rows = table(
                &["at", "actor", "action", "resource"],
                changes.iter().map(|c| {
                    vec![
                        c.at.clone(),
                        c.actor.clone(),
                        c.action.clone(),
                        c.resource.clone(),
                    ]
                }),
            );
            show(out, &json!({ "changes": changes }), Some(rows))
        }
        Admin::Issuances {
            access_key_id,
            identity_id,
            pool_id,
            since,
        } => {
            if access_key_id.is_none() && identity_id.is_none() && pool_id.is_none() {
                bail!("issuances needs one filter: --access-key-id, --identity-id or --pool-id");
            }
            let query = LedgerQuery {
                access_key_id,
                identity_id,
                pool_id,
                since,
                ..LedgerQuery::default()
            };
            let issuances = all_pages(|cursor| {
                let (client, query) = (&client, &query);
                async move {
                    let page = client
                        .issuances(&LedgerQuery {
                            cursor,
                            ..query.clone()
                        })
                        .await?;
                    Ok((page.issuances, page.next_cursor))
                }
            })
            .await?;
            let rows = table(
                &[
                    "issued_at",
                    "access_key_id",
                    "identity_id",
                    "role_arn",
                    "expires_at",
                ],
                issuances.iter().map(|i| {
                    vec![
                        i.issued_at.clone(),
                        i.access_key_id.clone(),
                        i.identity_id.clone(),
                        i.role_arn.clone(),
                        i.expires_at.clone(),
                    ]
                }),
            );
            show(out, &json!({ "issuances": issuances }), Some(rows))
        }
        Admin::Keys(command) => {
            let keys = match command {
                KeysCommand::List => client.list_keys().await?,
                KeysCommand::Rotate => client.rotate_keys().await?,
            };
            let rows = table(
                &["kid", "alg", "state", "signs_from", "published_until"],
                keys.keys.iter().map(|k| {
                    vec![
                        k.kid.clone(),
                        k.alg.clone(),
                        k.state.as_str().to_owned(),
                        k.signs_from.clone(),
                        or_dash(k.published_until.as_deref()),
                    ]
                }),
            );
            show(out, &keys, Some(rows))
        }
    }
}

//! The admin command line: `idbroker pools|roles|providers|identities|keys …` talk to a running
//! idbroker over its REST API (endpoint and admin token from flags or `IDBROKER_ENDPOINT` /
//! `IDBROKER_ADMIN_TOKEN`). Tables for people, `--output json` for scripts; a failed call
//! prints the server's problem detail and exits non-zero.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

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
    /// The audit of admin changes, newest first.
    Audit {
        /// Only changes to this resource (a pool or identity id, a provider ARN).
        #[arg(long)]
        resource: Option<String>,
    },
    /// The credential ledger: which identity held which access key, and when.
    Issuances {
        #[arg(long, group = "by", required = true)]
        access_key_id: Option<String>,
        #[arg(long, group = "by")]
        identity_id: Option<String>,
        #[arg(long, group = "by")]
        pool_id: Option<String>,
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

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{text}' is not KEY=VALUE"))
}

/// Percent-encodes one path segment or query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Subcommand)]
pub enum PoolsCommand {
    /// List pools.
    List,
    /// Show one pool.
    Get { pool_id: String },
    /// Create a pool, from flags or from a JSON file in the Cognito shape.
    Create {
        /// IdentityPoolName.
        #[arg(long, required_unless_present = "file")]
        name: Option<String>,
        /// Allow guest (unauthenticated) identities.
        #[arg(long)]
        allow_guests: bool,
        /// A JSON file with the CreateIdentityPool members.
        #[arg(long, conflicts_with_all = ["name", "allow_guests"])]
        file: Option<PathBuf>,
    },
    /// Delete a pool and its identities.
    Delete { pool_id: String },
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
        /// A JSON file in the SetIdentityPoolRoles shape ({"Roles": …, "RoleMappings": …}).
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

struct Client {
    http: reqwest::Client,
    endpoint: String,
    token: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(
                method,
                format!("{}{path}", self.endpoint.trim_end_matches('/')),
            )
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach idbroker at {}", self.endpoint))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let kind = value["title"].as_str().unwrap_or("error");
            let detail = value["detail"]
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            bail!("{kind} (HTTP {}): {detail}", status.as_u16());
        }
        Ok(value)
    }

    /// All pages of a cursor-paged list.
    async fn all(&self, path: &str, field: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page_path = match &cursor {
                Some(c) => format!("{path}{separator}cursor={c}"),
                None => path.to_owned(),
            };
            let page = self.call(reqwest::Method::GET, &page_path, None).await?;
            items.extend(page[field].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Prints rows as an aligned table of `columns` (JSON field names, shown upper-cased).
fn table(rows: &[Value], columns: &[&str]) {
    let cell = |row: &Value, column: &str| match &row[column] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(r, c).len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for row in rows {
        println!("{}", line(columns.iter().map(|c| cell(row, c)).collect()));
    }
}

fn show(output: Output, value: &Value, rows: Option<(&[Value], &[&str])>) -> anyhow::Result<()> {
    match (output, rows) {
        (Output::Table, Some((rows, columns))) => table(rows, columns),
        _ => println!("{}", serde_json::to_string_pretty(value)?),
    }
    Ok(())
}

pub async fn run(connection: Connection, command: Admin) -> anyhow::Result<()> {
    let token = connection
        .admin_token
        .clone()
        .context("an admin token is needed: pass --admin-token or set IDBROKER_ADMIN_TOKEN")?;
    let client = Client {
        http: reqwest::Client::new(),
        endpoint: connection.endpoint.clone(),
        token,
    };
    let out = connection.output;
    use reqwest::Method;
    match command {
        Admin::Pools(PoolsCommand::List) => {
            let pools = client.all("/v1/identity-pools", "identity_pools").await?;
            show(
                out,
                &json!({"identity_pools": pools}),
                Some((&pools, &["identity_pool_id", "identity_pool_name"])),
            )
        }
        Admin::Pools(PoolsCommand::Get { pool_id }) => show(
            out,
            &client
                .call(Method::GET, &format!("/v1/identity-pools/{pool_id}"), None)
                .await?,
            None,
        ),
        Admin::Pools(PoolsCommand::Create {
            name,
            allow_guests,
            file,
        }) => {
            let body = match file {
                Some(file) => read_json(&file)?,
                None => {
                    json!({"IdentityPoolName": name, "AllowUnauthenticatedIdentities": allow_guests})
                }
            };
            let pool = client
                .call(Method::POST, "/v1/identity-pools", Some(body))
                .await?;
            let row = json!({"identity_pool_id": pool["IdentityPoolId"], "identity_pool_name": pool["IdentityPoolName"]});
            show(
                out,
                &pool,
                Some((&[row], &["identity_pool_id", "identity_pool_name"])),
            )
        }
        Admin::Pools(PoolsCommand::Delete { pool_id }) => {
            client
                .call(
                    Method::DELETE,
                    &format!("/v1/identity-pools/{pool_id}"),
                    None,
                )
                .await?;
            show(out, &json!({"deleted": pool_id}), None)
        }
        Admin::Roles(RolesCommand::Get { pool_id }) => show(
            out,
            &client
                .call(
                    Method::GET,
                    &format!("/v1/identity-pools/{pool_id}/roles"),
                    None,
                )
                .await?,
            None,
        ),
        Admin::Roles(RolesCommand::Set {
            pool_id,
            authenticated,
            unauthenticated,
            file,
        }) => {
            let body = match file {
                Some(file) => read_json(&file)?,
                None => {
                    let mut roles = serde_json::Map::new();
                    roles.insert("authenticated".into(), json!(authenticated));
                    if let Some(arn) = unauthenticated {
                        roles.insert("unauthenticated".into(), json!(arn));
                    }
                    json!({"Roles": roles})
                }
            };
            show(
                out,
                &client
                    .call(
                        Method::PUT,
                        &format!("/v1/identity-pools/{pool_id}/roles"),
                        Some(body),
                    )
                    .await?,
                None,
            )
        }
        Admin::Providers(ProvidersCommand::Add { issuer, client_ids }) => {
            let provider = client
                .call(
                    Method::POST,
                    "/v1/oidc-providers",
                    Some(json!({"issuer": issuer, "client_ids": client_ids})),
                )
                .await?;
            show(
                out,
                &provider,
                Some((
                    std::slice::from_ref(&provider),
                    &["arn", "key", "client_ids"],
                )),
            )
        }
        Admin::Providers(ProvidersCommand::List) => {
            let list = client.call(Method::GET, "/v1/oidc-providers", None).await?;
            let rows = list["oidc_providers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            show(out, &list, Some((&rows, &["key", "issuer", "client_ids"])))
        }
        Admin::Providers(ProvidersCommand::Remove { key }) => {
            client
                .call(Method::DELETE, &format!("/v1/oidc-providers/{key}"), None)
                .await?;
            show(out, &json!({"deleted": key}), None)
        }
        Admin::Identities(IdentitiesCommand::List {
            pool_id,
            hide_disabled,
        }) => {
            let path =
                format!("/v1/identity-pools/{pool_id}/identities?hide_disabled={hide_disabled}");
            let identities = client.all(&path, "identities").await?;
            show(
                out,
                &json!({"identities": identities}),
                Some((
                    &identities,
                    &["identity_id", "logins", "disabled", "created_at"],
                )),
            )
        }
        Admin::Identities(IdentitiesCommand::Get { identity_id }) => show(
            out,
            &client
                .call(Method::GET, &format!("/v1/identities/{identity_id}"), None)
                .await?,
            None,
        ),
        Admin::Identities(IdentitiesCommand::Delete { identity_id }) => {
            client
                .call(
                    Method::DELETE,
                    &format!("/v1/identities/{identity_id}"),
                    None,
                )
                .await?;
            show(out, &json!({"deleted": identity_id}), None)
        }
        Admin::Tags(TagsCommand::List { pool_id }) => show(
            out,
            &client
                .call(
                    Method::GET,
                    &format!("/v1/identity-pools/{pool_id}/tags"),
                    None,
                )
                .await?,
            None,
        ),
        Admin::Tags(TagsCommand::Add { pool_id, tags }) => {
            let tags: serde_json::Map<String, Value> =
                tags.into_iter().map(|(k, v)| (k, json!(v))).collect();
            let body = json!({ "tags": tags });
            show(
                out,
                &client
                    .call(
                        Method::POST,
                        &format!("/v1/identity-pools/{pool_id}/tags"),
                        Some(body),
                    )
                    .await?,
                None,
            )
        }
        Admin::Tags(TagsCommand::Remove { pool_id, key }) => {
            client
                .call(
                    Method::DELETE,
                    &format!("/v1/identity-pools/{pool_id}/tags/{}", encode(&key)),
                    None,
                )
                .await?;
            show(out, &json!({ "removed": key }), None)
        }
        Admin::PrincipalTags(PrincipalTagsCommand::Get { pool_id, provider }) => {
            let path = format!("/v1/identity-pools/{pool_id}/principal-tags/{provider}");
            show(out, &client.call(Method::GET, &path, None).await?, None)
        }
        Admin::PrincipalTags(PrincipalTagsCommand::Set {
            pool_id,
            provider,
            use_defaults,
            tags,
        }) => {
            let tags: serde_json::Map<String, Value> =
                tags.into_iter().map(|(k, v)| (k, json!(v))).collect();
            let body = json!({ "UseDefaults": use_defaults, "PrincipalTags": tags });
            let path = format!("/v1/identity-pools/{pool_id}/principal-tags/{provider}");
            show(
                out,
                &client.call(Method::PUT, &path, Some(body)).await?,
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
            let body = json!({ "logins": { provider: user }, "identity_id": identity_id, "token_duration": duration });
            let path = format!("/v1/identity-pools/{pool_id}/developer/token");
            show(
                out,
                &client.call(Method::POST, &path, Some(body)).await?,
                None,
            )
        }
        Admin::Developer(DeveloperCommand::Lookup {
            pool_id,
            user,
            identity_id,
        }) => {
            let mut query = Vec::new();
            if let Some(user) = user {
                query.push(format!("user={}", encode(&user)));
            }
            if let Some(id) = identity_id {
                query.push(format!("identity_id={}", encode(&id)));
            }
            let path = format!(
                "/v1/identity-pools/{pool_id}/developer/lookup?{}",
                query.join("&")
            );
            show(out, &client.call(Method::GET, &path, None).await?, None)
        }
        Admin::Developer(DeveloperCommand::Merge {
            pool_id,
            provider,
            source,
            destination,
        }) => {
            let body = json!({ "developer_provider_name": provider, "source_user": source, "destination_user": destination });
            let path = format!("/v1/identity-pools/{pool_id}/developer/merge");
            show(
                out,
                &client.call(Method::POST, &path, Some(body)).await?,
                None,
            )
        }
        Admin::Developer(DeveloperCommand::Unlink {
            pool_id,
            provider,
            user,
            identity_id,
        }) => {
            let body = json!({ "identity_id": identity_id, "developer_provider_name": provider, "user": user });
            client
                .call(
                    Method::POST,
                    &format!("/v1/identity-pools/{pool_id}/developer/unlink"),
                    Some(body),
                )
                .await?;
            show(out, &json!({ "unlinked": user }), None)
        }
        Admin::Audit { resource } => {
            let path = match resource {
                Some(r) => format!("/v1/audit?resource={}", encode(&r)),
                None => "/v1/audit".to_owned(),
            };
            let changes = client.all(&path, "changes").await?;
            show(
                out,
                &json!({ "changes": changes }),
                Some((&changes, &["at", "actor", "action", "resource"])),
            )
        }
        Admin::Issuances {
            access_key_id,
            identity_id,
            pool_id,
        } => {
            let (name, value) = match (access_key_id, identity_id, pool_id) {
                (Some(key), _, _) => ("access_key_id", key),
                (_, Some(id), _) => ("identity_id", id),
                (_, _, Some(pool)) => ("pool_id", pool),
                _ => bail!("give --access-key-id, --identity-id or --pool-id"),
            };
            let issuances = client
                .all(
                    &format!("/v1/issuances?{name}={}", encode(&value)),
                    "issuances",
                )
                .await?;
            show(
                out,
                &json!({ "issuances": issuances }),
                Some((
                    &issuances,
                    &[
                        "issued_at",
                        "access_key_id",
                        "identity_id",
                        "role_arn",
                        "expires_at",
                    ],
                )),
            )
        }
        Admin::Keys(command) => {
            let keys = match command {
                KeysCommand::List => client.call(Method::GET, "/v1/keys", None).await?,
                KeysCommand::Rotate => client.call(Method::POST, "/v1/keys/rotate", None).await?,
            };
            let rows = keys["keys"].as_array().cloned().unwrap_or_default();
            show(
                out,
                &keys,
                Some((
                    &rows,
                    &["kid", "alg", "state", "signs_from", "published_until"],
                )),
            )
        }
    }
}

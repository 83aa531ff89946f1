//! `idbroker pools copy`: pool configurations read from a Cognito-Identity-compatible endpoint
//! (Amazon Cognito, another idbroker, moto) with the AWS SDK and written here with their ids,
//! through the same path as `import` (so the same rules and the same "the source wins, a pool
//! that already matches is left alone"). Identities are not copied: Cognito's API does not
//! give the subjects of their logins.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cognitoidentity::Client;
use aws_sdk_cognitoidentity::operation::describe_identity_pool::DescribeIdentityPoolOutput;
use aws_sdk_cognitoidentity::types::RoleMapping;
use aws_smithy_http_client::tls;
use clap::{Args, ValueEnum};
use idbroker_domain::pool::oidc_provider_key;
use idbroker_domain::{IdentityPool, IdentityPoolId, PoolConfig, PoolRoles, PrincipalTagMap};
use idbroker_service::transfer::{Applied, ImportOutcome, PoolSnapshot};
use idbroker_trust::TrustRoots;
use serde_json::{Value, json};

use crate::Settings;

#[derive(Args)]
pub struct CopyArgs {
    /// The Cognito Identity endpoint to read (default: Amazon Cognito in the region).
    #[arg(long, value_name = "URL")]
    pub from_endpoint: Option<String>,
    /// The source's region (default: the AWS chain's, e.g. AWS_REGION).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Only this pool (repeat for several); default: every pool of the source.
    #[arg(long = "pool", value_name = "ID")]
    pub pools: Vec<String>,
    /// Leave out a part the source does not serve (moto 5.2.1 serves neither) or the
    /// credentials may not read; repeat for both.
    #[arg(long, value_enum, value_name = "PART")]
    pub skip: Vec<Part>,
    /// A TOML settings file for this idbroker (its database, account id).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Longest wait for one call to the source, retries included, in seconds (connecting
    /// and each read wait at most 10 s of it).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// Most pages of ListIdentityPools read (60 pools each): far above Cognito's pools per account.
const MAX_PAGES: usize = 200;
/// Most pool ids taken from the listing.
const MAX_POOLS: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// Roles and role mappings (GetIdentityPoolRoles).
    Roles,
    /// Principal-tag maps (GetPrincipalTagAttributeMap).
    PrincipalTags,
}

/// The AWS SDK client for the source: credentials and region from the standard chain, TLS
/// trusting idbroker's roots (as STS and the providers do; a failure to set them is an
/// error, never a fall-back to other roots), every call bounded in time: a source that stops
/// answering ends the copy with a timeout instead of holding it forever.
async fn client(args: &CopyArgs, roots: &TrustRoots) -> anyhow::Result<Client> {
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(roots.to_pem());
    let mut http = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::Ring,
    ));
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .context("cannot set the trust roots of the Cognito client")?;
    http = http.tls_context(context);
    let total = Duration::from_secs(args.timeout);
    let step = total.min(Duration::from_secs(10));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(step)
        .read_timeout(step)
        .operation_attempt_timeout(total)
        .operation_timeout(total)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http.build_https())
        .timeout_config(timeouts);
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = &args.from_endpoint {
        loader = loader.endpoint_url(url);
    }
    Ok(Client::new(&loader.load().await))
}

/// The SDK's error with its causes (its `Display` alone is often just "service error").
fn sdk_error(
    operation: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> anyhow::Error {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    anyhow::anyhow!("{operation} failed: {text}")
}

async fn source_pool_ids(client: &Client, args: &CopyArgs) -> anyhow::Result<Vec<String>> {
    if !args.pools.is_empty() {
        return Ok(args.pools.clone());
    }
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    // A source that hands back a token it gave before would be listed forever.
    let mut seen = HashSet::new();
    for _ in 0..MAX_PAGES {
        let page = client
            .list_identity_pools()
            .max_results(60)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| sdk_error("ListIdentityPools", e))?;
        ids.extend(
            page.identity_pools()
                .iter()
                .filter_map(|p| p.identity_pool_id().map(str::to_owned)),
        );
        if ids.len() > MAX_POOLS {
            anyhow::bail!(
                "ListIdentityPools listed more than {MAX_POOLS} pools; name the pools to copy with --pool"
            );
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => {
                if !seen.insert(token.to_owned()) {
                    anyhow::bail!(
                        "ListIdentityPools returned a NextToken it had returned before: the source's listing does not end; name the pools to copy with --pool"
                    );
                }
                next = Some(token.to_owned());
            }
            _ => return Ok(ids),
        }
    }
    anyhow::bail!(
        "ListIdentityPools did not end within {MAX_PAGES} pages; name the pools to copy with --pool"
    )
}

fn config_of(pool: &DescribeIdentityPoolOutput) -> PoolConfig {
    PoolConfig {
        identity_pool_name: pool.identity_pool_name().to_owned(),
        allow_unauthenticated_identities: pool.allow_unauthenticated_identities(),
        allow_classic_flow: pool.allow_classic_flow(),
        supported_login_providers: pool
            .supported_login_providers()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        // Some endpoints (moto) answer an unset name with "".
        developer_provider_name: pool
            .developer_provider_name()
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        open_id_connect_provider_arns: pool.open_id_connect_provider_arns().to_vec(),
        cognito_identity_providers: pool
            .cognito_identity_providers()
            .iter()
            .map(|p| idbroker_domain::CognitoIdentityProvider {
                provider_name: p.provider_name().map(str::to_owned),
                client_id: p.client_id().map(str::to_owned),
                server_side_token_check: p.server_side_token_check(),
            })
            .collect(),
        saml_provider_arns: pool.saml_provider_arns().to_vec(),
    }
}

/// A role mapping in Cognito's JSON shape, which is the domain's serde form.
fn mapping_json(mapping: &RoleMapping) -> Value {
    let mut value = json!({ "Type": mapping.r#type().as_str() });
    if let Some(ambiguous) = mapping.ambiguous_role_resolution() {
        value["AmbiguousRoleResolution"] = json!(ambiguous.as_str());
    }
    if let Some(rules) = mapping.rules_configuration() {
        let rules: Vec<Value> = rules
            .rules()
            .iter()
            .map(|r| {
                json!({
                    "Claim": r.claim(),
                    "MatchType": r.match_type().as_str(),
                    "Value": r.value(),
                    "RoleARN": r.role_arn(),
                })
            })
            .collect();
        value["RulesConfiguration"] = json!({ "Rules": rules });
    }
    value
}

async fn roles_of(client: &Client, id: &str) -> anyhow::Result<PoolRoles> {
    let out = client
        .get_identity_pool_roles()
        .identity_pool_id(id)
        .send()
        .await
        .map_err(|e| sdk_error("GetIdentityPoolRoles", e))?;
    let mappings: BTreeMap<&String, Value> = out
        .role_mappings()
        .map(|m| m.iter().map(|(k, v)| (k, mapping_json(v))).collect())
        .unwrap_or_default();
    let roles: BTreeMap<&String, &String> =
        out.roles().map(|m| m.iter().collect()).unwrap_or_default();
    serde_json::from_value(json!({ "Roles": roles, "RoleMappings": mappings }))
        .context("the source's role mappings use a value idbroker does not know")
}

/// The maps of the pool's providers. A provider without a map answers "no tags, no defaults",
/// which is also what having none means, so that answer is not stored.
async fn principal_tag_maps(
    client: &Client,
    id: &str,
    config: &PoolConfig,
) -> anyhow::Result<BTreeMap<String, PrincipalTagMap>> {
    let mut names: Vec<String> = config.supported_login_providers.keys().cloned().collect();
    names.extend(
        config
            .open_id_connect_provider_arns
            .iter()
            .filter_map(|arn| oidc_provider_key(arn))
            .map(str::to_owned),
    );
    names.extend(
        config
            .cognito_identity_providers
            .iter()
            .filter_map(|p| p.provider_name.clone()),
    );
    // A SAML provider's map is named by its ARN.
    names.extend(config.saml_provider_arns.iter().cloned());
    names.sort();
    names.dedup();
    let mut maps = BTreeMap::new();
    for name in names {
        let out = client
            .get_principal_tag_attribute_map()
            .identity_pool_id(id)
            .identity_provider_name(&name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("GetPrincipalTagAttributeMap ({name})"), e))?;
        let map = PrincipalTagMap {
            use_defaults: out.use_defaults().unwrap_or(false),
            principal_tags: out
                .principal_tags()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        };
        if map != PrincipalTagMap::default() {
            maps.insert(name, map);
        }
    }
    Ok(maps)
}

async fn snapshot(client: &Client, id: &str, skip: &[Part]) -> anyhow::Result<PoolSnapshot> {
    let described = client
        .describe_identity_pool()
        .identity_pool_id(id)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeIdentityPool", e))?;
    // Written here under the id asked for, never one a source chose to answer with.
    if described.identity_pool_id() != id {
        anyhow::bail!(
            "DescribeIdentityPool for {id} answered with pool {}",
            described.identity_pool_id()
        );
    }
    let config = config_of(&described);
    let roles = if skip.contains(&Part::Roles) {
        PoolRoles::default()
    } else {
        roles_of(client, id).await?
    };
    let principal_tag_maps = if skip.contains(&Part::PrincipalTags) {
        BTreeMap::new()
    } else {
        principal_tag_maps(client, id, &config).await?
    };
    Ok(PoolSnapshot {
        pool: IdentityPool {
            id: IdentityPoolId::parse("identityPoolId", described.identity_pool_id())?,
            config,
            // DescribeIdentityPool carries the tags (Cognito and moto alike), so no
            // ListTagsForResource, which would need the pool's ARN and so the account id.
            tags: described
                .identity_pool_tags()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            // Cognito has no per-pool lifetimes: the copy takes the server's defaults.
            lifetimes: Default::default(),
            exchange_audiences: Vec::new(),
        },
        roles,
        principal_tag_maps,
    })
}

pub async fn run(args: CopyArgs) -> anyhow::Result<()> {
    let settings = Settings::load_for_migrate(args.config.as_deref())?;
    crate::telemetry::init(settings.log_format);
    let roots = TrustRoots::load(settings.extra_ca_file.as_deref())
        .context("cannot load the trust roots for outbound HTTPS (IDBROKER_EXTRA_CA_FILE)")?;
    let transfer = super::connect(&settings).await?;
    let client = client(&args, &roots).await?;
    let ids = source_pool_ids(&client, &args).await?;
    for id in &ids {
        let snapshot = snapshot(&client, id, &args.skip)
            .await
            .with_context(|| format!("pool {id}"))?;
        let outcome = transfer
            .import_pool(&snapshot)
            .await
            .map_err(|e| super::explain(e).context(format!("pool {id}")))?;
        let what = match outcome {
            ImportOutcome::Applied(Applied::Created) => "created",
            ImportOutcome::Applied(Applied::Updated) => "updated",
            ImportOutcome::Applied(Applied::Unchanged) => "unchanged",
            ImportOutcome::Conflict(why) => anyhow::bail!("pool {id}: {why}"),
        };
        println!("{id}  {}  {what}", snapshot.pool.config.identity_pool_name);
    }
    eprintln!("copied {} pools", ids.len());
    Ok(())
}

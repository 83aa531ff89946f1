//! The `idbroker` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use idbroker::{
    Application, Settings, cli, credential_process, probe, telemetry, token_file, transfer,
};

#[derive(Parser)]
#[command(
    name = "idbroker",
    version,
    about = "A self-hosted identity broker compatible with Amazon Cognito identity pools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: cli::Connection,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Settings: defaults, then --config FILE (TOML), then IDBROKER_* variables.
    Serve {
        /// A TOML file with settings (keys like `database_url`, `listen`, `region`).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// A TOML file of OIDC providers and pools to create or update at start-up (idempotent).
        #[arg(long, value_name = "PATH", env = "IDBROKER_BOOTSTRAP")]
        bootstrap: Option<PathBuf>,
    },
    /// Apply the database migrations of the configured store and exit.
    Migrate {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Write pools (with roles, role mappings, principal-tag maps, tags), their identities
    /// and the OpenID Connect and SAML providers as JSON Lines, from the database directly. Signing
    /// keys, the audit and the credential ledger are not exported.
    Export {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Only this pool (repeat for several) and the providers it uses.
        #[arg(long = "pool", value_name = "ID")]
        pools: Vec<String>,
        /// Write here instead of to stdout (complete or not at all: written beside, then renamed).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// Read an export file into the database (empty or not), keeping pool and identity ids.
    /// Idempotent; an identity id that exists with other logins is a conflict, reported with
    /// its line (exit status 1).
    Import {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// The export file.
        file: PathBuf,
    },
    /// Exit 0 if the server on this machine is alive (GET /healthz answers 200 within 3 s), or
    /// with --ready if it is ready (GET /readyz: its database answers too): for health checks.
    Health {
        /// The server's listening address; an unspecified IP (0.0.0.0) means loopback. The
        /// config file is not read.
        #[arg(
            long,
            value_name = "ADDR",
            env = "IDBROKER_LISTEN",
            default_value = "127.0.0.1:8080"
        )]
        listen: String,
        /// Check readiness (the database answers) instead of liveness.
        #[arg(long)]
        ready: bool,
    },
    /// Print AWS credentials for an identity of POOL as an AWS `credential_process` prints
    /// them (JSON, Version 1), from the public one-shot route: no admin token is sent. For a
    /// profile: `credential_process = idbroker credentials --pool POOL --endpoint URL`.
    Credentials {
        #[arg(long, value_name = "POOL")]
        pool: String,
        /// A login, KEY=@FILE (the token read from FILE) or KEY=- (from stdin); repeat for
        /// several. None for a guest. Tokens are not taken on the command line.
        #[arg(long = "login", value_name = "KEY=@FILE|KEY=-")]
        logins: Vec<String>,
        /// The identity to get credentials for (a guest again, or the identity the logins are
        /// for) instead of the one the logins give, or a new guest.
        #[arg(long, value_name = "ID")]
        identity_id: Option<String>,
        /// The role to ask for (CustomRoleArn), when the pool's rules allow a choice.
        #[arg(long, value_name = "ARN")]
        role_arn: Option<String>,
    },
    /// Keep an idbroker token for identity ID of POOL in the file OUT (GetOpenIdToken from
    /// the public REST route), rewritten atomically (mode 0600) at half of each token's
    /// lifetime, for AWS SDKs reading AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN.
    TokenFile {
        #[arg(long, value_name = "POOL")]
        pool: String,
        #[arg(long, value_name = "ID")]
        identity_id: String,
        /// A login proving the identity, KEY=@FILE (read again at each refresh); repeat for
        /// several. None for a guest. KEY=- (stdin) only with --once.
        #[arg(long = "login", value_name = "KEY=@FILE")]
        logins: Vec<String>,
        /// The token file.
        #[arg(long, value_name = "PATH")]
        out: std::path::PathBuf,
        /// Write one token and exit (for tests and cron).
        #[arg(long)]
        once: bool,
    },
    #[command(flatten)]
    Admin(cli::Admin),
}

/// What development mode prints once the server is up (None outside development mode).
fn development_banner(settings: &Settings) -> Option<String> {
    let dev = settings.development_mode.as_ref()?;
    Some(format!(
        "\n\
         ==================================================================\n\
         idbroker is running in DEVELOPMENT MODE (embedded SQLite, generated secrets).\n\
         Do not use this mode in production: set IDBROKER_DATABASE_URL to a postgres:// URL\n\
         and give the secrets explicitly.\n\
         Secrets are kept in {}\n\
         \n\
         Admin credentials for the AWS API (SigV4, region {}):\n\
         \x20 AWS_ACCESS_KEY_ID={}\n\
         \x20 AWS_SECRET_ACCESS_KEY={}\n\
         Admin token for the REST API and the command line:\n\
         \x20 IDBROKER_ADMIN_TOKEN={}\n\
         Endpoint: http://{}\n\
         ==================================================================\n",
        dev.secrets_file.display(),
        settings.region,
        settings.admin.access_key_id,
        settings.admin.secret_access_key,
        settings.admin_token.0,
        settings.listen,
    ))
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn export(
    config: Option<&std::path::Path>,
    pools: &[String],
    file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let transfer = transfer::open(config).await?;
    let written = match file {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            transfer::export::export(&transfer, pools, &mut out).await?
        }
        Some(path) => transfer::export::to_file(&transfer, pools, path).await?,
    };
    eprintln!(
        "exported {} OpenID Connect providers, {} SAML providers, {} pools, {} identities",
        written.providers, written.saml_providers, written.pools, written.identities
    );
    Ok(())
}

async fn import(config: Option<&std::path::Path>, file: &std::path::Path) -> anyhow::Result<()> {
    let transfer = transfer::open(config).await?;
    let actor = format!("import {}", file.display());
    let mut report = transfer::import::Report::default();
    let result = idbroker_service::with_actor(
        actor,
        transfer::import::import(&transfer, file, &mut report),
    )
    .await;
    // What was done is printed also when the import stopped: it may have written some.
    println!("OpenID Connect providers: {}", report.providers);
    println!("SAML providers: {}", report.saml_providers);
    println!("pools: {}", report.pools);
    println!("identities: {}", report.identities);
    result?;
    match report.conflicts() {
        0 => Ok(()),
        n => anyhow::bail!(
            "{n} conflicts (listed above); the rest of {} was imported",
            file.display()
        ),
    }
}

/// Success, or failure with the error and its causes on stderr.
fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("idbroker: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Admin(cli::Admin::Pools(cli::PoolsCommand::Copy(copy))) => {
            let actor = format!(
                "pools copy {}",
                copy.from_endpoint.as_deref().unwrap_or("(Amazon Cognito)")
            );
            exit_code(idbroker_service::with_actor(actor, transfer::copy::run(copy)).await)
        }
        Command::Export {
            config,
            pools,
            file,
        } => exit_code(export(config.as_deref(), &pools, file.as_deref()).await),
        Command::Import { config, file } => exit_code(import(config.as_deref(), &file).await),
        Command::Admin(command) => exit_code(cli::run(cli.connection, command).await),
        Command::Credentials {
            pool,
            logins,
            identity_id,
            role_arn,
        } => {
            let printed = async {
                let logins =
                    credential_process::read_logins(&logins, &mut std::io::stdin().lock())?;
                credential_process::run(
                    &cli.connection.endpoint,
                    &pool,
                    logins,
                    identity_id,
                    role_arn,
                )
                .await
            };
            exit_code(printed.await.map(|json| println!("{json}")))
        }
        Command::TokenFile {
            pool,
            identity_id,
            logins,
            out,
            once,
        } => {
            let job = token_file::TokenFile {
                endpoint: cli.connection.endpoint.clone(),
                pool,
                identity_id,
                logins,
                out,
            };
            if once {
                exit_code(job.write_once().await.map(|_| ()))
            } else {
                exit_code(job.keep_fresh().await)
            }
        }
        Command::Health { listen, ready } => {
            let (path, state) = if ready {
                ("/readyz", "ready")
            } else {
                ("/healthz", "alive")
            };
            let checked = probe::target(&listen).and_then(|addr| probe::check(addr, path));
            exit_code(checked.map(|()| println!("{state}")))
        }
        Command::Migrate { config } => {
            let result = async {
                let settings = Settings::load_for_migrate(config.as_deref())?;
                telemetry::init(settings.log_format);
                let store = idbroker_store::SqlStore::connect_with(
                    &settings.database_url,
                    settings.database.clone(),
                )
                .await?;
                store.migrate().await?;
                println!(
                    "migrations applied to {}",
                    redact_url(&settings.database_url)
                );
                Ok::<_, anyhow::Error>(())
            }
            .await;
            exit_code(result)
        }
        Command::Serve { config, bootstrap } => {
            let settings = match Settings::load(config.as_deref()) {
                Ok(mut settings) => {
                    settings.bootstrap = bootstrap.or(settings.bootstrap);
                    settings
                }
                Err(err) => {
                    eprintln!("idbroker: {err}");
                    return std::process::ExitCode::from(2);
                }
            };
            telemetry::init(settings.log_format);
            let banner = development_banner(&settings);
            let result = async {
                let app = Application::build(settings).await?;
                // Only once the port is ours: a second start on a taken port fails before it.
                if let Some(banner) = banner {
                    eprintln!("{banner}");
                }
                tracing::info!(port = app.port(), "idbroker listening");
                app.run_until_stopped().await?;
                Ok::<_, anyhow::Error>(())
            }
            .await;
            exit_code(result)
        }
    }
}

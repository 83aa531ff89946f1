//! The SQL store: one set of queries for PostgreSQL and SQLite through sqlx's `Any` driver.
//!
//! The two dialects differ only in their migrations and in row locking (`FOR UPDATE`, which
//! SQLite does not need because it serialises writers). Placeholders are `$N`, which both accept.

mod guard;
mod health;
mod identities;
mod keys;
mod ledger;
mod listener;
mod logins;
mod oidc;
mod pools;
mod revocations;
mod saml;
mod transfer;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idbroker_domain::IdentityPoolId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::changes::{Change, ChangeFeed, Feed, Signal};
use crate::error::sent;
use crate::{Health, Readiness, StoreError, StoreOptions, StoreResult};

pub(crate) use guard::Retry;
pub use listener::LISTENER_APPLICATION_NAME;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// Which backend a database URL names, if any we support.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    guard: Arc<guard::Guard>,
    /// Change events for caches (see `crate::changes`).
    feed: Arc<Feed>,
    /// PostgreSQL: where the change listener connects, and the listener once started.
    listener: Arc<ListenerSlot>,
}

/// The change listener of a PostgreSQL store: started by `listen_for_changes`, stopped by
/// `close`.
struct ListenerSlot {
    /// Holds credentials: never logged.
    url: String,
    running: std::sync::Mutex<Option<listener::AbortOnDrop>>,
}

impl std::fmt::Debug for ListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSlot").finish_non_exhaustive()
    }
}

/// One direct connection before the pool opens: the pool retries a failing first connection
/// until its timeout and then reports only that it timed out, so this attempt is what tells
/// the operator which server could not be reached and why (refused, unknown host, bad
/// password, no answer in time). The URL's password never enters the message.
async fn first_contact(url: &str, timeout: std::time::Duration) -> StoreResult<()> {
    use sqlx::Connection;
    let unreachable = |cause: String| StoreError::Unavailable {
        reason: crate::Unavailability::Connection,
        source: format!(
            "cannot reach the database server {}: {cause}",
            server_of(url)
        )
        .into(),
    };
    match tokio::time::timeout(timeout, sqlx::AnyConnection::connect(url)).await {
        Ok(Ok(conn)) => {
            // Closing politely is best effort (and bounded); the pool opens its own connections.
            let _ = tokio::time::timeout(timeout, conn.close()).await;
            Ok(())
        }
        // The server's own words when it answered (a refused role or password), without the
        // driver's source-file position; the connection error otherwise.
        Ok(Err(e)) => Err(unreachable(match e.as_database_error() {
            Some(db) => db.message().to_owned(),
            None => e.to_string(),
        })),
        Err(_) => Err(unreachable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// `host:port` (or the socket path) of a PostgreSQL URL, read the way the driver reads it
/// (the `host`, `hostaddr` and `port` query parameters win over the authority), never with
/// user, password, database or other options. Anything unparsable is not echoed.
fn server_of(url: &str) -> String {
    // The userinfo goes first: the parser refuses `user:pw@` before an empty host, which the
    // driver accepts (the host then comes from the query).
    let without_userinfo = url.split_once("://").map(|(scheme, rest)| {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        format!("{scheme}://{host}{tail}")
    });
    let Some(Ok(parsed)) = without_userinfo.map(|u| url::Url::parse(&u)) else {
        return "the configured database server".to_owned();
    };
    let query = |name: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let host = query("host")
        .or_else(|| query("hostaddr"))
        .or_else(|| {
            parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = query("port")
        .or_else(|| parsed.port().map(|p| p.to_string()))
        .unwrap_or_else(|| "5432".to_owned());
    // A socket directory has no port in the usual sense; the driver adds it to the file name.
    let server = if host.starts_with('/') {
        format!("{host} (port {port})")
    } else {
        format!("{host}:{port}")
    };
    server.chars().take(200).collect()
}

/// Milliseconds for a database setting; at least 1, since 0 would mean "no limit".
fn setting_millis(d: std::time::Duration) -> String {
    d.as_millis().clamp(1, u128::from(u32::MAX)).to_string()
}

impl SqlStore {
    /// Connects to `url` (`postgres://…` or `sqlite://…`) with the default `StoreOptions`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects to `url` with bounds on every piece of database work (see `StoreOptions`).
    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            StoreError::Backend("database URL must start with postgres:// or sqlite://".into())
        })?;
        let max_connections = options.max_connections.unwrap_or(match backend {
            Backend::Postgres => 16,
            // SQLite has one writer at a time; a few readers beside it are plenty.
            Backend::Sqlite => 4,
        });
        if backend == Backend::Postgres {
            first_contact(url, options.acquire_timeout).await?;
        }
        let statement_ms = setting_millis(options.statement_timeout);
        let lock_ms = setting_millis(options.lock_timeout);
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(options.acquire_timeout)
            // Set on every connection as it opens, so no query anywhere runs unbounded.
            .after_connect(move |conn, _| {
                let (statement_ms, lock_ms) = (statement_ms.clone(), lock_ms.clone());
                Box::pin(async move {
                    match backend {
                        Backend::Postgres => {
                            sqlx::query(
                                "SELECT set_config('statement_timeout', $1, false), \
                                        set_config('lock_timeout', $2, false)",
                            )
                            .bind(statement_ms)
                            .bind(lock_ms)
                            .execute(&mut *conn)
                            .await?;
                        }
                        Backend::Sqlite => {
                            // Only a number is formatted into the text.
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "PRAGMA busy_timeout = {lock_ms}"
                            )))
                            .execute(&mut *conn)
                            .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the writer; the setting persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let guard = Arc::new(guard::Guard::new(url, max_connections, &options));
        Ok(Self {
            pool,
            backend,
            guard,
            // SQLite is one process: every change is delivered in-process, none can be missed.
            // PostgreSQL's feed is incoherent until the listener listens.
            feed: Arc::new(match backend {
                Backend::Sqlite => Feed::new(true),
                Backend::Postgres => Feed::new(false).with_lease(listener::LEASE),
            }),
            listener: Arc::new(ListenerSlot {
                url: url.to_owned(),
                running: std::sync::Mutex::new(None),
            }),
        })
    }

    /// Applies the backend's pending migrations, on a connection of its own without the
    /// request timeouts: a migration may rewrite a large table, and replicas starting together
    /// wait for each other's migration lock.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        let migrator = match self.backend {
            Backend::Postgres => {
                sqlx::query(
                    "SELECT set_config('statement_timeout', '0', false), \
                            set_config('lock_timeout', '0', false)",
                )
                .execute(&mut *conn)
                .await?;
                &POSTGRES_MIGRATIONS
            }
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        let result = migrator.run(&mut *conn).await;
        // Never hand a connection without timeouts back to the request pool.
        let _ = sqlx::Connection::close(conn.detach()).await;
        result?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts the change listener (PostgreSQL; idempotent), so that caches hear of changes
    /// committed by any replica. Until it listens, `coherence()` is `None` and caches are not
    /// used. A no-op on SQLite, where changes are delivered in-process.
    pub fn listen_for_changes(&self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let mut running = self
            .listener
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.is_none() {
            let task = tokio::spawn(listener::run(
                self.listener.url.clone(),
                self.pool.clone(),
                self.feed.clone(),
            ));
            *running = Some(listener::AbortOnDrop(task.abort_handle()));
        }
    }

    pub async fn close(&self) {
        // Stopping the listener first: its loss is not an outage worth logging at shutdown.
        self.listener
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        self.pool.close().await;
        self.guard.close().await;
    }

    /// Every connection of the request pool is in use and no more may be opened: a call
    /// now would wait for one.
    fn pool_saturated(&self) -> bool {
        self.pool.size() >= self.guard.max_connections && self.pool.num_idle() == 0
    }

    /// A connection for a write: failures up to here happened before anything was sent.
    pub(crate) async fn acquire(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Runs one store operation: refused at once while the database is known to be down;
    /// run again once after a connection failure that left nothing written; with
    /// `Retry::Clashes`, also run again after a clash with a concurrent transaction.
    pub(crate) async fn run<T, E, F, Fut>(&self, retry: Retry, attempt: F) -> Result<T, E>
    where
        E: guard::Outcome,
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
    {
        self.guard.run(retry, attempt).await
    }

    /// The statement timeout for a batch clean-up, for the rest of `tx` (PostgreSQL).
    pub(crate) async fn background_timeout(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT set_config('statement_timeout', $1, true)")
                .bind(setting_millis(self.guard.background_statement_timeout))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

impl SqlStore {
    /// Commits `tx`, announcing `changes` to every replica's caches: on PostgreSQL with
    /// `pg_notify` inside the transaction (delivered if and only if it commits), on SQLite
    /// in-process once it has committed.
    pub(crate) async fn commit_announcing(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        changes: &[Change],
    ) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            for change in changes {
                // `::text`: the Any driver has no type for `void`.
                sqlx::query("SELECT pg_notify($1, $2)::text AS sent")
                    .bind(crate::changes::CHANNEL)
                    .bind(change.encode())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await.map_err(sent)?;
        if self.backend == Backend::Sqlite {
            for change in changes {
                self.feed.deliver(change.clone());
            }
        }
        Ok(())
    }
}

impl ChangeFeed for SqlStore {
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Signal> {
        self.feed.subscribe()
    }

    fn coherence(&self) -> Option<u64> {
        self.feed.coherence()
    }
}

/// `NotFound` when a statement touched no row: the row it was meant for is not there.
pub(crate) fn found(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqlStore {
    /// After an optimistic update matched no row: was the row gone, or had it moved on?
    pub(crate) async fn missing_or_moved(&self, id: &IdentityPoolId) -> StoreError {
        match sqlx::query("SELECT id FROM identity_pools WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
        {
            Ok(Some(_)) => StoreError::ConcurrentModification,
            Ok(None) => StoreError::NotFound,
            Err(e) => e.into(),
        }
    }

    /// Locks the pool row for the rest of `tx` (PostgreSQL); `NotFound` if there is none.
    pub(crate) async fn lock_pool(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &IdentityPoolId,
    ) -> StoreResult<()> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT id FROM identity_pools WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT id FROM identity_pools WHERE id = $1",
        };
        sqlx::query(sql)
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl Health for SqlStore {
    fn connections(&self) -> (u32, u32) {
        (
            self.pool.size(),
            u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        )
    }

    async fn readiness(&self) -> Readiness {
        Readiness {
            database_answers: self.guard.database_answers().await,
            pool_saturated: self.pool_saturated(),
        }
    }
}

#[cfg(test)]
mod server_tests {
    use super::server_of;

    #[test]
    fn the_server_of_a_url_leaves_out_user_password_database_and_options() {
        for (url, server) in [
            (
                "postgres://u:p@w@db.example.com:5433/idbroker?sslmode=require",
                "db.example.com:5433",
            ),
            ("postgres://db/idbroker", "db:5432"),
            ("postgres:///idbroker", "localhost:5432"),
            // An `@` outside the userinfo (in the query or the database name) is not a host.
            (
                "postgres://127.0.0.1:1/db?user=u&password=hun@ter2",
                "127.0.0.1:1",
            ),
            ("postgres://u:pw@db.internal/db@x", "db.internal:5432"),
            // The driver's own host and port parameters win.
            (
                "postgres://u:pw@/db?host=no-such.invalid&port=6543",
                "no-such.invalid:6543",
            ),
            (
                "postgres:///db?host=/run/postgresql",
                "/run/postgresql (port 5432)",
            ),
            (
                "not a url with secret@host",
                "the configured database server",
            ),
        ] {
            assert_eq!(server_of(url), server, "{url}");
            assert!(!server_of(url).contains("ter2") && !server_of(url).contains("pw"));
        }
    }
}

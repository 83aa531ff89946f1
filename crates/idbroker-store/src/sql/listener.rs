//! The PostgreSQL change listener: one connection of its own that LISTENs on
//! `changes::CHANNEL` and hands every event to the feed (see `crate::changes`).
//!
//! Notifications sent while the connection is down are gone for good, so a lost connection
//! makes the feed incoherent at once (caches are bypassed) and stays so until a new connection
//! is listening; then a new session starts, which invalidates everything cached before.
//! Every wait has a deadline: connecting and LISTEN within `CONNECT_DEADLINE`. A connection is
//! trusted only while it proves it delivers: once listening, the listener sends a heartbeat on
//! its own connection and becomes coherent only when it hears it back; whenever the channel is
//! quiet for `QUIET_PROBE`, it sends another. The feed holds a `LEASE`: having heard nothing
//! (not even its own heartbeat) for that long, it is incoherent at once, so a silent
//! connection (half-open TCP after a failover, a flow dropped by NAT or a proxy, a pooler in
//! transaction mode that swallows notifications) stops caches within `LEASE`, and the listener
//! then drops the connection and listens anew.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::changes::{CHANNEL, Change, Feed, HEARTBEAT};

/// The `application_name` of the listening connection, so operators (and tests) can find it
/// in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "idbroker-change-listener";

const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// A quiet channel for this long: ask the server to echo a heartbeat.
const QUIET_PROBE: Duration = Duration::from_millis(500);
/// Heard nothing for this long: the connection may be silent; caches stop trusting it.
pub(crate) const LEASE: Duration = Duration::from_millis(1500);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Runs until aborted: listens, and after every loss re-listens with a growing pause.
/// `_requests` (the request pool) is not used: the listener proves its own connection.
pub(crate) async fn run(url: String, _requests: AnyPool, feed: Arc<Feed>) {
    let options = match PgConnectOptions::from_str(&url) {
        Ok(options) => options.application_name(LISTENER_APPLICATION_NAME),
        Err(err) => {
            // The request pool connected with this URL, so this cannot happen; say so loudly
            // if it does, and stay incoherent (caches off) rather than guess.
            tracing::error!(error = %err, "change listener cannot read the database URL; caches stay off");
            return;
        }
    };
    let mut backoff = BACKOFF_FIRST;
    // Whether this outage (or the wait for the first connection) was logged already.
    let mut reported = false;
    loop {
        let failure = match tokio::time::timeout(CONNECT_DEADLINE, listen(&options)).await {
            Ok(Ok((pool, mut listener))) => {
                let failure = match first_echo(&mut listener).await {
                    Ok(()) => {
                        feed.restored();
                        backoff = BACKOFF_FIRST;
                        let cause = receive(&mut listener, &feed).await;
                        reported = feed.lost(&cause);
                        None
                    }
                    // Listening without delivering (a pooler that swallows notifications):
                    // reported below like a failure to listen.
                    Err(cause) => Some(cause),
                };
                // The connection may be broken mid-message: close it rather than reuse it.
                drop(listener);
                let _ = tokio::time::timeout(CONNECT_DEADLINE, pool.close()).await;
                failure
            }
            Ok(Err(err)) => Some(format!("cannot listen: {err}")),
            Err(_) => Some("cannot listen: no answer in time".to_owned()),
        };
        if let Some(cause) = failure
            && !feed.lost(&cause)
            && !reported
        {
            tracing::warn!(
                cause,
                "change listener not listening: caches are bypassed until it does"
            );
            reported = true;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A fresh connection (in a pool of one, which `PgListener` needs) listening on the channel.
async fn listen(options: &PgConnectOptions) -> Result<(sqlx::PgPool, PgListener), sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_DEADLINE)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // A loss is reported to us, not papered over: we reconnect ourselves, on a new session.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok((pool, listener))
}

/// Sends a heartbeat on the listening connection itself and waits to hear anything back: only
/// then is the connection known to deliver.
async fn first_echo(listener: &mut PgListener) -> Result<(), String> {
    send_heartbeat(listener).await?;
    match tokio::time::timeout(CONNECT_DEADLINE, listener.try_recv()).await {
        // Whatever came first (its own heartbeat or another replica's event) proves delivery;
        // an event heard before the session starts is covered by the session's empty caches.
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err("connection closed".to_owned()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("listening, but its own heartbeat never came back".to_owned()),
    }
}

/// `SELECT pg_notify(…)` on the listening connection, within the lease.
async fn send_heartbeat(listener: &mut PgListener) -> Result<(), String> {
    let sent = tokio::time::timeout(
        LEASE,
        sqlx::query("SELECT pg_notify($1, $2)::text AS sent")
            .bind(CHANNEL)
            .bind(HEARTBEAT)
            .execute(&mut *listener),
    )
    .await;
    match sent {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("heartbeat not sent: {err}")),
        Err(_) => Err("heartbeat not sent in time".to_owned()),
    }
}

/// Delivers events until the connection is lost; returns why.
async fn receive(listener: &mut PgListener, feed: &Feed) -> String {
    let mut last_heard = Instant::now();
    loop {
        match tokio::time::timeout(QUIET_PROBE, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                last_heard = Instant::now();
                feed.heard();
                if let Some(change) = Change::decode(notification.payload()) {
                    feed.deliver(change);
                }
            }
            Ok(Ok(None)) => return "connection closed".to_owned(),
            Ok(Err(err)) => return err.to_string(),
            Err(_) if last_heard.elapsed() >= LEASE => {
                return format!(
                    "nothing heard for {} ms, not even its own heartbeat",
                    LEASE.as_millis()
                );
            }
            // Quiet: have the server echo a heartbeat on this connection.
            Err(_) => {
                if let Err(cause) = send_heartbeat(listener).await {
                    return cause;
                }
            }
        }
    }
}

/// Aborts a task when dropped (the heartbeats go with the listener).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

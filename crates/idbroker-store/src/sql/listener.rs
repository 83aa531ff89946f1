//! The PostgreSQL change listener: one connection of its own that LISTENs on
//! `changes::CHANNEL` and hands every event to the feed (see `crate::changes`).
//!
//! Notifications sent while the connection is down are gone for good, so a lost connection
//! makes the feed incoherent at once (caches are bypassed) and stays so until a new connection
//! is listening; then a new session starts, which invalidates everything cached before.
//! Every wait has a deadline: connecting and LISTEN within `CONNECT_DEADLINE`, and silence on
//! the connection for `SILENCE_LIMIT` counts as a loss. Silence is impossible on a healthy
//! connection because every replica publishes a heartbeat every `HEARTBEAT_EVERY` (a half-open
//! TCP connection would otherwise wait for ever without an error).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::changes::{CHANNEL, Change, Feed, HEARTBEAT};

/// The `application_name` of the listening connection, so operators (and tests) can find it
/// in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "idbroker-change-listener";

const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const SILENCE_LIMIT: Duration = Duration::from_secs(15);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Runs until aborted: listens, and after every loss re-listens with a growing pause.
pub(crate) async fn run(url: String, requests: AnyPool, feed: Arc<Feed>) {
    let options = match PgConnectOptions::from_str(&url) {
        Ok(options) => options.application_name(LISTENER_APPLICATION_NAME),
        Err(err) => {
            // The request pool connected with this URL, so this cannot happen; say so loudly
            // if it does, and stay incoherent (caches off) rather than guess.
            tracing::error!(error = %err, "change listener cannot read the database URL; caches stay off");
            return;
        }
    };
    let heartbeat = tokio::spawn(heartbeats(requests));
    let _stop_heartbeat = AbortOnDrop(heartbeat.abort_handle());
    let mut backoff = BACKOFF_FIRST;
    // Whether this outage (or the wait for the first connection) was logged already.
    let mut reported = false;
    loop {
        let failure = match tokio::time::timeout(CONNECT_DEADLINE, listen(&options)).await {
            Ok(Ok((pool, mut listener))) => {
                feed.restored();
                backoff = BACKOFF_FIRST;
                let cause = receive(&mut listener, &feed).await;
                reported = feed.lost(&cause);
                // The connection may be broken mid-message: close it rather than reuse it.
                drop(listener);
                let _ = tokio::time::timeout(CONNECT_DEADLINE, pool.close()).await;
                None
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

/// Delivers events until the connection is lost; returns why.
async fn receive(listener: &mut PgListener, feed: &Feed) -> String {
    loop {
        match tokio::time::timeout(SILENCE_LIMIT, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                if let Some(change) = Change::decode(notification.payload()) {
                    feed.deliver(change);
                }
            }
            Ok(Ok(None)) => return "connection closed".to_owned(),
            Ok(Err(err)) => return err.to_string(),
            Err(_) => {
                return format!(
                    "nothing heard for {} s, not even a heartbeat",
                    SILENCE_LIMIT.as_secs()
                );
            }
        }
    }
}

/// Publishes a heartbeat on the channel now and then, through the request pool: every
/// listener (this replica's and the others') hears something well within `SILENCE_LIMIT`.
async fn heartbeats(requests: AnyPool) {
    let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        ticks.tick().await;
        let sent = tokio::time::timeout(
            CONNECT_DEADLINE,
            sqlx::query("SELECT pg_notify($1, $2)::text AS sent")
                .bind(CHANNEL)
                .bind(HEARTBEAT)
                .execute(&requests),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            // The listener notices on its own if this goes on; one log line per failure would
            // repeat what the database-outage logs already say.
            tracing::debug!("change-listener heartbeat not sent");
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

//! Change events: what a committed write may have made stale in another replica's caches.
//!
//! Every write that a cache could hide (a pool's configuration, roles, tags or principal-tag
//! maps; an OpenID Connect provider's registration; an identity disabled, deleted, merged or
//! unlinked; the signing keys) names what it changed. On PostgreSQL the store publishes that
//! with `pg_notify` inside the writing transaction, so the event exists if and only if the
//! change committed, and every replica's listener (`sql::listener`) hears it. SQLite is one
//! process: the event is delivered in-process after the commit.
//!
//! Subscribers (the service's caches) receive `Signal`s. A cache entry is only trustworthy
//! while the feed is coherent: `ChangeFeed::coherence` is the epoch of the current listening
//! session, or `None` while the listener is down and events may be missed. A cache records the
//! epoch an entry was loaded in and ignores entries of any other epoch, so nothing loaded
//! before an outage is served after it, even before the subscriber has processed the signals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use idbroker_domain::{IdentityId, IdentityPoolId};
use tokio::sync::broadcast;

/// The PostgreSQL channel every replica listens on.
pub const CHANNEL: &str = "idbroker_changes";

/// PostgreSQL refuses payloads of 8000 bytes or more; anything longer than this is published
/// as `Change::All` instead (never the case for ids, which are bounded far below).
const MAX_PAYLOAD: usize = 1000;

/// How many signals a slow subscriber may fall behind before it is told it lagged (and must
/// then drop everything, as it cannot know what it missed).
const BUFFER: usize = 1024;

/// What a committed change may have made stale.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// A pool's configuration, roles, tags, lifetimes or principal-tag maps, or the pool itself.
    Pool(IdentityPoolId),
    /// The registration of an OpenID Connect provider, by its key (the issuer without scheme).
    OidcProvider(String),
    /// An identity disabled, deleted, merged away, unlinked or revoked.
    Identity(IdentityId),
    /// The signing keys (a rotation): replicas reload their key ring.
    SigningKeys,
    /// Anything: drop every cache.
    All,
}

impl Change {
    /// The compact NOTIFY payload: a one-letter kind, a space, the name.
    pub fn encode(&self) -> String {
        let text = match self {
            Self::Pool(id) => format!("p {id}"),
            Self::OidcProvider(key) => format!("o {key}"),
            Self::Identity(id) => format!("i {id}"),
            Self::SigningKeys => "k".to_owned(),
            Self::All => "*".to_owned(),
        };
        if text.len() > MAX_PAYLOAD {
            "*".to_owned()
        } else {
            text
        }
    }

    /// Reads a payload. Anything unreadable (a newer replica's kind, a hand-made NOTIFY) is
    /// `All`: dropping too much is safe, dropping too little is not. `None` for a heartbeat.
    pub fn decode(payload: &str) -> Option<Self> {
        if payload == HEARTBEAT {
            return None;
        }
        let (kind, name) = payload.split_once(' ').unwrap_or((payload, ""));
        Some(match (kind, name) {
            ("p", id) => IdentityPoolId::parse("pool", id).map_or(Self::All, Self::Pool),
            ("o", key) if !key.is_empty() && key.len() <= MAX_PAYLOAD => {
                Self::OidcProvider(key.to_owned())
            }
            ("i", id) => IdentityId::parse("identity", id).map_or(Self::All, Self::Identity),
            ("k", "") => Self::SigningKeys,
            _ => Self::All,
        })
    }

    /// A bounded metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Pool(_) => "pool",
            Self::OidcProvider(_) => "oidc_provider",
            Self::Identity(_) => "identity",
            Self::SigningKeys => "signing_keys",
            Self::All => "all",
        }
    }
}

/// The payload of the listener's heartbeat: proves the listening connection still delivers.
pub(crate) const HEARTBEAT: &str = "h";

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    Changed(Change),
    /// The listener lost its connection: events may be missed from now on (caches are
    /// bypassed until `Restored`).
    Lost,
    /// Listening again (or for the first time): anything cached before may have missed events.
    Restored,
}

/// Where caches learn about changes (implemented by `SqlStore`).
pub trait ChangeFeed: Send + Sync {
    /// Signals from now on.
    fn subscribe(&self) -> broadcast::Receiver<Signal>;

    /// The current listening session while every committed change is being delivered;
    /// `None` while events may be missed. A cache may serve an entry only if it was loaded in
    /// the session that is current now.
    fn coherence(&self) -> Option<u64>;
}

/// The delivering half, shared by the store and its listener.
#[derive(Debug)]
pub(crate) struct Feed {
    sender: broadcast::Sender<Signal>,
    /// 0 while incoherent, else the session number (see `ChangeFeed::coherence`).
    session: AtomicU64,
    /// The last session number handed out.
    sessions: AtomicU64,
    /// A listener that has heard nothing for this long may have a silent connection (half
    /// open, or a pooler that swallows notifications): the feed is then incoherent at once,
    /// not when the listener gives up on the connection. `None`: in-process (SQLite).
    lease: Option<Duration>,
    origin: Instant,
    /// When the listener last heard anything (its own heartbeats included), in milliseconds
    /// since `origin`.
    heard_at: AtomicU64,
}

impl Feed {
    /// A feed that starts coherent (in-process delivery: nothing can be missed) or not (a
    /// listener has yet to connect).
    pub(crate) fn new(coherent: bool) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        let feed = Self {
            sender,
            session: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            lease: None,
            origin: Instant::now(),
            heard_at: AtomicU64::new(0),
        };
        if coherent {
            feed.session.store(feed.next_session(), Ordering::SeqCst);
        }
        metrics::gauge!("idbroker_cache_coherent").set(if coherent { 1.0 } else { 0.0 });
        feed
    }

    /// A feed fed by a listener that must hear something at least every `lease` to be trusted.
    pub(crate) fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The listener heard a notification (an event or a heartbeat): its connection delivers.
    /// Heard again after the lease lapsed, the feed starts a new session: copies loaded before
    /// the silence are void, as after a lost connection (nothing is lost on a connection that
    /// merely stalled, but events heard late may reach the caches after they were trusted
    /// again).
    pub(crate) fn heard(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let before = self.heard_at.swap(now, Ordering::SeqCst);
        let lapsed = self
            .lease
            .is_some_and(|lease| Duration::from_millis(now.saturating_sub(before)) >= lease);
        if lapsed && self.session.load(Ordering::SeqCst) != 0 {
            let session = self.next_session();
            self.session.store(session, Ordering::SeqCst);
            tracing::info!(
                session,
                "change listener heard again after a silence: caches start over"
            );
            let _ = self.sender.send(Signal::Restored);
        }
    }

    fn lease_holds(&self) -> bool {
        let Some(lease) = self.lease else {
            return true;
        };
        let heard = Duration::from_millis(self.heard_at.load(Ordering::SeqCst));
        self.origin.elapsed().saturating_sub(heard) < lease
    }

    fn next_session(&self) -> u64 {
        self.sessions.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.sender.subscribe()
    }

    pub(crate) fn coherence(&self) -> Option<u64> {
        match self.session.load(Ordering::SeqCst) {
            0 => None,
            _ if !self.lease_holds() => None,
            session => Some(session),
        }
    }

    pub(crate) fn deliver(&self, change: Change) {
        metrics::counter!("idbroker_cache_events_total", "kind" => change.kind()).increment(1);
        // No subscriber is not an error: nothing is cached then.
        let _ = self.sender.send(Signal::Changed(change));
    }

    /// The listener lost its connection (or could not make one). Logged once per outage;
    /// true if the feed was coherent until now.
    pub(crate) fn lost(&self, cause: &str) -> bool {
        let was_coherent = self.session.swap(0, Ordering::SeqCst) != 0;
        if was_coherent {
            tracing::warn!(
                cause,
                "change listener lost: caches are bypassed until it listens again"
            );
            metrics::gauge!("idbroker_cache_coherent").set(0.0);
            let _ = self.sender.send(Signal::Lost);
        }
        was_coherent
    }

    /// The listener listens again: a new session, so entries of earlier ones are not served.
    pub(crate) fn restored(&self) {
        self.heard();
        let session = self.next_session();
        self.session.store(session, Ordering::SeqCst);
        tracing::info!(session, "change listener listening: caches in use");
        metrics::gauge!("idbroker_cache_coherent").set(1.0);
        let _ = self.sender.send(Signal::Restored);
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_anything_else_drops_everything() {
        let pool = IdentityPoolId::parse("p", "us-east-1:11111111-2222-3333-4444-555555555555")
            .unwrap_or_else(|e| panic!("{e:?}"));
        let identity = IdentityId::parse("i", "us-east-1:11111111-2222-3333-4444-666666666666")
            .unwrap_or_else(|e| panic!("{e:?}"));
        for change in [
            Change::Pool(pool),
            Change::OidcProvider("login.example.com/tenant".into()),
            Change::Identity(identity),
            Change::SigningKeys,
            Change::All,
        ] {
            assert_eq!(Change::decode(&change.encode()), Some(change.clone()));
        }
        assert_eq!(Change::decode("h"), None);
        for junk in ["", "p", "p not-an-id", "x y", "k extra", "o "] {
            assert_eq!(Change::decode(junk), Some(Change::All), "{junk:?}");
        }
        let long = Change::OidcProvider("a".repeat(10_000));
        assert_eq!(long.encode(), "*");
    }

    #[test]
    fn sessions_change_on_every_restore_and_vanish_on_loss() {
        let feed = Feed::new(false);
        assert_eq!(feed.coherence(), None);
        feed.restored();
        let first = feed.coherence();
        assert!(first.is_some());
        feed.lost("test");
        assert_eq!(feed.coherence(), None);
        feed.restored();
        assert!(feed.coherence().is_some() && feed.coherence() != first);
    }

    #[test]
    fn a_listener_that_hears_nothing_for_its_lease_is_not_trusted() {
        let feed = Feed::new(false).with_lease(Duration::from_millis(50));
        feed.restored();
        let session = feed.coherence();
        assert!(session.is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(feed.coherence(), None, "silent past the lease");
        feed.heard();
        let again = feed.coherence();
        assert!(
            again.is_some() && again != session,
            "heard again: a new session"
        );
        feed.heard();
        assert_eq!(
            feed.coherence(),
            again,
            "within the lease: the same session"
        );
    }
}

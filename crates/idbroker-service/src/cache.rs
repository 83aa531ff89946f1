//! A per-replica copy of what the public operations read on every call (a pool's
//! configuration, a registered OpenID Connect provider), kept coherent with every replica's
//! writes by the store's change events (see `coherence` and `idbroker_store::ChangeFeed`).
//!
//! An entry is served only while all of these hold:
//! - the feed is coherent and in the same session as when the entry was loaded (after the
//!   change listener lost its connection, events may have been missed: nothing loaded before
//!   is trusted, and nothing is cached until it listens again);
//! - no event named it since (events drop entries as they arrive);
//! - it is younger than `ttl`, a backstop for changes made behind the store's back (by hand
//!   in SQL), not the way changes propagate.
//!
//! A load races with events: a replica may read the old row, hear the event, and only then
//! put what it read. So `put` takes the `Ticket` drawn before the read and is refused if any
//! entry was dropped in between (a conservative, cache-wide generation: a refused put only
//! costs one more read later).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// More entries than this and the cache starts over, so it cannot grow without bound.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct CoherentCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    inner: RwLock<Inner<K, V>>,
}

struct Inner<K, V> {
    /// Moves on with every drop, so a load that overlapped one is not put.
    generation: u64,
    entries: HashMap<K, Entry<V>>,
}

struct Entry<V> {
    loaded: Instant,
    session: u64,
    value: V,
}

/// Drawn before reading the store; `put` needs it (see the module's comment).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    session: Option<u64>,
}

impl<K: Eq + Hash, V: Clone> CoherentCache<K, V> {
    /// A `ttl` of zero turns the cache off.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self::bounded(ttl, MAX_ENTRIES)
    }

    pub(crate) fn bounded(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            inner: RwLock::new(Inner {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner<K, V>> {
        // A poisoned lock only means a panic elsewhere; the map itself is always valid.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner<K, V>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for `key`, if it may be served in the feed's current `session`.
    pub(crate) fn get(&self, key: &K, session: Option<u64>) -> Option<V> {
        let session = session?;
        let inner = self.read();
        let entry = inner.entries.get(key)?;
        (entry.session == session && entry.loaded.elapsed() < self.ttl).then(|| entry.value.clone())
    }

    /// Taken before reading the store for a `put`.
    pub(crate) fn ticket(&self, session: Option<u64>) -> Ticket {
        Ticket {
            generation: self.read().generation,
            session,
        }
    }

    /// Keeps what was read with `ticket`, unless the cache is off, the feed was or is
    /// incoherent, its session changed, or an entry was dropped since the ticket was drawn.
    pub(crate) fn put(&self, ticket: Ticket, key: K, value: V, session_now: Option<u64>) {
        let Some(session) = ticket.session else {
            return;
        };
        if self.ttl.is_zero() || session_now != Some(session) {
            return;
        }
        let mut inner = self.write();
        if inner.generation != ticket.generation {
            return;
        }
        if inner.entries.len() >= self.max_entries {
            inner.entries.clear();
        }
        inner.entries.insert(
            key,
            Entry {
                loaded: Instant::now(),
                session,
                value,
            },
        );
    }

    pub(crate) fn forget(&self, key: &K) {
        let mut inner = self.write();
        inner.generation += 1;
        inner.entries.remove(key);
    }

    /// Drops every entry `doomed` names (for what an event names by value, not by key).
    pub(crate) fn forget_where(&self, doomed: impl Fn(&K, &V) -> bool) {
        let mut inner = self.write();
        inner.generation += 1;
        inner
            .entries
            .retain(|key, entry| !doomed(key, &entry.value));
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.write();
        inner.generation += 1;
        inner.entries.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.read().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: Option<u64> = Some(1);

    fn cache() -> CoherentCache<&'static str, u32> {
        CoherentCache::new(Duration::from_secs(300))
    }

    #[test]
    fn an_entry_is_served_in_its_session_until_an_event_drops_it() {
        let c = cache();
        c.put(c.ticket(S1), "a", 1, S1);
        assert_eq!(c.get(&"a", S1), Some(1));
        c.forget(&"a");
        assert_eq!(c.get(&"a", S1), None);
    }

    #[test]
    fn nothing_is_served_or_kept_while_incoherent_or_from_another_session() {
        let c = cache();
        c.put(c.ticket(S1), "a", 1, S1);
        assert_eq!(c.get(&"a", None), None, "the listener is down");
        assert_eq!(c.get(&"a", Some(2)), None, "loaded before an outage");
        c.put(c.ticket(None), "b", 2, S1);
        assert_eq!(c.get(&"b", S1), None, "read while incoherent");
        c.put(c.ticket(S1), "c", 3, None);
        assert_eq!(c.get(&"c", S1), None, "incoherent by the time it was read");
        c.put(c.ticket(S1), "d", 4, Some(2));
        assert_eq!(c.get(&"d", Some(2)), None, "read across a new session");
    }

    #[test]
    fn a_read_that_overlapped_an_event_is_not_kept() {
        let c = cache();
        let ticket = c.ticket(S1);
        c.forget(&"a"); // the event arrives while the old row is being read
        c.put(ticket, "a", 1, S1);
        assert_eq!(c.get(&"a", S1), None);
        c.put(c.ticket(S1), "a", 2, S1);
        assert_eq!(c.get(&"a", S1), Some(2), "the next read is kept");
    }

    #[test]
    fn entries_expire_and_a_zero_lifetime_keeps_nothing() {
        let c = CoherentCache::new(Duration::from_millis(20));
        c.put(c.ticket(S1), "a", 1, S1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&"a", S1), None);
        let off = CoherentCache::new(Duration::ZERO);
        off.put(off.ticket(S1), "a", 1, S1);
        assert_eq!(off.get(&"a", S1), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = CoherentCache::bounded(Duration::from_secs(300), 3);
        for i in 0..10u32 {
            c.put(c.ticket(S1), i, i, S1);
            assert!(c.len() <= 3, "{} entries", c.len());
        }
        assert_eq!(c.get(&9, S1), Some(9), "the newest entry is kept");
        c.clear();
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn entries_are_dropped_by_value_and_a_read_overlapping_that_is_not_kept() {
        let c = cache();
        c.put(c.ticket(S1), "a", 1, S1);
        c.put(c.ticket(S1), "b", 2, S1);
        c.put(c.ticket(S1), "c", 1, S1);
        let ticket = c.ticket(S1);
        c.forget_where(|_, v| *v == 1);
        assert_eq!((c.get(&"a", S1), c.get(&"c", S1)), (None, None));
        assert_eq!(c.get(&"b", S1), Some(2));
        c.put(ticket, "a", 1, S1);
        assert_eq!(c.get(&"a", S1), None, "read before the drop");
    }
}

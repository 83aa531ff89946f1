//! Abuse controls on the public operations (GetId, GetOpenIdToken, GetCredentialsForIdentity,
//! UnlinkIdentity, and their REST twins): token buckets per client IP and, for GetId, per
//! identity pool. A refused call is TooManyRequestsException (429 on REST) with Retry-After.
//!
//! The key space is bounded, because every key is memory an anonymous caller can make us
//! hold: keys are parsed values only (an `IpAddr`, a validated `IdentityPoolId`), idle buckets
//! are swept on a timer, and at `MAX_KEYS` live buckets (only reachable by a flood from that
//! many distinct sources within one sweep period) every call shares one overflow bucket until
//! a sweep makes room: a degraded but bounded mode.
//!
//! The client IP is the connection's peer, or — behind `trusted_proxy_hops` proxies — the
//! address the outermost trusted proxy saw, counted from the right of `X-Forwarded-For`
//! (every proxy appends its peer; only the entries our own proxies appended are trustworthy).
//!
//! Buckets read time from the broker's `Clock` (its monotonic side), so a test that moves the
//! clock by hand decides exactly when a bucket refills.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use idbroker_domain::IdentityPoolId;
use idbroker_service::Clock;

/// Limits as configured; zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests per second per client IP (bursts up to the same number).
    pub per_ip: u32,
    /// GetId calls per second per identity pool.
    pub per_pool: u32,
    /// How many proxies in front of idbroker append to X-Forwarded-For (0: use the peer).
    pub trusted_proxy_hops: u8,
}

/// Live buckets per limiter before new keys share the overflow bucket. A bucket is a few
/// dozen bytes, so this bounds each limiter to a few MiB.
pub const MAX_KEYS: usize = 100_000;

/// How often buckets that have refilled are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How long to wait before trying again, in whole seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// A limiter key: a parsed value, or the one bucket shared by every key past the cap.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key<T> {
    Known(T),
    Overflow,
}

/// The broker's clock as governor reads it: time since a fixed origin, never stepping back.
#[derive(Clone)]
struct BucketClock(Arc<dyn Clock>);

impl governor::clock::Clock for BucketClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.monotonic()
    }
}

struct Limiter<T: Hash + Eq + Clone> {
    buckets:
        RateLimiter<Key<T>, DefaultKeyedStateStore<Key<T>>, BucketClock, NoOpMiddleware<Duration>>,
    clock: BucketClock,
    last_sweep: Mutex<Duration>,
    label: &'static str,
}

impl<T: Hash + Eq + Clone> Limiter<T> {
    fn new(per_second: u32, label: &'static str, clock: &Arc<dyn Clock>) -> Option<Self> {
        let clock = BucketClock(clock.clone());
        NonZeroU32::new(per_second).map(|n| Self {
            buckets: RateLimiter::dashmap_with_clock(Quota::per_second(n), clock.clone()),
            last_sweep: Mutex::new(clock.now()),
            clock,
            label,
        })
    }

    fn check(&self, key: T) -> Result<(), RetryAfter> {
        self.sweep_if_due(SWEEP_EVERY);
        let mut key = Key::Known(key);
        if self.buckets.len() >= MAX_KEYS {
            // Full: try to make room (at most once a second), else share the overflow bucket.
            self.sweep_if_due(Duration::from_secs(1));
            if self.buckets.len() >= MAX_KEYS {
                key = Key::Overflow;
            }
        }
        self.buckets.check_key(&key).map_err(|not_until| {
            metrics::counter!("idbroker_rate_limited_total", "limit" => self.label).increment(1);
            let wait = not_until.wait_time_from(self.clock.now());
            RetryAfter(wait.as_secs() + 1)
        })
    }

    fn sweep_if_due(&self, period: Duration) {
        let now = self.clock.now();
        let due = match self.last_sweep.lock() {
            Ok(mut last) if now.saturating_sub(*last) >= period => {
                *last = now;
                true
            }
            _ => false,
        };
        if due {
            self.sweep();
        }
    }

    fn sweep(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.buckets.len()
    }
}

pub struct RateLimits {
    per_ip: Option<Limiter<IpAddr>>,
    per_pool: Option<Limiter<IdentityPoolId>>,
    trusted_proxy_hops: u8,
}

/// The client's address: `hops` entries from the right of X-Forwarded-For when that many
/// trusted proxies sit in front, else the peer. A header shorter than `hops` means a trusted
/// proxy was bypassed, so it is ignored; anything unparsable falls back to the peer.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, hops: u8) -> Option<IpAddr> {
    let from_header = (hops > 0)
        .then_some(forwarded_for)
        .flatten()
        .and_then(|header| {
            header
                .rsplit(',')
                .nth(usize::from(hops) - 1)
                .and_then(parse_forwarded_address)
        });
    from_header.or(peer).map(canonical)
}

/// The client address of a request, as `client_ip` counts it. Every `X-Forwarded-For` line
/// counts, joined in order: a proxy may add its own line (HAProxy does) rather than append to
/// the client's, and reading only the first line would let the client pick its address.
pub fn request_client_ip(req: &HttpRequest, hops: u8) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    if hops == 0 {
        return peer.map(canonical);
    }
    let lines: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    client_ip(
        peer,
        Some(&lines.join(","))
            .filter(|_| !lines.is_empty())
            .map(String::as_str),
        hops,
    )
}

/// One X-Forwarded-For entry: an address, perhaps with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if entry.len() > 64 {
        return None;
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// One bucket per IPv6 /64 (what one subscriber usually gets), and IPv4 mapped into IPv6
/// counted as IPv4, so a client cannot mint keys by walking its own prefix.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl RateLimits {
    /// Limits on `clock`'s time (the broker's clock, so tests can move it).
    pub fn new(settings: RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            per_ip: Limiter::new(settings.per_ip, "ip", &clock),
            per_pool: Limiter::new(settings.per_pool, "pool", &clock),
            trusted_proxy_hops: settings.trusted_proxy_hops,
        }
    }

    fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        request_client_ip(req, self.trusted_proxy_hops)
    }

    /// How many proxies' `X-Forwarded-For` entries are trusted.
    pub fn trusted_proxy_hops(&self) -> u8 {
        self.trusted_proxy_hops
    }

    /// One public call from this client.
    pub fn check_client(&self, req: &HttpRequest) -> Result<(), RetryAfter> {
        let (Some(limiter), Some(ip)) = (&self.per_ip, self.client_ip(req)) else {
            return Ok(());
        };
        limiter.check(ip)
    }

    /// One GetId call on this pool. Only a parsed id becomes a key: a malformed one is refused
    /// by validation before it costs memory here.
    pub fn check_pool(&self, pool_id: &IdentityPoolId) -> Result<(), RetryAfter> {
        match &self.per_pool {
            Some(limiter) => limiter.check(pool_id.clone()),
            None => Ok(()),
        }
    }

    /// Forgets buckets that have refilled, so idle clients do not hold memory.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_ip {
            l.sweep();
        }
        if let Some(l) = &self.per_pool {
            l.sweep();
        }
    }

    /// Live buckets (per IP, per pool), for tests and metrics.
    pub fn live_keys(&self) -> (usize, usize) {
        (
            self.per_ip.as_ref().map_or(0, Limiter::len),
            self.per_pool.as_ref().map_or(0, Limiter::len),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(client_ip(peer, Some("1.2.3.4"), 0), peer);
    }

    #[test]
    fn the_client_is_counted_from_the_right() {
        let peer = Some(ip("10.0.0.1"));
        // A spoofed leftmost entry, then what the load balancer appended.
        assert_eq!(
            client_ip(peer, Some("6.6.6.6, 203.0.113.7"), 1),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client_ip(peer, Some("6.6.6.6, 203.0.113.7, 10.1.1.1"), 2),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn a_short_or_garbage_header_falls_back_to_the_peer() {
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(client_ip(peer, Some("203.0.113.7"), 2), peer);
        assert_eq!(client_ip(peer, Some("not-an-ip"), 1), peer);
        assert_eq!(client_ip(peer, Some(""), 1), peer);
        assert_eq!(client_ip(peer, None, 1), peer);
    }

    #[test]
    fn ports_and_brackets_are_understood() {
        assert_eq!(client_ip(None, Some("1.2.3.4:55"), 1), Some(ip("1.2.3.4")));
        assert_eq!(
            client_ip(None, Some("[2001:db8::1]:443"), 1),
            Some(ip("2001:db8::"))
        );
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        assert_eq!(
            canonical(ip("2001:db8:1:2:aaaa::1")),
            canonical(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_eq!(canonical(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }

    /// A clock that moves only when the test says so.
    #[derive(Default)]
    struct StoppedClock(Mutex<Duration>);

    impl StoppedClock {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for StoppedClock {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            chrono::DateTime::UNIX_EPOCH + self.monotonic()
        }

        fn monotonic(&self) -> Duration {
            *self.0.lock().unwrap()
        }
    }

    fn limits(per_ip: u32, per_pool: u32) -> (RateLimits, Arc<StoppedClock>) {
        let clock = Arc::new(StoppedClock::default());
        let settings = RateLimitSettings {
            per_ip,
            per_pool,
            trusted_proxy_hops: 0,
        };
        (RateLimits::new(settings, clock.clone()), clock)
    }

    #[test]
    fn a_bucket_refills_on_the_clock_and_says_when() {
        let (limits, clock) = limits(4, 0);
        let limiter = limits.per_ip.as_ref().unwrap();
        let client = ip("198.51.100.1");
        for _ in 0..4 {
            limiter.check(client).unwrap();
        }
        // One token comes back every 250 ms: a wait under a second rounds up to 1.
        assert_eq!(limiter.check(client), Err(RetryAfter(1)));
        clock.advance(Duration::from_millis(249));
        assert_eq!(limiter.check(client), Err(RetryAfter(1)));
        clock.advance(Duration::from_millis(1));
        limiter.check(client).unwrap();
        assert!(limiter.check(client).is_err());
        // Another client has its own bucket.
        limiter.check(ip("198.51.100.2")).unwrap();
    }

    #[test]
    fn idle_buckets_are_swept_once_they_have_refilled() {
        let (limits, clock) = limits(2, 0);
        let limiter = limits.per_ip.as_ref().unwrap();
        limiter.check(ip("198.51.100.1")).unwrap();
        limiter.check(ip("198.51.100.2")).unwrap();
        limits.forget_idle();
        assert_eq!(limits.live_keys(), (2, 0), "neither bucket has refilled");
        clock.advance(Duration::from_secs(1));
        limits.forget_idle();
        assert_eq!(limits.live_keys(), (0, 0));
    }

    #[test]
    fn the_key_space_is_capped() {
        let (limits, _clock) = limits(1, 0);
        let limiter = limits.per_ip.as_ref().unwrap();
        for n in 0..(MAX_KEYS as u32 + 500) {
            let _ = limiter.check(IpAddr::from(n.to_be_bytes()));
        }
        assert!(limiter.len() <= MAX_KEYS + 1, "{}", limiter.len());
        // Past the cap, new clients share the overflow bucket, which the 500 clients past the
        // cap have already emptied (the clock has not moved, so nothing was swept): a full
        // second to wait, rounded up.
        assert_eq!(limiter.check(ip("198.51.100.1")), Err(RetryAfter(2)));
    }
}

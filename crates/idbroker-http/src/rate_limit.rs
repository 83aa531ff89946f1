//! Abuse controls on the public operations (GetId, GetOpenIdToken, GetCredentialsForIdentity,
//! UnlinkIdentity, and their REST twins): token buckets per client IP and, for GetId, per
//! identity pool. A refused call is TooManyRequestsException (429 on REST) with Retry-After.
//! The client IP is the connection's peer, or the first X-Forwarded-For address when the
//! deployment says its load balancer sets it.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Limits as configured; zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests per second per client IP (bursts up to the same number).
    pub per_ip: u32,
    /// GetId calls per second per identity pool.
    pub per_pool: u32,
    /// Take the client IP from X-Forwarded-For (only behind a load balancer that sets it).
    pub trust_forwarded_for: bool,
}

pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<String>>,
    per_pool: Option<DefaultKeyedRateLimiter<String>>,
    trust_forwarded_for: bool,
    /// Counts checks, to forget idle buckets now and then.
    checks: AtomicU64,
}

/// Every this many checks, buckets that have refilled are dropped.
const FORGET_EVERY: u64 = 10_000;

/// How long to wait before trying again, in whole seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn limiter(per_second: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_second).map(|n| RateLimiter::keyed(Quota::per_second(n)))
}

fn check(limiter: &Option<DefaultKeyedRateLimiter<String>>, key: String) -> Result<(), RetryAfter> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(&key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        RetryAfter(wait.as_secs() + 1)
    })
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            per_ip: limiter(settings.per_ip),
            per_pool: limiter(settings.per_pool),
            trust_forwarded_for: settings.trust_forwarded_for,
            checks: AtomicU64::new(0),
        }
    }

    fn client_ip(&self, req: &HttpRequest) -> String {
        let forwarded = self
            .trust_forwarded_for
            .then(|| {
                req.headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
            })
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(|ip| ip.trim().to_owned());
        forwarded
            .or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// One public call from this client.
    pub fn check_client(&self, req: &HttpRequest) -> Result<(), RetryAfter> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.forget_idle();
        }
        let result = check(&self.per_ip, self.client_ip(req));
        if result.is_err() {
            metrics::counter!("idbroker_rate_limited_total", "limit" => "ip").increment(1);
        }
        result
    }

    /// One GetId call on this pool.
    pub fn check_pool(&self, pool_id: &str) -> Result<(), RetryAfter> {
        let result = check(&self.per_pool, pool_id.to_owned());
        if result.is_err() {
            metrics::counter!("idbroker_rate_limited_total", "limit" => "pool").increment(1);
        }
        result
    }

    /// Forgets buckets that have refilled, so idle clients do not hold memory.
    pub fn forget_idle(&self) {
        for limiter in [&self.per_ip, &self.per_pool].into_iter().flatten() {
            limiter.retain_recent();
        }
    }
}

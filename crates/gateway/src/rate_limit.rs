//! Rate limiting with GCRA (the generic cell rate algorithm: a steady rate
//! plus a burst), per client IP on every request, per client IP more strictly
//! on the credential endpoints, and per authenticated subject. In-process by
//! default; with `redis.url` the state lives in Redis (one atomic script per
//! check, on Redis's clock), so every gateway replica draws on one budget.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use fred::prelude::LuaInterface;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};
use platform::http::problem::Problem;
use platform::storage::redis::Redis;
use platform::tokens::AccessClaims;
use tokio_util::sync::CancellationToken;

use crate::config::{Rate, RateLimitConfig};
use crate::routes::Route;

/// GCRA on Redis's clock. KEYS[1]: the key; ARGV: emission interval (µs), burst.
/// Returns 0 when allowed, else the microseconds until it would be.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - burst * interval
if allow_at > now then return allow_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

/// What a limit counts by. In-process, the limiter's table is keyed by it as
/// it is (no string made per request); in Redis, by its text.
#[derive(Clone, Debug)]
enum Key {
    /// The client's address; `None` when it cannot be told (all such share one budget).
    Ip(Option<IpAddr>),
    /// The verified subject (`sub`) of the request's token.
    Subject(Arc<AccessClaims>),
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Key::Ip(a), Key::Ip(b)) => a == b,
            (Key::Subject(a), Key::Subject(b)) => a.sub == b.sub,
            _ => false,
        }
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Key::Ip(ip) => ip.hash(state),
            Key::Subject(claims) => claims.sub.hash(state),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Ip(Some(ip)) => ip.fmt(f),
            Key::Ip(None) => f.write_str("unknown"),
            Key::Subject(claims) => f.write_str(&claims.sub),
        }
    }
}

enum Backend {
    /// Keyed with foldhash (seeded per process): with the default SipHash,
    /// hashing the key was most of a check.
    Local(Arc<DefaultKeyedRateLimiter<Key, NoOpMiddleware, foldhash::fast::RandomState>>),
    Redis(Redis),
}

struct Limiter {
    name: &'static str,
    rate: Rate,
    backend: Backend,
}

impl Limiter {
    fn new(
        name: &'static str,
        rate: Rate,
        redis: Option<Redis>,
        shutdown: &CancellationToken,
    ) -> Self {
        let backend = match redis {
            Some(redis) => Backend::Redis(redis),
            None => {
                let per_second = NonZeroU32::new(rate.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(rate.burst.max(1)).unwrap_or(NonZeroU32::MIN);
                let limiter = Arc::new(RateLimiter::dashmap_with_clock_and_hasher(
                    Quota::per_second(per_second).allow_burst(burst),
                    DefaultClock::default(),
                    foldhash::fast::RandomState::default(),
                ));
                // Forget idle keys, so the table stays as large as the active clients.
                let sweep = limiter.clone();
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(60)) => sweep.retain_recent(),
                        }
                    }
                });
                Backend::Local(limiter)
            }
        };
        Self {
            name,
            rate,
            backend,
        }
    }

    /// `Err(wait)` when `key` is over its rate.
    async fn check(&self, key: &Key) -> Result<(), Duration> {
        match &self.backend {
            Backend::Local(limiter) => limiter
                .check_key(key)
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
            // Boxed: a Redis call's future is kilobytes, and an async fn is as
            // large as its largest branch; in-process checks would carry it too.
            Backend::Redis(redis) => Box::pin(self.check_in_redis(redis, key)).await,
        }
    }

    async fn check_in_redis(&self, redis: &Redis, key: &Key) -> Result<(), Duration> {
        let interval_us = 1_000_000 / u64::from(self.rate.per_second.max(1));
        let result: Result<i64, _> = redis
            .client()
            .eval(
                GCRA,
                vec![redis.key(&format!("ratelimit:{}:{key}", self.name))],
                vec![interval_us.to_string(), self.rate.burst.max(1).to_string()],
            )
            .await;
        match result {
            Ok(0) => Ok(()),
            Ok(wait_us) => Err(Duration::from_micros(
                u64::try_from(wait_us).unwrap_or(1_000_000),
            )),
            Err(e) => {
                // Failing open keeps the platform up when Redis is not; the
                // services' own defences (lockout, verification) still apply.
                tracing::warn!(error = %e, limiter = self.name, "rate limit check failed; allowing");
                Ok(())
            }
        }
    }
}

#[derive(Clone)]
pub struct RateLimits {
    inner: Option<Arc<Limiters>>,
}

struct Limiters {
    per_ip: Limiter,
    credentials: Limiter,
    per_subject: Limiter,
}

impl RateLimits {
    pub fn new(
        config: &RateLimitConfig,
        redis: Option<Redis>,
        shutdown: &CancellationToken,
    ) -> Self {
        if !config.enabled {
            return Self { inner: None };
        }
        Self {
            inner: Some(Arc::new(Limiters {
                per_ip: Limiter::new("ip", config.per_ip, redis.clone(), shutdown),
                credentials: Limiter::new(
                    "credentials",
                    config.credentials_per_ip,
                    redis.clone(),
                    shutdown,
                ),
                per_subject: Limiter::new("subject", config.per_subject, redis, shutdown),
            })),
        }
    }
}

fn too_many(wait: Duration, limiter: &str) -> Response {
    metrics::counter!("gateway_rate_limited_total", "limiter" => limiter.to_owned()).increment(1);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        Some("rate limit exceeded".to_owned()),
    )
    .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// Before token checks: per client IP, and stricter on credential endpoints.
pub async fn by_client(
    limits: &RateLimits,
    route: Route,
    client: Option<IpAddr>,
) -> Result<(), Response> {
    let Some(limits) = limits.inner.as_deref() else {
        return Ok(());
    };
    let key = Key::Ip(client.map(platform::http::client_ip::bucket));
    let credentials = matches!(route, Route::Upstream(e) if e.credentials);
    if let Err(wait) = limits.per_ip.check(&key).await {
        return Err(too_many(wait, limits.per_ip.name));
    }
    if credentials && let Err(wait) = limits.credentials.check(&key).await {
        return Err(too_many(wait, limits.credentials.name));
    }
    Ok(())
}

/// After the token check: per authenticated subject (the verified claims).
pub async fn by_subject(
    limits: &RateLimits,
    subject: Option<&Arc<AccessClaims>>,
) -> Result<(), Response> {
    if let (Some(limits), Some(claims)) = (limits.inner.as_deref(), subject)
        && let Err(wait) = limits
            .per_subject
            .check(&Key::Subject(claims.clone()))
            .await
    {
        return Err(too_many(wait, limits.per_subject.name));
    }
    Ok(())
}

//! The revocation deny-list: sessions (`sid`) and single access tokens (`jti`)
//! that must stop working before their tokens expire. Entries live as long as
//! the tokens they stop, then expire on their own.
//!
//! In-process by default; in Redis when `redis.url` is set, so a logout on one
//! replica is seen by every service and replica on its next request.

use std::time::Duration;

use fred::prelude::{Expiration, KeysInterface};
use moka::sync::Cache;

use crate::storage::redis::Redis;
use crate::tokens::AccessClaims;

/// Longest access-token lifetime the in-process list must cover (the config allows up to 1 h).
const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(3600 + 60);

#[derive(Debug, thiserror::Error)]
#[error("revocation list unavailable: {0}")]
pub struct Unavailable(String);

#[derive(Clone)]
pub enum DenyList {
    /// Denied sessions by `sid` and tokens by `jti`: looked up by the bare
    /// ids, with no key to format on every request, hashed with foldhash
    /// (SipHash took as long as the rest of the lookup).
    InProcess {
        sessions: Cache<String, (), foldhash::fast::RandomState>,
        tokens: Cache<String, (), foldhash::fast::RandomState>,
    },
    Redis(Redis),
}

impl DenyList {
    pub fn new(redis: Option<Redis>) -> Self {
        match redis {
            Some(redis) => Self::Redis(redis),
            None => {
                let list = || {
                    Cache::builder()
                        .max_capacity(1_000_000)
                        .time_to_live(MAX_ENTRY_LIFETIME)
                        .build_with_hasher(foldhash::fast::RandomState::default())
                };
                Self::InProcess {
                    sessions: list(),
                    tokens: list(),
                }
            }
        }
    }

    /// Stops every access token of session `sid` for `ttl` (their longest remaining life).
    pub async fn deny_session(&self, sid: &str, ttl: Duration) -> Result<(), Unavailable> {
        match self {
            Self::InProcess { sessions, .. } => {
                sessions.insert(sid.to_owned(), ());
                Ok(())
            }
            Self::Redis(redis) => set(redis, &format!("deny:s:{sid}"), ttl).await,
        }
    }

    /// Stops one access token for `ttl` (its remaining life).
    pub async fn deny_token(&self, jti: &str, ttl: Duration) -> Result<(), Unavailable> {
        match self {
            Self::InProcess { tokens, .. } => {
                tokens.insert(jti.to_owned(), ());
                Ok(())
            }
            Self::Redis(redis) => set(redis, &format!("deny:t:{jti}"), ttl).await,
        }
    }

    pub async fn is_revoked(&self, claims: &AccessClaims) -> Result<bool, Unavailable> {
        match self {
            Self::InProcess { sessions, tokens } => Ok(sessions.contains_key(claims.sid.as_str())
                || tokens.contains_key(claims.jti.as_str())),
            // Boxed: a Redis call's future is kilobytes, and an async fn is as
            // large as its largest branch, so every check would carry (and
            // copy) it, even on the in-process list.
            Self::Redis(redis) => Box::pin(redis_is_revoked(redis, claims)).await,
        }
    }
}

async fn redis_is_revoked(redis: &Redis, claims: &AccessClaims) -> Result<bool, Unavailable> {
    let keys = [
        redis.key(&format!("deny:s:{}", claims.sid)),
        redis.key(&format!("deny:t:{}", claims.jti)),
    ];
    let found: i64 = redis
        .client()
        .exists(keys.to_vec())
        .await
        .map_err(|e| Unavailable(e.to_string()))?;
    Ok(found > 0)
}

async fn set(redis: &Redis, key: &str, ttl: Duration) -> Result<(), Unavailable> {
    let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
    redis
        .client()
        .set::<(), _, _>(redis.key(key), 1, Some(Expiration::EX(secs)), None, false)
        .await
        .map_err(|e| Unavailable(e.to_string()))
}

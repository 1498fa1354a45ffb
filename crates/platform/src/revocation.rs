//! The revocation deny-list: sessions (`sid`) and single access tokens (`jti`)
//! that must stop working before their tokens expire. Entries live as long as
//! the tokens they stop, then expire on their own.
//!
//! In-process by default; in Redis when `redis.url` is set, so a logout on one
//! replica is seen by every service and replica on its next request.

use std::time::Duration;

use fred::prelude::{Expiration, KeysInterface};
use moka::sync::Cache;

use crate::redis::Redis;
use crate::tokens::AccessClaims;

/// Longest access-token lifetime the in-process list must cover (the config allows up to 1 h).
const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(3600 + 60);

#[derive(Debug, thiserror::Error)]
#[error("revocation list unavailable: {0}")]
pub struct Unavailable(String);

#[derive(Clone)]
pub enum DenyList {
    InProcess(Cache<String, ()>),
    Redis(Redis),
}

impl DenyList {
    pub fn new(redis: Option<Redis>) -> Self {
        match redis {
            Some(redis) => Self::Redis(redis),
            None => Self::InProcess(
                Cache::builder()
                    .max_capacity(1_000_000)
                    .time_to_live(MAX_ENTRY_LIFETIME)
                    .build(),
            ),
        }
    }

    /// Stops every access token of session `sid` for `ttl` (their longest remaining life).
    pub async fn deny_session(&self, sid: &str, ttl: Duration) -> Result<(), Unavailable> {
        self.insert(&format!("deny:s:{sid}"), ttl).await
    }

    /// Stops one access token for `ttl` (its remaining life).
    pub async fn deny_token(&self, jti: &str, ttl: Duration) -> Result<(), Unavailable> {
        self.insert(&format!("deny:t:{jti}"), ttl).await
    }

    pub async fn is_revoked(&self, claims: &AccessClaims) -> Result<bool, Unavailable> {
        let keys = [
            format!("deny:s:{}", claims.sid),
            format!("deny:t:{}", claims.jti),
        ];
        match self {
            Self::InProcess(cache) => Ok(keys.iter().any(|k| cache.contains_key(k))),
            Self::Redis(redis) => {
                let keys: Vec<String> = keys.iter().map(|k| redis.key(k)).collect();
                let found: i64 = redis
                    .client()
                    .exists(keys)
                    .await
                    .map_err(|e| Unavailable(e.to_string()))?;
                Ok(found > 0)
            }
        }
    }

    async fn insert(&self, key: &str, ttl: Duration) -> Result<(), Unavailable> {
        match self {
            Self::InProcess(cache) => {
                cache.insert(key.to_owned(), ());
                Ok(())
            }
            Self::Redis(redis) => {
                let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
                redis
                    .client()
                    .set::<(), _, _>(redis.key(key), 1, Some(Expiration::EX(secs)), None, false)
                    .await
                    .map_err(|e| Unavailable(e.to_string()))
            }
        }
    }
}

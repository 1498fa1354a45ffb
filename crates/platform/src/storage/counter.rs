//! Counters over a fixed window (e.g. failed logins per client IP): in-process
//! by default, in Redis (`INCR` + `EXPIRE`) when `redis.url` is set so that
//! replicas count together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fred::prelude::KeysInterface;
use moka::sync::Cache;

use crate::storage::redis::Redis;

#[derive(Clone)]
pub enum WindowCounter {
    InProcess(Cache<String, Arc<AtomicU64>>),
    Redis {
        redis: Redis,
        namespace: String,
        window: Duration,
    },
}

impl WindowCounter {
    pub fn new(namespace: &str, window: Duration, redis: Option<Redis>) -> Self {
        match redis {
            Some(redis) => Self::Redis {
                redis,
                namespace: namespace.to_owned(),
                window,
            },
            None => Self::InProcess(
                Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(window)
                    .build(),
            ),
        }
    }

    /// Adds one to `key`'s count in the current window and returns the count.
    pub async fn increment(&self, key: &str) -> anyhow::Result<u64> {
        match self {
            Self::InProcess(cache) => Ok(cache
                .get_with(key.to_owned(), || Arc::new(AtomicU64::new(0)))
                .fetch_add(1, Ordering::Relaxed)
                + 1),
            Self::Redis {
                redis,
                namespace,
                window,
            } => {
                let key = redis.key(&format!("{namespace}:{key}"));
                let count: u64 = redis.client().incr(&key).await?;
                if count == 1 {
                    let secs = i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX);
                    redis.client().expire::<(), _>(&key, secs, None).await?;
                }
                Ok(count)
            }
        }
    }

    /// Takes back one count (an attempt drawn in advance that did not count).
    pub async fn decrement(&self, key: &str) -> anyhow::Result<()> {
        match self {
            Self::InProcess(cache) => {
                if let Some(count) = cache.get(key) {
                    let _ = count
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                }
            }
            Self::Redis {
                redis, namespace, ..
            } => {
                let key = redis.key(&format!("{namespace}:{key}"));
                let count: i64 = redis.client().decr(&key).await?;
                // At zero the key goes; below zero it had expired and DECR
                // made a new one without a lifetime, which must not stay.
                if count <= 0 {
                    redis.client().del::<(), _>(&key).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<u64> {
        match self {
            Self::InProcess(cache) => Ok(cache.get(key).map_or(0, |c| c.load(Ordering::Relaxed))),
            Self::Redis {
                redis, namespace, ..
            } => {
                let count: Option<u64> = redis
                    .client()
                    .get(redis.key(&format!("{namespace}:{key}")))
                    .await?;
                Ok(count.unwrap_or(0))
            }
        }
    }
}

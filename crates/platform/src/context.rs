//! What every service receives from the process that runs it: where its data
//! lives, the secrets provider, the shared backends, and the stop signal.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::config::RedisConfig;
use crate::secrets::FileSecrets;
use crate::storage::redis::Redis;
use crate::tokens::revocation::DenyList;

#[derive(Clone)]
pub struct Context {
    pub data_dir: PathBuf,
    pub secrets: FileSecrets,
    /// Shared Redis when `redis.url` is set; in-process state otherwise.
    pub redis: Option<Redis>,
    /// The revocation deny-list every token-checking service consults: one
    /// per process (shared by the services of `cloudsec up`), or Redis.
    pub deny: DenyList,
    /// Fires when the process shuts down; background tasks stop with it.
    pub shutdown: CancellationToken,
}

impl Context {
    pub async fn new(
        data_dir: PathBuf,
        secrets: FileSecrets,
        redis: &RedisConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let redis = Redis::connect(redis).await?;
        Ok(Self {
            data_dir,
            secrets,
            deny: DenyList::new(redis.clone()),
            redis,
            shutdown,
        })
    }
}

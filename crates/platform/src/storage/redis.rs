//! The shared Redis connection (`redis.url`): one client per process,
//! reconnecting on its own; every key carries `redis.key_prefix`.

use std::time::Duration;

use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};

use crate::config::RedisConfig;

#[derive(Clone)]
pub struct Redis {
    client: fred::clients::Client,
    prefix: String,
}

impl Redis {
    /// Connects, or fails with an error naming `redis.url`.
    pub async fn connect(config: &RedisConfig) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let parsed = Config::from_url(url).map_err(|e| anyhow::anyhow!("redis.url: {e}"))?;
        let client = Builder::from_config(parsed)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
            })
            .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(1))
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build()
            .map_err(|e| anyhow::anyhow!("redis.url: {e}"))?;
        client
            .init()
            .await
            .map_err(|e| anyhow::anyhow!("redis.url: cannot connect: {e}"))?;
        Ok(Some(Self {
            client,
            prefix: config.key_prefix.clone(),
        }))
    }

    pub fn client(&self) -> &fred::clients::Client {
        &self.client
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub async fn ping(&self) -> Result<(), fred::error::Error> {
        self.client.ping::<()>(None).await
    }
}

//! `[auth]` configuration section.

use std::net::SocketAddr;

use platform::config::{ConfigError, Validate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where `cloudsec serve auth` listens (`cloudsec up` picks a free loopback port).
    pub listen: SocketAddr,
    /// `sqlite://PATH`; unset: `<data_dir>/auth.db`.
    pub database_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: None,
        }
    }
}

impl Validate for Config {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Some(url) = &self.database_url
            && !url.starts_with("sqlite://")
        {
            errors.push(ConfigError::new(
                "auth.database_url",
                "must be a sqlite://PATH URL",
            ));
        }
    }
}

//! `[business]` configuration section.

use std::net::SocketAddr;
use std::path::PathBuf;

use platform::config::{ConfigError, Validate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where `cloudsec serve business` listens (`cloudsec up` picks a free loopback port).
    pub listen: SocketAddr,
    pub store: StoreKind,
    pub sqlite: SqliteConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8082)),
            store: StoreKind::Sqlite,
            sqlite: SqliteConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteConfig {
    /// Database file; default `<data_dir>/business.db`.
    pub path: Option<PathBuf>,
}

impl Validate for Config {
    fn validate(&self, _errors: &mut Vec<ConfigError>) {}
}

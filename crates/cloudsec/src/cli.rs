//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// CloudSec: a secure, cloud-native microservices platform (gateway, auth
/// service, business service) in one binary.
///
/// Configuration: defaults < TOML file (--config) < CLOUDSEC_<SECTION>__<KEY>
/// environment variables < flags. See docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "cloudsec", version, about)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "CLOUDSEC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Data directory for SQLite files and generated secrets (key `data_dir`, default ./.cloudsec).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in one process: the gateway on 127.0.0.1:PORT,
    /// auth and business on free loopback ports behind it, and the web UI
    /// from ./frontend/out (built first with npm when missing or stale;
    /// key `gateway.static_dir` to serve another export).
    Up {
        /// Gateway port (key `gateway.port`, default 8080; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Run one service (what a container runs).
    Serve {
        service: Service,
        /// Gateway port when serving the gateway (key `gateway.port`).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Manage the access-token signing keys in the secrets provider.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Service {
    Gateway,
    Auth,
    Business,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration; exit 0 if valid, 2 with the bad keys if not.
    Check,
    /// Print the effective configuration as TOML, secrets redacted.
    Print,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Add a new signing key. Running auth services start signing with it within
    /// seconds; the previous key stays published until its tokens have expired.
    Rotate,
    /// List key ids and creation times (never key material).
    List,
}

//! Shared runtime of the CloudSec services.
//!
//! Everything a service needs that is not its domain lives here once:
//! configuration loading, telemetry (logs, traces, metrics), the HTTP serving
//! stack with graceful shutdown, health endpoints, error bodies and secrets.

pub mod access_log;
pub mod breaker;
pub mod client_ip;
pub mod coarse_timer;
pub mod config;
pub mod context;
pub mod counter;
pub mod crypto;
pub mod data_dir;
pub mod health;
pub mod http_metrics;
pub mod json;
pub mod jwks;
pub mod log_writer;
pub mod problem;
pub mod redis;
pub mod revocation;
pub mod secrets;
pub mod server;
pub mod sqlite;
pub mod stack;
pub mod telemetry;
pub mod tokens;
pub mod trace_context;
pub mod username;

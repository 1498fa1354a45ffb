//! Shared runtime of the CloudSec services.
//!
//! Everything a service needs that is not its domain lives here once, by
//! concern:
//! - [`config`]: one configuration schema, layered defaults < file < env < flags;
//! - [`context`]: what every service receives from the process that runs it;
//! - [`http`]: serving, the request stack, health, error bodies, client address;
//! - [`telemetry`]: logs, the access line, traces, metrics;
//! - [`tokens`]: access-token verification, the issuer's keys, the deny-list;
//! - [`secrets`]: the secrets store and envelope encryption;
//! - [`storage`]: the data directory, SQLite, Redis, shared counters;
//! - [`username`]: the one rule for usernames, shared by auth and business.

pub mod config;
pub mod context;
pub mod http;
pub mod secrets;
pub mod storage;
pub mod telemetry;
pub mod tokens;
pub mod username;

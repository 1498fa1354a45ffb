//! `[auth]` configuration section.

use std::net::SocketAddr;

use ipnet::IpNet;
use platform::config::{ConfigError, Validate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where `cloudsec serve auth` listens (`cloudsec up` picks a free loopback port).
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://user:password@host/db`; unset: `<data_dir>/auth.db`.
    pub database_url: Option<String>,
    /// Public base URL of the platform, for the endpoint URLs in discovery
    /// (`cloudsec up` sets it to the gateway's URL when unset).
    pub public_url: Option<url::Url>,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued access tokens.
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh: RefreshConfig,
    pub password: PasswordConfig,
    pub lockout: LockoutConfig,
    /// `Secure` attribute on the refresh cookie. Browsers accept Secure cookies
    /// from http://localhost, so this stays on even for the embedded mode.
    pub cookie_secure: bool,
    /// Peers (CIDRs: the gateways) whose `X-Real-IP` names the client;
    /// anyone else is the client. Default: loopback, where `cloudsec up`'s gateway runs.
    pub trusted_peers: Vec<IpNet>,
    /// A session this young (seconds since its login) may change the email or
    /// password without `current_password`; older ones must give it.
    pub recent_login_secs: u64,
    /// Audit events older than this are deleted (checked hourly).
    pub audit_retention_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: None,
            public_url: None,
            issuer: "cloudsec-auth".into(),
            audience: "cloudsec".into(),
            access_token_ttl_secs: 15 * 60,
            refresh: RefreshConfig::default(),
            password: PasswordConfig::default(),
            lockout: LockoutConfig::default(),
            cookie_secure: true,
            trusted_peers: platform::http::client_ip::loopback(),
            recent_login_secs: 300,
            audit_retention_days: 365,
        }
    }
}

/// `[auth.refresh]`: lifetimes of a session's refresh tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshConfig {
    /// A session ends this long after login, however active.
    pub absolute_ttl_secs: u64,
    /// A session ends when its refresh token goes unused this long.
    pub idle_ttl_secs: u64,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            absolute_ttl_secs: 30 * 24 * 3600,
            idle_ttl_secs: 7 * 24 * 3600,
        }
    }
}

/// `[auth.password]`: NIST 800-63B policy and Argon2id cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    pub min_chars: usize,
    pub max_chars: usize,
    /// Refuse passwords from the bundled list of common passwords.
    pub reject_common: bool,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_chars: 8,
            max_chars: 128,
            reject_common: true,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

/// `[auth.lockout]`: brute-force defence (`brute_force.rs` explains the three budgets).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Failures of one client address on one account before that pair is held back.
    pub client_threshold: u32,
    /// Failures on one account from clients it does not know before it is
    /// closed to them (NIST 800-63B: at most 100).
    pub account_threshold: u32,
    /// First hold; doubles with every further hold, up to `max_lock_secs`.
    pub base_lock_secs: u64,
    pub max_lock_secs: u64,
    /// Failures from one client address within `ip_window_secs` (logins on
    /// any account, registrations with a taken email) before it may log in
    /// only to accounts that know it.
    pub ip_threshold: u32,
    pub ip_window_secs: u64,
    /// A client address that logged in to an account within this many days is known to it.
    pub known_client_days: u32,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            client_threshold: 5,
            account_threshold: 20,
            base_lock_secs: 60,
            max_lock_secs: 3600,
            ip_threshold: 100,
            ip_window_secs: 900,
            known_client_days: 30,
        }
    }
}

impl Validate for Config {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                errors.push(ConfigError::new(key, message));
            }
        };
        if let Some(url) = &self.database_url {
            check(
                ["sqlite://", "postgres://", "postgresql://"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)),
                "auth.database_url",
                "must be a sqlite://PATH or postgres://… URL",
            );
        }
        check(!self.issuer.is_empty(), "auth.issuer", "must not be empty");
        check(
            !self.audience.is_empty(),
            "auth.audience",
            "must not be empty",
        );
        check(
            (60..=3600).contains(&self.access_token_ttl_secs),
            "auth.access_token_ttl_secs",
            "must be between 60 and 3600",
        );
        check(
            self.refresh.idle_ttl_secs >= 60,
            "auth.refresh.idle_ttl_secs",
            "must be at least 60",
        );
        check(
            self.refresh.absolute_ttl_secs >= self.refresh.idle_ttl_secs,
            "auth.refresh.absolute_ttl_secs",
            "must be at least auth.refresh.idle_ttl_secs",
        );
        let p = &self.password;
        check(
            p.min_chars >= 8,
            "auth.password.min_chars",
            "must be at least 8 (NIST 800-63B)",
        );
        check(
            p.max_chars >= 64 && p.max_chars >= p.min_chars && p.max_chars <= 1024,
            "auth.password.max_chars",
            "must be between 64 and 1024",
        );
        check(
            (8 * 1024..=1024 * 1024).contains(&p.argon2_memory_kib),
            "auth.password.argon2_memory_kib",
            "must be between 8192 and 1048576",
        );
        check(
            (1..=10).contains(&p.argon2_iterations),
            "auth.password.argon2_iterations",
            "must be between 1 and 10",
        );
        check(
            (1..=16).contains(&p.argon2_parallelism),
            "auth.password.argon2_parallelism",
            "must be between 1 and 16",
        );
        // Behind a gateway on another host, loopback peers would make every
        // client look like the gateway: one guesser would hold back everyone.
        check(
            self.listen.ip().is_loopback()
                || self.trusted_peers != platform::http::client_ip::loopback(),
            "auth.trusted_peers",
            "must name the gateways' addresses (CIDRs; [] when clients connect directly) when auth.listen is not a loopback address",
        );
        check(
            self.recent_login_secs <= 3600,
            "auth.recent_login_secs",
            "must be at most 3600",
        );
        check(
            self.audit_retention_days >= 1,
            "auth.audit_retention_days",
            "must be at least 1",
        );
        let l = &self.lockout;
        check(
            (3..=100).contains(&l.client_threshold),
            "auth.lockout.client_threshold",
            "must be between 3 and 100",
        );
        check(
            (l.client_threshold..=100).contains(&l.account_threshold),
            "auth.lockout.account_threshold",
            "must be between auth.lockout.client_threshold and 100 (NIST 800-63B)",
        );
        check(
            l.base_lock_secs >= 1,
            "auth.lockout.base_lock_secs",
            "must be at least 1",
        );
        check(
            l.max_lock_secs >= l.base_lock_secs,
            "auth.lockout.max_lock_secs",
            "must be at least auth.lockout.base_lock_secs",
        );
        check(
            l.ip_threshold >= l.client_threshold,
            "auth.lockout.ip_threshold",
            "must be at least auth.lockout.client_threshold",
        );
        check(
            l.ip_window_secs >= 1,
            "auth.lockout.ip_window_secs",
            "must be at least 1",
        );
        check(
            l.known_client_days >= 1,
            "auth.lockout.known_client_days",
            "must be at least 1",
        );
    }
}

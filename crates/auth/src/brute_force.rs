//! Brute-force defence. Per account: after `account_threshold` consecutive
//! failures the account key is locked, and every attempt (even with the right
//! password) gets 429 with `Retry-After` until the lock ends; each further lock
//! doubles. The account key is a keyed hash of the email, so an unknown email
//! is locked exactly like a known one and the two cannot be told apart. Per
//! client IP: too many failures within a window and that IP is refused.

use std::net::IpAddr;
use std::time::Duration;

use platform::counter::WindowCounter;
use platform::redis::Redis;

use crate::clock;
use crate::config::LockoutConfig;
use crate::db::Database;

/// An attempt refused before any password check, for this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after_secs: u64,
    pub by_ip: bool,
}

#[derive(Clone)]
pub struct BruteForce {
    db: Database,
    config: LockoutConfig,
    /// Failures per client IP in the current window (shared through Redis when configured).
    ip_failures: WindowCounter,
}

impl BruteForce {
    pub fn new(db: Database, config: LockoutConfig, redis: Option<Redis>) -> Self {
        let ip_failures = WindowCounter::new(
            "login-failures-ip",
            Duration::from_secs(config.ip_window_secs),
            redis,
        );
        Self {
            db,
            config,
            ip_failures,
        }
    }

    /// Whether an attempt on `account` from `ip` may proceed.
    pub async fn check(
        &self,
        account: &[u8],
        ip: Option<IpAddr>,
    ) -> anyhow::Result<Result<(), Refused>> {
        if let Some(ip) = ip {
            let failures = self.ip_failures.get(&ip.to_string()).await?;
            if failures >= u64::from(self.config.ip_threshold) {
                return Ok(Err(Refused {
                    retry_after_secs: self.config.ip_window_secs,
                    by_ip: true,
                }));
            }
        }
        let now = clock::now();
        Ok(match self.db.locked_until(account, now).await? {
            Some(until) => Err(Refused {
                retry_after_secs: u64::try_from(until - now).unwrap_or(1).max(1),
                by_ip: false,
            }),
            None => Ok(()),
        })
    }

    /// Counts a failed attempt; returns the lock end when this failure locked the account.
    pub async fn failed(&self, account: &[u8], ip: Option<IpAddr>) -> anyhow::Result<Option<i64>> {
        if let Some(ip) = ip {
            self.ip_failures.increment(&ip.to_string()).await?;
        }
        Ok(self
            .db
            .record_failure(
                account,
                clock::now(),
                self.config.account_threshold,
                self.config.base_lock_secs,
                self.config.max_lock_secs,
            )
            .await?)
    }

    pub async fn succeeded(&self, account: &[u8]) -> anyhow::Result<()> {
        Ok(self.db.clear_failures(account).await?)
    }
}

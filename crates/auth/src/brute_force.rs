//! Brute-force defence (OWASP ASVS 5.0 V6.3, NIST 800-63B §5.2.2), built so
//! that an attacker cannot turn it against the account's owner:
//!
//! - **Per account and client** (`client_threshold`): each client address has
//!   its own budget of failures on each account; spent, that pair is held
//!   back for `base_lock_secs`, doubling with every further hold up to
//!   `max_lock_secs`. An attacker's guesses hold back the attacker.
//! - **Per account** (`account_threshold`, at most 100 as NIST asks): failures
//!   from all clients the account does not know add up; spent, the account is
//!   closed to unknown clients the same way. A client that logged in to the
//!   account within `known_client_days` is known and keeps its own budget, so
//!   a botnet guessing one account does not shut its owner out.
//! - **Per client address** (`ip_threshold` in `ip_window_secs`): failures on
//!   any account; spent, the address may still log in to accounts that know
//!   it, so a whole office behind one NAT is never refused for one guesser.
//!
//! Every budget is drawn before the password is checked (one statement each,
//! [`Database::reserve_attempt`], and an atomic increment for the address),
//! so concurrent guesses cannot overdraw it; an attempt refused or succeeded
//! gives back what it drew. The owner's success never resets the account's
//! budget or lifts its hold (that would hand a botnet a fresh budget).
//! Accounts are keyed by a keyed hash of the email and clients by their
//! [`platform::http::client_ip::bucket`], so an unknown email is held back exactly
//! like a known one, and an IPv6 client counts as its /64.

use std::net::IpAddr;
use std::time::Duration;

use aws_lc_rs::digest;
use platform::storage::counter::WindowCounter;
use platform::storage::redis::Redis;

use crate::clock;
use crate::config::LockoutConfig;
use crate::db::{Database, Reservation};

/// Why an attempt was refused before any password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This client on this account.
    Client,
    /// The account, for clients it does not know.
    Account,
    /// This client address, on accounts that do not know it.
    Ip,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Account => "account",
            Self::Ip => "ip",
        }
    }
}

/// An attempt refused for this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after_secs: u64,
    pub scope: Scope,
    /// This attempt spent the budget and set the hold.
    pub locked_now: bool,
}

/// An attempt whose budgets are drawn. A wrong password leaves them spent
/// (drop it); the right one settles it with [`BruteForce::succeeded`].
pub struct Attempt {
    account: Vec<u8>,
    pair: Vec<u8>,
    /// The address's budget, drawn when the account does not know the client.
    ip: Option<String>,
    /// The account's budget was drawn (the client is unknown to it).
    drew_account: bool,
}

/// A credential probe that is not a login (a registration or an email
/// change that may hit a taken email), drawn on the address's budget: what
/// the answer tells is worth a failed login. Give it back with
/// [`BruteForce::probe_told_nothing`] when the email was free.
pub struct Probe {
    ip: Option<String>,
}

#[derive(Clone)]
pub struct BruteForce {
    db: Database,
    config: LockoutConfig,
    /// Failures per client address in the current window (shared through Redis when configured).
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

    /// Draws an attempt on `account` (its keyed hash) from `ip`, or refuses it.
    pub async fn begin(
        &self,
        account: &[u8],
        ip: Option<IpAddr>,
    ) -> anyhow::Result<Result<Attempt, Refused>> {
        let now = clock::now();
        let ip = bucket(ip);
        let pair = pair_key(account, ip.as_deref());
        let known = self
            .db
            .is_known_client(&pair, now - self.known_for())
            .await?;
        let ip = if known { None } else { ip };
        if let Some(refused) = self.draw_ip(ip.as_deref()).await? {
            return Ok(Err(refused));
        }
        let mut attempt = Attempt {
            account: account.to_vec(),
            pair,
            ip,
            drew_account: false,
        };
        if let Some(refused) = self
            .reserve(
                &attempt.pair,
                self.config.client_threshold,
                Scope::Client,
                now,
            )
            .await?
        {
            self.give_back_ip(attempt.ip.as_deref()).await?;
            return Ok(Err(refused));
        }
        if !known {
            if let Some(refused) = self
                .reserve(account, self.config.account_threshold, Scope::Account, now)
                .await?
            {
                // Not made: the client's own budgets get the attempt back.
                self.db.release_attempt(&attempt.pair).await?;
                self.give_back_ip(attempt.ip.as_deref()).await?;
                return Ok(Err(refused));
            }
            attempt.drew_account = true;
        }
        Ok(Ok(attempt))
    }

    /// The password was right: this client's budget on the account is whole
    /// again and the client known from now on. The account's budget and any
    /// hold on it stay: only the attempt just made is given back, so the
    /// owner logging in does not hand a botnet a fresh budget.
    pub async fn succeeded(&self, attempt: Attempt) -> anyhow::Result<()> {
        self.db.clear_failures(&attempt.pair).await?;
        if attempt.drew_account {
            self.db.release_attempt(&attempt.account).await?;
        }
        self.give_back_ip(attempt.ip.as_deref()).await?;
        self.db.remember_client(&attempt.pair, clock::now()).await?;
        Ok(())
    }

    /// A client that just proved itself otherwise (registration, an email
    /// change) is known to the account from now on.
    pub async fn remember(&self, account: &[u8], ip: Option<IpAddr>) -> anyhow::Result<()> {
        let pair = pair_key(account, bucket(ip).as_deref());
        Ok(self.db.remember_client(&pair, clock::now()).await?)
    }

    /// Draws a [`Probe`] on the address's budget, or refuses it.
    pub async fn draw_probe(&self, ip: Option<IpAddr>) -> anyhow::Result<Result<Probe, Refused>> {
        let ip = bucket(ip);
        Ok(match self.draw_ip(ip.as_deref()).await? {
            Some(refused) => Err(refused),
            None => Ok(Probe { ip }),
        })
    }

    /// The probe hit no taken email: it told nothing and costs nothing.
    pub async fn probe_told_nothing(&self, probe: Probe) -> anyhow::Result<()> {
        self.give_back_ip(probe.ip.as_deref()).await
    }

    fn known_for(&self) -> i64 {
        i64::from(self.config.known_client_days) * 86_400
    }

    /// Counts one against the address before the attempt is made; refuses it
    /// when that overdraws the budget (the count stays: it was asked for).
    async fn draw_ip(&self, ip: Option<&str>) -> anyhow::Result<Option<Refused>> {
        let Some(ip) = ip else { return Ok(None) };
        let drawn = self.ip_failures.increment(ip).await?;
        Ok(
            (drawn > u64::from(self.config.ip_threshold)).then_some(Refused {
                retry_after_secs: self.config.ip_window_secs,
                scope: Scope::Ip,
                locked_now: false,
            }),
        )
    }

    async fn give_back_ip(&self, ip: Option<&str>) -> anyhow::Result<()> {
        match ip {
            Some(ip) => self.ip_failures.decrement(ip).await,
            None => Ok(()),
        }
    }

    async fn reserve(
        &self,
        key: &[u8],
        budget: u32,
        scope: Scope,
        now: i64,
    ) -> anyhow::Result<Option<Refused>> {
        let reservation = self
            .db
            .reserve_attempt(
                key,
                now,
                budget,
                self.config.base_lock_secs,
                self.config.max_lock_secs,
            )
            .await?;
        Ok(match reservation {
            Reservation::Granted => None,
            Reservation::Refused { until, locked_now } => Some(Refused {
                retry_after_secs: u64::try_from(until - now).unwrap_or(1).max(1),
                scope,
                locked_now,
            }),
        })
    }
}

fn bucket(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| platform::http::client_ip::bucket(ip).to_string())
}

/// The key of one client on one account: not the address itself, so the
/// table says nothing about who logged in from where without the email key.
fn pair_key(account: &[u8], ip: Option<&str>) -> Vec<u8> {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(b"cloudsec-login-client\0");
    context.update(account);
    context.update(b"\0");
    context.update(ip.unwrap_or("unknown").as_bytes());
    context.finish().as_ref().to_vec()
}

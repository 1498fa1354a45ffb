//! Authentication service: users and credentials (local identity provider,
//! Argon2id), the platform's tokens (EdDSA access JWTs, rotating refresh
//! tokens, sessions), revocation, brute-force defence and audit.

mod audit;
mod brute_force;
mod clock;
pub mod config;
mod db;
mod email;
mod error;
mod extract;
mod http;
pub mod keys;
mod login;
mod password;
mod session;
mod user;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use ipnet::IpNet;
use platform::context::Context;
use platform::tokens::revocation::DenyList;
use platform::tokens::{AccessClaims, Gate, Refusal, Verifier};

pub use config::Config;

use crate::audit::Audit;
use crate::brute_force::BruteForce;
use crate::db::Database;
use crate::email::EmailVault;
use crate::keys::SigningKeys;
use crate::password::{PasswordHasherPool, PasswordPolicy};

/// Name used in logs, metrics and traces.
pub const SERVICE: &str = "auth";
pub use platform::secrets::{SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET};

/// Everything a request handler needs.
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    db: Database,
    hasher: PasswordHasherPool,
    policy: PasswordPolicy,
    keys: SigningKeys,
    /// Access tokens checked against the signing keys at hand and the deny-list.
    gate: Gate,
    deny: DenyList,
    brute_force: BruteForce,
    audit: Audit,
    emails: EmailVault,
    service_secret: String,
    trusted_peers: Vec<IpNet>,
}

impl State {
    /// Opens and migrates the user database (SQLite in the data dir by
    /// default), loads keys from the secrets provider (generating them on
    /// first start), restores the deny-list from recent revocations, and
    /// watches the signing keys for rotation until shutdown.
    pub async fn from_config(config: &Config, context: &Context) -> anyhow::Result<Self> {
        let db = Database::open(config, &context.data_dir).await?;
        let secrets = &context.secrets;
        let keys = SigningKeys::open(secrets.clone()).context("loading signing keys")?;
        keys.watch(context.shutdown.clone());
        let verifier = Verifier::new(&config.issuer, &config.audience, keys.verification_keys());
        let gate = Gate::new(verifier, None, context.deny.clone());
        let emails = EmailVault::open(secrets).context("loading email keys")?;
        let service_secret = platform::secrets::service_client_password(secrets)?;
        let deny = context.deny.clone();
        restore_deny_list(&db, &deny, config).await?;
        spawn_pruning(db.clone(), config, context.shutdown.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                hasher: PasswordHasherPool::new(&config.password)?,
                policy: PasswordPolicy::new(&config.password),
                brute_force: BruteForce::new(
                    db.clone(),
                    config.lockout.clone(),
                    context.redis.clone(),
                ),
                audit: Audit::new(db.clone()),
                config: config.clone(),
                db,
                keys,
                gate,
                deny,
                emails,
                service_secret,
                trusted_peers: config.trusted_peers.clone(),
            }),
        })
    }

    /// Verifies an access token and checks it against the deny-list.
    pub(crate) async fn verify(&self, token: &[u8]) -> Result<Arc<AccessClaims>, Refusal> {
        self.inner.gate.check(token).await
    }

    /// How long a session's access tokens can still be alive.
    pub(crate) fn session_token_ttl(&self) -> Duration {
        Duration::from_secs(self.inner.config.access_token_ttl_secs + platform::tokens::LEEWAY_SECS)
    }
}

/// Revocations younger than the longest access token are still in force.
async fn restore_deny_list(db: &Database, deny: &DenyList, config: &Config) -> anyhow::Result<()> {
    let now = clock::now();
    let since = now - i64::try_from(config.access_token_ttl_secs).unwrap_or(3600) - 60;
    let ttl = Duration::from_secs(config.access_token_ttl_secs + platform::tokens::LEEWAY_SECS);
    for sid in db.sessions_revoked_since(since).await? {
        deny.deny_session(&sid, ttl).await?;
    }
    for (jti, exp) in db.revoked_access_tokens(now).await? {
        deny.deny_token(
            &jti,
            Duration::from_secs(u64::try_from(exp - now).unwrap_or(1)),
        )
        .await?;
    }
    Ok(())
}

/// Deletes what is past its retention at start and then hourly: audit
/// events older than `auth.audit_retention_days`, brute-force budgets no
/// attempt has touched for a day (or the longest hold, if longer), clients
/// no longer known.
fn spawn_pruning(db: Database, config: &Config, shutdown: tokio_util::sync::CancellationToken) {
    let audit_days = i64::from(config.audit_retention_days);
    let budget_secs = i64::try_from(
        config
            .lockout
            .max_lock_secs
            .max(config.lockout.ip_window_secs)
            .max(86_400),
    )
    .unwrap_or(86_400);
    let known_secs = i64::from(config.lockout.known_client_days) * 86_400;
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = hourly.tick() => {}
            }
            let now = clock::now();
            match db
                .prune(
                    now,
                    (now - audit_days * 86_400) * 1000,
                    now - budget_secs,
                    now - known_secs,
                )
                .await
            {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "pruned rows past their retention"),
                Err(e) => tracing::warn!(error = %e, "pruning past-retention rows failed"),
            }
        }
    });
}

/// The service's complete router, wrapped in the platform request stack.
pub fn router(state: State) -> Router {
    let db = state.inner.db.clone();
    let mut readiness =
        platform::http::health::Readiness::new().with_check("database", move || {
            let db = db.clone();
            async move { db.ping().await.map_err(|e| e.to_string()) }
        });
    if let DenyList::Redis(redis) = &state.inner.deny {
        let redis = redis.clone();
        readiness = readiness.with_check("redis", move || {
            let redis = redis.clone();
            async move { redis.ping().await.map_err(|e| e.to_string()) }
        });
    }
    platform::http::stack::wrap(http::router().with_state(state), SERVICE, readiness)
}

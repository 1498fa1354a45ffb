//! Verification keys fetched from the auth service's JWKS endpoint: loaded at
//! start, refreshed periodically, and refreshed at once (rate-limited) when a
//! token names a `kid` we do not know yet, which is how a key rotation reaches
//! the verifiers.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use url::Url;

use crate::tokens::{Jwks, KeySet};

const PERIODIC_REFRESH: Duration = Duration::from_secs(60);
/// Retry interval while auth has not answered yet (e.g. at start).
const RETRY_REFRESH: Duration = Duration::from_secs(1);
/// At most one refresh per this interval on unknown `kid`s, so forged tokens
/// with random `kid`s cannot turn into a request flood against auth.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct RemoteKeys {
    url: Url,
    client: reqwest::Client,
    keys: KeySet,
    /// Last refresh triggered by an unknown `kid`.
    last_on_demand: Arc<Mutex<Option<Instant>>>,
}

impl RemoteKeys {
    /// `jwks_url` is e.g. `http://auth:8081/.well-known/jwks.json`.
    pub fn new(jwks_url: Url) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self {
            url: jwks_url,
            client,
            keys: KeySet::default(),
            last_on_demand: Arc::new(Mutex::new(None)),
        }
    }

    pub fn keys(&self) -> KeySet {
        self.keys.clone()
    }

    pub async fn refresh(&self) -> anyhow::Result<()> {
        let jwks: Jwks = self
            .client
            .get(self.url.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        self.keys.replace(&jwks);
        Ok(())
    }

    /// Refreshes unless one happened within [`MIN_REFRESH_INTERVAL`]; returns whether it did.
    pub async fn refresh_for_unknown_kid(&self) -> bool {
        let due = self.last_on_demand.lock().map(|mut last| {
            let due = last.is_none_or(|t| t.elapsed() >= MIN_REFRESH_INTERVAL);
            if due {
                *last = Some(Instant::now());
            }
            due
        });
        if !due.unwrap_or(false) {
            return false;
        }
        match self.refresh().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, url = %self.url, "JWKS refresh failed");
                false
            }
        }
    }

    /// Loads the keys now (in the background: the issuer may still be
    /// starting), then every minute until `shutdown`; while a refresh fails it
    /// retries every second and keeps the keys it has.
    pub fn spawn_refresh(&self, shutdown: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = match this.refresh().await {
                    Ok(()) => PERIODIC_REFRESH,
                    Err(e) => {
                        tracing::debug!(error = %e, url = %this.url, "JWKS refresh failed; keeping current keys");
                        RETRY_REFRESH
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        });
    }
}

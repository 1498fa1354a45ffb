//! Profiles belong to the auth service; this is how the business service sees
//! them: a batch lookup over auth's internal, service-authenticated endpoint,
//! a short-lived cache for hot reads, a long-lived copy of every profile seen
//! for when auth is down, and a circuit breaker so a slow or dead auth service
//! costs a cache lookup instead of a timeout per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use platform::breaker::CircuitBreaker;
use serde::Deserialize;
use url::Url;

const MAX_BATCH: usize = 100;
const STALE_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    pub id: String,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

#[derive(Deserialize)]
struct Batch {
    profiles: Vec<Profile>,
}

/// Auth could not be asked and no copy was at hand.
#[derive(Debug, thiserror::Error)]
#[error("profiles unavailable")]
pub struct Unavailable;

pub struct Profiles {
    client: reqwest::Client,
    endpoint: Url,
    client_id: String,
    password: String,
    fresh: Cache<String, Arc<Profile>>,
    stale: Cache<String, Arc<Profile>>,
    /// username → id, fresh only (usernames can change).
    names: Cache<String, String>,
    breaker: CircuitBreaker,
}

enum Key<'a> {
    Ids(&'a [String]),
    Username(&'a str),
}

impl Profiles {
    pub fn new(
        auth_url: &Url,
        client_id: String,
        password: String,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .pool_max_idle_per_host(64)
                .build()?,
            endpoint: auth_url.join("internal/profiles")?,
            client_id,
            password,
            fresh: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            stale: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(STALE_TTL)
                .build(),
            names: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            breaker: CircuitBreaker::new("auth-profiles", 3, Duration::from_secs(5)),
        })
    }

    /// Profiles of `ids` that exist (a deleted user is simply absent).
    pub async fn by_ids(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Arc<Profile>>, Unavailable> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing: Vec<String> = Vec::new();
        for id in ids {
            if found.contains_key(id) || missing.contains(id) {
                continue;
            }
            match self.fresh.get(id).await {
                Some(p) => {
                    found.insert(id.clone(), p);
                }
                None => missing.push(id.clone()),
            }
        }
        for chunk in missing.chunks(MAX_BATCH) {
            match self.fetch(Key::Ids(chunk)).await {
                Ok(profiles) => {
                    for p in profiles {
                        found.insert(p.id.clone(), p);
                    }
                }
                Err(Unavailable) => {
                    for id in chunk {
                        match self.stale.get(id).await {
                            Some(p) => {
                                found.insert(id.clone(), p);
                            }
                            None => return Err(Unavailable),
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// The profile with this username, if any.
    pub async fn by_username(&self, username: &str) -> Result<Option<Arc<Profile>>, Unavailable> {
        if let Some(id) = self.names.get(username).await
            && let Some(p) = self.fresh.get(&id).await
        {
            return Ok(Some(p));
        }
        match self.fetch(Key::Username(username)).await {
            Ok(profiles) => Ok(profiles.into_iter().find(|p| p.username == username)),
            Err(Unavailable) => {
                // Last resort: a copy seen earlier under this name.
                let stale = self
                    .stale
                    .iter()
                    .find(|(_, p)| p.username == username)
                    .map(|(_, p)| p);
                stale.map(Some).ok_or(Unavailable)
            }
        }
    }

    async fn fetch(&self, key: Key<'_>) -> Result<Vec<Arc<Profile>>, Unavailable> {
        if !self.breaker.allow() {
            return Err(Unavailable);
        }
        let query = match key {
            Key::Ids(ids) => [("ids", ids.join(","))],
            Key::Username(name) => [("usernames", name.to_owned())],
        };
        let result = self
            .client
            .get(self.endpoint.clone())
            .basic_auth(&self.client_id, Some(&self.password))
            .query(&query)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        let batch = match result {
            Ok(response) => response.json::<Batch>().await,
            Err(e) => Err(e),
        };
        match batch {
            Ok(batch) => {
                self.breaker.record_success();
                let mut out = Vec::with_capacity(batch.profiles.len());
                for p in batch.profiles {
                    let p = Arc::new(p);
                    self.fresh.insert(p.id.clone(), p.clone()).await;
                    self.stale.insert(p.id.clone(), p.clone()).await;
                    self.names.insert(p.username.clone(), p.id.clone()).await;
                    out.push(p);
                }
                Ok(out)
            }
            Err(e) => {
                self.breaker.record_failure();
                tracing::warn!(error = %e, "profile lookup at auth failed");
                Err(Unavailable)
            }
        }
    }
}

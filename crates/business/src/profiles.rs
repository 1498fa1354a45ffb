//! Profiles belong to the auth service; this is how the business service sees
//! them: a batch lookup over auth's internal, service-authenticated endpoint,
//! a short-lived cache for hot reads, a long-lived copy of every profile seen
//! for when auth is down, and a circuit breaker so a slow or dead auth service
//! costs a cache lookup instead of a timeout per request. A user reads their
//! own profile past the short-lived cache: whoever just changed their bio or
//! picture sees the change at once (read-your-writes); others within the TTL.
//! (This costs a signed-in user one lookup at auth per request that shows
//! their own profile, within their rate limit; a lookup of a name nobody
//! has costs the same for anyone.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use platform::http::breaker::CircuitBreaker;
use platform::username::Username;
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

    /// Profiles of `ids` that exist (a deleted user is simply absent); the
    /// `viewer`'s own is asked of auth, not taken from the short-lived cache.
    pub async fn by_ids(
        &self,
        ids: &[String],
        viewer: Option<&str>,
    ) -> Result<HashMap<String, Arc<Profile>>, Unavailable> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing: Vec<String> = Vec::new();
        for id in ids {
            if found.contains_key(id) || missing.contains(id) {
                continue;
            }
            let cached = if viewer == Some(id.as_str()) {
                None
            } else {
                self.fresh.get(id).await
            };
            match cached {
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

    /// The profile with this username, if any (the `viewer`'s own, fresh).
    pub async fn by_username(
        &self,
        username: &Username,
        viewer: Option<&str>,
    ) -> Result<Option<Arc<Profile>>, Unavailable> {
        let username = username.as_str();
        if let Some(id) = self.names.get(username).await
            && viewer != Some(id.as_str())
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
        let response = self
            .client
            .get(self.endpoint.clone())
            .basic_auth(&self.client_id, Some(&self.password))
            .query(&query)
            .send()
            .await;
        let batch = match response {
            Ok(response) if response.status().is_client_error() => {
                // Auth refused this one question (our bug, or input it does
                // not accept): no sign that auth is unwell, so the breaker,
                // which every request shares, does not count it.
                tracing::error!(status = %response.status(), "auth refused a profile lookup");
                return Err(Unavailable);
            }
            Ok(response) => match response.error_for_status() {
                Ok(response) => response.json::<Batch>().await,
                Err(e) => Err(e),
            },
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
                // 5xx, timeouts, connection errors, unreadable answers.
                self.breaker.record_failure();
                tracing::warn!(error = %e, "profile lookup at auth failed");
                Err(Unavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU16, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    /// A stand-in for auth's lookup answering with `status` (200: one profile).
    async fn stand_in(status: Arc<AtomicU16>) -> Url {
        let app = axum::Router::new().route(
            "/internal/profiles",
            axum::routing::get(move || {
                let status = status.load(Ordering::Relaxed);
                async move {
                    match StatusCode::from_u16(status).unwrap() {
                        StatusCode::OK => axum::Json(serde_json::json!({"profiles": [
                            {"id": "1", "username": "one", "bio": null, "image": null}
                        ]}))
                        .into_response(),
                        other => other.into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url.parse().unwrap()
    }

    #[tokio::test]
    async fn refusals_leave_the_breaker_closed_failures_open_it() {
        let status = Arc::new(AtomicU16::new(422));
        let url = stand_in(status.clone()).await;
        let profiles =
            Profiles::new(&url, "svc".into(), "pw".into(), Duration::from_millis(1)).unwrap();
        for i in 0..5 {
            assert!(profiles.by_ids(&[format!("a{i}")], None).await.is_err());
        }
        status.store(200, Ordering::Relaxed);
        let found = profiles.by_ids(&["1".to_owned()], None).await.unwrap();
        assert_eq!(found["1"].username, "one", "refusals did not open it");

        status.store(503, Ordering::Relaxed);
        for i in 0..3 {
            assert!(profiles.by_ids(&[format!("b{i}")], None).await.is_err());
        }
        status.store(200, Ordering::Relaxed);
        assert!(
            profiles.by_ids(&["c".to_owned()], None).await.is_err(),
            "open: failing fast although auth would answer"
        );
    }

    /// A user's own profile is read past the cache; everyone else's from it.
    #[tokio::test]
    async fn own_reads_skip_the_cache() {
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = asked.clone();
        let app = axum::Router::new().route(
            "/internal/profiles",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                async {
                    axum::Json(serde_json::json!({"profiles": [
                        {"id": "1", "username": "one", "bio": null, "image": null}
                    ]}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: Url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let profiles =
            Profiles::new(&url, "svc".into(), "pw".into(), Duration::from_secs(600)).unwrap();
        let ids = ["1".to_owned()];
        profiles.by_ids(&ids, None).await.unwrap();
        for _ in 0..5 {
            profiles.by_ids(&ids, Some("2")).await.unwrap();
        }
        assert_eq!(asked.load(Ordering::Relaxed), 1, "others read the cache");
        for _ in 0..5 {
            profiles.by_ids(&ids, Some("1")).await.unwrap();
        }
        assert_eq!(asked.load(Ordering::Relaxed), 6, "the owner asks auth");
    }
}

//! The auth service in-process on a free port, over SQLite (a temp dir) or the
//! real PostgreSQL on 127.0.0.1:5432 (a fresh schema per test), spoken to over HTTP.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudsec_auth::Config;
use platform::config::RedisConfig;
use platform::context::Context;
use platform::secrets::FileSecrets;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestAuth {
    pub url: String,
    pub data_dir: PathBuf,
    pub secrets: FileSecrets,
    pub config: Config,
    pub client: reqwest::Client,
    redis: Option<RedisConfig>,
    /// Owned by the first instance; replicas share it.
    owned: Option<Arc<Owned>>,
    stop: CancellationToken,
}

/// What the first instance creates and the last one to go cleans up.
struct Owned {
    _dir: tempfile::TempDir,
    pg_schema: Option<String>,
}

/// Test-speed Argon2 (the policy and the code path are the same).
pub fn fast_config() -> Config {
    let mut config = Config::default();
    config.password.argon2_memory_kib = 8192;
    config.password.argon2_iterations = 1;
    config
}

impl TestAuth {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, fast_config()).await
    }

    pub async fn start_with(backend: Backend, config: Config) -> Self {
        Self::start_full(backend, config, false).await
    }

    /// With `redis`: the deny-list and counters live in the real Redis on
    /// 127.0.0.1:6379, under a key prefix of this test's own.
    pub async fn start_full(backend: Backend, config: Config, redis: bool) -> Self {
        Self::start_on_redis(backend, config, redis.then_some(REDIS_URL)).await
    }

    /// With the deny-list and counters in the Redis at `redis_url` (a
    /// [`RedisLink`] to cut, say).
    pub async fn start_on_redis(
        backend: Backend,
        mut config: Config,
        redis_url: Option<&str>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut pg_schema = None;
        if backend == Backend::Postgres {
            let schema = format!("auth_t_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN)
                .await
                .expect("PostgreSQL on 127.0.0.1:5432");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut admin)
                .await
                .unwrap();
            config.database_url = Some(format!("{PG_ADMIN}?options=-c%20search_path%3D{schema}"));
            pg_schema = Some(schema);
        }
        let redis = redis_url.map(|url| RedisConfig {
            url: Some(url.to_owned()),
            key_prefix: format!("cloudsec-test-{}:", uuid::Uuid::new_v4().simple()),
        });
        let data_dir = dir.path().to_owned();
        let owned = Arc::new(Owned {
            _dir: dir,
            pg_schema,
        });
        Self::launch(data_dir, config, redis, Some(owned)).await
    }

    /// Another instance over the same database, secrets and Redis: a replica.
    pub async fn replica(&self) -> Self {
        Self::launch(
            self.data_dir.clone(),
            self.config.clone(),
            self.redis.clone(),
            self.owned.clone(),
        )
        .await
    }

    async fn launch(
        data_dir: PathBuf,
        config: Config,
        redis: Option<RedisConfig>,
        owned: Option<Arc<Owned>>,
    ) -> Self {
        let secrets = FileSecrets::open(data_dir.join("secrets")).unwrap();
        let stop = CancellationToken::new();
        let context = Context::new(
            data_dir.clone(),
            secrets.clone(),
            &redis.clone().unwrap_or_default(),
            stop.clone(),
        )
        .await
        .unwrap();
        let state = cloudsec_auth::State::from_config(&config, &context)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = cloudsec_auth::router(state);
        let token = stop.clone();
        tokio::spawn(async move {
            platform::http::server::serve(
                listener,
                app,
                token,
                Duration::from_secs(1),
                platform::http::server::ServeOptions::default(),
            )
            .await
            .unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            data_dir,
            secrets,
            config,
            client: reqwest::Client::new(),
            redis,
            owned,
            stop,
        }
    }

    /// A connection pool on the service's database, to read what it stored.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.database_url()).await.unwrap()
    }

    pub fn database_url(&self) -> String {
        self.config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("auth.db").display()))
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.client.post(format!("{}{path}", self.url)).json(&body))
            .await
    }

    /// A request from `client`, as the gateway on loopback states it.
    pub async fn post_from(&self, client: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            self.client
                .post(format!("{}{path}", self.url))
                .header("x-real-ip", client)
                .json(&body),
        )
        .await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_user(&self, token: &str) -> StatusCode {
        self.client
            .get(format!("{}/api/user", self.url))
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Registers a user and returns its access token.
    pub async fn register(&self, name: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/api/users",
                json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": password}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["user"]["token"].as_str().unwrap().to_owned()
    }

    /// `grant_type=password` as a form; returns the token response.
    pub async fn password_grant(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/auth/token", self.url))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    pub async fn refresh_grant(&self, refresh_token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/auth/token", self.url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

impl Drop for TestAuth {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(schema) = self.pg_schema.take() {
            // Async work in Drop: a short-lived runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(PG_ADMIN).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                            .execute(&mut admin)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Declares one async test per backend for a scenario `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::common::Backend::Postgres).await }
            )*
        }
    };
}

/// A TCP link to the real Redis that a test can cut: every connection
/// through it is dropped and no new one is accepted (an outage).
pub struct RedisLink {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl RedisLink {
    pub async fn open() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                links.spawn(async move {
                    let mut redis = tokio::net::TcpStream::connect("127.0.0.1:6379").await?;
                    tokio::io::copy_bidirectional(&mut client, &mut redis).await
                });
            }
        });
        Self { url, task }
    }

    /// Drops the listener and, with the task's `JoinSet`, every connection.
    pub fn cut(&self) {
        self.task.abort();
    }
}

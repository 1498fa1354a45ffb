//! Business service: the RealWorld "Conduit" API (articles, comments, tags,
//! favorites, follows, profiles) over a pluggable store. Users and their
//! profiles belong to the auth service; this service refers to them by id.

pub mod config;
pub mod domain;
mod error;
mod http;
mod identity;
mod profiles;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use platform::context::Context;
use platform::tokens::jwks::RemoteKeys;
use platform::tokens::{Gate, Verifier};

pub use config::Config;
pub use error::Error;
use identity::Authenticator;
use profiles::Profiles;
use store::ArticleStore;

/// Name used in logs, metrics and traces.
pub const SERVICE: &str = "business";

/// What tokens this service accepts: the auth service's `iss` and `aud`.
pub use platform::tokens::Expectations as TokenExpectations;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn ArticleStore>,
    identity: Authenticator,
    profiles: Profiles,
}

impl State {
    /// Opens the configured store and connects to the auth service (JWKS,
    /// profile lookup). Auth need not be up yet: keys are fetched again on the
    /// first token that names an unknown key.
    pub async fn from_config(
        config: &Config,
        tokens: &TokenExpectations,
        context: &Context,
    ) -> anyhow::Result<Self> {
        let store = store::open(config, &context.data_dir, context.redis.clone()).await?;
        let password = platform::secrets::service_client_password(&context.secrets)?;
        let client_id = platform::secrets::SERVICE_CLIENT_ID.to_owned();
        let identity = match config.token_validation {
            config::TokenValidation::Local => {
                let keys = RemoteKeys::new(
                    config
                        .auth_url
                        .join(".well-known/jwks.json")
                        .context("business.auth_url")?,
                );
                keys.spawn_refresh(context.shutdown.clone());
                let verifier = Verifier::new(&tokens.issuer, &tokens.audience, keys.keys());
                Authenticator::Local(Box::new(Gate::new(
                    verifier,
                    Some(keys),
                    context.deny.clone(),
                )))
            }
            config::TokenValidation::Introspect => Authenticator::Introspect {
                client: reqwest::Client::new(),
                url: config
                    .auth_url
                    .join("auth/introspect")
                    .context("business.auth_url")?,
                client_id: client_id.clone(),
                password: password.clone(),
            },
        };
        let profiles = Profiles::new(
            &config.auth_url,
            client_id,
            password,
            Duration::from_millis(config.profile_cache_ttl_ms),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                store,
                identity,
                profiles,
            }),
        })
    }
}

/// The service's complete router, wrapped in the platform request stack.
pub fn router(state: State) -> Router {
    let store = state.inner.store.clone();
    let readiness = platform::http::health::Readiness::new().with_check("store", move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    });
    let body_limit = state.inner.config.limits.request_body_bytes;
    let app = http::router()
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit));
    platform::http::stack::wrap(app, SERVICE, readiness)
}

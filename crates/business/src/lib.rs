//! Business service: the RealWorld "Conduit" API (articles, comments, tags,
//! favorites, follows, profiles) over a pluggable store.

pub mod config;
mod error;
mod http;
pub mod store;

use std::sync::Arc;

use axum::Router;

pub use config::Config;
pub use error::Error;
use store::ArticleStore;

/// Name used in logs, metrics and traces.
pub const SERVICE: &str = "business";

/// Everything a request handler needs.
#[derive(Clone)]
pub struct State {
    pub store: Arc<dyn ArticleStore>,
}

impl State {
    /// Opens the configured store; the data dir holds the SQLite file by default.
    pub async fn from_config(
        config: &Config,
        context: &platform::context::Context,
    ) -> anyhow::Result<Self> {
        let store = store::open(config, &context.data_dir).await?;
        Ok(Self { store })
    }
}

/// The service's complete router, wrapped in the platform request stack.
pub fn router(state: State) -> Router {
    let store = state.store.clone();
    let readiness = platform::health::Readiness::new().with_check("store", move || {
        let store = store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    });
    platform::stack::wrap(http::router().with_state(state), SERVICE, readiness)
}

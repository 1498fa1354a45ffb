//! Authentication service: users and credentials, the platform's tokens.

pub mod config;
mod db;

use std::path::Path;

use axum::Router;

pub use config::Config;
use db::Database;

/// Name used in logs, metrics and traces.
pub const SERVICE: &str = "auth";

/// Everything a request handler needs.
#[derive(Clone)]
pub struct State {
    db: Database,
}

impl State {
    /// Opens and migrates the user database; `data_dir` holds the SQLite file by default.
    pub async fn from_config(config: &Config, data_dir: &Path) -> anyhow::Result<Self> {
        let db = Database::open(config, data_dir).await?;
        Ok(Self { db })
    }
}

/// The service's complete router, wrapped in the platform request stack.
pub fn router(state: State) -> Router {
    let db = state.db.clone();
    let readiness = platform::health::Readiness::new().with_check("database", move || {
        let db = db.clone();
        async move { db.ping().await.map_err(|e| e.to_string()) }
    });
    platform::stack::wrap(Router::new().with_state(state), SERVICE, readiness)
}

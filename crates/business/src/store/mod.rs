//! The store port of the Conduit domain and its adapters.

mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use sqlite::SqliteStore;

use crate::config::{Config, StoreKind};

#[async_trait]
pub trait ArticleStore: Send + Sync + 'static {
    /// Cheap round trip to the backing store, for `/readyz`.
    async fn ping(&self) -> anyhow::Result<()>;
    /// Distinct tags of all articles, sorted.
    async fn tags(&self) -> anyhow::Result<Vec<String>>;
}

/// Opens the adapter chosen by `business.store`.
pub async fn open(config: &Config, data_dir: &Path) -> anyhow::Result<Arc<dyn ArticleStore>> {
    match config.store {
        StoreKind::Sqlite => {
            let path = config
                .sqlite
                .path
                .clone()
                .unwrap_or_else(|| data_dir.join("business.db"));
            Ok(Arc::new(SqliteStore::open(&path).await?))
        }
    }
}

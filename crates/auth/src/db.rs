//! The user database.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::SqlitePool;

use crate::Config;

#[derive(Clone)]
pub struct Database {
    pool: SqlitePool,
}

impl Database {
    pub async fn open(config: &Config, data_dir: &Path) -> anyhow::Result<Self> {
        let path = match &config.database_url {
            Some(url) => PathBuf::from(url.trim_start_matches("sqlite://")),
            None => data_dir.join("auth.db"),
        };
        let pool = platform::sqlite::open(&path)
            .await
            .with_context(|| format!("opening auth database {}", path.display()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .context("migrating auth database")?;
        Ok(Self { pool })
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }
}

//! SQLite adapter: the embedded default.

use std::path::Path;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::SqlitePool;

use super::ArticleStore;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let pool = platform::sqlite::open(path)
            .await
            .with_context(|| format!("opening business database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("migrating business database")?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl ArticleStore for SqliteStore {
    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn tags(&self) -> anyhow::Result<Vec<String>> {
        let tags = sqlx::query_scalar("SELECT DISTINCT tag FROM article_tags ORDER BY tag")
            .fetch_all(&self.pool)
            .await?;
        Ok(tags)
    }
}

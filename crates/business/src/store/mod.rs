//! The store port of the Conduit domain and its adapters. One conformance
//! suite (tests/store.rs) runs against every adapter.

mod cached;
mod dynamo;
mod sqlite;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use platform::storage::redis::Redis;

pub use cached::CachedStore;
pub use dynamo::DynamoStore;
pub use sqlite::SqliteStore;

use crate::config::{Config, StoreKind};
use crate::domain::{ArticleBody, CommentBody, Description, Slug, Tags, Title};

/// An article as stored. Timestamps are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub id: String,
    pub slug: String,
    pub author_id: String,
    pub title: String,
    pub description: String,
    pub body: String,
    pub tags: Vec<String>,
    pub favorites_count: i64,
    /// Incremented by every update; updates name the version they started from.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An article to store, from parsed values.
#[derive(Debug, Clone)]
pub struct NewArticle {
    pub id: String,
    pub slug: Slug,
    pub author_id: String,
    pub title: Title,
    pub description: Description,
    pub body: ArticleBody,
    pub tags: Tags,
    pub now: i64,
}

impl NewArticle {
    /// The article as stored when written: version 1, no favorites.
    pub fn into_article(self) -> Article {
        Article {
            id: self.id,
            slug: self.slug.into(),
            author_id: self.author_id,
            title: self.title.into(),
            description: self.description.into(),
            body: self.body.into(),
            tags: self.tags.into(),
            favorites_count: 0,
            version: 1,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

/// Fields to change; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ArticleChanges {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub body: Option<ArticleBody>,
    pub tags: Option<Tags>,
}

/// Filters of `GET /api/articles` and the feed, all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub tag: Option<String>,
    pub author_id: Option<String>,
    pub favorited_by: Option<String>,
    /// Only authors this user follows (the feed).
    pub followed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: i64,
    pub article_id: String,
    pub author_id: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key (the slug) is taken.
    #[error("already exists")]
    Duplicate,
    /// The row changed since the version the caller read.
    #[error("modified concurrently")]
    Conflict,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Other(e.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait ArticleStore: Send + Sync + 'static {
    /// Cheap round trip to the backing store, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Distinct tags of all articles, sorted.
    async fn tags(&self) -> StoreResult<Vec<String>>;

    async fn create_article(&self, article: NewArticle) -> StoreResult<Article>;
    async fn article_by_slug(&self, slug: &str) -> StoreResult<Option<Article>>;
    /// Applies `changes` if the article is still at `expected_version`.
    async fn update_article(
        &self,
        id: &str,
        expected_version: i64,
        changes: ArticleChanges,
        now: i64,
    ) -> StoreResult<Article>;
    /// Deletes the article with its tags, favorites and comments.
    async fn delete_article(&self, id: &str) -> StoreResult<()>;
    /// One page, newest first, and the total number of matches.
    async fn list_articles(
        &self,
        filter: &ArticleFilter,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<Article>, u64)>;

    /// Idempotent; returns the new favorites count.
    async fn favorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64>;
    /// Idempotent; returns the new favorites count.
    async fn unfavorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64>;
    /// Which of `article_ids` `user_id` has favorited.
    async fn favorited(
        &self,
        user_id: &str,
        article_ids: &[String],
    ) -> StoreResult<HashSet<String>>;

    async fn follow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()>;
    async fn unfollow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()>;
    /// Which of `followee_ids` `follower_id` follows.
    async fn following(
        &self,
        follower_id: &str,
        followee_ids: &[String],
    ) -> StoreResult<HashSet<String>>;

    async fn add_comment(
        &self,
        article_id: &str,
        author_id: &str,
        body: &CommentBody,
        now: i64,
    ) -> StoreResult<Comment>;
    /// Oldest first: `limit` of them after skipping `offset`.
    async fn comments(
        &self,
        article_id: &str,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<Comment>>;
    async fn comment(&self, article_id: &str, id: i64) -> StoreResult<Option<Comment>>;
    async fn delete_comment(&self, article_id: &str, id: i64) -> StoreResult<()>;
}

/// Opens the adapter chosen by `business.store`, behind the read cache.
pub async fn open(
    config: &Config,
    data_dir: &Path,
    redis: Option<Redis>,
) -> anyhow::Result<Arc<dyn ArticleStore>> {
    let store = open_adapter(config, data_dir).await?;
    if config.read_cache {
        Ok(Arc::new(CachedStore::new(
            store,
            redis,
            config.read_cache_bytes,
        )))
    } else {
        Ok(store)
    }
}

async fn open_adapter(config: &Config, data_dir: &Path) -> anyhow::Result<Arc<dyn ArticleStore>> {
    match config.store {
        StoreKind::Sqlite => {
            let path = config
                .sqlite
                .path
                .clone()
                .unwrap_or_else(|| data_dir.join("business.db"));
            Ok(Arc::new(SqliteStore::open(&path).await?))
        }
        StoreKind::Dynamodb => Ok(Arc::new(DynamoStore::open(&config.dynamodb).await?)),
    }
}

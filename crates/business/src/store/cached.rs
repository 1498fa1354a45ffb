//! The read cache, as a layer over any store: tag list, article by slug and
//! listing pages are served from memory. Every write bumps a generation
//! number that is part of every cache key, so a write makes all earlier
//! entries unreachable at once, with no invalidation race (a reader that
//! fetched before the write files its result under the old generation).
//!
//! The generation lives in-process by default and in Redis when `redis.url`
//! is set, so a write on one replica invalidates the caches of all.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::KeysInterface;
use moka::future::Cache;
use platform::redis::Redis;

use super::{
    Article, ArticleChanges, ArticleFilter, ArticleStore, Comment, NewArticle, StoreResult,
};

const TTL: Duration = Duration::from_secs(30);

/// One listing page and the total number of matches.
type Page = (Vec<Article>, u64);

enum Generation {
    Local(AtomicU64),
    Shared(Redis),
}

pub struct CachedStore {
    inner: Arc<dyn ArticleStore>,
    generation: Generation,
    tags: Cache<u64, Arc<Vec<String>>>,
    articles: Cache<(u64, String), Option<Arc<Article>>>,
    pages: Cache<(u64, String), Arc<Page>>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn ArticleStore>, redis: Option<Redis>) -> Self {
        Self {
            inner,
            generation: redis.map_or(Generation::Local(AtomicU64::new(0)), Generation::Shared),
            tags: Cache::builder().max_capacity(16).time_to_live(TTL).build(),
            articles: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .build(),
            pages: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TTL)
                .build(),
        }
    }

    /// `None` when the shared generation cannot be read: then the cache is bypassed.
    async fn generation(&self) -> Option<u64> {
        match &self.generation {
            Generation::Local(n) => Some(n.load(Ordering::Acquire)),
            Generation::Shared(redis) => {
                let value: Result<Option<u64>, _> = redis
                    .client()
                    .get(redis.key("business:cache-generation"))
                    .await;
                value.ok().map(Option::unwrap_or_default)
            }
        }
    }

    async fn bump(&self) {
        match &self.generation {
            Generation::Local(n) => {
                n.fetch_add(1, Ordering::AcqRel);
            }
            Generation::Shared(redis) => {
                let bumped: Result<u64, _> = redis
                    .client()
                    .incr(redis.key("business:cache-generation"))
                    .await;
                if let Err(e) = bumped {
                    tracing::error!(error = %e, "cannot invalidate the shared read cache");
                }
            }
        }
    }

    /// Runs a write and invalidates whatever it returns.
    async fn write<T>(&self, result: StoreResult<T>) -> StoreResult<T> {
        if result.is_ok() {
            self.bump().await;
        }
        result
    }
}

#[async_trait]
impl ArticleStore for CachedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn tags(&self) -> StoreResult<Vec<String>> {
        let Some(generation) = self.generation().await else {
            return self.inner.tags().await;
        };
        if let Some(tags) = self.tags.get(&generation).await {
            return Ok(tags.as_ref().clone());
        }
        let tags = self.inner.tags().await?;
        self.tags.insert(generation, Arc::new(tags.clone())).await;
        Ok(tags)
    }

    async fn create_article(&self, article: NewArticle) -> StoreResult<Article> {
        self.write(self.inner.create_article(article).await).await
    }

    async fn article_by_slug(&self, slug: &str) -> StoreResult<Option<Article>> {
        let Some(generation) = self.generation().await else {
            return self.inner.article_by_slug(slug).await;
        };
        let key = (generation, slug.to_owned());
        if let Some(hit) = self.articles.get(&key).await {
            return Ok(hit.map(|a| a.as_ref().clone()));
        }
        let article = self.inner.article_by_slug(slug).await?;
        self.articles
            .insert(key, article.clone().map(Arc::new))
            .await;
        Ok(article)
    }

    async fn update_article(
        &self,
        id: &str,
        expected_version: i64,
        changes: ArticleChanges,
        now: i64,
    ) -> StoreResult<Article> {
        self.write(
            self.inner
                .update_article(id, expected_version, changes, now)
                .await,
        )
        .await
    }

    async fn delete_article(&self, id: &str) -> StoreResult<()> {
        self.write(self.inner.delete_article(id).await).await
    }

    async fn list_articles(
        &self,
        filter: &ArticleFilter,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<Article>, u64)> {
        let Some(generation) = self.generation().await else {
            return self.inner.list_articles(filter, limit, offset).await;
        };
        let key = (generation, format!("{filter:?}|{limit}|{offset}"));
        if let Some(hit) = self.pages.get(&key).await {
            return Ok(hit.as_ref().clone());
        }
        let page = self.inner.list_articles(filter, limit, offset).await?;
        self.pages.insert(key, Arc::new(page.clone())).await;
        Ok(page)
    }

    async fn favorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64> {
        self.write(self.inner.favorite(user_id, article_id).await)
            .await
    }

    async fn unfavorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64> {
        self.write(self.inner.unfavorite(user_id, article_id).await)
            .await
    }

    async fn favorited(
        &self,
        user_id: &str,
        article_ids: &[String],
    ) -> StoreResult<HashSet<String>> {
        self.inner.favorited(user_id, article_ids).await
    }

    async fn follow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()> {
        // Follows change feeds, which are listings.
        self.write(self.inner.follow(follower_id, followee_id).await)
            .await
    }

    async fn unfollow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()> {
        self.write(self.inner.unfollow(follower_id, followee_id).await)
            .await
    }

    async fn following(
        &self,
        follower_id: &str,
        followee_ids: &[String],
    ) -> StoreResult<HashSet<String>> {
        self.inner.following(follower_id, followee_ids).await
    }

    async fn add_comment(
        &self,
        article_id: &str,
        author_id: &str,
        body: &str,
        now: i64,
    ) -> StoreResult<Comment> {
        self.inner
            .add_comment(article_id, author_id, body, now)
            .await
    }

    async fn comments(&self, article_id: &str) -> StoreResult<Vec<Comment>> {
        self.inner.comments(article_id).await
    }

    async fn comment(&self, article_id: &str, id: i64) -> StoreResult<Option<Comment>> {
        self.inner.comment(article_id, id).await
    }

    async fn delete_comment(&self, article_id: &str, id: i64) -> StoreResult<()> {
        self.inner.delete_comment(article_id, id).await
    }
}

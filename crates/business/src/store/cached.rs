//! The read cache, as a layer over any store: tag list, article by slug and
//! listing pages are served from memory. Every write bumps a generation
//! number that is part of every cache key, so a write makes all earlier
//! entries unreachable at once, with no invalidation race (a reader that
//! fetched before the write files its result under the old generation).
//!
//! The generation lives in-process by default and in Redis when `redis.url`
//! is set, so a write on one replica invalidates the caches of all.
//!
//! Memory is bounded in bytes (`business.read_cache_bytes`), not entries:
//! each article is held once, weighed by its size, and listing pages and
//! slugs hold only article ids. A page whose articles are no longer all
//! held is read from the store again. (Bounded by entries, 120 listings of
//! 64 KiB articles held a copy of every article per page: 1.4 GB.)

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::KeysInterface;
use moka::future::Cache;
use platform::storage::redis::Redis;

use crate::domain::CommentBody;

use super::{
    Article, ArticleChanges, ArticleFilter, ArticleStore, Comment, NewArticle, StoreResult,
};

const TTL: Duration = Duration::from_secs(30);

/// One listing page: its articles' ids and the total number of matches.
type Page = (Vec<String>, u64);

/// Of the byte budget: articles get this many eighths; tag lists, pages and
/// slugs one each.
const ARTICLE_EIGHTHS: u64 = 5;
/// What an entry costs besides its text: the cache's own bookkeeping.
const ENTRY_OVERHEAD: usize = 128;

/// About the bytes `article` holds.
fn article_bytes(article: &Article) -> u32 {
    let text = article.id.len()
        + article.slug.len()
        + article.author_id.len()
        + article.title.len()
        + article.description.len()
        + article.body.len()
        + article.tags.iter().map(|t| t.len() + 24).sum::<usize>();
    u32::try_from(text + std::mem::size_of::<Article>() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

fn key_bytes(key: &(u64, String)) -> usize {
    key.1.len() + ENTRY_OVERHEAD
}

enum Generation {
    Local(AtomicU64),
    Shared(Redis),
}

pub struct CachedStore {
    inner: Arc<dyn ArticleStore>,
    generation: Generation,
    tags: Cache<u64, Arc<Vec<String>>>,
    /// (generation, id) → the article.
    articles: Cache<(u64, String), Arc<Article>>,
    /// (generation, slug) → its article's id, or none with that slug.
    slugs: Cache<(u64, String), Option<String>>,
    pages: Cache<(u64, String), Arc<Page>>,
}

impl CachedStore {
    /// A cache over `inner` holding at most about `budget_bytes`.
    pub fn new(inner: Arc<dyn ArticleStore>, redis: Option<Redis>, budget_bytes: u64) -> Self {
        let eighth = budget_bytes / 8;
        Self {
            inner,
            generation: redis.map_or(Generation::Local(AtomicU64::new(0)), Generation::Shared),
            tags: Cache::builder()
                .max_capacity(eighth)
                .weigher(|_, tags: &Arc<Vec<String>>| {
                    let bytes: usize = tags.iter().map(|t| t.len() + 24).sum();
                    u32::try_from(bytes + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                })
                .time_to_live(TTL)
                .build(),
            articles: Cache::builder()
                .max_capacity(eighth * ARTICLE_EIGHTHS)
                .weigher(|_, article: &Arc<Article>| article_bytes(article))
                .time_to_live(TTL)
                .build(),
            slugs: Cache::builder()
                .max_capacity(eighth)
                .weigher(|key, id: &Option<String>| {
                    let bytes = key_bytes(key) + id.as_ref().map_or(0, String::len);
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .time_to_live(TTL)
                .build(),
            pages: Cache::builder()
                .max_capacity(eighth)
                .weigher(|key, page: &Arc<Page>| {
                    let ids: usize = page.0.iter().map(|id| id.len() + 24).sum();
                    u32::try_from(key_bytes(key) + ids).unwrap_or(u32::MAX)
                })
                .time_to_live(TTL)
                .build(),
        }
    }

    /// The bytes held now (after pending evictions), for tests and metrics.
    pub async fn weighed_bytes(&self) -> u64 {
        self.tags.run_pending_tasks().await;
        self.articles.run_pending_tasks().await;
        self.slugs.run_pending_tasks().await;
        self.pages.run_pending_tasks().await;
        self.tags.weighted_size()
            + self.articles.weighted_size()
            + self.slugs.weighted_size()
            + self.pages.weighted_size()
    }

    /// Holds `article` under `generation` (once, however many pages show it).
    async fn hold(&self, generation: u64, article: &Article) {
        let key = (generation, article.id.clone());
        if !self.articles.contains_key(&key) {
            self.articles.insert(key, Arc::new(article.clone())).await;
        }
    }

    /// The held articles of `ids`, or none if any is no longer held.
    async fn held(&self, generation: u64, ids: &[String]) -> Option<Vec<Article>> {
        let mut articles = Vec::with_capacity(ids.len());
        for id in ids {
            let article = self.articles.get(&(generation, id.clone())).await?;
            articles.push(article.as_ref().clone());
        }
        Some(articles)
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
        match self.slugs.get(&key).await {
            Some(None) => return Ok(None),
            Some(Some(id)) => {
                if let Some(mut held) = self.held(generation, &[id]).await {
                    return Ok(held.pop());
                }
            }
            None => {}
        }
        let article = self.inner.article_by_slug(slug).await?;
        if let Some(article) = &article {
            self.hold(generation, article).await;
        }
        self.slugs
            .insert(key, article.as_ref().map(|a| a.id.clone()))
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
        if let Some(page) = self.pages.get(&key).await
            && let Some(articles) = self.held(generation, &page.0).await
        {
            return Ok((articles, page.1));
        }
        let (articles, total) = self.inner.list_articles(filter, limit, offset).await?;
        for article in &articles {
            self.hold(generation, article).await;
        }
        let ids = articles.iter().map(|a| a.id.clone()).collect();
        self.pages.insert(key, Arc::new((ids, total))).await;
        Ok((articles, total))
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
        body: &CommentBody,
        now: i64,
    ) -> StoreResult<Comment> {
        self.inner
            .add_comment(article_id, author_id, body, now)
            .await
    }

    async fn comments(
        &self,
        article_id: &str,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<Comment>> {
        self.inner.comments(article_id, limit, offset).await
    }

    async fn comment(&self, article_id: &str, id: i64) -> StoreResult<Option<Comment>> {
        self.inner.comment(article_id, id).await
    }

    async fn delete_comment(&self, article_id: &str, id: i64) -> StoreResult<()> {
        self.inner.delete_comment(article_id, id).await
    }
}

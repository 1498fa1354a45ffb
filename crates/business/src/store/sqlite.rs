//! SQLite adapter: the embedded default. Writers are serialised by SQLite,
//! so the favorite counter and the version check are exact inside one
//! transaction each.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::{
    Article, ArticleChanges, ArticleFilter, ArticleStore, Comment, NewArticle, StoreError,
    StoreResult,
};
use crate::domain::CommentBody;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let pool = platform::storage::sqlite::open(path)
            .await
            .with_context(|| format!("opening business database {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("migrating business database")?;
        Ok(Self { pool })
    }

    async fn tags_of(&self, ids: &[String]) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        if ids.is_empty() {
            return Ok(tags);
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT article_id, tag FROM article_tags WHERE article_id IN (",
        );
        push_list(&mut q, ids);
        q.push(") ORDER BY article_id, position");
        for row in q.build().fetch_all(&self.pool).await? {
            tags.entry(row.get("article_id"))
                .or_default()
                .push(row.get("tag"));
        }
        Ok(tags)
    }

    async fn with_tags(&self, mut articles: Vec<Article>) -> StoreResult<Vec<Article>> {
        let ids: Vec<String> = articles.iter().map(|a| a.id.clone()).collect();
        let mut tags = self.tags_of(&ids).await?;
        for article in &mut articles {
            article.tags = tags.remove(&article.id).unwrap_or_default();
        }
        Ok(articles)
    }

    async fn article_by_id(&self, id: &str) -> StoreResult<Option<Article>> {
        self.article_where("id", id).await
    }

    /// One article by a unique column (`id` or `slug`), with its tags.
    async fn article_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> StoreResult<Option<Article>> {
        let row = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE {column} = ?"
        ))
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(self.with_tags(vec![article(&row)]).await?.pop()),
            None => Ok(None),
        }
    }
}

const ARTICLE_COLUMNS: &str = "id, slug, author_id, title, description, body, favorites_count, version, created_at, updated_at";

fn article(row: &SqliteRow) -> Article {
    Article {
        id: row.get("id"),
        slug: row.get("slug"),
        author_id: row.get("author_id"),
        title: row.get("title"),
        description: row.get("description"),
        body: row.get("body"),
        tags: Vec::new(),
        favorites_count: row.get("favorites_count"),
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn comment(row: &SqliteRow) -> Comment {
    Comment {
        id: row.get("id"),
        article_id: row.get("article_id"),
        author_id: row.get("author_id"),
        body: row.get("body"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn push_list(q: &mut QueryBuilder<'_, Sqlite>, values: &[String]) {
    let mut list = q.separated(", ");
    for v in values {
        list.push_bind(v.clone());
    }
}

fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, filter: &ArticleFilter) {
    q.push(" WHERE 1 = 1");
    if let Some(tag) = &filter.tag {
        q.push(" AND a.id IN (SELECT article_id FROM article_tags WHERE tag = ")
            .push_bind(tag.clone())
            .push(")");
    }
    if let Some(author) = &filter.author_id {
        q.push(" AND a.author_id = ").push_bind(author.clone());
    }
    if let Some(user) = &filter.favorited_by {
        q.push(" AND a.id IN (SELECT article_id FROM favorites WHERE user_id = ")
            .push_bind(user.clone())
            .push(")");
    }
    if let Some(user) = &filter.followed_by {
        q.push(" AND a.author_id IN (SELECT followee_id FROM follows WHERE follower_id = ")
            .push_bind(user.clone())
            .push(")");
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn insert_tags(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    article_id: &str,
    tags: &[String],
) -> Result<(), sqlx::Error> {
    for (position, tag) in tags.iter().enumerate() {
        sqlx::query("INSERT INTO article_tags (article_id, tag, position) VALUES (?, ?, ?)")
            .bind(article_id)
            .bind(tag)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl ArticleStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn tags(&self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT tag FROM article_tags ORDER BY tag")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn create_article(&self, new: NewArticle) -> StoreResult<Article> {
        let article = new.into_article();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO articles (id, slug, author_id, title, description, body, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&article.id)
        .bind(&article.slug)
        .bind(&article.author_id)
        .bind(&article.title)
        .bind(&article.description)
        .bind(&article.body)
        .bind(article.created_at)
        .bind(article.updated_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
            other => other?,
        };
        insert_tags(&mut tx, &article.id, &article.tags).await?;
        tx.commit().await?;
        Ok(article)
    }

    async fn article_by_slug(&self, slug: &str) -> StoreResult<Option<Article>> {
        self.article_where("slug", slug).await
    }

    async fn update_article(
        &self,
        id: &str,
        expected_version: i64,
        changes: ArticleChanges,
        now: i64,
    ) -> StoreResult<Article> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE articles SET
                title = COALESCE(?, title),
                description = COALESCE(?, description),
                body = COALESCE(?, body),
                updated_at = MAX(?, updated_at + 1),
                version = version + 1
             WHERE id = ? AND version = ?",
        )
        .bind(changes.title.map(String::from))
        .bind(changes.description.map(String::from))
        .bind(changes.body.map(String::from))
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM articles WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(if exists.is_some() {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            });
        }
        if let Some(tags) = &changes.tags {
            sqlx::query("DELETE FROM article_tags WHERE article_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_tags(&mut tx, id, tags.as_slice()).await?;
        }
        tx.commit().await?;
        self.article_by_id(id).await?.ok_or(StoreError::NotFound)
    }

    async fn delete_article(&self, id: &str) -> StoreResult<()> {
        // Tags, favorites and comments go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM articles WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_articles(
        &self,
        filter: &ArticleFilter,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<Article>, u64)> {
        let unfiltered = filter.tag.is_none()
            && filter.author_id.is_none()
            && filter.favorited_by.is_none()
            && filter.followed_by.is_none();
        let total: i64 = if unfiltered {
            sqlx::query_scalar("SELECT n FROM article_count WHERE id = 1")
                .fetch_one(&self.pool)
                .await?
        } else {
            let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM articles a");
            push_filter(&mut count, filter);
            count.build_query_scalar().fetch_one(&self.pool).await?
        };

        let mut page = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {} FROM articles a",
            ARTICLE_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        push_filter(&mut page, filter);
        page.push(" ORDER BY a.created_at DESC, a.id DESC LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(i64::from(offset));
        let rows = page.build().fetch_all(&self.pool).await?;
        let articles = self.with_tags(rows.iter().map(article).collect()).await?;
        Ok((articles, u64::try_from(total).unwrap_or(0)))
    }

    async fn favorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO favorites (user_id, article_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(article_id)
        .execute(&mut *tx)
        .await;
        let inserted = match inserted {
            // The article vanished (foreign key).
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                return Err(StoreError::NotFound);
            }
            other => other?,
        };
        if inserted.rows_affected() == 1 {
            sqlx::query("UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = ?")
                .bind(article_id)
                .execute(&mut *tx)
                .await?;
        }
        let count: i64 = sqlx::query_scalar("SELECT favorites_count FROM articles WHERE id = ?")
            .bind(article_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(count)
    }

    async fn unfavorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM favorites WHERE user_id = ? AND article_id = ?")
            .bind(user_id)
            .bind(article_id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 1 {
            sqlx::query("UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = ?")
                .bind(article_id)
                .execute(&mut *tx)
                .await?;
        }
        let count: Option<i64> =
            sqlx::query_scalar("SELECT favorites_count FROM articles WHERE id = ?")
                .bind(article_id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        count.ok_or(StoreError::NotFound)
    }

    async fn favorited(
        &self,
        user_id: &str,
        article_ids: &[String],
    ) -> StoreResult<HashSet<String>> {
        if article_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut q =
            QueryBuilder::<Sqlite>::new("SELECT article_id FROM favorites WHERE user_id = ");
        q.push_bind(user_id.to_owned()).push(" AND article_id IN (");
        push_list(&mut q, article_ids);
        q.push(")");
        Ok(q.build_query_scalar()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect())
    }

    async fn follow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO follows (follower_id, followee_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(follower_id)
        .bind(followee_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn unfollow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?")
            .bind(follower_id)
            .bind(followee_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn following(
        &self,
        follower_id: &str,
        followee_ids: &[String],
    ) -> StoreResult<HashSet<String>> {
        if followee_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut q =
            QueryBuilder::<Sqlite>::new("SELECT followee_id FROM follows WHERE follower_id = ");
        q.push_bind(follower_id.to_owned())
            .push(" AND followee_id IN (");
        push_list(&mut q, followee_ids);
        q.push(")");
        Ok(q.build_query_scalar()
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect())
    }

    async fn add_comment(
        &self,
        article_id: &str,
        author_id: &str,
        body: &CommentBody,
        now: i64,
    ) -> StoreResult<Comment> {
        let row = sqlx::query(
            "INSERT INTO comments (article_id, author_id, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
             RETURNING id, article_id, author_id, body, created_at, updated_at",
        )
        .bind(article_id)
        .bind(author_id)
        .bind(body.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match row {
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::NotFound)
            }
            other => Ok(comment(&other?)),
        }
    }

    async fn comments(
        &self,
        article_id: &str,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<Comment>> {
        let rows = sqlx::query(
            "SELECT id, article_id, author_id, body, created_at, updated_at FROM comments WHERE article_id = ? ORDER BY id LIMIT ? OFFSET ?",
        )
        .bind(article_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(comment).collect())
    }

    async fn comment(&self, article_id: &str, id: i64) -> StoreResult<Option<Comment>> {
        let row = sqlx::query(
            "SELECT id, article_id, author_id, body, created_at, updated_at FROM comments WHERE article_id = ? AND id = ?",
        )
        .bind(article_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(comment))
    }

    async fn delete_comment(&self, article_id: &str, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM comments WHERE article_id = ? AND id = ?")
            .bind(article_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

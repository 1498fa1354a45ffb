//! Articles: list and feed, one by slug, create, update, delete, favorite.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::paging::{self, Page};
use super::views::{ArticleView, now_ms};
use crate::domain::{ArticleBody as Markdown, Description, Slug, Tag, Tags, Title};
use crate::error::{Error, Result};
use crate::identity::AuthUser;
use crate::profiles::Profile;
use crate::store::{Article, ArticleChanges, ArticleFilter, NewArticle, StoreError};
use platform::http::json::{JsonBody, present};
use platform::username::Username;

pub fn router() -> Router<crate::State> {
    Router::new()
        .route("/api/articles", get(list).post(create))
        .route("/api/articles/feed", get(feed))
        .route("/api/articles/{slug}", get(show).put(update).delete(remove))
        .route(
            "/api/articles/{slug}/favorite",
            post(favorite).delete(unfavorite),
        )
}

#[derive(Deserialize)]
struct ListParams {
    tag: Option<String>,
    author: Option<String>,
    favorited: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArticleList {
    articles: Vec<ArticleView>,
    articles_count: u64,
}

#[derive(Serialize)]
struct ArticleBody {
    article: ArticleView,
}

impl crate::State {
    /// The article at `slug` (a path parameter): 404 for one that is not,
    /// or could not be, a slug, without asking the store for the latter.
    pub(super) async fn article(&self, slug: &str) -> Result<Article> {
        let slug = Slug::parse(slug).ok_or(Error::NotFound("article"))?;
        self.inner
            .store
            .article_by_slug(slug.as_str())
            .await?
            .ok_or(Error::NotFound("article"))
    }

    async fn single(&self, article: Article, viewer: Option<&str>) -> Result<Json<ArticleBody>> {
        self.single_by(article, viewer, None).await
    }

    /// The view of an article just written, whose `author` was looked up
    /// before the write: a write that succeeded is never answered with a
    /// failure because auth could not be asked afterwards.
    async fn single_by(
        &self,
        article: Article,
        viewer: Option<&str>,
        author: Option<Arc<Profile>>,
    ) -> Result<Json<ArticleBody>> {
        let article = self
            .article_views(vec![article], viewer, true, author)
            .await?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("view of one article is empty"))?;
        Ok(Json(ArticleBody { article }))
    }

    async fn listing(
        &self,
        filter: ArticleFilter,
        viewer: Option<&str>,
        page: Page,
    ) -> Result<Json<ArticleList>> {
        let (articles, total) = self
            .inner
            .store
            .list_articles(&filter, page.limit, page.offset)
            .await?;
        Ok(Json(ArticleList {
            articles: self.article_views(articles, viewer, false, None).await?,
            articles_count: total,
        }))
    }

    /// The user id behind a username filter; `None` when nobody has that name.
    async fn user_id_named(&self, username: &str) -> Result<Option<String>> {
        let Ok(username) = Username::parse(username) else {
            return Ok(None);
        };
        let profile = self
            .inner
            .profiles
            .by_username(&username, None)
            .await
            .map_err(|_| Error::Unavailable("profile"))?;
        Ok(profile.map(|p| p.id.clone()))
    }
}

/// No article matches: a filter that names nobody, or a tag nobody could set.
fn nothing() -> Json<ArticleList> {
    Json(ArticleList {
        articles: Vec::new(),
        articles_count: 0,
    })
}

async fn list(
    State(state): State<crate::State>,
    viewer: Option<AuthUser>,
    Query(params): Query<ListParams>,
) -> Result<Json<ArticleList>> {
    let page = paging::ARTICLES.parse(params.limit.as_deref(), params.offset.as_deref())?;
    let mut filter = ArticleFilter::default();
    if let Some(tag) = params.tag {
        match Tag::parse(&tag, &state.inner.config.limits) {
            Ok(tag) => filter.tag = Some(tag.into()),
            Err(_) => return Ok(nothing()),
        }
    }
    for (name, slot) in [
        (params.author, &mut filter.author_id),
        (params.favorited, &mut filter.favorited_by),
    ] {
        if let Some(name) = name {
            match state.user_id_named(&name).await? {
                Some(id) => *slot = Some(id),
                None => return Ok(nothing()),
            }
        }
    }
    let viewer = viewer.map(|AuthUser(id)| id);
    state.listing(filter, viewer.as_deref(), page).await
}

async fn feed(
    State(state): State<crate::State>,
    AuthUser(viewer): AuthUser,
    Query(params): Query<ListParams>,
) -> Result<Json<ArticleList>> {
    let page = paging::ARTICLES.parse(params.limit.as_deref(), params.offset.as_deref())?;
    let filter = ArticleFilter {
        followed_by: Some(viewer.clone()),
        ..ArticleFilter::default()
    };
    state.listing(filter, Some(&viewer), page).await
}

async fn show(
    State(state): State<crate::State>,
    viewer: Option<AuthUser>,
    Path(slug): Path<String>,
) -> Result<Json<ArticleBody>> {
    let article = state.article(&slug).await?;
    let viewer = viewer.map(|AuthUser(id)| id);
    state.single(article, viewer.as_deref()).await
}

#[derive(Deserialize)]
struct Envelope<T> {
    article: Option<T>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NewInput {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
}

async fn create(
    State(state): State<crate::State>,
    AuthUser(author): AuthUser,
    JsonBody(input): JsonBody<Envelope<NewInput>>,
) -> Result<(StatusCode, Json<ArticleBody>)> {
    let input = input.article.unwrap_or_default();
    let limits = &state.inner.config.limits;
    let title = Title::parse(input.title, limits)?;
    let description = Description::parse(input.description, limits)?;
    let body = Markdown::parse(input.body, limits)?;
    let tags = Tags::parse(input.tag_list.unwrap_or_default(), limits)?;
    let profile = state.profile_by_id(&author, &author).await?;
    let now = now_ms();
    // The random suffix makes a clash unlikely; a clash is retried, never an error.
    let mut attempts = 0;
    let created = loop {
        let new = NewArticle {
            id: uuid::Uuid::now_v7().to_string(),
            slug: Slug::for_title(&title),
            author_id: author.clone(),
            title: title.clone(),
            description: description.clone(),
            body: body.clone(),
            tags: tags.clone(),
            now,
        };
        match state.inner.store.create_article(new).await {
            Err(StoreError::Duplicate) if attempts < 5 => attempts += 1,
            other => break other?,
        }
    };
    Ok((
        StatusCode::CREATED,
        state
            .single_by(created, Some(&author), Some(profile))
            .await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateInput {
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    tag_list: Option<Option<Vec<String>>>,
}

async fn update(
    State(state): State<crate::State>,
    AuthUser(user): AuthUser,
    Path(slug): Path<String>,
    JsonBody(input): JsonBody<Envelope<UpdateInput>>,
) -> Result<Json<ArticleBody>> {
    let article = state.article(&slug).await?;
    if article.author_id != user {
        return Err(Error::Forbidden("article"));
    }
    let input = input.article.unwrap_or_default();
    let limits = &state.inner.config.limits;
    let tags = match input.tag_list {
        None => None,
        Some(None) => {
            return Err(Error::invalid(
                "tagList",
                "must be a list (use [] to remove all tags)",
            ));
        }
        Some(Some(list)) => Some(Tags::parse(list, limits)?),
    };
    let changes = ArticleChanges {
        title: Title::parse_change(input.title, limits)?,
        description: Description::parse_change(input.description, limits)?,
        body: Markdown::parse_change(input.body, limits)?,
        tags,
    };
    let profile = state.profile_by_id(&user, &user).await?;
    // Optimistic concurrency: the write applies only to the version read above.
    let updated = state
        .inner
        .store
        .update_article(&article.id, article.version, changes, now_ms())
        .await?;
    state.single_by(updated, Some(&user), Some(profile)).await
}

async fn remove(
    State(state): State<crate::State>,
    AuthUser(user): AuthUser,
    Path(slug): Path<String>,
) -> Result<StatusCode> {
    let article = state.article(&slug).await?;
    if article.author_id != user {
        return Err(Error::Forbidden("article"));
    }
    state.inner.store.delete_article(&article.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn favorite(
    State(state): State<crate::State>,
    AuthUser(user): AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleBody>> {
    let mut article = state.article(&slug).await?;
    let author = state.profile_by_id(&article.author_id, &user).await?;
    article.favorites_count = state.inner.store.favorite(&user, &article.id).await?;
    state.single_by(article, Some(&user), Some(author)).await
}

async fn unfavorite(
    State(state): State<crate::State>,
    AuthUser(user): AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleBody>> {
    let mut article = state.article(&slug).await?;
    let author = state.profile_by_id(&article.author_id, &user).await?;
    article.favorites_count = state.inner.store.unfavorite(&user, &article.id).await?;
    state.single_by(article, Some(&user), Some(author)).await
}

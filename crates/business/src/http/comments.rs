//! Comments: `GET|POST /api/articles/{slug}/comments`,
//! `DELETE /api/articles/{slug}/comments/{id}` (the comment's author only).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::paging;
use super::views::{CommentView, now_ms};
use crate::domain;
use crate::error::{Error, Result};
use crate::identity::AuthUser;
use platform::http::json::JsonBody;

pub fn router() -> Router<crate::State> {
    Router::new()
        .route("/api/articles/{slug}/comments", get(list).post(create))
        .route("/api/articles/{slug}/comments/{id}", delete(remove))
}

#[derive(Serialize)]
struct CommentList {
    comments: Vec<CommentView>,
}

#[derive(Serialize)]
struct CommentBody {
    comment: CommentView,
}

#[derive(Deserialize)]
struct Envelope {
    comment: Option<NewComment>,
}

#[derive(Deserialize, Default)]
struct NewComment {
    body: Option<String>,
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<String>,
    offset: Option<String>,
}

async fn list(
    State(state): State<crate::State>,
    viewer: Option<AuthUser>,
    Path(slug): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<CommentList>> {
    let page = paging::COMMENTS.parse(params.limit.as_deref(), params.offset.as_deref())?;
    let article = state.article(&slug).await?;
    let comments = state
        .inner
        .store
        .comments(&article.id, page.limit, page.offset)
        .await?;
    let viewer = viewer.map(|AuthUser(id)| id);
    Ok(Json(CommentList {
        comments: state
            .comment_views(comments, viewer.as_deref(), None)
            .await?,
    }))
}

async fn create(
    State(state): State<crate::State>,
    AuthUser(author): AuthUser,
    Path(slug): Path<String>,
    JsonBody(input): JsonBody<Envelope>,
) -> Result<(StatusCode, Json<CommentBody>)> {
    let body = domain::CommentBody::parse(
        input.comment.unwrap_or_default().body,
        &state.inner.config.limits,
    )?;
    let article = state.article(&slug).await?;
    // Looked up before the write, so that a comment stored is never answered with a failure.
    let profile = state.profile_by_id(&author, &author).await?;
    let comment = state
        .inner
        .store
        .add_comment(&article.id, &author, &body, now_ms())
        .await?;
    let comment = state
        .comment_views(vec![comment], Some(&author), Some(profile))
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("view of one comment is empty"))?;
    Ok((StatusCode::CREATED, Json(CommentBody { comment })))
}

async fn remove(
    State(state): State<crate::State>,
    AuthUser(user): AuthUser,
    Path((slug, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let article = state.article(&slug).await?;
    let id: i64 = id.parse().map_err(|_| Error::NotFound("comment"))?;
    let comment = state
        .inner
        .store
        .comment(&article.id, id)
        .await?
        .ok_or(Error::NotFound("comment"))?;
    if comment.author_id != user {
        return Err(Error::Forbidden("comment"));
    }
    state.inner.store.delete_comment(&article.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

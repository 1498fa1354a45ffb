//! `GET /api/tags`: every tag in use, sorted.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::error::Result;

#[derive(Serialize)]
struct TagList {
    tags: Vec<String>,
}

pub fn router() -> Router<crate::State> {
    Router::new().route("/api/tags", get(list))
}

async fn list(State(state): State<crate::State>) -> Result<Json<TagList>> {
    let tags = state.inner.store.tags().await?;
    Ok(Json(TagList { tags }))
}

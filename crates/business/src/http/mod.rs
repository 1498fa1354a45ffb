//! HTTP resources, one module per RealWorld route group, and the JSON views
//! they share.

mod articles;
mod comments;
mod paging;
mod profiles;
mod tags;
mod views;

use axum::Router;

use crate::State;

pub fn router() -> Router<State> {
    Router::new()
        .merge(articles::router())
        .merge(comments::router())
        .merge(profiles::router())
        .merge(tags::router())
}

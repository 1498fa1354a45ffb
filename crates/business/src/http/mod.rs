//! HTTP resources, one module per RealWorld route group.

mod tags;

use axum::Router;

use crate::State;

pub fn router() -> Router<State> {
    Router::new().merge(tags::router())
}

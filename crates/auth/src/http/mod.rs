//! HTTP resources: the RealWorld user routes and the platform's token,
//! session, discovery and internal routes, one module each.

mod cookie;
mod internal;
mod sessions;
mod token;
mod users;
mod well_known;

use axum::Router;

use crate::State;

pub fn router() -> Router<State> {
    Router::new()
        .merge(users::router())
        .merge(token::router())
        .merge(sessions::router())
        .merge(well_known::router())
        .merge(internal::router())
}

//! The frontend's static export, SPA-aware: a path that is not a file gets
//! `index.html`, so client-side routes survive a reload.

use std::path::Path;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use platform::http_metrics::RouteLabel;
use platform::problem::Problem;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

pub async fn serve(dir: Option<&Path>, request: Request) -> Response {
    let mut response = match dir {
        Some(dir) => {
            let spa = ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")));
            match spa.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        }
        None => Problem::new(
            StatusCode::NOT_FOUND,
            Some("no frontend is configured (gateway.static_dir)".to_owned()),
        )
        .into_response(),
    };
    response.extensions_mut().insert(RouteLabel("static"));
    response
}

//! The frontend's static export, SPA-aware: a path that is not a file gets
//! `index.html`, so client-side routes survive a reload. Hashed build assets
//! (`/_next/static/…`) are cached for a year as immutable; everything else is
//! revalidated on each use, so a new deployment shows at once. Responses are
//! compressed (brotli or gzip, as the client accepts), from precompressed
//! `.br`/`.gz` siblings when the export ships them.

use std::path::Path;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use platform::problem::Problem;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

pub async fn serve(dir: Option<&Path>, request: Request) -> Response {
    let hashed_asset = request.uri().path().starts_with("/_next/static/");
    let mut response = match dir {
        Some(dir) => {
            let index = ServeFile::new(dir.join("index.html"))
                .precompressed_br()
                .precompressed_gzip();
            let files = ServeDir::new(dir)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(index);
            let spa = ServiceBuilder::new()
                .layer(CompressionLayer::new())
                .service(files);
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
    if response.status().is_success() {
        let policy = if hashed_asset { IMMUTABLE } else { REVALIDATE };
        response.headers_mut().insert(CACHE_CONTROL, policy);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
    use http_body_util::BodyExt;

    async fn get(dir: &Path, path: &str, encoding: Option<&str>) -> Response {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        if let Some(encoding) = encoding {
            request
                .headers_mut()
                .insert(ACCEPT_ENCODING, HeaderValue::from_str(encoding).unwrap());
        }
        serve(Some(dir), request).await
    }

    #[tokio::test]
    async fn spa_fallback_caching_and_compression() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<!doctype html><div id=app></div>",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("_next/static/chunks")).unwrap();
        let script = "console.log('conduit');\n".repeat(200);
        std::fs::write(
            dir.path().join("_next/static/chunks/app-3f9a1c.js"),
            &script,
        )
        .unwrap();

        // A client-side route gets the app shell, revalidated on each use.
        let route = get(dir.path(), "/article/how-to-train-your-dragon", None).await;
        assert_eq!(route.status(), 200);
        assert_eq!(route.headers()[CACHE_CONTROL], "no-cache");
        let body = route.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body).unwrap().contains("id=app"));

        // A hashed asset: immutable for a year, compressed as accepted.
        let asset = get(
            dir.path(),
            "/_next/static/chunks/app-3f9a1c.js",
            Some("br, gzip"),
        )
        .await;
        assert_eq!(asset.status(), 200);
        assert_eq!(
            asset.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(asset.headers()[CONTENT_ENCODING], "br");
        assert!(
            asset.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
        let compressed = asset.into_body().collect().await.unwrap().to_bytes();
        assert!(
            compressed.len() < script.len() / 10,
            "{} bytes",
            compressed.len()
        );

        let gzip = get(
            dir.path(),
            "/_next/static/chunks/app-3f9a1c.js",
            Some("gzip"),
        )
        .await;
        assert_eq!(gzip.headers()[CONTENT_ENCODING], "gzip");
        let plain = get(dir.path(), "/_next/static/chunks/app-3f9a1c.js", None).await;
        assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    }

    #[tokio::test]
    async fn without_a_frontend_it_is_a_problem_404() {
        let response = serve(None, Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), 404);
        assert!(response.headers().get(CACHE_CONTROL).is_none());
    }
}

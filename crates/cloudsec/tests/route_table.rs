//! The gateway's route table agrees with the services' routers: every
//! endpoint it lists is served by the service it names, with that method,
//! and every other method on those paths is one the service refuses too.
//! Asked of the real services (`cloudsec serve auth|business`), directly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Running, free_port};
use gateway::routes::{ENDPOINTS, Upstream};
use reqwest::Method;

/// Whether `response` is the router's own "no such route" (axum answers
/// an unrouted path 404 and an unrouted method 405, both with no body; the
/// handlers' 404s and 405s say why in JSON).
async fn unrouted(response: reqwest::Response) -> bool {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    matches!(status, 404 | 405) && body.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_table_agrees_with_the_services() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let (auth_port, business_port) = (free_port(), free_port());
    let auth_url = format!("http://127.0.0.1:{auth_port}");
    let business_url = format!("http://127.0.0.1:{business_port}");
    let _auth = Running::spawn(
        &["serve", "auth", "--data-dir", &data],
        &[("CLOUDSEC_AUTH__LISTEN", &format!("127.0.0.1:{auth_port}"))],
        dir.path(),
    )
    .await;
    let _business = Running::spawn(
        &["serve", "business", "--data-dir", &data],
        &[
            (
                "CLOUDSEC_BUSINESS__LISTEN",
                &format!("127.0.0.1:{business_port}"),
            ),
            ("CLOUDSEC_BUSINESS__AUTH_URL", &auth_url),
        ],
        dir.path(),
    )
    .await;
    let client = reqwest::Client::new();
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ];
    for endpoint in ENDPOINTS {
        let base = match endpoint.upstream {
            Upstream::Auth => &auth_url,
            Upstream::Business => &business_url,
        };
        // Parameters filled with a value no handler finds: the route is what counts.
        let path: String = endpoint
            .pattern
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let served = client
            .request(endpoint.method.clone(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert!(
            !unrouted(served).await,
            "{} {} is in the table but {} has no such route",
            endpoint.method,
            endpoint.pattern,
            endpoint.upstream.name()
        );
        for method in &methods {
            let listed = ENDPOINTS
                .iter()
                .any(|e| e.pattern == endpoint.pattern && e.method == method);
            if listed {
                continue;
            }
            let other = client
                .request(method.clone(), format!("{base}{path}"))
                .send()
                .await
                .unwrap();
            assert!(
                unrouted(other).await,
                "{method} {} is served by {} but missing from the table",
                endpoint.pattern,
                endpoint.upstream.name()
            );
        }
    }
}

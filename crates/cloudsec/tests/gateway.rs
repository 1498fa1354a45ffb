//! `cloudsec serve gateway` against upstreams that are down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Running, free_port};
use serde_json::Value;

#[tokio::test]
async fn a_down_upstream_gives_problem_json_and_an_unready_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let port = free_port().to_string();
    let platform = Running::spawn(
        &["serve", "gateway", "--port", &port],
        &[
            ("CLOUDSEC_GATEWAY__UPSTREAMS__AUTH", &dead),
            ("CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS", &dead),
            ("CLOUDSEC_GATEWAY__HEALTH_CHECK_INTERVAL_MS", "100"),
        ],
        tmp.path(),
    )
    .await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/api/tags", platform.url))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(response.status().as_u16(), 502 | 503),
        "{}",
        response.status()
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "about:blank");
    assert!(body["detail"].as_str().unwrap().contains("business"));

    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = client
        .get(format!("{}/readyz", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["business"], "failing");
    assert_eq!(body["checks"]["auth"], "failing");

    let health = client
        .get(format!("{}/healthz", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on upstreams"
    );
}

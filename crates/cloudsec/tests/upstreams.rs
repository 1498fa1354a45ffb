//! Load-balanced upstreams: an endpoint dying under load costs no GET; with
//! every endpoint dead the gateway answers 503 at once; it recovers when an
//! endpoint comes back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Running, free_port};

async fn business(dir: &std::path::Path, port: u16) -> Running {
    let listen = format!("127.0.0.1:{port}");
    Running::spawn(
        &["serve", "business", "--data-dir", dir.to_str().unwrap()],
        &[("CLOUDSEC_BUSINESS__LISTEN", &listen)],
        dir,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_failing_under_load() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = business(dir_a.path(), port_a).await;
    let mut b = business(dir_b.path(), port_b).await;
    let upstreams = format!("http://127.0.0.1:{port_a},http://127.0.0.1:{port_b}");
    let gw_dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let gateway = Running::spawn(
        &["serve", "gateway", "--port", &port],
        &[
            ("CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS", &upstreams),
            ("CLOUDSEC_GATEWAY__UPSTREAMS__AUTH", &upstreams),
            ("CLOUDSEC_GATEWAY__HEALTH_CHECK_INTERVAL_MS", "100"),
            // One test client is one IP: lift the per-IP limit, it is not what is tested here.
            ("CLOUDSEC_GATEWAY__RATE_LIMIT__ENABLED", "false"),
        ],
        gw_dir.path(),
    )
    .await;
    let url = format!("{}/api/tags", gateway.url);

    // Load from 8 clients while endpoint A is killed.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "load ran: {}",
        ok.load(Ordering::Relaxed)
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "GETs failed while one endpoint died"
    );

    // Both dead: fast 503s with Retry-After.
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        let response = client.get(&url).send().await.unwrap();
        latencies.push(start.elapsed());
        assert!(
            matches!(response.status().as_u16(), 502 | 503),
            "{}",
            response.status()
        );
        if response.status() == 503 {
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");

    // One comes back: served again once its health check passes.
    let _back = business(dir_a.path(), port_a).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if client.get(&url).send().await.unwrap().status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

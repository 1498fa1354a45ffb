//! Time limits at the gateway: clients that send their request head or body
//! too slowly are cut off without starving anyone else (slowloris), and each
//! route can have its own upstream timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::{Running, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; what it sent, and when.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut bytes))
        .await
        .expect("the server kept the connection open");
    (
        String::from_utf8_lossy(&bytes).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[
            ("CLOUDSEC_GATEWAY__LIMITS__HEADER_READ_TIMEOUT_MS", "500"),
            ("CLOUDSEC_GATEWAY__LIMITS__BODY_READ_TIMEOUT_MS", "500"),
        ],
    )
    .await;
    let addr = platform.url.trim_start_matches("http://").to_owned();

    // 200 connections that never finish their request head.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /api/tags HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    // Everyone else is served meanwhile.
    let started = Instant::now();
    let response = reqwest::get(format!("{}/api/tags", platform.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    // And every slow connection is closed soon after the header timeout.
    for stream in &mut slow {
        let (_, after) = until_closed(stream, Duration::from_secs(3)).await;
        assert!(after < Duration::from_secs(3));
    }

    // A body that stops arriving: 408.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /api/users/login HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"user\":")
        .await
        .unwrap();
    let (answer, after) = until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(after < Duration::from_secs(2), "{after:?}");

    // A body that trickles in (one byte per 200 ms, never pausing long
    // enough for the idle timeout) still has to arrive within the deadline.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /api/users/login HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    for _ in 0..15 {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
        {
            answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A stand-in business service: `/api/articles` takes 3 s, `/api/profiles/*` 2 s.
async fn slow_upstream() -> u16 {
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route("/api/tags", get(|| async { r#"{"tags":[]}"# }))
        .route(
            "/api/articles",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route(
            "/api/profiles/{name}",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "slow but in time"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn each_route_has_its_own_upstream_timeout() {
    let upstream = format!("http://127.0.0.1:{}", slow_upstream().await);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cloudsec.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nupstream_timeout_secs = 30\n[gateway.upstreams]\nauth = \"{upstream}\"\nbusiness = \"{upstream}\"\n[gateway.route_timeouts]\n\"/api/articles\" = 1\n"
        ),
    )
    .unwrap();
    let port = free_port().to_string();
    let gateway = Running::spawn(
        &[
            "serve",
            "gateway",
            "--port",
            &port,
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
        dir.path(),
    )
    .await;
    let client = reqwest::Client::new();

    let started = Instant::now();
    let articles = client
        .get(format!("{}/api/articles", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(articles.status(), 504);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1800),
        "{waited:?}"
    );

    // Routes without an override keep the default.
    let profile = client
        .get(format!("{}/api/profiles/jake", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200);
    assert_eq!(profile.text().await.unwrap(), "slow but in time");
}

/// Silent connections (nothing sent, or an HTTP/2 preface and nothing more)
/// are closed after the header timeout, and one client address cannot hold
/// more than its share of connections while others are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_surplus_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[
            ("CLOUDSEC_GATEWAY__LIMITS__HEADER_READ_TIMEOUT_MS", "500"),
            ("CLOUDSEC_GATEWAY__LIMITS__MAX_CONNECTIONS_PER_IP", "40"),
        ],
    )
    .await;
    let addr = platform.url.trim_start_matches("http://").to_owned();

    let mut silent = Vec::new();
    for _ in 0..30 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut preface = TcpStream::connect(&addr).await.unwrap();
    preface
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    silent.push(preface);
    for stream in &mut silent {
        let (_, after) = until_closed(stream, Duration::from_secs(3)).await;
        assert!(after < Duration::from_secs(3));
    }

    // 40 connections from one address are held; the 41st is closed at once.
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut surplus = TcpStream::connect(&addr).await.unwrap();
    let (answer, after) = until_closed(&mut surplus, Duration::from_millis(400)).await;
    assert!(answer.is_empty() && after < Duration::from_millis(400));
    // Another address is served meanwhile.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let response = other
        .get(format!("{}/api/tags", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Once the held ones are closed, the address is served again.
    for stream in &mut held {
        let _ = until_closed(stream, Duration::from_secs(3)).await;
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = reqwest::get(format!("{}/api/tags", platform.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// An HTTP/2 connection on which no request starts for the idle timeout is
/// closed (hyper's server would keep it open for ever, answering pings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[
            ("CLOUDSEC_GATEWAY__UPSTREAM_TIMEOUT_SECS", "1"),
            ("CLOUDSEC_GATEWAY__LIMITS__IDLE_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let addr = platform.url.trim_start_matches("http://").to_owned();
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    for _ in 0..2 {
        let request = hyper::Request::get(format!("{}/api/tags", platform.url))
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    // Active every 1.5 s: still open. Then idle: closed within the timeout and a check.
    let idle_since = Instant::now();
    tokio::time::timeout(Duration::from_secs(6), connection)
        .await
        .expect("the server closed the idle connection")
        .unwrap()
        .ok();
    let idle = idle_since.elapsed();
    assert!(idle >= Duration::from_millis(400), "{idle:?}");
}

//! Bodies sent to cost the platform CPU and memory: refused before they are
//! read when no endpoint takes them, inspected in time linear in their size
//! whatever their script, and inspected a few at a time without a parse
//! tree, so forty of them at once cannot take the memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Running, register};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// CPU time (user + system) `pid` has used.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((fields[11] + fields[12]) * 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_no_body_read() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let addr = platform.url.trim_start_matches("http://").to_owned();
    for (request_line, status) in [
        ("POST /api/tags", "405"),
        ("POST /api/no-such-thing", "404"),
        ("PATCH /api/user", "405"),
    ] {
        // The head announces a megabyte that never comes: the answer must not wait for it.
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "{request_line} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0; 1024];
        let started = Instant::now();
        let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
            .await
            .expect("answered before the body")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        if status == "405" {
            assert!(
                answer.to_ascii_lowercase().contains("\r\nallow: "),
                "{answer}"
            );
        }
    }
}

/// The platform, with the business service reading bodies whole too (its
/// own limit is smaller by default, and its answer before a body's end races
/// with the gateway still sending it), and a registered user's token.
async fn platform_with_a_writer() -> (tempfile::TempDir, Running, reqwest::Client, String) {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[("CLOUDSEC_BUSINESS__LIMITS__REQUEST_BODY_BYTES", "2097152")],
    )
    .await;
    let client = reqwest::Client::new();
    let token = register(&client, &platform.url, "writer").await;
    (dir, platform, client, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_large_bodies_at_once_do_not_take_the_memory() {
    let (_dir, platform, client, token) = platform_with_a_writer().await;
    let pid = platform.child.id();
    let mut zeros = String::from("[0");
    while zeros.len() < 1_000_000 - 2 {
        zeros.push_str(",0");
    }
    zeros.push(']');
    // Warm up: one of them, so that buffers and pools the first request grows are counted out.
    let warm = client
        .post(format!("{}/api/articles", platform.url))
        .header("authorization", format!("Token {token}"))
        .header("content-type", "application/json")
        .body(zeros.clone())
        .send()
        .await
        .unwrap();
    assert!(warm.status().is_client_error(), "{}", warm.status());
    let before = rss_kib(pid);
    let sends = (0..40).map(|_| {
        client
            .post(format!("{}/api/articles", platform.url))
            .header("authorization", format!("Token {token}"))
            .header("content-type", "application/json")
            .body(zeros.clone())
            .send()
    });
    let mut peak = before;
    let all = futures_util::future::join_all(sends);
    tokio::pin!(all);
    let responses = loop {
        tokio::select! {
            responses = &mut all => break responses,
            () = tokio::time::sleep(Duration::from_millis(20)) => peak = peak.max(rss_kib(pid)),
        }
    };
    peak = peak.max(rss_kib(pid));
    // Each is read and refused by the business service (not JSON it takes),
    // or, when the gateway's room for bodies stays full, shed with 503.
    let mut refused = 0;
    for response in responses {
        let status = response.unwrap().status();
        assert!(status.is_client_error() || status == 503, "{status}");
        refused += usize::from(status.is_client_error());
    }
    assert!(refused >= 16, "only {refused} of 40 were read");
    let grown_mib = (peak - before) / 1024;
    assert!(grown_mib < 100, "RSS grew by {grown_mib} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_any_script_costs_little_cpu() {
    let (_dir, platform, client, token) = platform_with_a_writer().await;
    let pid = platform.child.id();
    for text in ["€", "я", "字", "😀"] {
        let body = text.repeat(900_000 / text.len());
        let json = serde_json::json!({"article": {"title": "t", "description": "d", "body": body}});
        let before = cpu(pid);
        let response = client
            .post(format!("{}/api/articles", platform.url))
            .header("authorization", format!("Token {token}"))
            .json(&json)
            .send()
            .await
            .unwrap();
        let spent = cpu(pid) - before;
        // Inspected and let through (not 403), then refused by the business
        // service: an article body of at most 65,536 characters.
        assert_eq!(response.status(), 422, "{text}");
        // A debug build: the release WAF alone is measured by bench/waf-body-cost.sh.
        assert!(
            spent < Duration::from_millis(1500),
            "{text}: {spent:?} of CPU"
        );
    }
}

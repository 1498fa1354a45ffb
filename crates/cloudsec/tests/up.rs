//! `cloudsec up`: the whole platform from one command, with no external service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use common::{Running, free_port};
use serde_json::{Value, json};

#[tokio::test]
async fn up_answers_health_and_tags_on_the_given_port_within_two_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = free_port();
    let mut platform = Running::up(&data_dir, port, &[]).await;
    assert_eq!(platform.url, format!("http://127.0.0.1:{port}"));
    assert!(
        platform.ready_after < Duration::from_secs(2),
        "ready after {:?}",
        platform.ready_after
    );

    let client = reqwest::Client::new();
    let tags = client
        .get(format!("{}/api/tags", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(tags.status(), 200);
    assert!(tags.headers().contains_key("x-request-id"));
    assert_eq!(tags.json::<Value>().await.unwrap(), json!({"tags": []}));
    let answered_after = platform.started.elapsed();
    assert!(
        answered_after < Duration::from_secs(2),
        "tags answered {answered_after:?} after start"
    );

    // The data dir is private and holds the SQLite databases.
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    for db in ["auth.db", "business.db"] {
        let mode = std::fs::metadata(data_dir.join(db))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{db}");
    }

    // A request the edge refuses counts under the route it asked for.
    let refused = client
        .get(format!("{}/api/articles/feed", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // Not at the edge: per-rule and per-route counters are for operators.
    let public = client
        .get(format!("{}/metrics", platform.url))
        .send()
        .await
        .unwrap();
    assert_ne!(public.status(), 200);
    assert!(!public.text().await.unwrap().contains("http_requests_total"));

    // Token introspection is for the services, not the edge.
    let introspect = client
        .post(format!("{}/auth/introspect", platform.url))
        .basic_auth("business", Some("guess"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(introspect.status(), 404);

    // On its own listener, the metrics show the requests just made, by service and route.
    let metrics = client
        .get(platform.metrics_url.as_deref().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"http_requests_total{service="gateway",method="GET",route="business",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"http_requests_total{service="gateway",method="GET",route="business",status="401"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"http_requests_total{service="business",method="GET",route="/api/tags",status="200"} 1"#
    ));
    assert!(metrics.contains("http_request_duration_seconds_bucket{service=\"gateway\""));

    let ready = client
        .get(format!("{}/readyz", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["checks"],
        json!({"auth": "ok", "business": "ok"})
    );

    platform.sigterm();
    let status = platform.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_second_start_reuses_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let client = reqwest::Client::new();
    let mut first = Running::up(&data_dir, 0, &[]).await;
    let registered = client
        .post(format!("{}/api/users", first.url))
        .json(&json!({"user": {"username": "keeper", "email": "keeper@example.com", "password": "kept across restarts"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let token = registered.json::<Value>().await.unwrap()["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let secrets: Vec<_> = std::fs::read_dir(data_dir.join("secrets"))
        .unwrap()
        .collect();
    assert!(
        secrets.len() >= 3,
        "signing keys, email keys, service secret"
    );
    for secret in secrets {
        let mode = secret.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    first.sigterm();
    assert_eq!(first.wait(Duration::from_secs(10)).await.code(), Some(0));
    let ino =
        |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let first_inode = ino(&data_dir.join("auth.db"));

    let mut second = Running::up(&data_dir, 0, &[]).await;
    // Same database file, opened again rather than recreated.
    assert_eq!(ino(&data_dir.join("auth.db")), first_inode);
    // Same users and the same keys: the old token still verifies, the password still works.
    let me = client
        .get(format!("{}/api/user", second.url))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let login = client
        .post(format!("{}/api/users/login", second.url))
        .json(&json!({"user": {"email": "keeper@example.com", "password": "kept across restarts"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    second.sigterm();
    assert_eq!(second.wait(Duration::from_secs(10)).await.code(), Some(0));
}

/// A stand-in business service whose `/api/tags` takes `delay` to answer, and
/// which records the `traceparent` it receives.
async fn slow_business(
    delay: Duration,
) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    let arrived = Arc::new(AtomicUsize::new(0));
    let parents = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (a, p) = (arrived.clone(), parents.clone());
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/api/tags",
            get(move |headers: axum::http::HeaderMap| {
                let (a, p) = (a.clone(), p.clone());
                async move {
                    if let Some(tp) = headers.get("traceparent") {
                        let amzn = headers
                            .get("x-amzn-trace-id")
                            .map_or("", |v| v.to_str().unwrap());
                        p.lock()
                            .unwrap()
                            .push(format!("{} {amzn}", tp.to_str().unwrap()));
                    }
                    a.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    axum::Json(json!({"tags": ["slow"]}))
                }
            }),
        );
    let url = common::serve(app).await;
    (url, arrived, parents)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let (upstream, arrived, _) = slow_business(Duration::from_millis(1500)).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut platform = Running::up(
        tmp.path(),
        0,
        &[("CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS", &upstream)],
    )
    .await;
    let client = reqwest::Client::new();
    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            let request = client.get(format!("{}/api/tags", platform.url)).send();
            tokio::spawn(async move {
                let response = request.await?;
                let status = response.status();
                let body = response.json::<Value>().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while arrived.load(Ordering::SeqCst) < 20 {
        assert!(
            Instant::now() < deadline,
            "requests never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let signalled = Instant::now();
    platform.sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // No longer accepting new connections, while the old ones still drain.
    let late = reqwest::Client::new()
        .get(format!("{}/healthz", platform.url))
        .send()
        .await;
    assert!(late.is_err(), "a new connection was accepted after SIGTERM");

    for request in in_flight {
        let (status, body) = request.await.unwrap().expect("in-flight request failed");
        assert_eq!(status, 200);
        assert_eq!(body, json!({"tags": ["slow"]}));
    }
    let status = platform.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn trace_context_and_request_id_cross_the_gateway_and_reach_the_logs() {
    let (upstream, _, parents) = slow_business(Duration::ZERO).await;
    let tmp = tempfile::tempdir().unwrap();
    let platform = Running::up(
        tmp.path(),
        0,
        &[("CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS", &upstream)],
    )
    .await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    // GET `path` in the caller's trace, with the caller's request id.
    let traced = |path: &str, request_id: &str| {
        reqwest::Client::new()
            .get(format!("{}{path}", platform.url))
            .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
            .header("x-request-id", request_id)
            .send()
    };
    // Whether a JSON log line so far satisfies `wanted`.
    let logged = |wanted: &dyn Fn(&Value) -> bool| {
        platform
            .stderr()
            .into_iter()
            .any(|line| serde_json::from_str::<Value>(&line).is_ok_and(|v| wanted(&v)))
    };
    let response = traced("/api/tags", "req-abc-123").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");

    let forwarded = parents.lock().unwrap().clone();
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    let (traceparent, amzn) = forwarded[0].split_once(' ').unwrap();
    assert_eq!(
        amzn.split(';').next().unwrap(),
        format!("Root=1-{}-{}", &trace_id[..8], &trace_id[8..]),
        "the same trace, as X-Ray names it"
    );
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts[1], trace_id, "trace id kept across the hop");
    assert_ne!(
        parts[2], caller_span,
        "the gateway's own span is the parent upstream"
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        logged(&|v| v["span"]["trace_id"] == trace_id
            && v["span"]["request_id"] == "req-abc-123"
            && v["span"]["service"] == "gateway"),
        "no JSON access log line with the trace and request id:\n{}",
        platform.stderr().join("\n")
    );

    // Events logged while a request is handled carry the same span fields.
    let blocked = traced("/api/articles?tag=%3Cscript%3E", "req-waf-1")
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let warned = logged(&|v| {
        v["message"] == "WAF rule matched"
            && v["span"]["request_id"] == "req-waf-1"
            && v["span"]["trace_id"] == trace_id
            && v["span"]["path"] == "/api/articles"
            && v["span"]["method"] == "GET"
    });
    assert!(
        warned,
        "no WAF log line with the request's span fields:\n{}",
        platform.stderr().join("\n")
    );
}

#[tokio::test]
async fn traces_are_exported_over_otlp_when_an_endpoint_is_set() {
    let received = Arc::new(AtomicUsize::new(0));
    let r = received.clone();
    let collector = Router::new().route(
        "/v1/traces",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    if headers["content-type"] == "application/x-protobuf" && !body.is_empty() {
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                    ""
                }
            },
        ),
    );
    let endpoint = common::serve(collector).await;

    let tmp = tempfile::tempdir().unwrap();
    let mut platform = Running::up(
        tmp.path(),
        0,
        &[("CLOUDSEC_TELEMETRY__OTLP_ENDPOINT", &endpoint)],
    )
    .await;
    let tags = reqwest::get(format!("{}/api/tags", platform.url))
        .await
        .unwrap();
    assert_eq!(tags.status(), 200);
    platform.sigterm();
    assert_eq!(platform.wait(Duration::from_secs(10)).await.code(), Some(0));
    assert!(
        received.load(Ordering::SeqCst) >= 1,
        "no trace batch reached the collector"
    );
}

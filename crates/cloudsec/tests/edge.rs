//! The gateway as the edge: protocol limits, security headers, rate limits
//! (in-process and shared through Redis), and the edge token check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::{get, post};
use common::{Running, free_port};
use serde_json::{Value, json};

#[tokio::test]
async fn protocol_limits_and_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let url = &platform.url;
    let client = reqwest::Client::new();

    // The web UI gets the document policy; API answers one that lets them
    // load nothing, without the document-only headers.
    for (path, csp_start, document) in [
        ("/", "default-src 'self';", true),
        ("/api/tags", "default-src 'none';", false),
    ] {
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with(csp_start), "{path}: {csp}");
        assert!(csp.ends_with("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        assert_eq!(h.contains_key("permissions-policy"), document, "{path}");
    }

    // The refusal comes before the body is read; it must still reach the
    // client rather than a connection reset (the gateway drains the body).
    for _ in 0..10 {
        let big_body = client
            .post(format!("{url}/api/users"))
            .header("content-type", "application/json")
            .body(vec![b' '; 2 * 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(big_body.status(), 413);
        assert_eq!(big_body.headers()["connection"], "close");
    }
    let long_uri = client
        .get(format!("{url}/api/articles?tag={}", "a".repeat(16 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(long_uri.status(), 414);
    let big_header = client
        .get(format!("{url}/api/tags"))
        .header("x-padding", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(big_header.status(), 431);
    // Still serving normally.
    assert_eq!(
        client
            .get(format!("{url}/api/tags"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_burst_of_wrong_password_logins_from_one_ip_gets_429() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..100 {
        let response = client
            .post(format!("{}/api/users/login", platform.url))
            .json(&json!({"user": {"email": format!("nobody{i}@example.com"), "password": "wrong password"}}))
            .send()
            .await
            .unwrap();
        if response.status() == 429 && retry_after.is_none() {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
        statuses.push(response.status().as_u16());
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        limited >= 40,
        "only {limited} of 100 were rate limited: {statuses:?}"
    );
    assert!(
        statuses[..40].iter().all(|s| *s == 401),
        "the first attempts reach auth: {statuses:?}"
    );
    assert!(retry_after.is_some_and(|s| s >= 1));
}

/// A stand-in upstream that counts what reaches it.
async fn counting_upstream() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let (a, b, c) = (hits.clone(), hits.clone(), hits.clone());
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/.well-known/jwks.json",
            get(|| async { axum::Json(json!({"keys": []})) }),
        )
        .route(
            "/api/users/login",
            post(move || {
                a.fetch_add(1, Ordering::SeqCst);
                async {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"errors": {"credentials": ["invalid"]}})),
                    )
                }
            }),
        )
        .route(
            "/api/articles/feed",
            get(move || {
                b.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({"articles": [], "articlesCount": 0})) }
            }),
        )
        .route(
            "/api/articles",
            get(move || {
                c.fetch_add(1, Ordering::SeqCst);
                async {
                    // An upstream that names its software, as many do.
                    let banners = [("server", "upstream/1.2.3"), ("x-powered-by", "axum")];
                    (
                        banners,
                        axum::Json(json!({"articles": [], "articlesCount": 0})),
                    )
                }
            }),
        );
    let url = common::serve(app).await;
    (url, hits)
}

async fn gateway(upstream: &str, extra: &[(&str, &str)], dir: &std::path::Path) -> Running {
    let port = free_port().to_string();
    let mut env = vec![
        ("CLOUDSEC_GATEWAY__UPSTREAMS__AUTH", upstream),
        ("CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS", upstream),
    ];
    env.extend_from_slice(extra);
    Running::spawn(&["serve", "gateway", "--port", &port], &env, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_redis_share_the_budget() {
    let (upstream, hits) = counting_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("cloudsec-test-{}:", std::process::id());
    let shared = [
        ("CLOUDSEC_REDIS__URL", "redis://127.0.0.1:6379"),
        ("CLOUDSEC_REDIS__KEY_PREFIX", prefix.as_str()),
        (
            "CLOUDSEC_GATEWAY__RATE_LIMIT__CREDENTIALS_PER_IP__PER_SECOND",
            "1",
        ),
        (
            "CLOUDSEC_GATEWAY__RATE_LIMIT__CREDENTIALS_PER_IP__BURST",
            "10",
        ),
    ];
    let a = gateway(&upstream, &shared, dir.path()).await;
    let b = gateway(&upstream, &shared, dir.path()).await;
    let client = reqwest::Client::new();
    let login = |url: String| {
        client
            .post(format!("{url}/api/users/login"))
            .json(&json!({"user": {"email": "x@example.com", "password": "wrong password"}}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(login(a.url.clone()).await.unwrap().status(), 401);
    }
    let on_b = login(b.url.clone()).await.unwrap();
    assert_eq!(on_b.status(), 429, "B draws on the budget A spent");
    assert!(on_b.headers().contains_key("retry-after"));
    assert_eq!(hits.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn forged_and_missing_tokens_stop_at_the_edge() {
    let (upstream, hits) = counting_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let edge = gateway(&upstream, &[], dir.path()).await;
    let client = reqwest::Client::new();
    let forged = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6Im5vcGUifQ.eyJzdWIiOiJ4In0.c2ln";
    let with_forged = client
        .get(format!("{}/api/articles/feed", edge.url))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(with_forged.status(), 401);
    assert!(with_forged.headers().contains_key("www-authenticate"));
    assert_eq!(
        with_forged.json::<Value>().await.unwrap(),
        json!({"errors": {"token": ["is invalid"]}})
    );
    let missing = client
        .get(format!("{}/api/articles/feed", edge.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"errors": {"token": ["is missing"]}})
    );
    // An optional-auth route with a forged token is refused too; without a token it passes.
    let list = client
        .get(format!("{}/api/articles", edge.url))
        .header("Authorization", format!("Token {forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 401);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );
    let anonymous = client
        .get(format!("{}/api/articles", edge.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    for banner in ["server", "x-powered-by"] {
        assert!(
            anonymous.headers().get(banner).is_none(),
            "the upstream's {banner} header stops at the edge"
        );
    }
}

/// Each user has a budget of their own: spent, that user is refused with
/// 429 while others, and anonymous requests, still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_spends_their_own_budget() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[
            ("CLOUDSEC_GATEWAY__RATE_LIMIT__PER_SUBJECT__PER_SECOND", "1"),
            ("CLOUDSEC_GATEWAY__RATE_LIMIT__PER_SUBJECT__BURST", "5"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let busy = common::register(&client, &platform.url, "busy").await;
    let other = common::register(&client, &platform.url, "other").await;
    let me = |token: &str| {
        client
            .get(format!("{}/api/user", platform.url))
            .header("Authorization", format!("Token {token}"))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(me(&busy).await.unwrap().status().as_u16());
    }
    assert!(statuses[..4].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[7], 429, "{statuses:?}");
    let refused = me(&busy).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(me(&other).await.unwrap().status(), 200);
    let anonymous = client
        .get(format!("{}/api/tags", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[(
            "CLOUDSEC_GATEWAY__CORS__ALLOWED_ORIGINS",
            r#"["https://app.example.com"]"#,
        )],
    )
    .await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/articles", platform.url),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let simple = client
        .get(format!("{}/api/tags", platform.url))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 200);
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

/// The upstream is sent the request target in origin form (`/path?query`),
/// whether the client sent that or an absolute-form target
/// (`GET http://host/path`, as to a forward proxy).
#[tokio::test]
async fn the_upstream_gets_the_target_in_origin_form() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Answers with the request target it was sent, as it was sent.
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .fallback(|uri: axum::http::Uri| async move { uri.to_string() });
    let upstream = common::serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = gateway(&upstream, &[], dir.path()).await;
    let address = edge.url.trim_start_matches("http://").to_owned();
    for target in [
        "/api/articles?limit=1",
        "http://edge.example/api/articles?limit=1",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: edge.example\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{target}: {answer}");
        assert!(
            answer.ends_with("\r\n\r\n/api/articles?limit=1"),
            "{target}: {answer}"
        );
    }
}

/// A large answer goes through whole, and the client's connection serves
/// the next request after it: the body comes from the upstream in many
/// pieces and leaves the gateway in as many writes.
#[tokio::test]
async fn a_large_answer_goes_through_whole() {
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let body = big.clone();
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/api/articles",
            get(move || {
                let body = body.clone();
                async move { body }
            }),
        );
    let upstream = common::serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = gateway(&upstream, &[], dir.path()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for _ in 0..2 {
        let response = client
            .get(format!("{}/api/articles", edge.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let received = response.bytes().await.unwrap();
        assert_eq!(received.len(), big.len());
        assert!(received[..] == big[..], "the body arrived altered");
    }
}

/// An IPv6 client holds a whole /64: its addresses share one budget, while
/// the next /64 has its own (clients named by a trusted balancer).
#[tokio::test]
async fn an_ipv6_client_is_limited_per_slash_64() {
    let (upstream, _) = counting_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let edge = gateway(
        &upstream,
        &[
            ("CLOUDSEC_GATEWAY__TRUSTED_PROXIES", "[\"127.0.0.0/8\"]"),
            (
                "CLOUDSEC_GATEWAY__RATE_LIMIT__CREDENTIALS_PER_IP__PER_SECOND",
                "1",
            ),
            (
                "CLOUDSEC_GATEWAY__RATE_LIMIT__CREDENTIALS_PER_IP__BURST",
                "5",
            ),
        ],
        dir.path(),
    )
    .await;
    let client = reqwest::Client::new();
    let login = |client_ip: String| {
        client
            .post(format!("{}/api/users/login", edge.url))
            .header("x-forwarded-for", client_ip)
            .json(&json!({"user": {"email": "x@example.com", "password": "wrong password"}}))
            .send()
    };
    // Five addresses of one /64 spend its budget...
    for i in 1..=5 {
        let status = login(format!("2001:db8:1:2::{i:x}"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    let sixth = login("2001:db8:1:2:ffff::1".into()).await.unwrap();
    assert_eq!(sixth.status(), 429, "the same /64");
    // ...the next /64 is another client.
    let other = login("2001:db8:1:3::1".into()).await.unwrap();
    assert_eq!(other.status(), 401);
}

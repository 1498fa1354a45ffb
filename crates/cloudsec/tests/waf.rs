//! The WAF in a running platform: the repository corpus in query, path,
//! header and JSON-body positions (attacks refused with a 403 that names no
//! rule, benign inputs served and persisted), protocol anomalies on the raw
//! wire, count mode, the IP deny list, and the match metric.
//!
//! Requests go out as raw HTTP/1.1 so that no client library normalizes the
//! path (`..`, encoded dots) before the gateway sees it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Running, register};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ATTACKS: &str = include_str!("../../gateway/tests/waf-corpus/attacks.jsonl");
const BENIGN: &str = include_str!("../../gateway/tests/waf-corpus/benign.jsonl");

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    /// A 403 from the WAF (the services' own 403s have another body).
    fn waf_blocked(&self) -> bool {
        self.status == 403 && self.body.contains("web application firewall")
    }
}

async fn raw(url: &str, request: &[u8]) -> Answer {
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn get(path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn post_json(path: &str, token: &str, body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nauthorization: Token {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn header_value(payload: &str) -> String {
    if payload
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        payload.to_owned()
    } else {
        encode(payload)
    }
}

/// The gateway's `/metrics` shows matches of `rule` with `action`.
async fn assert_counted(platform: &Running, rule: &str, action: &str) {
    let metrics = reqwest::get(platform.metrics_url.as_deref().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("waf_rule_matches_total")
                && l.contains(&format!("rule=\"{rule}\""))
                && l.contains(&format!("action=\"{action}\""))),
        "{metrics}"
    );
}

/// (group or benign kind, payload) of each entry of the corpus's `train`
/// half; the held-out half is judged by the rules' own tests, which never
/// print what it holds.
fn corpus(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|v| v["split"] == "train")
        .map(|v| {
            let group = v["group"].as_str().or(v["kind"].as_str());
            (
                group.unwrap_or("text").to_owned(),
                v["payload"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn article(n: usize, body: &str) -> Value {
    json!({"article": {"title": format!("corpus {n}"), "description": "d", "body": body, "tagList": []}})
}

#[tokio::test]
async fn the_corpus_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[("CLOUDSEC_GATEWAY__RATE_LIMIT__ENABLED", "false")],
    )
    .await;
    let url = &platform.url;
    let token = register(&reqwest::Client::new(), url, "corpus").await;

    let (mut sent, mut blocked, mut missed) = (0u32, 0u32, Vec::new());
    for (n, (group, payload)) in corpus(ATTACKS).iter().enumerate() {
        let requests = if group == "scanners" {
            vec![("user-agent", get("/api/tags", &[("user-agent", payload)]))]
        } else {
            vec![
                (
                    "query",
                    get(&format!("/api/articles?tag={}", encode(payload)), &[]),
                ),
                (
                    "path",
                    get(&format!("/api/profiles/{}", encode(payload)), &[]),
                ),
                (
                    "header",
                    get("/api/tags", &[("x-comment", &header_value(payload))]),
                ),
                (
                    "body",
                    post_json("/api/articles", &token, &article(n, payload)),
                ),
            ]
        };
        for (position, request) in requests {
            let answer = raw(url, &request).await;
            sent += 1;
            if answer.waf_blocked() {
                blocked += 1;
                // The client learns that it was blocked and the request id, nothing more.
                let problem: Value = serde_json::from_str(&answer.body).unwrap();
                assert!(
                    problem["request_id"]
                        .as_str()
                        .is_some_and(|id| !id.is_empty())
                );
                assert!(!answer.body.contains(group.as_str()), "{}", answer.body);
                assert!(!answer.body.contains("rule"), "{}", answer.body);
            } else {
                missed.push(format!(
                    "{group} {position} ({}): {payload:?}",
                    answer.status
                ));
            }
        }
    }
    let rate = f64::from(blocked) / f64::from(sent);
    println!(
        "attacks blocked through the gateway: {blocked}/{sent} = {:.1}%",
        rate * 100.0
    );
    assert!(
        rate >= 0.95,
        "{:.1}% blocked; missed:\n{}",
        rate * 100.0,
        missed.join("\n")
    );

    let mut refused = Vec::new();
    for (n, (kind, payload)) in corpus(BENIGN).iter().enumerate() {
        if kind == "markdown" {
            // An article body: on the article routes, and there only.
            let body = raw(
                url,
                &post_json("/api/articles", &token, &article(10_000 + n, payload)),
            )
            .await;
            if body.status != 201 {
                refused.push(format!("article ({}): {payload:?}", body.status));
            }
            continue;
        }
        let query = raw(
            url,
            &get(&format!("/api/articles?tag={}", encode(payload)), &[]),
        )
        .await;
        let path = raw(
            url,
            &get(&format!("/api/profiles/{}", encode(payload)), &[]),
        )
        .await;
        let header = raw(
            url,
            &get("/api/tags", &[("x-comment", &header_value(payload))]),
        )
        .await;
        let body = raw(
            url,
            &post_json("/api/articles", &token, &article(10_000 + n, payload)),
        )
        .await;
        for (position, answer, expected) in [
            ("query", &query, 200),
            ("path", &path, 404),
            ("header", &header, 200),
            ("body", &body, 201),
        ] {
            if answer.status != expected {
                refused.push(format!("{position} ({}): {payload:?}", answer.status));
            }
        }
        // Stored exactly as written.
        if body.status == 201 {
            let created: Value = serde_json::from_str(&body.body).unwrap();
            assert_eq!(created["article"]["body"], payload.as_str());
        }
    }
    assert!(
        refused.is_empty(),
        "benign inputs refused:\n{}",
        refused.join("\n")
    );

    // Large bodies are inspected off the event loop, with the same verdicts.
    // Under the 65,536-character article limit, over the 64 KiB threshold in bytes.
    let long_prose = "It's \"quoted\" <b>日本語</b> prose: SELECT, rm, 東京の夏。 ".repeat(1_200);
    assert!(long_prose.chars().count() < 65_536 && long_prose.len() > 70_000);
    let body = raw(
        url,
        &post_json("/api/articles", &token, &article(20_000, &long_prose)),
    )
    .await;
    assert_eq!(body.status, 201, "{}", body.body);
    let created: Value = serde_json::from_str(&body.body).unwrap();
    assert_eq!(created["article"]["body"], long_prose.as_str());
    let attack = format!("{long_prose}<script>alert(1)</script>");
    let blocked = raw(
        url,
        &post_json("/api/articles", &token, &article(20_001, &attack)),
    )
    .await;
    assert!(blocked.waf_blocked(), "{}", blocked.status);

    // Every block is counted by rule and logged with the rule, never the payload.
    assert_counted(&platform, "xss-script-tag", "block").await;
    let logs = platform.stderr().join("\n");
    assert!(logs.contains("\"rule\":\"sqli-boolean-breakout\""));
    assert!(!logs.contains("onerror=alert"));
}

#[tokio::test]
async fn protocol_anomalies_on_the_wire_never_reach_a_service() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let url = &platform.url;
    // Content-Length and Transfer-Encoding together: hyper's parser already
    // drops the length, reads the chunked body and closes the connection
    // (RFC 9112 §6.1), so the request smuggled behind it is never answered.
    let smuggling = b"POST /api/users/login HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /api/tags HTTP/1.1\r\nhost: localhost\r\n\r\n";
    let answer = raw(url, smuggling).await;
    let all = format!("{}\r\n\r\n{}", answer.head, answer.body);
    assert_eq!(all.matches("HTTP/1.1 ").count(), 1, "{all}");
    assert!(answer.head.contains("connection: close"), "{all}");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "TE identity",
            b"POST /api/users/login HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ntransfer-encoding: identity, chunked\r\n\r\n0\r\n\r\n".to_vec(),
        ),
        ("TRACE", b"TRACE / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n".to_vec()),
        ("bad percent", get("/api/articles?tag=%zz", &[])),
        ("IIS unicode", get("/api/articles?tag=%u003cscript%u003e", &[])),
        ("overlong UTF-8", get("/api/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", &[])),
        ("NUL", get("/api/articles?tag=a%00b", &[])),
        ("no Host", b"GET /api/tags HTTP/1.1\r\nconnection: close\r\n\r\n".to_vec()),
        ("dot-dot", get("/api/../../etc/passwd", &[])),
        ("scanner path", get("/wp-login.php", &[])),
    ];
    for (name, request) in cases {
        let answer = raw(url, &request).await;
        assert!(
            (400..500).contains(&answer.status),
            "{name}: {} {}",
            answer.status,
            answer.body
        );
        // Refused at the edge: no service handled it.
        assert!(
            !answer.body.contains("\"errors\""),
            "{name}: {}",
            answer.body
        );
    }
    // The same connection-level checks leave ordinary requests alone.
    assert_eq!(raw(url, &get("/api/tags", &[])).await.status, 200);
}

#[tokio::test]
async fn count_mode_and_the_ip_deny_list() {
    let dir = tempfile::tempdir().unwrap();
    let counting = Running::up(
        dir.path(),
        0,
        &[("CLOUDSEC_GATEWAY__WAF__MODES__XSS", "count")],
    )
    .await;
    let answer = raw(&counting.url, &get("/api/articles?tag=%3Cscript%3E", &[])).await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_counted(&counting, "xss-script-tag", "count").await;
    // SQL injection is still blocked while XSS is only counted.
    let sqli = raw(
        &counting.url,
        &get(&format!("/api/articles?tag={}", encode("' OR 1=1--")), &[]),
    )
    .await;
    assert!(sqli.waf_blocked());
    drop(counting);

    let dir = tempfile::tempdir().unwrap();
    let denied = Running::up(
        dir.path(),
        0,
        &[("CLOUDSEC_GATEWAY__WAF__DENY_IPS", "[\"127.0.0.0/8\"]")],
    )
    .await;
    assert!(raw(&denied.url, &get("/api/tags", &[])).await.waf_blocked());
    assert!(raw(&denied.url, &get("/", &[])).await.waf_blocked());
}

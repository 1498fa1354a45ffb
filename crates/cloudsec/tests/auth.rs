//! The authentication flows through the gateway of `cloudsec up`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Running, command};
use serde_json::{Value, json};
use sqlx::Row;

const PASSWORD: &str = "the-right-passphrase";
const GUESS: &str = "Guess-Number-Seven";

/// The platform behind a load balancer, as in production: the test client is
/// the balancer on 127.0.0.2 (trusted by the gateway), stating each client
/// in `X-Forwarded-For`; auth trusts only the gateway (127.0.0.1) to state
/// the client. Before the fix auth saw every client as the balancer.
async fn behind_a_balancer(tmp: &std::path::Path) -> (Running, reqwest::Client) {
    let platform = Running::up(
        tmp,
        0,
        &[
            ("CLOUDSEC_GATEWAY__TRUSTED_PROXIES", "[\"127.0.0.2/32\"]"),
            ("CLOUDSEC_AUTH__TRUSTED_PEERS", "[\"127.0.0.1/32\"]"),
        ],
    )
    .await;
    let balancer = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    (platform, balancer)
}

async fn post_from(
    balancer: &reqwest::Client,
    url: &str,
    client: &str,
    body: Value,
) -> reqwest::Response {
    balancer
        .post(url)
        .header("x-forwarded-for", client)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_login_flood_from_many_clients_holds_back_the_guessers_not_the_owners() {
    let tmp = tempfile::tempdir().unwrap();
    let (platform, balancer) = behind_a_balancer(tmp.path()).await;
    let users = format!("{}/api/users", platform.url);
    let login = format!("{}/api/users/login", platform.url);
    for (name, client) in [("target", "203.0.113.10"), ("bystander", "203.0.113.20")] {
        let registered = post_from(
            &balancer,
            &users,
            client,
            json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}}),
        )
        .await;
        assert_eq!(registered.status(), 201);
    }

    // 100 clients, each guessing the target's password twice and one other account once.
    let statuses = futures_util::future::join_all((0..100).map(|i| {
        let (balancer, login) = (&balancer, &login);
        async move {
            let client = format!("198.51.{}.{}", 100 + i / 50, i % 50 + 1);
            let mut statuses = Vec::new();
            for email in [
                "target@example.com".to_owned(),
                "target@example.com".to_owned(),
                format!("someone{i}@example.com"),
            ] {
                let r = post_from(
                    balancer,
                    login,
                    &client,
                    json!({"user": {"email": email, "password": GUESS}}),
                )
                .await;
                statuses.push(r.status().as_u16());
            }
            statuses
        }
    }))
    .await
    .concat();
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        (150..=190).contains(&refused),
        "the target's budget for unknown clients (20) is all the flood got: {refused} refused"
    );

    // Another user, from another address, logs in on the first try.
    let bystander = post_from(
        &balancer,
        &login,
        "192.0.2.77",
        json!({"user": {"email": "bystander@example.com", "password": PASSWORD}}),
    )
    .await;
    assert_eq!(bystander.status(), 200);
    // The target, from the address it registered from, too.
    let owner = post_from(
        &balancer,
        &login,
        "203.0.113.10",
        json!({"user": {"email": "target@example.com", "password": PASSWORD}}),
    )
    .await;
    assert_eq!(owner.status(), 200);

    // One guesser is held back on the target by its own budget (5 failures).
    let guesser = "192.0.2.200";
    for _ in 0..5 {
        let r = post_from(
            &balancer,
            &login,
            guesser,
            json!({"user": {"email": "bystander@example.com", "password": GUESS}}),
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let held = post_from(
        &balancer,
        &login,
        guesser,
        json!({"user": {"email": "bystander@example.com", "password": PASSWORD}}),
    )
    .await;
    assert_eq!(held.status(), 429);
    assert!(
        held.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = platform.stderr();
    let audit: Vec<Value> = log
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    let kinds: Vec<&str> = audit.iter().filter_map(|v| v["kind"].as_str()).collect();
    assert!(kinds.contains(&"account_locked"), "{kinds:?}");
    // Audited with the client the balancer named, not the balancer.
    let failure_ips: std::collections::HashSet<&str> = audit
        .iter()
        .filter(|v| v["kind"] == "login_failure")
        .filter_map(|v| v["ip"].as_str())
        .collect();
    assert!(
        failure_ips.len() > 100,
        "{} distinct client addresses",
        failure_ips.len()
    );
    assert!(!failure_ips.contains("127.0.0.2") && !failure_ips.contains("127.0.0.1"));
    for line in &log {
        assert!(
            !line.contains(GUESS) && !line.contains(PASSWORD),
            "a password reached the log: {line}"
        );
    }

    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        tmp.path().join("auth.db").display()
    ))
    .await
    .unwrap();
    let locked_events: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE kind = 'account_locked'")
            .fetch_one(&db)
            .await
            .unwrap()
            .get("n");
    assert!(locked_events >= 2, "{locked_events}");
}

#[tokio::test]
async fn keys_rotate_reaches_the_running_platform_without_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = Running::up(tmp.path(), 0, &[]).await;
    let client = reqwest::Client::new();
    let registered: Value = client
        .post(format!("{}/api/users", platform.url))
        .json(&json!({"user": {"username": "rotor", "email": "rotor@example.com", "password": PASSWORD}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let old_token = registered["user"]["token"].as_str().unwrap().to_owned();

    let out = command(&["keys", "rotate", "--data-dir", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let new_kid = stdout
        .trim()
        .strip_prefix("new signing key ")
        .unwrap()
        .to_owned();

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let jwks: Value = client
            .get(format!("{}/.well-known/jwks.json", platform.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == new_kid.as_str())
        {
            assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
            break;
        }
        assert!(Instant::now() < deadline, "rotation not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token: Value = client
        .post(format!("{}/auth/token", platform.url))
        .form(&[
            ("grant_type", "password"),
            ("username", "rotor@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_token = token["access_token"].as_str().unwrap();
    let header = new_token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&base64_url(header)).unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    for t in [new_token, old_token.as_str()] {
        let me = client
            .get(format!("{}/api/user", platform.url))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
    }

    let listed = command(&["keys", "list", "--data-dir", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2);
    assert!(!listed.contains("pkcs8"));
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

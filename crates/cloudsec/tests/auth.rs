//! The authentication flows through the gateway of `cloudsec up`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Running, command};
use serde_json::{Value, json};
use sqlx::Row;

const PASSWORD: &str = "the-right-passphrase";
const GUESS: &str = "Guess-Number-Seven";

#[tokio::test]
async fn a_login_flood_locks_the_account_audits_it_and_logs_no_password() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = Running::up(tmp.path(), 0, &[]).await;
    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{}/api/users", platform.url))
        .json(&json!({"user": {"username": "target", "email": "target@example.com", "password": PASSWORD}}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let login = |password: &'static str| {
        client
            .post(format!("{}/api/users/login", platform.url))
            .json(&json!({"user": {"email": "target@example.com", "password": password}}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(login(GUESS).await.unwrap().status(), 401);
    }
    let locked = login(PASSWORD).await.unwrap();
    assert_eq!(locked.status(), 429);
    assert!(
        locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = platform.stderr();
    let audit_kinds: Vec<String> = log
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["target"] == "audit")
        .map(|v| v["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        audit_kinds.contains(&"account_locked".to_owned()),
        "{audit_kinds:?}"
    );
    assert_eq!(
        audit_kinds.iter().filter(|k| *k == "login_failure").count(),
        10
    );
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
    assert_eq!(locked_events, 1);
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

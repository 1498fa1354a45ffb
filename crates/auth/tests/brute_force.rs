//! The brute-force defence as an attacker meets it, on SQLite and on
//! PostgreSQL: guesses hold back the guesser, not the account's owner; many
//! clients close an account only to clients it does not know; concurrent
//! guesses cannot overdraw a budget; a busy address is not refused for
//! everyone; registrations that hit a taken email count; who the client is
//! comes from trusted gateways only; what is past retention is deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestAuth, fast_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

const PASSWORD: &str = "probe passphrase 4711";
const GUESS: &str = "wrong password!";
const OWNER: &str = "203.0.113.10";

fn login(email: &str, password: &str) -> Value {
    json!({"user": {"email": email, "password": password}})
}

/// A login from `client`: its status.
async fn log_in(auth: &TestAuth, client: &str, email: &str, password: &str) -> StatusCode {
    auth.post_from(client, "/api/users/login", login(email, password))
        .await
        .0
}

/// Registers `name` from the owner's address (which the account then knows).
async fn register(auth: &TestAuth, name: &str) {
    let (status, body) = auth
        .post_from(
            OWNER,
            "/api/users",
            json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn audit_kinds(auth: &TestAuth) -> Vec<String> {
    sqlx::query("SELECT kind FROM audit_events ORDER BY id")
        .fetch_all(&auth.pool().await)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("kind"))
        .collect()
}

async fn a_guesser_holds_back_only_itself(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    register(&auth, "victim").await;
    let guesser = "198.51.100.66";
    for _ in 0..5 {
        let (status, body) = auth
            .post_from(
                guesser,
                "/api/users/login",
                login("victim@example.com", GUESS),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({"errors": {"credentials": ["invalid"]}}));
    }
    // Held back, even with the right password, and on the token endpoint too.
    let held = auth
        .client
        .post(format!("{}/api/users/login", auth.url))
        .header("x-real-ip", guesser)
        .json(&login("victim@example.com", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = held.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // The owner, from another address, is not.
    assert_eq!(
        log_in(&auth, OWNER, "victim@example.com", PASSWORD).await,
        StatusCode::OK
    );
    // Nor is anyone else from a new address.
    assert_eq!(
        log_in(&auth, "192.0.2.1", "victim@example.com", PASSWORD).await,
        StatusCode::OK
    );

    // An unknown email is held back exactly the same.
    for _ in 0..5 {
        let (status, body) = auth
            .post_from(
                guesser,
                "/api/users/login",
                login("nobody@example.com", GUESS),
            )
            .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::UNAUTHORIZED,
                json!({"errors": {"credentials": ["invalid"]}})
            )
        );
    }
    assert_eq!(
        auth.post_from(
            guesser,
            "/api/users/login",
            login("nobody@example.com", GUESS)
        )
        .await
        .0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let kinds = audit_kinds(&auth).await;
    assert_eq!(kinds.iter().filter(|k| *k == "login_failure").count(), 10);
    assert_eq!(kinds.iter().filter(|k| *k == "account_locked").count(), 2);
    assert!(kinds.iter().any(|k| k == "login_refused_locked"));
    let details: Vec<String> = sqlx::query("SELECT detail FROM audit_events")
        .fetch_all(&auth.pool().await)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("detail"))
        .collect();
    assert!(!details.concat().contains(GUESS));
}

async fn many_clients_close_an_account_only_to_clients_it_does_not_know(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    register(&auth, "victim").await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let client = format!("198.51.100.{}", i + 1);
        let (status, _) = auth
            .post_from(
                &client,
                "/api/users/login",
                login("victim@example.com", GUESS),
            )
            .await;
        statuses.push(status.as_u16());
    }
    assert_eq!(&statuses[..20], &[401; 20], "{statuses:?}");
    assert_eq!(&statuses[20..], &[429; 10], "{statuses:?}");
    // A client it does not know waits, even with the right password...
    assert_eq!(
        log_in(&auth, "192.0.2.1", "victim@example.com", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...the owner, from an address it logged in from, does not.
    assert_eq!(
        log_in(&auth, OWNER, "victim@example.com", PASSWORD).await,
        StatusCode::OK
    );
}

async fn concurrent_guesses_cannot_overdraw_the_budget(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    register(&auth, "victim").await;
    let guesses = (0..40).map(|_| {
        auth.post_from(
            "198.51.100.66",
            "/api/users/login",
            login("victim@example.com", GUESS),
        )
    });
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|(status, _)| status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        35,
        "{statuses:?}"
    );
    let kinds = audit_kinds(&auth).await;
    assert_eq!(kinds.iter().filter(|k| *k == "login_failure").count(), 5);
}

async fn a_busy_address_still_logs_in_to_accounts_that_know_it(backend: Backend) {
    let mut config = fast_config();
    config.lockout.ip_threshold = 10;
    let auth = TestAuth::start_with(backend, config).await;
    register(&auth, "colleague").await;
    // Someone behind the same address (a NAT) guesses across many accounts.
    for i in 0..10 {
        assert_eq!(
            log_in(&auth, OWNER, &format!("user{i}@example.com"), GUESS).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        log_in(&auth, OWNER, "user11@example.com", GUESS).await,
        StatusCode::TOO_MANY_REQUESTS,
        "new accounts wait"
    );
    assert_eq!(
        log_in(&auth, OWNER, "colleague@example.com", PASSWORD).await,
        StatusCode::OK,
        "a known account does not"
    );
    assert!(audit_kinds(&auth).await.iter().any(|k| k == "ip_blocked"));
}

async fn registrations_that_hit_a_taken_email_count_like_failed_logins(backend: Backend) {
    let mut config = fast_config();
    config.lockout.ip_threshold = 5;
    let auth = TestAuth::start_with(backend, config).await;
    register(&auth, "taken").await;
    let probe = |i: usize| json!({"user": {"username": format!("probe{i}"), "email": "taken@example.com", "password": PASSWORD}});
    for i in 0..5 {
        let (status, body) = auth.post_from("198.51.100.7", "/api/users", probe(i)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["errors"]["email"][0], "has already been taken");
    }
    let (status, _) = auth.post_from("198.51.100.7", "/api/users", probe(6)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another address registers as usual.
    let (status, _) = auth
        .post_from(
            "198.51.100.8",
            "/api/users",
            json!({"user": {"username": "fresh", "email": "fresh@example.com", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn the_client_is_who_a_trusted_gateway_says(backend: Backend) {
    // This service trusts no peer: what the caller states is ignored, and
    // every guess below is one client's (the loopback peer's).
    let mut config = fast_config();
    config.trusted_peers = Vec::new();
    let auth = TestAuth::start_with(backend, config).await;
    register(&auth, "victim").await;
    for i in 0..5 {
        assert_eq!(
            log_in(
                &auth,
                &format!("198.51.100.{i}"),
                "victim@example.com",
                GUESS
            )
            .await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        log_in(&auth, "198.51.100.99", "victim@example.com", GUESS).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let ips: Vec<Option<String>> =
        sqlx::query("SELECT ip FROM audit_events WHERE kind = 'login_failure'")
            .fetch_all(&auth.pool().await)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("ip"))
            .collect();
    assert!(
        ips.iter().all(|ip| ip.as_deref() == Some("127.0.0.1")),
        "{ips:?}"
    );
}

async fn rows_past_retention_are_deleted_at_start(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    register(&auth, "victim").await;
    let pool = auth.pool().await;
    let ancient_ms: i64 = 1_000_000_000_000; // 2001
    sqlx::query(
        "INSERT INTO audit_events (at_ms, kind, detail) VALUES ($1, 'login_failure', '{}')",
    )
    .bind(ancient_ms)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO account_lockouts (account_key, failures, locks, updated_at) VALUES ($1, 3, 0, $2)",
    )
    .bind(vec![7u8; 32])
    .bind(ancient_ms / 1000)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO known_clients (pair_key, last_success_at) VALUES ($1, $2)")
        .bind(vec![8u8; 32])
        .bind(ancient_ms / 1000)
        .execute(&pool)
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query(sql).fetch_one(&pool).await.unwrap().get("n");
            n
        }
    };
    let old_audit = "SELECT COUNT(*) AS n FROM audit_events WHERE at_ms < 1000000000001";
    let all_audit = "SELECT COUNT(*) AS n FROM audit_events";
    let budgets = "SELECT COUNT(*) AS n FROM account_lockouts";
    let known = "SELECT COUNT(*) AS n FROM known_clients";
    assert_eq!(count(old_audit).await, 1);
    let recent_audit = count(all_audit).await - 1;

    let replica = auth.replica().await;
    // The three deletions run one after another at start: wait for the last.
    let mut waited = 0;
    while (count(old_audit).await > 0 || count(budgets).await > 0 || count(known).await > 1)
        && waited < 50
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(count(old_audit).await, 0);
    assert_eq!(count(all_audit).await, recent_audit, "recent events stay");
    assert_eq!(count(budgets).await, 0);
    assert_eq!(
        count(known).await,
        1,
        "the registration's client stays known"
    );
    drop(replica);
}

on_both_backends!(
    a_guesser_holds_back_only_itself,
    many_clients_close_an_account_only_to_clients_it_does_not_know,
    concurrent_guesses_cannot_overdraw_the_budget,
    a_busy_address_still_logs_in_to_accounts_that_know_it,
    registrations_that_hit_a_taken_email_count_like_failed_logins,
    the_client_is_who_a_trusted_gateway_says,
    rows_past_retention_are_deleted_at_start,
);

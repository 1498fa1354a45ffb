//! Changing the email or password takes more than an access token: a session
//! older than `auth.recent_login_secs` must give the current password, and the
//! old address is told of an email change (an outbox row) and audited; a
//! username cannot be one that looks like another's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestAuth, fast_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

const PASSWORD: &str = "probe passphrase 4711";

async fn put_user(auth: &TestAuth, token: &str, user: Value) -> (StatusCode, Value) {
    auth.send(
        auth.client
            .put(format!("{}/api/user", auth.url))
            .header("Authorization", format!("Token {token}"))
            .json(&json!({ "user": user })),
    )
    .await
}

async fn a_stolen_token_alone_cannot_take_the_account_over(backend: Backend) {
    let mut config = fast_config();
    config.recent_login_secs = 1;
    let auth = TestAuth::start_with(backend, config).await;
    let token = auth.register("owner", PASSWORD).await;
    // Within the window, the RealWorld flow works as the contract says.
    let (status, _) = put_user(&auth, &token, json!({"password": "a fresh passphrase"})).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    for change in [
        json!({"email": "thief@example.com"}),
        json!({"password": "the thief's passphrase"}),
    ] {
        let (status, body) = put_user(&auth, &token, change).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["errors"]["current_password"][0],
            "is required to change the email or password"
        );
    }
    let (status, body) = put_user(
        &auth,
        &token,
        json!({"email": "thief@example.com", "current_password": "a guess at it"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"]["current_password"][0], "is invalid");
    // Nothing changed, and other fields need no password.
    let (status, body) = put_user(&auth, &token, json!({"bio": "still me"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["email"], "owner@example.com");

    let (status, body) = put_user(
        &auth,
        &token,
        json!({"email": "new.owner@example.com", "current_password": "a fresh passphrase"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["email"], "new.owner@example.com");

    let pool = auth.pool().await;
    let outbox = sqlx::query("SELECT user_id, kind, recipient_ciphertext FROM email_outbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1, "the old address is told once");
    assert_eq!(outbox[0].get::<String, _>("kind"), "email_changed");
    let sealed: Vec<u8> = outbox[0].get("recipient_ciphertext");
    assert!(!String::from_utf8_lossy(&sealed).contains("owner@example.com"));
    let kinds: Vec<String> = sqlx::query("SELECT kind FROM audit_events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("kind"))
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "email_change").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "reauthentication").count(),
        2,
        "{kinds:?}"
    );
    // The new address logs in; the old one does not.
    assert_eq!(
        auth.post(
            "/api/users/login",
            json!({"user": {"email": "new.owner@example.com", "password": "a fresh passphrase"}})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        auth.post(
            "/api/users/login",
            json!({"user": {"email": "owner@example.com", "password": "a fresh passphrase"}})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn guessing_the_current_password_runs_into_the_login_budget(backend: Backend) {
    let mut config = fast_config();
    config.recent_login_secs = 1;
    let auth = TestAuth::start_with(backend, config).await;
    let token = auth.register("owner", PASSWORD).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for _ in 0..5 {
        let (status, _) = put_user(
            &auth,
            &token,
            json!({"password": "the thief's passphrase", "current_password": "a guess at it"}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _) = put_user(
        &auth,
        &token,
        json!({"password": "the thief's passphrase", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Names a reader cannot tell from an existing one are taken, at registration
/// and on a change; the compatibility form of a name is the name.
async fn look_alike_usernames_are_taken(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    auth.register("alice", PASSWORD).await;
    for (i, name) in ["\u{430}lice", "ALICE", "a1ice", "ａｌｉｃｅ"]
        .iter()
        .enumerate()
    {
        let (status, body) = auth
            .post(
                "/api/users",
                json!({"user": {"username": name, "email": format!("twin{i}@example.com"), "password": PASSWORD}}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
        assert_eq!(
            body["errors"]["username"][0], "has already been taken",
            "{name}"
        );
    }
    let bob = auth.register("bob", PASSWORD).await;
    let (status, body) = put_user(&auth, &bob, json!({"username": "\u{430}lice"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A name of its own, in another script, is welcome.
    let (status, body) = put_user(&auth, &bob, json!({"username": "боб"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "боб");
}

on_both_backends!(
    look_alike_usernames_are_taken,
    a_stolen_token_alone_cannot_take_the_account_over,
    guessing_the_current_password_runs_into_the_login_budget,
);

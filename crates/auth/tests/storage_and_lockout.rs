//! What is stored (no plaintext email, password or refresh token anywhere in
//! the raw database), constant-time login failures and validation, on SQLite
//! and on PostgreSQL. The brute-force defence is in `brute_force.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::{Backend, TestAuth};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

const EMAIL: &str = "Plaintext.Probe@Example.com";
const PASSWORD: &str = "probe passphrase 4711";

/// Every byte the database holds, as text: raw files for SQLite, every row of
/// every table (as JSON, bytea in hex) for PostgreSQL.
async fn raw_contents(auth: &TestAuth, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(&auth.data_dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    all.extend(std::fs::read(&path).unwrap());
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        }
        Backend::Postgres => {
            let pool = auth.pool().await;
            let tables: Vec<String> = sqlx::query(
                "SELECT tablename::text AS t FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("t"))
            .collect();
            assert!(tables.len() >= 6, "{tables:?}");
            let mut all = String::new();
            for table in tables {
                let rows = sqlx::query(&format!("SELECT row_to_json(t)::text AS j FROM {table} t"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                for row in rows {
                    all.push_str(&row.get::<String, _>("j"));
                }
            }
            all
        }
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn no_plaintext_secrets_at_rest(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let (status, _) = auth
        .post(
            "/api/users",
            json!({"user": {"username": "probe", "email": EMAIL, "password": PASSWORD}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, granted) = auth.password_grant(EMAIL, PASSWORD).await;
    let refresh = granted["refresh_token"].as_str().unwrap().to_owned();
    // Lookup is case-insensitive, the address comes back as registered.
    let (status, login) = auth
        .post(
            "/api/users/login",
            json!({"user": {"email": EMAIL.to_lowercase(), "password": PASSWORD}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(login["user"]["email"], EMAIL);

    let raw = raw_contents(&auth, backend).await;
    assert!(
        raw.contains("probe"),
        "the dump is real: the username is there"
    );
    for (what, needle) in [
        ("email", EMAIL),
        ("lower-case email", &EMAIL.to_lowercase()),
        ("password", PASSWORD),
        ("refresh token", &refresh),
    ] {
        assert!(
            !raw.contains(needle),
            "plaintext {what} found in the database"
        );
        assert!(
            !raw.contains(&hex(needle)),
            "hex-encoded {what} found in the database"
        );
    }
}

async fn unknown_email_costs_as_much_as_a_wrong_password(backend: Backend) {
    // Production Argon2 cost, so that hashing (or its absence) dominates the timing.
    let mut config = cloudsec_auth::Config::default();
    config.lockout.client_threshold = 100;
    config.lockout.account_threshold = 100;
    config.lockout.ip_threshold = 1000;
    let auth = TestAuth::start_with(backend, config).await;
    auth.register("timing", PASSWORD).await;
    let attempt = |email: &'static str| {
        let auth = &auth;
        async move {
            let start = Instant::now();
            let (status, _) = auth
                .post(
                    "/api/users/login",
                    json!({"user": {"email": email, "password": "wrong password!"}}),
                )
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            start.elapsed()
        }
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, so that load from other tests hits both alike.
    for _ in 0..9 {
        known.push(attempt("timing@example.com").await);
        unknown.push(attempt("unknown@example.com").await);
    }
    known.sort();
    unknown.sort();
    let (wrong_password, unknown_email) = (known[4], unknown[4]);
    // Both run one Argon2 verification; without the dummy hash the unknown
    // email would answer in a small fraction of the time.
    assert!(
        unknown_email * 2 > wrong_password && wrong_password * 2 > unknown_email,
        "unknown {unknown_email:?} vs wrong password {wrong_password:?}"
    );
}

async fn validation_names_the_field(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let cases: [(Value, &str, &str); 6] = [
        (
            json!({"user": {"username": "x", "email": "not-an-email", "password": PASSWORD}}),
            "email",
            "is invalid",
        ),
        (
            json!({"user": {"username": "a/b", "email": "a@b.co", "password": PASSWORD}}),
            "username",
            "is invalid",
        ),
        (
            json!({"user": {"username": "ok", "email": "a@b.co", "password": "short"}}),
            "password",
            "is too short (minimum is 8 characters)",
        ),
        (
            json!({"user": {"username": "ok", "email": "a@b.co", "password": "x".repeat(129)}}),
            "password",
            "is too long (maximum is 128 characters)",
        ),
        (
            json!({"user": {"username": "ok", "email": "a@b.co", "password": "password123"}}),
            "password",
            "is too common",
        ),
        (
            json!({"user": {"username": "ok", "email": "a@b.co"}}),
            "password",
            "can't be blank",
        ),
    ];
    for (body, field, message) in cases {
        let (status, errors) = auth.post("/api/users", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{errors}");
        assert_eq!(errors["errors"][field][0], message, "{errors}");
    }
    let malformed = auth
        .client
        .post(format!("{}/api/users", auth.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(malformed.json::<Value>().await.unwrap()["errors"]["body"].is_array());
    // Nothing was half-written.
    assert_eq!(
        auth.post(
            "/api/users/login",
            json!({"user": {"email": "a@b.co", "password": PASSWORD}})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}

on_both_backends!(
    no_plaintext_secrets_at_rest,
    unknown_email_costs_as_much_as_a_wrong_password,
    validation_names_the_field,
);

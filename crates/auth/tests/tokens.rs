//! Token hygiene end to end, on SQLite and on PostgreSQL: rotation, reuse
//! detection, logout, revocation, sessions, introspection, key rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Backend, TestAuth};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn rotation_and_reuse_detection(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let first_session = auth.register("alice", PASSWORD).await;

    let (status, granted) = auth.password_grant("alice@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert_eq!(granted["token_type"], "Bearer");
    assert_eq!(granted["expires_in"], 900);
    let refresh1 = granted["refresh_token"].as_str().unwrap().to_owned();
    assert!(
        URL_SAFE_NO_PAD.decode(&refresh1).unwrap().len() >= 32,
        "at least 256 bits"
    );
    let access1 = granted["access_token"].as_str().unwrap().to_owned();

    let (status, rotated) = auth.refresh_grant(&refresh1).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    assert_eq!(
        claims(&access1)["sid"],
        claims(&access2)["sid"],
        "same session"
    );
    assert_eq!(auth.get_user(&access2).await, StatusCode::OK);

    // Replaying the spent token: refused, and the whole family dies with it.
    let (status, replay) = auth.refresh_grant(&refresh1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(replay["error"], "invalid_grant");
    let (status, after) = auth.refresh_grant(&refresh2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(after["error"], "invalid_grant");
    assert_eq!(auth.get_user(&access2).await, StatusCode::UNAUTHORIZED);
    assert_eq!(auth.get_user(&access1).await, StatusCode::UNAUTHORIZED);
    // Another session of the same user is untouched.
    assert_eq!(auth.get_user(&first_session).await, StatusCode::OK);

    let (status, garbage) = auth.refresh_grant("not-a-token").await;
    assert_eq!(
        (status, garbage["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

/// `POST /auth/token/refresh` with the refresh cookie, as a browser does.
async fn refresh_with_cookie(auth: &TestAuth, cookie: &str) -> reqwest::Response {
    auth.client
        .post(format!("{}/auth/token/refresh", auth.url))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// Logs in as a browser does: the `Set-Cookie`, the cookie it sets, the access token.
async fn browser_login(auth: &TestAuth, email: &str) -> (String, String, String) {
    let login = auth
        .client
        .post(format!("{}/api/users/login", auth.url))
        .json(&json!({"user": {"email": email, "password": PASSWORD}}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = login.json::<Value>().await.unwrap()["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (set_cookie, cookie, token)
}

async fn logout_ends_the_session_at_once(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let other = auth.register("bob", PASSWORD).await;
    let (set_cookie, cookie, token) = browser_login(&auth, "bob@example.com").await;
    for attr in [
        "cloudsec_refresh=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/auth",
    ] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }

    // The cookie flow rotates the cookie.
    let refreshed = refresh_with_cookie(&auth, &cookie).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let next_cookie = refreshed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(next_cookie, cookie);
    let body: Value = refreshed.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "browser flow keeps the refresh token in the cookie"
    );

    let logout = auth
        .client
        .post(format!("{}/auth/logout", auth.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(auth.get_user(&token).await, StatusCode::UNAUTHORIZED);
    let again = refresh_with_cookie(&auth, &next_cookie).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(auth.get_user(&other).await, StatusCode::OK);
}

/// A browser whose access token expired (or was lost) still signs out for
/// good: the refresh cookie names the session to end.
async fn logout_with_only_the_refresh_cookie(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    auth.register("carol", PASSWORD).await;
    let (_, cookie, token) = browser_login(&auth, "carol@example.com").await;

    // Neither a token nor a cookie: nothing to end.
    let bare = auth
        .client
        .post(format!("{}/auth/logout", auth.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);

    let logout = auth
        .client
        .post(format!("{}/auth/logout", auth.url))
        .header("Authorization", "Token expired.or.garbage")
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared = logout.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The session is over: its access token and its refresh cookie alike.
    assert_eq!(auth.get_user(&token).await, StatusCode::UNAUTHORIZED);
    let refresh = refresh_with_cookie(&auth, &cookie).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
}

async fn access_tokens_are_well_formed_eddsa_jwts(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let token = auth.register("carol", PASSWORD).await;
    let jwks: Value = auth
        .client
        .get(format!("{}/.well-known/jwks.json", auth.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(key["x"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert!(key.get("d").is_none(), "no private part");

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let c = claims(&token);
    for claim in ["iss", "aud", "sub", "jti", "sid", "iat", "nbf", "exp"] {
        assert!(c.get(claim).is_some(), "missing {claim}: {c}");
    }
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);

    let discovery: Value = auth
        .client
        .get(format!("{}/.well-known/openid-configuration", auth.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json")
    );
    assert_eq!(discovery["issuer"], c["iss"]);
}

async fn sessions_belong_to_their_owner(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let dave = auth.register("dave", PASSWORD).await;
    let (_, second) = auth.password_grant("dave@example.com", PASSWORD).await;
    let dave2 = second["access_token"].as_str().unwrap().to_owned();
    let eve = auth.register("eve", PASSWORD).await;

    let list: Value = auth
        .client
        .get(format!("{}/auth/sessions", auth.url))
        .bearer_auth(&dave)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Eve cannot see or end Dave's session.
    let denied = auth
        .client
        .delete(format!("{}/auth/sessions/{other}", auth.url))
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::NOT_FOUND);
    assert_eq!(auth.get_user(&dave2).await, StatusCode::OK);

    let ended = auth
        .client
        .delete(format!("{}/auth/sessions/{other}", auth.url))
        .bearer_auth(&dave)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(auth.get_user(&dave2).await, StatusCode::UNAUTHORIZED);
    assert_eq!(auth.get_user(&dave).await, StatusCode::OK);
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let current = auth.register("frank", PASSWORD).await;
    let (_, other) = auth.password_grant("frank@example.com", PASSWORD).await;
    let other = other["access_token"].as_str().unwrap().to_owned();
    let changed = auth
        .client
        .put(format!("{}/api/user", auth.url))
        .header("Authorization", format!("Token {current}"))
        .json(&json!({"user": {"password": "a brand new passphrase"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(auth.get_user(&current).await, StatusCode::OK);
    assert_eq!(auth.get_user(&other).await, StatusCode::UNAUTHORIZED);
    let (status, _) = auth.password_grant("frank@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "old password no longer works"
    );
    let (status, _) = auth
        .password_grant("frank@example.com", "a brand new passphrase")
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn revocation_endpoint_and_introspection(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    auth.register("grace", PASSWORD).await;
    let (_, granted) = auth.password_grant("grace@example.com", PASSWORD).await;
    let access = granted["access_token"].as_str().unwrap().to_owned();
    let refresh = granted["refresh_token"].as_str().unwrap().to_owned();

    let introspect = |token: String, credentials: Option<String>| {
        let mut request = auth
            .client
            .post(format!("{}/auth/introspect", auth.url))
            .form(&[("token", token)]);
        if let Some(c) = credentials {
            request = request.header("Authorization", format!("Basic {}", STANDARD.encode(c)));
        }
        request.send()
    };
    let anonymous = introspect(access.clone(), None).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = introspect(access.clone(), Some("cloudsec-internal:guess".into()))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let secret = URL_SAFE_NO_PAD.encode(
        auth.secrets
            .get(cloudsec_auth::SERVICE_CLIENT_SECRET)
            .unwrap()
            .unwrap()
            .expose(),
    );
    let service = format!("{}:{secret}", cloudsec_auth::SERVICE_CLIENT_ID);
    let active: Value = introspect(access.clone(), Some(service.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], claims(&access)["sub"]);

    // RFC 7009 on the access token: it stops at once, the session lives on.
    let revoked = auth
        .client
        .post(format!("{}/auth/revoke", auth.url))
        .form(&[("token", &access)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(auth.get_user(&access).await, StatusCode::UNAUTHORIZED);
    let inactive: Value = introspect(access.clone(), Some(service.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inactive, json!({"active": false}));
    let (status, next) = auth.refresh_grant(&refresh).await;
    assert_eq!(status, StatusCode::OK);

    // On the refresh token: the session ends.
    let next_refresh = next["refresh_token"].as_str().unwrap();
    let revoked = auth
        .client
        .post(format!("{}/auth/revoke", auth.url))
        .form(&[("token", next_refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        auth.refresh_grant(next_refresh).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        auth.get_user(next["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );

    // Unknown tokens are answered the same (RFC 7009 §2.2).
    let unknown = auth
        .client
        .post(format!("{}/auth/revoke", auth.url))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::OK);
}

async fn internal_profile_lookup(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let token = auth.register("heidi", PASSWORD).await;
    auth.register("ivan", PASSWORD).await;
    let id = claims(&token)["sub"].as_str().unwrap().to_owned();
    let secret = URL_SAFE_NO_PAD.encode(
        auth.secrets
            .get(cloudsec_auth::SERVICE_CLIENT_SECRET)
            .unwrap()
            .unwrap()
            .expose(),
    );
    let lookup = |query: String| {
        auth.client
            .get(format!("{}/internal/profiles?{query}", auth.url))
            .basic_auth(cloudsec_auth::SERVICE_CLIENT_ID, Some(secret.clone()))
            .send()
    };
    let by_id: Value = lookup(format!("ids={id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        by_id["profiles"],
        json!([{"id": id, "username": "heidi", "bio": null, "image": null}])
    );
    let by_name: Value = lookup("usernames=heidi,ivan,nobody".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["profiles"].as_array().unwrap().len(), 2);
    assert!(!by_name.to_string().contains("example.com"), "no emails");
    let anonymous = auth
        .client
        .get(format!("{}/internal/profiles?ids={id}", auth.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn key_rotation_without_restart(backend: Backend) {
    let auth = TestAuth::start(backend).await;
    let before = auth.register("judy", PASSWORD).await;
    let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    let new_kid = cloudsec_auth::keys::rotate(&auth.secrets, Duration::from_secs(960)).unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let jwks: Value = auth
            .client
            .get(format!("{}/.well-known/jwks.json", auth.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        if kids.contains(&new_kid.as_str()) {
            assert!(
                kids.contains(&old_kid.as_str()),
                "the previous key stays published"
            );
            break;
        }
        assert!(Instant::now() < deadline, "rotation not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, granted) = auth.password_grant("judy@example.com", PASSWORD).await;
    let after = granted["access_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(after).unwrap().kid.unwrap(),
        new_kid
    );
    assert_eq!(auth.get_user(after).await, StatusCode::OK);
    assert_eq!(
        auth.get_user(&before).await,
        StatusCode::OK,
        "tokens of the previous key stay valid"
    );
}

on_both_backends!(
    rotation_and_reuse_detection,
    logout_ends_the_session_at_once,
    logout_with_only_the_refresh_cookie,
    access_tokens_are_well_formed_eddsa_jwts,
    sessions_belong_to_their_owner,
    password_change_ends_other_sessions,
    revocation_endpoint_and_introspection,
    internal_profile_lookup,
    key_rotation_without_restart,
);

/// With the deny-list unreachable, a revocation is refused (503), not
/// answered 200 while nothing was denied (the token would work again once
/// Redis is back); and the token itself is not let through meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_while_the_deny_list_is_down_is_refused_not_pretended() {
    let link = common::RedisLink::open().await;
    let auth =
        TestAuth::start_on_redis(Backend::Sqlite, common::fast_config(), Some(&link.url)).await;
    let token = auth.register("outage", PASSWORD).await;
    assert_eq!(auth.get_user(&token).await, StatusCode::OK);
    link.cut();
    let revoked = auth
        .client
        .post(format!("{}/auth/revoke", auth.url))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = revoked.json().await.unwrap();
    assert_eq!(
        body,
        json!({"errors": {"token": ["temporarily unavailable"]}})
    );
    assert_eq!(auth.get_user(&token).await, StatusCode::SERVICE_UNAVAILABLE);
}

/// Replicas sharing PostgreSQL and Redis: a logout on one is refused by the other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_replica_is_seen_by_the_other_through_redis() {
    let a = TestAuth::start_full(Backend::Postgres, common::fast_config(), true).await;
    let b = a.replica().await;
    let token = a.register("replicated", PASSWORD).await;
    assert_eq!(
        b.get_user(&token).await,
        StatusCode::OK,
        "replica B verifies A's token"
    );
    let logout = a
        .client
        .post(format!("{}/auth/logout", a.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let start = Instant::now();
    assert_eq!(b.get_user(&token).await, StatusCode::UNAUTHORIZED);
    assert!(start.elapsed() < Duration::from_secs(1));
    // And a fresh replica started afterwards knows it too (Redis, not memory).
    let c = a.replica().await;
    assert_eq!(c.get_user(&token).await, StatusCode::UNAUTHORIZED);
}

/// Failed logins per client IP are counted across replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_failures_are_counted_across_replicas_through_redis() {
    let mut config = common::fast_config();
    config.lockout.account_threshold = 100;
    config.lockout.ip_threshold = 100;
    let a = TestAuth::start_full(Backend::Sqlite, config, true).await;
    let b = a.replica().await;
    for (i, instance) in [&a, &b].into_iter().cycle().take(100).enumerate() {
        let (status, _) = instance
            .post("/api/users/login", json!({"user": {"email": format!("u{i}@example.com"), "password": "wrong password"}}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for instance in [&a, &b] {
        let refused = instance
            .client
            .post(format!("{}/api/users/login", instance.url))
            .json(&json!({"user": {"email": "fresh@example.com", "password": "wrong password"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
    }
}

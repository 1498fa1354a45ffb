//! The business API's own rules through the gateway: input limits with the
//! field named, nothing half-written, and the introspection mode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Running, create_article, get_json, register};
use serde_json::{Value, json};

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let url = &platform.url;
    let client = reqwest::Client::new();
    let token = register(&client, url, "strict").await;
    let create = |article: Value| {
        client
            .post(format!("{url}/api/articles"))
            .header("Authorization", format!("Token {token}"))
            .json(&json!({ "article": article }))
            .send()
    };
    let cases = [
        (
            json!({"title": "x".repeat(257), "description": "d", "body": "b"}),
            422,
            "title",
        ),
        (
            json!({"title": "t", "description": "   ", "body": "b"}),
            422,
            "description",
        ),
        (
            json!({"title": "t", "description": "d", "body": "b", "tagList": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}),
            422,
            "tagList",
        ),
        (
            json!({"title": "t", "description": "d", "body": "b", "tagList": ["x".repeat(65)]}),
            422,
            "tagList",
        ),
        (
            json!({"title": "t", "description": "d", "body": "b".repeat(300_000)}),
            413,
            "body",
        ),
        (
            json!({"title": 5, "description": "d", "body": "b"}),
            422,
            "title",
        ),
        (
            json!({"title": "t", "description": "d", "body": "b", "tagList": "rust"}),
            422,
            "tagList",
        ),
    ];
    for (article, status, field) in cases {
        let response = create(article).await.unwrap();
        assert_eq!(response.status(), status, "{field}");
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"][field].is_array(), "{field}: {body}");
    }
    let list = get_json(&client, &format!("{url}/api/articles")).await;
    assert_eq!(list["articlesCount"], 0, "nothing was written");

    for query in ["limit=0", "limit=abc", "limit=1000", "offset=-1"] {
        let response = client
            .get(format!("{url}/api/articles?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        let field = query.split('=').next().unwrap();
        assert!(body["errors"][field].is_array(), "{query}: {body}");
    }
}

#[tokio::test]
async fn introspection_mode_asks_auth_for_every_token() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[("CLOUDSEC_BUSINESS__TOKEN_VALIDATION", "introspect")],
    )
    .await;
    let url = &platform.url;
    let client = reqwest::Client::new();
    let token = register(&client, url, "introspected").await;
    let feed = |token: String| {
        client
            .get(format!("{url}/api/articles/feed"))
            .header("Authorization", format!("Token {token}"))
            .send()
    };
    assert_eq!(feed(token.clone()).await.unwrap().status(), 200);
    assert_eq!(feed("garbage".into()).await.unwrap().status(), 401);
    let logout = client
        .post(format!("{url}/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(feed(token).await.unwrap().status(), 401);
}

/// Finding: three anonymous requests for `GET /api/profiles/u0,u1,…` reached
/// auth's batch lookup as a list, auth answered 422, the breaker counted it
/// as auth failing and every listing answered 503 for 5 s.
#[tokio::test]
async fn malformed_profile_requests_cannot_take_profiles_down_for_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let url = &platform.url;
    let client = reqwest::Client::new();
    let token = register(&client, url, "steady").await;
    let list: String = (0..=100)
        .map(|i| format!("u{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for name in [
        list.as_str(),
        "a%2Fb",
        "%20",
        "dot..dot%20x",
        &"y".repeat(65),
    ]
    .into_iter()
    .cycle()
    .take(10)
    {
        let r = client
            .get(format!("{url}/api/profiles/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{name}");
        let r = client
            .get(format!("{url}/api/articles?author={name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.json::<Value>().await.unwrap()["articlesCount"], 0);
    }
    let created = create_article(&client, url, &token, "Still here").await;
    assert_eq!(created.status(), 201);
    for path in [
        "/api/articles",
        "/api/profiles/steady",
        "/api/articles?author=steady",
    ] {
        let r = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

/// Every listing's work is bounded: offsets beyond 10,000 are refused with
/// the parameter named, and comments come a page at a time.
#[tokio::test]
async fn listings_are_bounded_and_comments_paged() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let url = &platform.url;
    let client = reqwest::Client::new();
    let token = register(&client, url, "pager").await;
    for path in [
        "/api/articles?offset=10001",
        "/api/articles?offset=99999999999",
        "/api/articles?limit=101",
    ] {
        let r = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 422, "{path}");
        let field = if path.contains("limit") {
            "limit"
        } else {
            "offset"
        };
        assert!(
            r.json::<Value>().await.unwrap()["errors"][field].is_array(),
            "{path}"
        );
    }
    let feed = client
        .get(format!("{url}/api/articles/feed?offset=10001"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 422);

    let created: Value = create_article(&client, url, &token, "Talked about")
        .await
        .json()
        .await
        .unwrap();
    let slug = created["article"]["slug"].as_str().unwrap();
    for i in 0..5 {
        let r = client
            .post(format!("{url}/api/articles/{slug}/comments"))
            .header("Authorization", format!("Token {token}"))
            .json(&json!({"comment": {"body": format!("comment {i}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let bodies = |query: &'static str| {
        let client = client.clone();
        let page = format!("{url}/api/articles/{slug}/comments{query}");
        async move {
            let list = get_json(&client, &page).await;
            list["comments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["body"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        bodies("").await.len(),
        5,
        "all of a short list, as RealWorld has it"
    );
    assert_eq!(
        bodies("?limit=2&offset=3").await,
        ["comment 3", "comment 4"]
    );
    let r = client
        .get(format!("{url}/api/articles/{slug}/comments?limit=501"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

/// Whoever changes their profile sees the change at once, though the business
/// service caches profiles (`business.profile_cache_ttl_ms`).
#[tokio::test]
async fn your_own_profile_change_shows_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A long cache, so that only read-your-writes can explain a fresh answer.
    let platform = Running::up(
        dir.path(),
        0,
        &[("CLOUDSEC_BUSINESS__PROFILE_CACHE_TTL_MS", "600000")],
    )
    .await;
    let url = &platform.url;
    let client = reqwest::Client::new();
    let token = register(&client, url, "painter").await;
    assert_eq!(
        create_article(&client, url, &token, "Canvas")
            .await
            .status(),
        201
    );
    let as_owner = |path: &str| {
        client
            .get(format!("{url}{path}"))
            .header("Authorization", format!("Token {token}"))
    };
    // Both lookups are now cached, by id and by name.
    let before = get_json(&client, &format!("{url}/api/profiles/painter")).await;
    assert_eq!(before["profile"]["bio"], Value::Null);

    let r = client
        .put(format!("{url}/api/user"))
        .header("Authorization", format!("Token {token}"))
        .json(&serde_json::json!({"user": {"bio": "oils", "image": "https://example.com/me.png"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let profile: Value = as_owner("/api/profiles/painter")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["profile"]["bio"], "oils");
    let articles: Value = as_owner("/api/articles?author=painter")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(articles["articles"][0]["author"]["bio"], "oils");
    assert_eq!(
        articles["articles"][0]["author"]["image"],
        "https://example.com/me.png"
    );
    // The owner's read refreshed the cached copy for everyone.
    let anonymous = get_json(&client, &format!("{url}/api/profiles/painter")).await;
    assert_eq!(anonymous["profile"]["bio"], "oils");
}

//! The services as separate processes (`cloudsec serve …`), as in a cluster:
//! reads survive an auth outage, and a logout is refused by the business
//! service behind the gateway within a second.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Running, create_article, free_port, get_json, register};
use serde_json::Value;

struct Cluster {
    auth: Running,
    _business: Running,
    gateway: Running,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let (auth_port, business_port) = (free_port(), free_port());
    let auth_url = format!("http://127.0.0.1:{auth_port}");
    let business_url = format!("http://127.0.0.1:{business_port}");
    let auth_listen = format!("127.0.0.1:{auth_port}");
    let business_listen = format!("127.0.0.1:{business_port}");
    let auth = Running::spawn(
        &["serve", "auth", "--data-dir", &data],
        &[("CLOUDSEC_AUTH__LISTEN", &auth_listen)],
        dir.path(),
    )
    .await;
    let business = Running::spawn(
        &["serve", "business", "--data-dir", &data],
        &[
            ("CLOUDSEC_BUSINESS__LISTEN", &business_listen),
            ("CLOUDSEC_BUSINESS__AUTH_URL", &auth_url),
        ],
        dir.path(),
    )
    .await;
    let port = free_port().to_string();
    let gateway = Running::spawn(
        &["serve", "gateway", "--port", &port],
        &[
            ("CLOUDSEC_GATEWAY__UPSTREAMS__AUTH", &auth_url),
            ("CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS", &business_url),
        ],
        dir.path(),
    )
    .await;
    Cluster {
        auth,
        _business: business,
        gateway,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_keep_working_from_cached_profiles_while_auth_is_down() {
    let mut cluster = cluster().await;
    let url = cluster.gateway.url.clone();
    let client = reqwest::Client::new();
    let token = register(&client, &url, "writer").await;
    // Registered, but its profile never read by the business service.
    let newcomer = register(&client, &url, "newcomer").await;
    let created = create_article(&client, &url, &token, "Outage").await;
    assert_eq!(created.status(), 201);
    let slug = created.json::<Value>().await.unwrap()["article"]["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    // Warm the profile cache.
    assert_eq!(
        client
            .get(format!("{url}/api/articles"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    cluster.auth.child.kill().unwrap();
    cluster.auth.child.wait().unwrap();
    // Past the fresh-cache lifetime: only the stale copy can answer now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for _ in 0..3 {
        let list = client
            .get(format!("{url}/api/articles"))
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), 200);
        let body: Value = list.json().await.unwrap();
        assert_eq!(body["articles"][0]["author"]["username"], "writer");
    }
    let one: Value = client
        .get(format!("{url}/api/articles/{slug}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["article"]["author"]["username"], "writer");
    // Tokens still verify locally (cached keys); the login endpoint itself is down.
    let feed = client
        .get(format!("{url}/api/articles/feed"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let login = client
        .get(format!("{url}/api/user"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_server_error(), "{}", login.status());

    // A write whose author has a copy at hand succeeds and says so...
    let during = create_article(&client, &url, &token, "During").await;
    assert_eq!(during.status(), 201);
    // ...one without is refused before anything is written, never stored behind a 503.
    let lost = create_article(&client, &url, &newcomer, "Lost").await;
    assert_eq!(lost.status(), 503);
    let list = get_json(&client, &format!("{url}/api/articles")).await;
    assert_eq!(list["articlesCount"], 2, "{list}");
    assert!(
        list["articles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["title"] != "Lost")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_reaches_the_business_service_through_the_gateway_within_a_second() {
    // One process, in-process deny-list shared by auth and business.
    let dir = tempfile::tempdir().unwrap();
    let platform = Running::up(dir.path(), 0, &[]).await;
    let url = &platform.url;
    let client = reqwest::Client::new();
    let token = register(&client, url, "leaver").await;
    let feed = || {
        client
            .get(format!("{url}/api/articles/feed"))
            .header("Authorization", format!("Token {token}"))
            .send()
    };
    assert_eq!(feed().await.unwrap().status(), 200);
    let logout = client
        .post(format!("{url}/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let start = Instant::now();
    loop {
        let status = feed().await.unwrap().status();
        if status == 401 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "still {status} after {:?}",
            start.elapsed()
        );
    }
    let user = client
        .get(format!("{url}/api/user"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 401);
}

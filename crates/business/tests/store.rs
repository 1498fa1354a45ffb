//! The store conformance suite: every adapter must pass all of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use cloudsec_business::config::{DynamoConfig, Limits};
use cloudsec_business::domain::{ArticleBody, CommentBody, Description, Slug, Tags, Title};
use cloudsec_business::store::{
    ArticleChanges, ArticleFilter, ArticleStore, CachedStore, DynamoStore, NewArticle, SqliteStore,
    StoreError,
};

// The store takes parsed values, as the handlers make them.
fn body(text: &str) -> ArticleBody {
    ArticleBody::parse(Some(text.to_owned()), &Limits::default()).unwrap()
}

fn comment(text: &str) -> CommentBody {
    CommentBody::parse(Some(text.to_owned()), &Limits::default()).unwrap()
}

fn tags(list: &[&str]) -> Tags {
    let list = list.iter().map(|t| (*t).to_owned()).collect();
    Tags::parse(list, &Limits::default()).unwrap()
}

fn new_article(author: &str, slug: &str, tag_list: &[&str], now: i64) -> NewArticle {
    let limits = Limits::default();
    NewArticle {
        id: format!("id-{slug}"),
        slug: Slug::parse(slug).unwrap(),
        author_id: author.to_owned(),
        title: Title::parse(Some(format!("Title {slug}")), &limits).unwrap(),
        description: Description::parse(Some("desc".into()), &limits).unwrap(),
        body: body("body"),
        tags: tags(tag_list),
        now,
    }
}

async fn crud_and_tags(store: Arc<dyn ArticleStore>) {
    let a = store
        .create_article(new_article("alice", "one", &["rust", "web"], 1000))
        .await
        .unwrap();
    assert_eq!(a.version, 1);
    let duplicate = store
        .create_article(NewArticle {
            id: "other".into(),
            ..new_article("bob", "one", &[], 1001)
        })
        .await;
    assert!(matches!(duplicate, Err(StoreError::Duplicate)));

    let got = store.article_by_slug("one").await.unwrap().unwrap();
    assert_eq!(got.tags, vec!["rust", "web"], "tag order kept");
    assert_eq!(store.tags().await.unwrap(), vec!["rust", "web"]);

    let changes = ArticleChanges {
        body: Some(body("new body")),
        tags: Some(tags(&["web", "axum"])),
        ..Default::default()
    };
    let updated = store.update_article(&a.id, 1, changes, 2000).await.unwrap();
    assert_eq!(
        (updated.body.as_str(), updated.version, updated.updated_at),
        ("new body", 2, 2000)
    );
    assert_eq!(updated.tags, vec!["web", "axum"]);
    assert_eq!(updated.created_at, 1000);
    assert_eq!(store.tags().await.unwrap(), vec!["axum", "web"]);
    // A stale version is refused and changes nothing.
    let stale = store
        .update_article(
            &a.id,
            1,
            ArticleChanges {
                body: Some(body("lost")),
                ..Default::default()
            },
            3000,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)));
    assert_eq!(
        store.article_by_slug("one").await.unwrap().unwrap().body,
        "new body"
    );

    store
        .add_comment(&a.id, "bob", &comment("nice"), 2100)
        .await
        .unwrap();
    store.favorite("bob", &a.id).await.unwrap();
    store.delete_article(&a.id).await.unwrap();
    assert!(store.article_by_slug("one").await.unwrap().is_none());
    assert!(store.tags().await.unwrap().is_empty());
    assert!(store.comments(&a.id, 500, 0).await.unwrap().is_empty());
    assert!(matches!(
        store
            .update_article(&a.id, 2, ArticleChanges::default(), 4000)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn listing_filters_and_pages(store: Arc<dyn ArticleStore>) {
    for i in 0..5 {
        let author = if i % 2 == 0 { "alice" } else { "bob" };
        let tags: &[&str] = if i < 3 { &["early"] } else { &["late"] };
        store
            .create_article(new_article(author, &format!("a{i}"), tags, 1000 + i))
            .await
            .unwrap();
    }
    let all = ArticleFilter::default();
    let (page, total) = store.list_articles(&all, 2, 0).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        page.iter().map(|a| a.slug.as_str()).collect::<Vec<_>>(),
        ["a4", "a3"],
        "newest first"
    );
    let (page, _) = store.list_articles(&all, 2, 4).await.unwrap();
    assert_eq!(
        page.iter().map(|a| a.slug.as_str()).collect::<Vec<_>>(),
        ["a0"]
    );

    let by_tag = ArticleFilter {
        tag: Some("early".into()),
        ..Default::default()
    };
    assert_eq!(store.list_articles(&by_tag, 10, 0).await.unwrap().1, 3);
    let by_author = ArticleFilter {
        author_id: Some("bob".into()),
        ..Default::default()
    };
    let (bob, n) = store.list_articles(&by_author, 10, 0).await.unwrap();
    assert_eq!((n, bob.iter().all(|a| a.author_id == "bob")), (2, true));

    store.favorite("carol", "id-a1").await.unwrap();
    store.favorite("carol", "id-a4").await.unwrap();
    let favorited = ArticleFilter {
        favorited_by: Some("carol".into()),
        ..Default::default()
    };
    let (fav, n) = store.list_articles(&favorited, 10, 0).await.unwrap();
    assert_eq!((n, fav[0].slug.as_str()), (2, "a4"));
    let mine = store
        .favorited("carol", &["id-a1".into(), "id-a2".into()])
        .await
        .unwrap();
    assert_eq!(
        mine.into_iter().collect::<Vec<_>>(),
        vec!["id-a1".to_owned()]
    );

    store.follow("carol", "bob").await.unwrap();
    store.follow("carol", "bob").await.unwrap();
    let feed = ArticleFilter {
        followed_by: Some("carol".into()),
        ..Default::default()
    };
    let (items, n) = store.list_articles(&feed, 10, 0).await.unwrap();
    assert_eq!((n, items[0].slug.as_str()), (2, "a3"));
    let combined = ArticleFilter {
        tag: Some("late".into()),
        followed_by: Some("carol".into()),
        ..Default::default()
    };
    assert_eq!(store.list_articles(&combined, 10, 0).await.unwrap().1, 1);
    assert_eq!(
        store
            .following("carol", &["bob".into(), "alice".into()])
            .await
            .unwrap()
            .len(),
        1
    );
    store.unfollow("carol", "bob").await.unwrap();
    assert_eq!(store.list_articles(&feed, 10, 0).await.unwrap().1, 0);
}

async fn comments_in_order(store: Arc<dyn ArticleStore>) {
    let a = store
        .create_article(new_article("alice", "c", &[], 1))
        .await
        .unwrap();
    let first = store
        .add_comment(&a.id, "bob", &comment("first"), 10)
        .await
        .unwrap();
    let second = store
        .add_comment(&a.id, "carol", &comment("second"), 11)
        .await
        .unwrap();
    assert!(second.id > first.id);
    let third = store
        .add_comment(&a.id, "dave", &comment("third"), 12)
        .await
        .unwrap();
    let bodies = |limit, offset| {
        let store = store.clone();
        let id = a.id.clone();
        async move {
            store
                .comments(&id, limit, offset)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.body)
                .collect::<Vec<String>>()
        }
    };
    assert_eq!(bodies(500, 0).await, ["first", "second", "third"]);
    // Paged, oldest first.
    assert_eq!(bodies(2, 0).await, ["first", "second"]);
    assert_eq!(bodies(2, 2).await, ["third"]);
    assert!(bodies(2, 3).await.is_empty());
    store.delete_comment(&a.id, third.id).await.unwrap();
    assert_eq!(
        store
            .comment(&a.id, first.id)
            .await
            .unwrap()
            .unwrap()
            .author_id,
        "bob"
    );
    store.delete_comment(&a.id, first.id).await.unwrap();
    assert!(store.comment(&a.id, first.id).await.unwrap().is_none());
    assert_eq!(store.comments(&a.id, 500, 0).await.unwrap().len(), 1);
    assert!(matches!(
        store.add_comment("missing", "bob", &comment("x"), 12).await,
        Err(StoreError::NotFound)
    ));
}

async fn concurrent_favorites_are_counted_exactly(store: Arc<dyn ArticleStore>) {
    let a = store
        .create_article(new_article("alice", "popular", &[], 1))
        .await
        .unwrap();
    let favorite = (0..50).map(|i| {
        let (store, id) = (store.clone(), a.id.clone());
        tokio::spawn(async move { store.favorite(&format!("user{i}"), &id).await.unwrap() })
    });
    futures_util::future::join_all(favorite).await;
    // Favoriting twice counts once.
    store.favorite("user0", &a.id).await.unwrap();
    assert_eq!(
        store
            .article_by_slug("popular")
            .await
            .unwrap()
            .unwrap()
            .favorites_count,
        50
    );
    let unfavorite = (0..25).map(|i| {
        let (store, id) = (store.clone(), a.id.clone());
        tokio::spawn(async move { store.unfavorite(&format!("user{i}"), &id).await.unwrap() })
    });
    futures_util::future::join_all(unfavorite).await;
    assert_eq!(
        store
            .article_by_slug("popular")
            .await
            .unwrap()
            .unwrap()
            .favorites_count,
        25
    );
}

async fn concurrent_updates_from_one_version_conflict(store: Arc<dyn ArticleStore>) {
    let a = store
        .create_article(new_article("alice", "contested", &[], 1))
        .await
        .unwrap();
    let attempts = ["from tab one", "from tab two"].map(|body| {
        let (store, id) = (store.clone(), a.id.clone());
        tokio::spawn(async move {
            let changes = ArticleChanges {
                body: Some(self::body(body)),
                ..Default::default()
            };
            store.update_article(&id, 1, changes, 5).await
        })
    });
    let results: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "exactly one wins"
    );
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count(),
        1,
        "the other gets a conflict"
    );
    let stored = store.article_by_slug("contested").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    let winner = results.into_iter().find_map(Result::ok).unwrap();
    assert_eq!(stored.body, winner.body);
}

async fn the_feed_merges_authors_newest_first_page_by_page(store: Arc<dyn ArticleStore>) {
    for (author, slug, at) in [
        ("bob", "b10", 10),
        ("dave", "d20", 20),
        ("bob", "b30", 30),
        ("dave", "d40", 40),
        ("bob", "b50", 50),
        ("erin", "e60", 60),
    ] {
        store
            .create_article(new_article(author, slug, &[], at))
            .await
            .unwrap();
    }
    store.follow("carol", "bob").await.unwrap();
    store.follow("carol", "dave").await.unwrap();
    let feed = ArticleFilter {
        followed_by: Some("carol".into()),
        ..Default::default()
    };
    let slugs = |page: Vec<cloudsec_business::store::Article>| {
        page.into_iter().map(|a| a.slug).collect::<Vec<_>>()
    };
    let (page, total) = store.list_articles(&feed, 2, 0).await.unwrap();
    assert_eq!(
        (slugs(page), total),
        (vec!["b50".to_owned(), "d40".to_owned()], 5)
    );
    let (page, _) = store.list_articles(&feed, 2, 1).await.unwrap();
    assert_eq!(slugs(page), ["d40", "b30"]);
    let (page, _) = store.list_articles(&feed, 10, 3).await.unwrap();
    assert_eq!(slugs(page), ["d20", "b10"]);
    let (page, total) = store.list_articles(&feed, 10, 5).await.unwrap();
    assert!(page.is_empty());
    assert_eq!(total, 5);
}

async fn sqlite() -> (tempfile::TempDir, Arc<dyn ArticleStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("business.db"))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

/// A moto server (DynamoDB API) of this test's own, serving one request at a
/// time like DynamoDB's per-request atomicity (scripts/moto_serial.py),
/// stopped on drop.
struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn dynamodb() -> (Moto, Arc<dyn ArticleStore>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/moto_serial.py");
    let child = std::process::Command::new("python3")
        .args([launcher, "127.0.0.1", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 with moto[server] (pip install 'moto[server]')");
    let moto = Moto(child);
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .endpoint_url(&url)
        .build();
    let settings = DynamoConfig {
        table: "conduit-test".into(),
        endpoint: None,
        create_table: true,
    };
    let store = DynamoStore::with_client(aws_sdk_dynamodb::Client::from_conf(config), &settings)
        .await
        .unwrap();
    (moto, Arc::new(store))
}

/// SQLite behind the read cache: caching must not change any answer.
async fn cached_sqlite() -> (tempfile::TempDir, Arc<dyn ArticleStore>) {
    let (dir, store) = sqlite().await;
    (dir, Arc::new(CachedStore::new(store, None, 64 << 20)))
}

macro_rules! suite {
    ($backend:ident: $($name:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_guard, store) = super::$backend().await;
                    super::$name(store).await
                }
            )*
        }
    };
}

suite!(sqlite:
    crud_and_tags,
    the_feed_merges_authors_newest_first_page_by_page,
    listing_filters_and_pages,
    comments_in_order,
    concurrent_favorites_are_counted_exactly,
    concurrent_updates_from_one_version_conflict,
);

suite!(dynamodb:
    crud_and_tags,
    the_feed_merges_authors_newest_first_page_by_page,
    listing_filters_and_pages,
    comments_in_order,
    concurrent_favorites_are_counted_exactly,
    concurrent_updates_from_one_version_conflict,
);

suite!(cached_sqlite:
    crud_and_tags,
    the_feed_merges_authors_newest_first_page_by_page,
    listing_filters_and_pages,
    comments_in_order,
    concurrent_favorites_are_counted_exactly,
    concurrent_updates_from_one_version_conflict,
);

/// Finding: 120 articles of 64 KiB and 120 listings at different offsets
/// held 1.4 GB, a copy of every article per page. The cache holds each
/// article once and stays within its byte budget, and answers stay right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_cache_stays_within_its_byte_budget() {
    let (_dir, plain) = sqlite().await;
    let budget: u64 = 4 << 20;
    let cached = CachedStore::new(plain.clone(), None, budget);
    let body = "b".repeat(64 * 1024);
    for i in 0..120 {
        let mut article = new_article("alice", &format!("big-{i:03}"), &["big"], 1000 + i);
        article.body = self::body(&body);
        cached.create_article(article).await.unwrap();
    }
    let filter = ArticleFilter::default();
    for offset in 0..120 {
        let (page, total) = cached.list_articles(&filter, 20, offset).await.unwrap();
        assert_eq!(total, 120);
        let (expected, _) = plain.list_articles(&filter, 20, offset).await.unwrap();
        let slugs = |p: &[cloudsec_business::store::Article]| {
            p.iter().map(|a| a.slug.clone()).collect::<Vec<_>>()
        };
        assert_eq!(slugs(&page), slugs(&expected), "offset {offset}");
        assert!(page.iter().all(|a| a.body.len() == body.len()));
    }
    let held = cached.weighed_bytes().await;
    assert!(held <= budget, "{held} bytes held, budget {budget}");
    assert!(held > budget / 4, "the cache is used: {held} bytes");
    // A repeated listing is answered whole from what is held or from the store.
    let (again, _) = cached.list_articles(&filter, 20, 119).await.unwrap();
    assert_eq!(again.len(), 1);
}

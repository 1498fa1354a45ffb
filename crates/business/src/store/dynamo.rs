//! DynamoDB adapter: one table, two global secondary indexes. The key design
//! and every access pattern are documented in docs/dynamodb.md; no request
//! path scans. Uniqueness (slugs) and exact counters (favorites, listing
//! counts) come from conditional writes inside transactions; updates carry
//! the version they started from (optimistic concurrency).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::{HashMap, HashSet};

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TransactWriteItem, Update,
};

use super::{
    Article, ArticleChanges, ArticleFilter, ArticleStore, Comment, NewArticle, StoreError,
    StoreResult,
};
use crate::config::DynamoConfig;
use crate::domain::{ArticleBody, CommentBody, Description, Tags, Title};

type Item = HashMap<String, AttributeValue>;

const META: &str = "#META";
const BATCH_GET_MAX: usize = 100;
const QUERY_PAGE: i32 = 100;
/// A listing that no counter answers (filters combined, favorites of a
/// user) reads at most this many items; its total then says at most this
/// many (docs/dynamodb.md).
pub const SCAN_CAP: usize = 10_000;
/// A feed merges the newest articles of at most this many followed authors.
pub const FEED_AUTHORS: usize = 500;

pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Zero-padded so that string order is time order.
fn time_key(ms: i64, id: &str) -> String {
    format!("{ms:015}#{id}")
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn article_key(id: &str) -> Item {
    key(format!("ART#{id}"), META)
}

fn get_s(item: &Item, name: &str) -> StoreResult<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "item lacks string attribute {name}"
        ))),
    }
}

fn get_n(item: &Item, name: &str) -> StoreResult<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|e| StoreError::Other(anyhow::anyhow!("attribute {name}: {e}"))),
        None => Ok(0),
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "attribute {name} is not a number"
        ))),
    }
}

fn article_from(item: &Item) -> StoreResult<Article> {
    let tags = match item.get("tags") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| {
                if let AttributeValue::S(t) = v {
                    Some(t.clone())
                } else {
                    None
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Article {
        id: get_s(item, "id")?,
        slug: get_s(item, "slug")?,
        author_id: get_s(item, "author_id")?,
        title: get_s(item, "title")?,
        description: get_s(item, "description")?,
        body: get_s(item, "body")?,
        tags,
        favorites_count: get_n(item, "favorites_count")?,
        version: get_n(item, "version")?,
        created_at: get_n(item, "created_at")?,
        updated_at: get_n(item, "updated_at")?,
    })
}

fn comment_from(item: &Item) -> StoreResult<Comment> {
    Ok(Comment {
        id: get_n(item, "comment_id")?,
        article_id: get_s(item, "article_id")?,
        author_id: get_s(item, "author_id")?,
        body: get_s(item, "body")?,
        created_at: get_n(item, "created_at")?,
        updated_at: get_n(item, "updated_at")?,
    })
}

fn other<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Other(anyhow::Error::new(e))
}

/// Which items of a cancelled transaction failed their condition.
fn failed_conditions(e: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    let TransactWriteItemsError::TransactionCanceledException(cancel) = e.as_service_error()?
    else {
        return None;
    };
    Some(
        cancel
            .cancellation_reasons()
            .iter()
            .map(|r| r.code() == Some("ConditionalCheckFailed"))
            .collect(),
    )
}

/// One counter change as a transaction item.
fn add(
    table: &str,
    pk: impl Into<String>,
    sk: impl Into<String>,
    delta: i64,
) -> StoreResult<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key(pk, sk)))
                .update_expression("ADD n :d")
                .expression_attribute_values(":d", n(delta))
                .build()
                .map_err(other)?,
        )
        .build())
}

fn put(table: &str, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_owned))
                .build()
                .map_err(other)?,
        )
        .build())
}

fn delete(table: &str, key: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(condition.map(str::to_owned))
                .build()
                .map_err(other)?,
        )
        .build())
}

/// Tag membership items and tag-registry counters for `tags` of an article.
fn tag_items(
    table: &str,
    article: &Article,
    tags: &[String],
    adding: bool,
) -> StoreResult<Vec<TransactWriteItem>> {
    let mut items = Vec::with_capacity(tags.len() * 2);
    for tag in tags {
        let sk = time_key(article.created_at, &article.id);
        if adding {
            let mut item = key(format!("TAG#{tag}"), sk);
            item.insert("article_id".into(), s(&article.id));
            items.push(put(table, item, None)?);
        } else {
            items.push(delete(table, key(format!("TAG#{tag}"), sk), None)?);
        }
        items.push(add(
            table,
            "TAGS",
            tag.clone(),
            if adding { 1 } else { -1 },
        )?);
    }
    Ok(items)
}

/// Where a listing reads its article ids from, newest first.
enum Source {
    /// A GSI whose items are whole articles.
    Index {
        index: &'static str,
        pk_attr: &'static str,
        pk: String,
    },
    /// Membership items in the main table (`article_id` attribute).
    Members { pk: String },
}

impl DynamoStore {
    pub async fn open(config: &DynamoConfig) -> anyhow::Result<Self> {
        let region =
            aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1");
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(region)
            .load()
            .await;
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        Self::with_client(Client::from_conf(builder.build()), config).await
    }

    /// With a client configured elsewhere (tests, custom credentials).
    pub async fn with_client(client: Client, config: &DynamoConfig) -> anyhow::Result<Self> {
        let store = Self {
            client,
            table: config.table.clone(),
        };
        if config.create_table {
            store.create_table().await?;
        }
        store
            .client
            .describe_table()
            .table_name(&store.table)
            .send()
            .await
            .with_context(|| {
                format!(
                    "business.dynamodb.table: table {} is not reachable",
                    store.table
                )
            })?;
        Ok(store)
    }

    /// The table as docs/dynamodb.md and deploy/terraform define it; an existing table is kept.
    async fn create_table(&self) -> anyhow::Result<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let schema = |hash: &str, range: &str| -> anyhow::Result<Vec<KeySchemaElement>> {
            Ok(vec![
                KeySchemaElement::builder()
                    .attribute_name(hash)
                    .key_type(KeyType::Hash)
                    .build()?,
                KeySchemaElement::builder()
                    .attribute_name(range)
                    .key_type(KeyType::Range)
                    .build()?,
            ])
        };
        let gsi = |name: &str, hash: &str, range: &str| -> anyhow::Result<GlobalSecondaryIndex> {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(schema(hash, range)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?)
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(vec![
                attr("pk")?,
                attr("sk")?,
                attr("gsi1pk")?,
                attr("gsi1sk")?,
                attr("gsi2pk")?,
                attr("gsi2sk")?,
            ]))
            .set_key_schema(Some(schema("pk", "sk")?))
            .global_secondary_indexes(gsi("gsi1", "gsi1pk", "gsi1sk")?)
            .global_secondary_indexes(gsi("gsi2", "gsi2pk", "gsi2sk")?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e).context("business.dynamodb.create_table")),
        }
    }

    async fn get(&self, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(other)?;
        Ok(out.item)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(drop)
    }

    async fn counter(&self, pk: &str, sk: &str) -> StoreResult<i64> {
        Ok(match self.get(key(pk, sk)).await? {
            Some(item) => get_n(&item, "n")?,
            None => 0,
        })
    }

    async fn article_by_id(&self, id: &str) -> StoreResult<Option<Article>> {
        self.get(article_key(id))
            .await?
            .as_ref()
            .map(article_from)
            .transpose()
    }

    /// Items by key, any number, in the order of `keys` (missing ones skipped).
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found: Vec<Item> = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .build()
                    .map_err(other)?,
            );
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(other)?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        let position = |item: &Item| {
            keys.iter()
                .position(|k| k.get("pk") == item.get("pk") && k.get("sk") == item.get("sk"))
        };
        found.sort_by_key(|item| position(item).unwrap_or(usize::MAX));
        Ok(found)
    }

    /// Pages through `source` newest first, calling `keep` for each item until it returns false.
    async fn scan_source(
        &self,
        source: &Source,
        mut keep: impl FnMut(Item) -> bool,
    ) -> StoreResult<()> {
        let mut start: Option<Item> = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .scan_index_forward(false)
                .limit(QUERY_PAGE);
            let query = match source {
                Source::Index { index, pk_attr, pk } => query
                    .index_name(*index)
                    .key_condition_expression(format!("{pk_attr} = :pk"))
                    .expression_attribute_values(":pk", s(pk)),
                Source::Members { pk } => query
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(pk)),
            };
            let out = query
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(other)?;
            for item in out.items.unwrap_or_default() {
                if !keep(item) {
                    return Ok(());
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(()),
            }
        }
    }

    /// Articles of `source`, newest first, that pass `extra`: the page and
    /// the total. With a `counted` total the scan stops after the page;
    /// without, it reads at most [`SCAN_CAP`] items and the total says at
    /// most that many.
    async fn list_source(
        &self,
        source: &Source,
        extra: &(dyn Fn(&Article) -> bool + Sync),
        counted: Option<i64>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<Article>, u64)> {
        let (limit, offset) = (limit as usize, offset as usize);
        let members = matches!(source, Source::Members { .. });
        let mut ids: Vec<String> = Vec::new();
        let mut page: Vec<Article> = Vec::new();
        let mut matched = 0usize;
        let mut failure = None;
        // With a counter the scan stops after the page; otherwise it counts, up to the cap.
        let stop_at = counted.map(|_| offset + limit);
        let mut seen = 0usize;
        self.scan_source(source, |item| {
            seen += 1;
            if counted.is_none() && seen > SCAN_CAP {
                return false;
            }
            if members {
                match get_s(&item, "article_id") {
                    Ok(id) => ids.push(id),
                    Err(e) => failure = Some(e),
                }
                return stop_at.is_none_or(|stop| ids.len() < stop) && failure.is_none();
            }
            match article_from(&item) {
                Ok(article) if extra(&article) => {
                    if matched >= offset && page.len() < limit {
                        page.push(article);
                    }
                    matched += 1;
                }
                Ok(_) => {}
                Err(e) => failure = Some(e),
            }
            stop_at.is_none_or(|stop| matched < stop) && failure.is_none()
        })
        .await?;
        if let Some(e) = failure {
            return Err(e);
        }
        if members {
            let articles = self
                .batch_get(ids.iter().map(|id| article_key(id)).collect())
                .await?
                .iter()
                .map(article_from)
                .collect::<StoreResult<Vec<_>>>()?;
            let passing: Vec<Article> = articles.into_iter().filter(|a| extra(a)).collect();
            matched = passing.len();
            page = passing.into_iter().skip(offset).take(limit).collect();
        }
        let total = counted.map_or(matched as u64, |c| u64::try_from(c).unwrap_or(0));
        Ok((page, total))
    }
}

#[async_trait]
impl ArticleStore for DynamoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn tags(&self) -> StoreResult<Vec<String>> {
        let mut tags = Vec::new();
        let mut failure = None;
        self.scan_source(&Source::Members { pk: "TAGS".into() }, |item| {
            match (get_s(&item, "sk"), get_n(&item, "n")) {
                (Ok(tag), Ok(count)) if count > 0 => tags.push(tag),
                (Err(e), _) | (_, Err(e)) => failure = Some(e),
                _ => {}
            }
            failure.is_none()
        })
        .await?;
        if let Some(e) = failure {
            return Err(e);
        }
        tags.sort();
        Ok(tags)
    }

    async fn create_article(&self, new: NewArticle) -> StoreResult<Article> {
        let article = new.into_article();
        let order = time_key(article.created_at, &article.id);
        let mut item = article_key(&article.id);
        for (name, value) in [
            ("id", s(&article.id)),
            ("slug", s(&article.slug)),
            ("author_id", s(&article.author_id)),
            ("title", s(&article.title)),
            ("description", s(&article.description)),
            ("body", s(&article.body)),
            (
                "tags",
                AttributeValue::L(article.tags.iter().map(s).collect()),
            ),
            ("favorites_count", n(0)),
            ("version", n(1)),
            ("created_at", n(article.created_at)),
            ("updated_at", n(article.updated_at)),
            ("gsi1pk", s("ALL")),
            ("gsi1sk", s(&order)),
            ("gsi2pk", s(format!("AUTHOR#{}", article.author_id))),
            ("gsi2sk", s(&order)),
        ] {
            item.insert(name.to_owned(), value);
        }
        let mut slug_item = key(format!("SLUG#{}", article.slug), META);
        slug_item.insert("article_id".into(), s(&article.id));
        let mut items = vec![
            put(&self.table, slug_item, Some("attribute_not_exists(pk)"))?,
            put(&self.table, item, Some("attribute_not_exists(pk)"))?,
            add(&self.table, "COUNT", "ARTICLES", 1)?,
            add(
                &self.table,
                "COUNT",
                format!("AUTHOR#{}", article.author_id),
                1,
            )?,
        ];
        items.extend(tag_items(&self.table, &article, &article.tags, true)?);
        match self.transact(items).await {
            Ok(()) => Ok(article),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => {
                Err(StoreError::Duplicate)
            }
            Err(e) => Err(other(e)),
        }
    }

    async fn article_by_slug(&self, slug: &str) -> StoreResult<Option<Article>> {
        match self.get(key(format!("SLUG#{slug}"), META)).await? {
            Some(item) => self.article_by_id(&get_s(&item, "article_id")?).await,
            None => Ok(None),
        }
    }

    async fn update_article(
        &self,
        id: &str,
        expected_version: i64,
        changes: ArticleChanges,
        now: i64,
    ) -> StoreResult<Article> {
        let Some(current) = self.article_by_id(id).await? else {
            return Err(StoreError::NotFound);
        };
        if current.version != expected_version {
            return Err(StoreError::Conflict);
        }
        let mut sets = vec!["version = version + :one", "updated_at = :now"];
        let mut values: Item = HashMap::from([
            (":one".to_owned(), n(1)),
            (":now".to_owned(), n(now.max(current.updated_at + 1))),
            (":expected".to_owned(), n(expected_version)),
        ]);
        for (field, placeholder, value) in [
            ("title", ":title", changes.title.as_ref().map(Title::as_str)),
            (
                "description",
                ":description",
                changes.description.as_ref().map(Description::as_str),
            ),
            (
                "body",
                ":body",
                changes.body.as_ref().map(ArticleBody::as_str),
            ),
        ] {
            if let Some(value) = value {
                sets.push(match field {
                    "title" => "title = :title",
                    "description" => "description = :description",
                    _ => "body = :body",
                });
                values.insert(placeholder.to_owned(), s(value));
            }
        }
        let mut items = Vec::new();
        if let Some(tags) = changes.tags.as_ref().map(Tags::as_slice) {
            sets.push("tags = :tags");
            values.insert(
                ":tags".into(),
                AttributeValue::L(tags.iter().map(s).collect()),
            );
            let removed: Vec<String> = current
                .tags
                .iter()
                .filter(|t| !tags.contains(t))
                .cloned()
                .collect();
            let added: Vec<String> = tags
                .iter()
                .filter(|t| !current.tags.contains(t))
                .cloned()
                .collect();
            items.extend(tag_items(&self.table, &current, &removed, false)?);
            items.extend(tag_items(&self.table, &current, &added, true)?);
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(article_key(id)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("version = :expected")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(other)?;
        items.insert(0, TransactWriteItem::builder().update(update).build());
        match self.transact(items).await {
            Ok(()) => self.article_by_id(id).await?.ok_or(StoreError::NotFound),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => {
                Err(if self.article_by_id(id).await?.is_some() {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                })
            }
            // Another writer's transaction on the same items: the loser of the race.
            Err(e) if failed_conditions(&e).is_some() => Err(StoreError::Conflict),
            Err(e) => Err(other(e)),
        }
    }

    async fn delete_article(&self, id: &str) -> StoreResult<()> {
        let Some(article) = self.article_by_id(id).await? else {
            return Ok(());
        };
        let mut items = vec![
            delete(&self.table, article_key(id), Some("attribute_exists(pk)"))?,
            delete(
                &self.table,
                key(format!("SLUG#{}", article.slug), META),
                None,
            )?,
            add(&self.table, "COUNT", "ARTICLES", -1)?,
            add(
                &self.table,
                "COUNT",
                format!("AUTHOR#{}", article.author_id),
                -1,
            )?,
        ];
        items.extend(tag_items(&self.table, &article, &article.tags, false)?);
        match self.transact(items).await {
            Ok(()) => {}
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => {
                return Ok(());
            }
            Err(e) => return Err(other(e)),
        }
        // Dependents (favorites, comments): gone from every read already,
        // since each read goes through the article item; now removed.
        let mut dependents: Vec<Item> = Vec::new();
        self.scan_source(
            &Source::Members {
                pk: format!("ART#{id}"),
            },
            |item| {
                dependents.push(item);
                true
            },
        )
        .await?;
        let order = time_key(article.created_at, id);
        for item in dependents {
            let sk = get_s(&item, "sk")?;
            let mut batch = vec![delete(
                &self.table,
                key(format!("ART#{id}"), sk.clone()),
                None,
            )?];
            if let Some(user) = sk.strip_prefix("FAV#") {
                batch.push(delete(
                    &self.table,
                    key(format!("USERFAV#{user}"), order.clone()),
                    None,
                )?);
                batch.push(add(&self.table, "COUNT", format!("USERFAV#{user}"), -1)?);
            }
            self.transact(batch).await.map_err(other)?;
        }
        Ok(())
    }

    async fn list_articles(
        &self,
        filter: &ArticleFilter,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<Article>, u64)> {
        if let Some(follower) = &filter.followed_by {
            // The feed: merge each followed author's newest articles (of at
            // most FEED_AUTHORS authors, each read no further than the page).
            let mut followees: Vec<String> = Vec::new();
            self.scan_source(
                &Source::Members {
                    pk: format!("FOLLOWS#{follower}"),
                },
                |item| {
                    if let Ok(sk) = get_s(&item, "sk") {
                        followees.push(sk);
                    }
                    followees.len() < FEED_AUTHORS
                },
            )
            .await?;
            // Only the keys of the newest offset+limit are kept while the
            // authors are read, one at a time; the page is fetched at the end.
            let keep = (offset + limit) as usize;
            let mut newest: BinaryHeap<Reverse<(i64, String)>> =
                BinaryHeap::with_capacity(keep + 1);
            let mut total = 0u64;
            for author in &followees {
                let source = Source::Index {
                    index: "gsi2",
                    pk_attr: "gsi2pk",
                    pk: format!("AUTHOR#{author}"),
                };
                let only = ArticleFilter {
                    followed_by: None,
                    ..filter.clone()
                };
                let counted = if only.tag.is_none() && only.favorited_by.is_none() {
                    Some(self.counter("COUNT", &format!("AUTHOR#{author}")).await?)
                } else {
                    None
                };
                let (page, count) = self
                    .list_source(
                        &source,
                        &|a: &Article| matches_rest(a, &only),
                        counted,
                        offset + limit,
                        0,
                    )
                    .await?;
                total += count;
                for article in page {
                    newest.push(Reverse((article.created_at, article.id)));
                    if newest.len() > keep {
                        newest.pop();
                    }
                }
            }
            // Newest first, as the listings are.
            let mut keys: Vec<(i64, String)> = newest.into_iter().map(|Reverse(key)| key).collect();
            keys.sort_by(|a, b| b.cmp(a));
            let ids: Vec<Item> = keys
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .map(|(_, id)| article_key(id))
                .collect();
            let page = self
                .batch_get(ids)
                .await?
                .iter()
                .map(article_from)
                .collect::<StoreResult<Vec<_>>>()?;
            return Ok((page, total));
        }
        let rest = filter.clone();
        let (source, counter, remaining) = if let Some(user) = &filter.favorited_by {
            let source = Source::Members {
                pk: format!("USERFAV#{user}"),
            };
            (
                source,
                ("COUNT", format!("USERFAV#{user}")),
                ArticleFilter {
                    favorited_by: None,
                    ..rest
                },
            )
        } else if let Some(author) = &filter.author_id {
            let source = Source::Index {
                index: "gsi2",
                pk_attr: "gsi2pk",
                pk: format!("AUTHOR#{author}"),
            };
            (
                source,
                ("COUNT", format!("AUTHOR#{author}")),
                ArticleFilter {
                    author_id: None,
                    ..rest
                },
            )
        } else if let Some(tag) = &filter.tag {
            (
                Source::Members {
                    pk: format!("TAG#{tag}"),
                },
                ("TAGS", tag.clone()),
                ArticleFilter { tag: None, ..rest },
            )
        } else {
            (
                Source::Index {
                    index: "gsi1",
                    pk_attr: "gsi1pk",
                    pk: "ALL".into(),
                },
                ("COUNT", "ARTICLES".into()),
                rest,
            )
        };
        let unfiltered = remaining.tag.is_none()
            && remaining.author_id.is_none()
            && remaining.favorited_by.is_none();
        let counted = if unfiltered {
            Some(self.counter(counter.0, &counter.1).await?)
        } else {
            None
        };
        self.list_source(
            &source,
            &|a: &Article| matches_rest(a, &remaining),
            counted,
            limit,
            offset,
        )
        .await
    }

    async fn favorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64> {
        let Some(article) = self.article_by_id(article_id).await? else {
            return Err(StoreError::NotFound);
        };
        let mut mine = key(
            format!("USERFAV#{user_id}"),
            time_key(article.created_at, article_id),
        );
        mine.insert("article_id".into(), s(article_id));
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(article_key(article_id)))
            .update_expression("ADD favorites_count :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(other)?;
        let items = vec![
            put(
                &self.table,
                key(format!("ART#{article_id}"), format!("FAV#{user_id}")),
                Some("attribute_not_exists(pk)"),
            )?,
            put(&self.table, mine, None)?,
            TransactWriteItem::builder().update(count).build(),
            add(&self.table, "COUNT", format!("USERFAV#{user_id}"), 1)?,
        ];
        match self.transact(items).await {
            Ok(()) => {}
            // Already favorited: idempotent.
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => {}
            Err(e) if failed_conditions(&e).is_some_and(|f| f.get(2) == Some(&true)) => {
                return Err(StoreError::NotFound);
            }
            Err(e) if failed_conditions(&e).is_some() => {
                return Box::pin(self.favorite(user_id, article_id)).await;
            }
            Err(e) => return Err(other(e)),
        }
        Ok(self
            .article_by_id(article_id)
            .await?
            .ok_or(StoreError::NotFound)?
            .favorites_count)
    }

    async fn unfavorite(&self, user_id: &str, article_id: &str) -> StoreResult<i64> {
        let Some(article) = self.article_by_id(article_id).await? else {
            return Err(StoreError::NotFound);
        };
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(article_key(article_id)))
            .update_expression("ADD favorites_count :minus")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":minus", n(-1))
            .build()
            .map_err(other)?;
        let items = vec![
            delete(
                &self.table,
                key(format!("ART#{article_id}"), format!("FAV#{user_id}")),
                Some("attribute_exists(pk)"),
            )?,
            delete(
                &self.table,
                key(
                    format!("USERFAV#{user_id}"),
                    time_key(article.created_at, article_id),
                ),
                None,
            )?,
            TransactWriteItem::builder().update(count).build(),
            add(&self.table, "COUNT", format!("USERFAV#{user_id}"), -1)?,
        ];
        match self.transact(items).await {
            Ok(()) => {}
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => {}
            Err(e) if failed_conditions(&e).is_some_and(|f| f.get(2) == Some(&true)) => {
                return Err(StoreError::NotFound);
            }
            Err(e) if failed_conditions(&e).is_some() => {
                return Box::pin(self.unfavorite(user_id, article_id)).await;
            }
            Err(e) => return Err(other(e)),
        }
        Ok(self
            .article_by_id(article_id)
            .await?
            .ok_or(StoreError::NotFound)?
            .favorites_count)
    }

    async fn favorited(
        &self,
        user_id: &str,
        article_ids: &[String],
    ) -> StoreResult<HashSet<String>> {
        let keys = article_ids
            .iter()
            .map(|id| key(format!("ART#{id}"), format!("FAV#{user_id}")))
            .collect();
        self.batch_get(keys)
            .await?
            .iter()
            .map(|item| get_s(item, "pk").map(|pk| pk.trim_start_matches("ART#").to_owned()))
            .collect()
    }

    async fn follow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(key(format!("FOLLOWS#{follower_id}"), followee_id)))
            .send()
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn unfollow(&self, follower_id: &str, followee_id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("FOLLOWS#{follower_id}"), followee_id)))
            .send()
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn following(
        &self,
        follower_id: &str,
        followee_ids: &[String],
    ) -> StoreResult<HashSet<String>> {
        let keys = followee_ids
            .iter()
            .map(|id| key(format!("FOLLOWS#{follower_id}"), id.clone()))
            .collect();
        self.batch_get(keys)
            .await?
            .iter()
            .map(|item| get_s(item, "sk"))
            .collect()
    }

    async fn add_comment(
        &self,
        article_id: &str,
        author_id: &str,
        body: &CommentBody,
        now: i64,
    ) -> StoreResult<Comment> {
        // Comment ids come from one atomic counter, as the API wants integers.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key("COUNT", "COMMENT_ID")))
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(other)?;
        let id = get_n(&out.attributes.unwrap_or_default(), "n")?;
        let comment = Comment {
            id,
            article_id: article_id.to_owned(),
            author_id: author_id.to_owned(),
            body: body.as_str().to_owned(),
            created_at: now,
            updated_at: now,
        };
        let mut item = key(format!("ART#{article_id}"), format!("CMT#{id:020}"));
        for (name, value) in [
            ("comment_id", n(id)),
            ("article_id", s(article_id)),
            ("author_id", s(author_id)),
            ("body", s(body.as_str())),
            ("created_at", n(now)),
            ("updated_at", n(now)),
        ] {
            item.insert(name.to_owned(), value);
        }
        let exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(article_key(article_id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(other)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(exists).build(),
            put(&self.table, item, None)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(comment),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(other(e)),
        }
    }

    async fn comments(
        &self,
        article_id: &str,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<Comment>> {
        // Page by page (a query answers at most 1 MB), reading no more than
        // the comments asked for and those skipped before them.
        let wanted = (offset + limit) as usize;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(format!("ART#{article_id}")))
                .expression_attribute_values(":prefix", s("CMT#"))
                .limit(i32::try_from(wanted - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(other)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && items.len() < wanted => start = Some(key),
                _ => break,
            }
        }
        items
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(comment_from)
            .collect()
    }

    async fn comment(&self, article_id: &str, id: i64) -> StoreResult<Option<Comment>> {
        self.get(key(format!("ART#{article_id}"), format!("CMT#{id:020}")))
            .await?
            .as_ref()
            .map(comment_from)
            .transpose()
    }

    async fn delete_comment(&self, article_id: &str, id: i64) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("ART#{article_id}"),
                format!("CMT#{id:020}"),
            )))
            .send()
            .await
            .map_err(other)?;
        Ok(())
    }
}

/// The filters a listing source did not already apply.
fn matches_rest(article: &Article, filter: &ArticleFilter) -> bool {
    filter.tag.as_ref().is_none_or(|t| article.tags.contains(t))
        && filter
            .author_id
            .as_ref()
            .is_none_or(|a| &article.author_id == a)
}

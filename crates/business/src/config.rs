//! `[business]` configuration section.

use std::net::SocketAddr;
use std::path::PathBuf;

use platform::config::{ConfigError, Validate};
use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where `cloudsec serve business` listens (`cloudsec up` picks a free loopback port).
    pub listen: SocketAddr,
    pub store: StoreKind,
    pub sqlite: SqliteConfig,
    pub dynamodb: DynamoConfig,
    /// The auth service, for its JWKS, introspection and profile lookup
    /// (`cloudsec up` points it at the embedded auth service).
    pub auth_url: Url,
    pub token_validation: TokenValidation,
    /// How long a looked-up profile is served from cache before asking auth again.
    pub profile_cache_ttl_ms: u64,
    /// Serve tag list, articles by slug and listing pages from the read cache.
    pub read_cache: bool,
    /// Memory the read cache may hold, in bytes (articles, tag lists, pages, slugs).
    pub read_cache_bytes: u64,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8082)),
            store: StoreKind::Sqlite,
            sqlite: SqliteConfig::default(),
            dynamodb: DynamoConfig::default(),
            auth_url: gateway_free_default(),
            token_validation: TokenValidation::Local,
            profile_cache_ttl_ms: 2000,
            read_cache: true,
            read_cache_bytes: 64 << 20,
            limits: Limits::default(),
        }
    }
}

fn gateway_free_default() -> Url {
    #[allow(clippy::expect_used)] // a literal URL always parses
    Url::parse("http://127.0.0.1:8081/").expect("literal URL")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Dynamodb,
}

/// `[business.dynamodb]`: the table (see docs/dynamodb.md). Region and
/// credentials come from the standard AWS chain (env, profile, IRSA, IMDS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamoConfig {
    pub table: String,
    /// Endpoint override, e.g. a local DynamoDB or moto server.
    pub endpoint: Option<Url>,
    /// Create the table (and its indexes) at start when missing.
    pub create_table: bool,
}

impl Default for DynamoConfig {
    fn default() -> Self {
        Self {
            table: "cloudsec-conduit".into(),
            endpoint: None,
            create_table: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenValidation {
    /// Verify signatures locally against auth's JWKS, check the deny-list.
    Local,
    /// Ask auth for every token (RFC 7662).
    Introspect,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteConfig {
    /// Database file; default `<data_dir>/business.db`.
    pub path: Option<PathBuf>,
}

/// Input limits. Section `[business.limits]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub title_chars: usize,
    pub description_chars: usize,
    pub body_chars: usize,
    pub comment_chars: usize,
    pub tags_per_article: usize,
    pub tag_chars: usize,
    /// Largest request body accepted, in bytes.
    pub request_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            title_chars: 256,
            description_chars: 1024,
            body_chars: 65_536,
            comment_chars: 8192,
            tags_per_article: 20,
            tag_chars: 64,
            request_body_bytes: 256 * 1024,
        }
    }
}

impl Validate for Config {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !matches!(self.auth_url.scheme(), "http" | "https") {
            errors.push(ConfigError::new(
                "business.auth_url",
                "must be an http(s) URL",
            ));
        }
        let table_ok = (3..=255).contains(&self.dynamodb.table.len())
            && self
                .dynamodb
                .table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !table_ok {
            errors.push(ConfigError::new(
                "business.dynamodb.table",
                "must be 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'",
            ));
        }
        if !(1 << 20..=16 << 30).contains(&self.read_cache_bytes) {
            errors.push(ConfigError::new(
                "business.read_cache_bytes",
                "must be between 1048576 (1 MiB) and 17179869184 (16 GiB)",
            ));
        }
        if self.profile_cache_ttl_ms > 3_600_000 {
            errors.push(ConfigError::new(
                "business.profile_cache_ttl_ms",
                "must be at most 3600000",
            ));
        }
        let l = &self.limits;
        for (key, value, max) in [
            ("business.limits.title_chars", l.title_chars, 10_000),
            (
                "business.limits.description_chars",
                l.description_chars,
                100_000,
            ),
            ("business.limits.body_chars", l.body_chars, 1_000_000),
            ("business.limits.comment_chars", l.comment_chars, 100_000),
            ("business.limits.tags_per_article", l.tags_per_article, 1000),
            ("business.limits.tag_chars", l.tag_chars, 1000),
            (
                "business.limits.request_body_bytes",
                l.request_body_bytes,
                16 * 1024 * 1024,
            ),
        ] {
            if value == 0 || value > max {
                errors.push(ConfigError::new(
                    key,
                    format!("must be between 1 and {max}"),
                ));
            }
        }
    }
}

//! `[gateway]` configuration section.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use platform::config::{ConfigError, Validate};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on (`--port`); 0 picks a free one.
    pub port: u16,
    /// Where `/metrics` is served: never on the public port. Port 0 picks a
    /// free one (announced on stdout); set a fixed one to scrape it.
    pub metrics_listen: std::net::SocketAddr,
    /// Threads serving the gateway's connections, each with its own event
    /// loop; 0: one per CPU.
    pub worker_threads: usize,
    pub upstreams: Upstreams,
    /// Frontend static export to serve for every non-API path (SPA fallback to `index.html`).
    pub static_dir: Option<PathBuf>,
    /// How often each upstream endpoint's `/readyz` is probed.
    pub health_check_interval_ms: u64,
    /// Upper bound for one upstream exchange (response headers).
    pub upstream_timeout_secs: u64,
    /// Per-route overrides of `upstream_timeout_secs`: path prefix →
    /// seconds, the longest matching prefix wins (e.g. `"/api/users/login" = 10`).
    pub route_timeouts: std::collections::BTreeMap<String, u64>,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed, e.g. the load
    /// balancer's subnets; empty: the socket peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    pub limits: Limits,
    pub rate_limit: RateLimitConfig,
    pub cors: CorsConfig,
    pub waf: WafConfig,
    pub tls: TlsConfig,
}

/// `[gateway.tls]`: HTTPS on the gateway's port. Unset: plain HTTP (behind a
/// load balancer that terminates TLS, or on a laptop).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Generate (once) and use a certificate for localhost; published as
    /// `<data_dir>/gateway-cert.pem` for clients to trust.
    pub self_signed: bool,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert_file.is_some()
    }
}

/// `[gateway.waf]`: the web application firewall.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WafConfig {
    pub enabled: bool,
    /// Clients (CIDRs) exempt from the content rules, e.g. an internal
    /// scanner the security team runs; they are still rate limited.
    pub allow_ips: Vec<IpNet>,
    /// Clients (CIDRs) refused outright (group `ip_deny`).
    pub deny_ips: Vec<IpNet>,
    pub modes: WafModes,
    /// 1: the rules that keep prose, markdown and code passing; 2: also
    /// rules that find attack text anywhere in a value, for APIs whose
    /// values are never prose (docs/security.md has the trade-off).
    pub paranoia_level: u8,
}

impl Default for WafConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_ips: Vec::new(),
            deny_ips: Vec::new(),
            modes: WafModes::default(),
            paranoia_level: 1,
        }
    }
}

/// What a rule group does when one of its rules matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WafMode {
    /// Refuse the request (403).
    #[default]
    Block,
    /// Let it through; log and count the match (for tuning a rule group).
    Count,
    /// Do not evaluate the group.
    Off,
}

/// `[gateway.waf.modes]`: one mode per rule group.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WafModes {
    pub sqli: WafMode,
    pub xss: WafMode,
    pub traversal: WafMode,
    pub command_injection: WafMode,
    pub php_injection: WafMode,
    pub java_injection: WafMode,
    pub nodejs_injection: WafMode,
    pub template_injection: WafMode,
    pub protocol: WafMode,
    pub scanners: WafMode,
    pub ip_deny: WafMode,
}

/// `[gateway.cors]`: browser origins other than the gateway's own that may
/// call the API (with credentials). Empty: same-origin only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins, e.g. `https://app.example.com`; `*` is refused (credentials).
    pub allowed_origins: Vec<String>,
}

/// `[gateway.limits]`: protocol limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest path and query (414 beyond).
    pub uri_bytes: usize,
    /// Largest sum of header names and values (431 beyond).
    pub header_bytes: usize,
    /// Largest request body (413 beyond).
    pub body_bytes: usize,
    /// Time a client has to send a request head (and finish the TLS
    /// handshake) before the connection is closed: the slowloris guard.
    pub header_read_timeout_ms: u64,
    /// Longest pause while a request body arrives, and the most time the WAF
    /// waits for a whole body it inspects (408 beyond).
    pub body_read_timeout_ms: u64,
    /// A client connection on which no request starts for this long is
    /// closed (an idle HTTP/2 connection would stay open for ever).
    pub idle_timeout_secs: u64,
    /// Open client connections at most; more are closed at once.
    pub max_connections: usize,
    /// Open connections per client address (IPv6: per /64) at most; 0: no
    /// cap. `trusted_proxies` count only towards the total.
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            uri_bytes: 8 * 1024,
            header_bytes: 32 * 1024,
            body_bytes: 1024 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            idle_timeout_secs: 75,
            max_connections: 10_000,
            max_connections_per_ip: 256,
        }
    }
}

/// A GCRA rate: a steady rate and the burst allowed on top.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// `[gateway.rate_limit]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Every request, per client IP.
    pub per_ip: Rate,
    /// `POST /api/users/login`, `POST /api/users`, `POST /auth/token`, per client IP.
    pub credentials_per_ip: Rate,
    /// Requests with a valid token, per user.
    pub per_subject: Rate,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip: Rate {
                per_second: 200,
                burst: 400,
            },
            credentials_per_ip: Rate {
                per_second: 2,
                burst: 50,
            },
            per_subject: Rate {
                per_second: 100,
                burst: 200,
            },
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            metrics_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            worker_threads: 0,
            upstreams: Upstreams::default(),
            static_dir: None,
            health_check_interval_ms: 2000,
            upstream_timeout_secs: 30,
            route_timeouts: std::collections::BTreeMap::new(),
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            rate_limit: RateLimitConfig::default(),
            cors: CorsConfig::default(),
            waf: WafConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// Upstream clusters; unset means the defaults of `cloudsec serve` (auth on
/// 127.0.0.1:8081, business on 127.0.0.1:8082), or the embedded services
/// under `cloudsec up`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub auth: Option<UpstreamList>,
    pub business: Option<UpstreamList>,
}

impl Upstreams {
    pub fn auth_or_default(&self) -> Vec<Url> {
        self.auth
            .as_ref()
            .map_or_else(|| vec![default_url(8081)], |l| l.0.clone())
    }

    pub fn business_or_default(&self) -> Vec<Url> {
        self.business
            .as_ref()
            .map_or_else(|| vec![default_url(8082)], |l| l.0.clone())
    }
}

fn default_url(port: u16) -> Url {
    loopback_url(port)
}

/// `http://127.0.0.1:<port>/`.
pub fn loopback_url(port: u16) -> Url {
    #[allow(clippy::expect_used)] // a literal host with a u16 port always parses
    Url::parse(&format!("http://127.0.0.1:{port}/")).expect("loopback URL")
}

/// One or more `http://host:port` endpoints: a TOML array or a comma-separated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamList(pub Vec<Url>);

impl UpstreamList {
    fn parse_one(s: &str) -> Result<Url, String> {
        let url = Url::parse(s.trim()).map_err(|e| format!("{s:?}: {e}"))?;
        if url.scheme() != "http" || url.host().is_none() {
            return Err(format!("{s:?}: must be an http://host:port URL"));
        }
        if url.path() != "/" || url.query().is_some() {
            return Err(format!("{s:?}: must not have a path or query"));
        }
        Ok(url)
    }
}

impl Serialize for UpstreamList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let joined = self
            .0
            .iter()
            .map(|u| u.as_str().trim_end_matches('/'))
            .collect::<Vec<_>>()
            .join(",");
        s.serialize_str(&joined)
    }
}

impl<'de> Deserialize<'de> for UpstreamList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = UpstreamList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("comma-separated http:// URLs or an array of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UpstreamList, E> {
                let urls = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(UpstreamList::parse_one)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(E::custom)?;
                if urls.is_empty() {
                    return Err(E::custom("at least one URL is required"));
                }
                Ok(UpstreamList(urls))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UpstreamList, A::Error> {
                let mut urls = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    urls.push(UpstreamList::parse_one(&s).map_err(de::Error::custom)?);
                }
                if urls.is_empty() {
                    return Err(de::Error::custom("at least one URL is required"));
                }
                Ok(UpstreamList(urls))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

impl Validate for Config {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !(100..=60_000).contains(&self.health_check_interval_ms) {
            errors.push(ConfigError::new(
                "gateway.health_check_interval_ms",
                "must be between 100 and 60000",
            ));
        }
        if self.worker_threads > 1024 {
            errors.push(ConfigError::new(
                "gateway.worker_threads",
                "must be between 0 (one per CPU) and 1024",
            ));
        }
        if !(1..=2).contains(&self.waf.paranoia_level) {
            errors.push(ConfigError::new(
                "gateway.waf.paranoia_level",
                "must be 1 or 2",
            ));
        }
        if !(1..=600).contains(&self.upstream_timeout_secs) {
            errors.push(ConfigError::new(
                "gateway.upstream_timeout_secs",
                "must be between 1 and 600",
            ));
        }
        for (prefix, secs) in &self.route_timeouts {
            if !prefix.starts_with('/') || !(1..=600).contains(secs) {
                errors.push(ConfigError::new(
                    "gateway.route_timeouts",
                    format!(
                        "{prefix:?} = {secs}: a path prefix starting with / and 1 to 600 seconds"
                    ),
                ));
            } else if !crate::routes::covers_an_endpoint(prefix) {
                errors.push(ConfigError::new(
                    "gateway.route_timeouts",
                    format!(
                        "{prefix:?} covers no API route: a prefix of route patterns such as \
                         \"/api/articles\" or \"/api/articles/{{slug}}/comments\""
                    ),
                ));
            }
        }
        for (key, ms) in [
            (
                "gateway.limits.header_read_timeout_ms",
                self.limits.header_read_timeout_ms,
            ),
            (
                "gateway.limits.body_read_timeout_ms",
                self.limits.body_read_timeout_ms,
            ),
        ] {
            if !(100..=600_000).contains(&ms) {
                errors.push(ConfigError::new(key, "must be between 100 and 600000"));
            }
        }
        // A request in flight alone does not keep its connection open.
        let longest = self
            .route_timeouts
            .values()
            .copied()
            .chain([self.upstream_timeout_secs])
            .max()
            .unwrap_or(0);
        if self.limits.idle_timeout_secs <= longest || self.limits.idle_timeout_secs > 3600 {
            errors.push(ConfigError::new(
                "gateway.limits.idle_timeout_secs",
                format!(
                    "must be longer than the longest upstream timeout ({longest} s) and at most 3600"
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.limits.max_connections) {
            errors.push(ConfigError::new(
                "gateway.limits.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        if self.limits.max_connections_per_ip > self.limits.max_connections {
            errors.push(ConfigError::new(
                "gateway.limits.max_connections_per_ip",
                "must be at most gateway.limits.max_connections (0: no cap)",
            ));
        }
        let tls = &self.tls;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            errors.push(ConfigError::new(
                "gateway.tls.key_file",
                "cert_file and key_file are set together",
            ));
        }
        if tls.self_signed && tls.cert_file.is_some() {
            errors.push(ConfigError::new(
                "gateway.tls.self_signed",
                "conflicts with gateway.tls.cert_file",
            ));
        }
        for (key, file) in [
            ("gateway.tls.cert_file", &tls.cert_file),
            ("gateway.tls.key_file", &tls.key_file),
        ] {
            if let Some(path) = file
                && !path.is_file()
            {
                errors.push(ConfigError::new(
                    key,
                    format!("{} is not a readable file", path.display()),
                ));
            }
        }
        let l = &self.limits;
        for (key, value, range) in [
            ("gateway.limits.uri_bytes", l.uri_bytes, 256..=1024 * 1024),
            (
                "gateway.limits.header_bytes",
                l.header_bytes,
                1024..=1024 * 1024,
            ),
            (
                "gateway.limits.body_bytes",
                l.body_bytes,
                1024..=1024 * 1024 * 1024,
            ),
        ] {
            if !range.contains(&value) {
                errors.push(ConfigError::new(
                    key,
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        for origin in &self.cors.allowed_origins {
            let exact = Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && !origin.ends_with('/')
            });
            if !exact {
                errors.push(ConfigError::new(
                    "gateway.cors.allowed_origins",
                    format!("{origin:?} is not an origin like https://app.example.com"),
                ));
            }
        }
        let r = &self.rate_limit;
        for (key, rate) in [
            ("gateway.rate_limit.per_ip", r.per_ip),
            (
                "gateway.rate_limit.credentials_per_ip",
                r.credentials_per_ip,
            ),
            ("gateway.rate_limit.per_subject", r.per_subject),
        ] {
            if rate.per_second == 0 || rate.burst == 0 {
                errors.push(ConfigError::new(
                    key,
                    "per_second and burst must be at least 1",
                ));
            }
        }
        if let Some(dir) = &self.static_dir
            && !dir.join("index.html").is_file()
        {
            errors.push(ConfigError::new(
                "gateway.static_dir",
                format!("{} has no index.html", dir.display()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_list_accepts_commas_and_arrays() {
        let l: UpstreamList = serde_json::from_str("\"http://a:1, http://b:2\"").unwrap();
        assert_eq!(l.0.len(), 2);
        let l: UpstreamList = serde_json::from_str("[\"http://a:1\"]").unwrap();
        assert_eq!(l.0[0].as_str(), "http://a:1/");
    }

    #[test]
    fn upstream_list_rejects_paths_and_other_schemes() {
        assert!(serde_json::from_str::<UpstreamList>("\"http://a:1/x\"").is_err());
        assert!(serde_json::from_str::<UpstreamList>("\"ftp://a\"").is_err());
        assert!(serde_json::from_str::<UpstreamList>("\"\"").is_err());
    }

    #[test]
    fn defaults_point_at_serve_ports() {
        let u = Upstreams::default();
        assert_eq!(u.auth_or_default()[0].as_str(), "http://127.0.0.1:8081/");
        assert_eq!(
            u.business_or_default()[0].as_str(),
            "http://127.0.0.1:8082/"
        );
    }
}

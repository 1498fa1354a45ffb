//! The web application firewall: the AWS WAF of the embedded platform.
//!
//! Order of evaluation: the IP deny list, the IP allow list (allowed clients
//! skip the content rules), protocol anomalies in the request head, then the
//! content rules over every inspected value — path segments, query names and
//! values, headers, cookies and the body (JSON strings and keys, form
//! fields, or text) — each after the [`decode`] layers.
//!
//! Per-field policy: on the routes that write articles (the route table's
//! `Body::Markdown`), the contents of fenced code blocks in the article's
//! markdown `body` are not inspected ([`markdown`]).
//!
//! Each rule group has a mode (`block`, `count`, `off`). A match is logged
//! (rule, group, where; never the value) and counted in
//! `waf_rule_matches_total{group,rule,action}`; in `block` mode the client
//! gets a 403 problem with the request id and nothing else.

mod decode;
mod markdown;
mod protocol;
pub mod rules;

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use ipnet::IpNet;
use platform::http::problem::Problem;
use serde::de::DeserializeSeed as _;

use crate::config::{WafConfig, WafMode, WafModes};
use crate::routes::{self, Route};
use rules::{CompiledRules, Group};

/// JSON body fields never inspected: passwords are hashed, never
/// interpolated anywhere, and a strong one looks like an injection.
const UNINSPECTED_FIELDS: &[&str] = &["password", "current_password", "new_password"];

/// Headers with a fixed grammar the services parse strictly (or that carry
/// credentials checked elsewhere); every other header is inspected, and
/// cookies pair by pair. A `match`: the name's length narrows it to a few
/// candidates at once, where a list was compared entry by entry.
fn uninspected_header(name: &str) -> bool {
    matches!(
        name,
        "accept"
            | "accept-encoding"
            | "accept-language"
            | "authorization"
            | "cache-control"
            | "connection"
            | "content-length"
            | "content-type"
            | "host"
            | "if-modified-since"
            | "if-none-match"
            | "pragma"
            | "priority"
            | "te"
            | "traceparent"
            | "tracestate"
            | "transfer-encoding"
            | "upgrade-insecure-requests"
            | "x-amzn-trace-id"
            | "x-request-id"
    )
}

#[derive(Clone)]
pub struct Waf {
    inner: Arc<Inner>,
}

struct Inner {
    /// Which rule set a remembered verdict ([`CleanValues`]) is from.
    id: u64,
    enabled: bool,
    rules: CompiledRules,
    modes: WafModes,
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    body_limit: usize,
    body_deadline: std::time::Duration,
    /// Bytes of bodies held for inspection at once, at most (see
    /// [`read_within_budget`]).
    held_bytes: tokio::sync::Semaphore,
    /// Large bodies inspected at once on the blocking pool: one per core.
    inspecting: tokio::sync::Semaphore,
}

/// Values a rule set was run over and matched nothing, remembered per event
/// loop thread: the same paths, path segments and header values (user
/// agents, origins) come back on request after request, and the verdict on
/// a value depends on the value and the rule set alone. A hit costs a hash;
/// the rules cost about a microsecond per value (docs/benchmarks.md).
struct CleanValues {
    /// The [`Waf`] these verdicts are from: another one's rules may differ.
    waf: u64,
    /// One set per [`Checked`] rule set.
    values: [HashSet<Box<str>, foldhash::fast::RandomState>; 4],
}

/// Which rules a remembered value passed: a value clean as a path segment
/// says nothing about it as a user agent.
#[derive(Clone, Copy)]
enum Checked {
    /// The content rules (a body's values).
    Content = 0,
    /// The rules over the whole decoded path, and the content rules over
    /// each of its segments: a path seen again costs one look-up.
    Path = 1,
    /// The scanner rules over the `User-Agent`.
    UserAgent = 2,
    /// The content rules and the head-only rules (query, path, header and
    /// cookie values).
    HeadContent = 3,
}

/// At most this many values are remembered per thread and rule set, then forgotten together.
const CLEAN_VALUES: usize = 4096;
/// Longer values are not remembered: they rarely repeat.
const CLEAN_VALUE_BYTES: usize = 128;

thread_local! {
    static CLEAN: RefCell<CleanValues> = RefCell::new(CleanValues {
        waf: 0,
        values: Default::default(),
    });
}

/// Tells the rule sets of [`Waf`]s apart (0: none).
static NEXT_WAF_ID: AtomicU64 = AtomicU64::new(1);

/// One rule that matched, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub group: Group,
    pub location: &'static str,
    pub field: String,
}

impl Waf {
    /// `body_limit` and `body_deadline` bound the bodies it reads to inspect.
    pub fn new(
        config: &WafConfig,
        body_limit: usize,
        body_deadline: std::time::Duration,
    ) -> Result<Self, regex::Error> {
        Ok(Self {
            inner: Arc::new(Inner {
                id: NEXT_WAF_ID.fetch_add(1, Ordering::Relaxed),
                enabled: config.enabled,
                rules: CompiledRules::new(&config.modes, config.paranoia_level)?,
                modes: config.modes,
                allow: config.allow_ips.clone(),
                deny: config.deny_ips.clone(),
                body_limit,
                body_deadline,
                held_bytes: tokio::sync::Semaphore::new(
                    body_limit.saturating_mul(HELD_BODIES).max(1 << 20),
                ),
                inspecting: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, usize::from),
                ),
            }),
        })
    }

    /// Whether `value` is one this thread has seen the `checked` rules not match.
    fn known_clean(&self, checked: Checked, value: &str) -> bool {
        CLEAN.with_borrow(|clean| {
            clean.waf == self.inner.id && clean.values[checked as usize].contains(value)
        })
    }

    /// Notes that the `checked` rules do not match `value` (short values only).
    fn remember_clean(&self, checked: Checked, value: &str) {
        if value.len() > CLEAN_VALUE_BYTES {
            return;
        }
        CLEAN.with_borrow_mut(|clean| {
            if clean.waf != self.inner.id {
                clean.waf = self.inner.id;
                clean.values.iter_mut().for_each(HashSet::clear);
            }
            let values = &mut clean.values[checked as usize];
            if values.len() >= CLEAN_VALUES {
                values.clear();
            }
            values.insert(value.into());
        });
    }

    fn mode(&self, group: Group) -> WafMode {
        group.mode(&self.inner.modes)
    }

    /// Records `finding` (log and metric); true when it blocks the request.
    fn record(&self, finding: &Finding) -> bool {
        let mode = self.mode(finding.group);
        let action = match mode {
            WafMode::Block => "block",
            WafMode::Count => "count",
            WafMode::Off => return false,
        };
        metrics::counter!(
            "waf_rule_matches_total",
            "group" => finding.group.name(),
            "rule" => finding.rule,
            "action" => action,
        )
        .increment(1);
        tracing::warn!(
            rule = finding.rule,
            group = finding.group.name(),
            action,
            location = finding.location,
            field = %truncated(&finding.field),
            "WAF rule matched"
        );
        mode == WafMode::Block
    }

    /// Inspects the request head; the first blocking finding, recording
    /// count-mode findings on the way.
    pub fn inspect_head(&self, head: &Parts, client: Option<IpAddr>) -> Option<Finding> {
        let mut scan = Scan::new(self);
        scan.head(head, client);
        scan.blocked
    }

    /// Inspects a request body of the given content type, read as the
    /// route's table entry says (`policy`).
    pub fn inspect_body(
        &self,
        policy: routes::Body,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<Finding> {
        let mut scan = Scan::new(self);
        scan.markdown = policy == routes::Body::Markdown;
        scan.body(content_type, body);
        scan.blocked
    }

    fn is_allowed(&self, client: Option<IpAddr>) -> bool {
        client.is_some_and(|ip| self.inner.allow.iter().any(|n| n.contains(&ip)))
    }
}

/// Admits the request's head or answers it (403). The body is judged
/// later, by [`admit_body`], once the cheaper checks have passed.
// The refusal is the answer itself (as in `limits::enforce`).
#[allow(clippy::result_large_err)]
pub fn admit_head(waf: &Waf, head: &Parts, client: Option<IpAddr>) -> Result<(), Response> {
    if waf.inner.enabled && waf.inspect_head(head, client).is_some() {
        return Err(forbidden(&head.headers));
    }
    Ok(())
}

/// Admits the request's `body` (read and put back as read) or answers it
/// (403, or 413/408/400 for a body it could not read, 503 when too many
/// bodies are being inspected; the caller drains what is left unread).
pub async fn admit_body(
    waf: &Waf,
    head: &Parts,
    body: &mut Body,
    route: Route,
    client: Option<IpAddr>,
) -> Result<(), Response> {
    if !waf.inner.enabled || waf.is_allowed(client) || http_body::Body::is_end_stream(body) {
        return Ok(());
    }
    let policy = match route {
        Route::Upstream(endpoint) => endpoint.body,
        _ => routes::Body::Inspected,
    };
    // Boxed: reading a body is the large part of this future, and bodiless
    // requests (most of them) would otherwise carry and copy it too.
    Box::pin(read_and_inspect(waf, head, body, policy)).await
}

/// Reads the body (within the size and time limits) and inspects it.
async fn read_and_inspect(
    waf: &Waf,
    head: &Parts,
    body: &mut Body,
    policy: routes::Body,
) -> Result<(), Response> {
    let content_type = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type.is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/")) {
        return Ok(());
    }
    let read = tokio::time::timeout(waf.inner.body_deadline, read_within_budget(waf, body)).await;
    let (bytes, _held) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(Unread::TooLarge)) => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some(format!("body larger than {} bytes", waf.inner.body_limit)),
            )
            .into_response());
        }
        Ok(Err(Unread::Busy)) => {
            metrics::counter!("waf_inspections_refused_total").increment(1);
            let mut busy = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("too many large requests are being inspected".to_owned()),
            )
            .into_response();
            busy.headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            return Err(busy);
        }
        Ok(Err(Unread::Broken)) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                Some("the request body could not be read".to_owned()),
            )
            .into_response());
        }
        // Too slow overall, or a pause longer than the server's body timeout.
        Ok(Err(Unread::Slow)) | Err(_) => {
            return Err(Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                Some("the request body did not arrive in time".to_owned()),
            )
            .into_response());
        }
    };
    if body_blocked(waf, policy, content_type, &bytes).await {
        return Err(forbidden(&head.headers));
    }
    *body = Body::from(bytes);
    Ok(())
}

/// Why a body was not read whole.
enum Unread {
    TooLarge,
    /// The budget of bytes held for inspection stayed spent.
    Busy,
    Broken,
    Slow,
}

/// How long a chunk waits for room in the bytes held for inspection.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the body chunk by chunk, each chunk taking its size from the bytes
/// all bodies being inspected may hold together (`Inner::held_bytes`), given
/// back when the returned permit drops. Memory is bounded whatever the
/// number of bodies, and a slow body holds only what it has sent: a place
/// per body, taken before reading, was held by two slow senders for the
/// whole body timeout.
async fn read_within_budget<'w>(
    waf: &'w Waf,
    body: &mut Body,
) -> Result<(Bytes, Option<tokio::sync::SemaphorePermit<'w>>), Unread> {
    let mut limited = http_body_util::Limited::new(std::mem::take(body), waf.inner.body_limit);
    let mut buffer = bytes::BytesMut::new();
    let mut held: Option<tokio::sync::SemaphorePermit<'w>> = None;
    while let Some(frame) = limited.frame().await {
        let frame = frame.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Unread::TooLarge
            } else if timed_out(&*e) {
                Unread::Slow
            } else {
                Unread::Broken
            }
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let size = u32::try_from(data.len()).map_err(|_| Unread::TooLarge)?;
        let room = tokio::time::timeout(BUDGET_WAIT, waf.inner.held_bytes.acquire_many(size))
            .await
            .map_err(|_| Unread::Busy)?
            .map_err(|_| Unread::Busy)?;
        match &mut held {
            Some(held) => held.merge(room),
            None => held = Some(room),
        }
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), held))
}

/// Bodies of the largest size that may be held for inspection at once (16 MiB
/// at the default 1 MiB limit); more wait, and get 503 after [`BUDGET_WAIT`].
const HELD_BODIES: usize = 16;

/// Bodies larger than this are inspected on the blocking pool: a 1 MiB body
/// takes about 6 ms of CPU, which on the connection's event loop would hold
/// up every other connection served there.
const INSPECT_OFF_LOOP_BYTES: usize = 64 * 1024;

async fn body_blocked(
    waf: &Waf,
    policy: routes::Body,
    content_type: Option<&str>,
    bytes: &Bytes,
) -> bool {
    if bytes.len() <= INSPECT_OFF_LOOP_BYTES {
        return waf.inspect_body(policy, content_type, bytes).is_some();
    }
    // One per core: more would only queue on the blocking pool, each holding its body.
    let Ok(_inspecting) = waf.inner.inspecting.acquire().await else {
        return true;
    };
    let (waf, bytes) = (waf.clone(), bytes.clone());
    let content_type = content_type.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        waf.inspect_body(policy, content_type.as_deref(), &bytes)
            .is_some()
    })
    .await
    .unwrap_or_else(|e| {
        // Fail closed: a body the rules could not finish with is not let through.
        tracing::error!(error = %e, "WAF body inspection failed");
        true
    })
}

/// Whether `error` comes from the server's body read timeout.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The 403, with the request's id (set by the request stack) to quote to support.
fn forbidden(headers: &HeaderMap) -> Response {
    let request_id = headers
        .get(platform::http::stack::REQUEST_ID)
        .and_then(|v| v.to_str().ok());
    Problem::new(
        StatusCode::FORBIDDEN,
        Some("The request was blocked by the web application firewall.".to_owned()),
    )
    .with_request_id(request_id)
    .into_response()
}

fn truncated(field: &str) -> &str {
    match field.char_indices().nth(64) {
        Some((i, _)) => &field[..i],
        None => field,
    }
}

/// One request's inspection: stops at the first blocking finding.
struct Scan<'a> {
    waf: &'a Waf,
    blocked: Option<Finding>,
    /// Rules matched so far, blocking or counted.
    findings: usize,
    /// The body's `article.body` is markdown (`routes::Body::Markdown`).
    markdown: bool,
}

impl<'a> Scan<'a> {
    fn new(waf: &'a Waf) -> Self {
        Self {
            waf,
            blocked: None,
            findings: 0,
            markdown: false,
        }
    }

    fn done(&self) -> bool {
        self.blocked.is_some()
    }

    fn found(&mut self, rule: &'static str, group: Group, location: &'static str, field: &str) {
        let finding = Finding {
            rule,
            group,
            location,
            field: field.to_owned(),
        };
        self.findings += 1;
        if self.waf.record(&finding) {
            self.blocked = Some(finding);
        }
    }

    fn head(&mut self, head: &Parts, client: Option<IpAddr>) {
        let inner = &self.waf.inner;
        if let Some(ip) = client
            && inner.deny.iter().any(|n| n.contains(&ip))
        {
            self.found("ip-deny-list", Group::IpDeny, "client", &ip.to_string());
        }
        if self.done() || self.waf.is_allowed(client) {
            return;
        }
        if let Some(rule) = protocol::anomaly(head) {
            self.found(rule, Group::Protocol, "request", "");
            if self.done() {
                return;
            }
        }
        self.path(head.uri.path());
        if let Some(query) = head.uri.query() {
            for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
                self.value("query", &name, &name);
                self.value("query", &name, &value);
                if self.done() {
                    return;
                }
            }
        }
        self.headers(&head.headers);
    }

    fn path(&mut self, raw: &str) {
        if self.waf.known_clean(Checked::Path, raw) {
            return;
        }
        let before = self.findings;
        for rule in self.waf.inner.rules.path.matching(&decode::normalize(raw)) {
            self.found(rule.id, rule.group, "path", "");
        }
        for segment in raw.split('/').filter(|s| !s.is_empty()) {
            if self.done() {
                return;
            }
            self.value("path", "", segment);
        }
        if self.findings == before {
            self.waf.remember_clean(Checked::Path, raw);
        }
    }

    fn headers(&mut self, headers: &HeaderMap) {
        for (name, value) in headers {
            if self.done() {
                return;
            }
            let name = name.as_str();
            let bytes = value.as_bytes();
            if uninspected_header(name) || name.starts_with("sec-") {
                // Only its encoding is checked: ASCII, the usual case, is
                // UTF-8 as it is.
                if !bytes.is_ascii() && std::str::from_utf8(bytes).is_err() {
                    self.found("protocol-invalid-utf8", Group::Protocol, "header", name);
                }
                continue;
            }
            let Ok(text) = std::str::from_utf8(bytes) else {
                self.found("protocol-invalid-utf8", Group::Protocol, "header", name);
                continue;
            };
            if name == "cookie" {
                for pair in text.split(';') {
                    let (cookie, value) = pair.split_once('=').unwrap_or(("", pair));
                    self.value("cookie", cookie.trim(), value.trim());
                }
                continue;
            }
            if name == "user-agent" && !self.waf.known_clean(Checked::UserAgent, text) {
                let matched = self.waf.inner.rules.user_agent.matching(text);
                if matched.is_empty() {
                    self.waf.remember_clean(Checked::UserAgent, text);
                }
                for rule in matched {
                    self.found(rule.id, rule.group, "header", name);
                }
            }
            self.value("header", name, text);
        }
    }

    fn body(&mut self, content_type: Option<&str>, body: &[u8]) {
        let Ok(text) = std::str::from_utf8(body) else {
            if content_type.is_some_and(is_textual) {
                self.found("protocol-invalid-utf8", Group::Protocol, "body", "");
            }
            return;
        };
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase());
        match essence.as_deref() {
            Some("application/x-www-form-urlencoded") => {
                for (name, value) in url::form_urlencoded::parse(body) {
                    self.value("body", &name, &name);
                    if !UNINSPECTED_FIELDS.contains(&name.as_ref()) {
                        self.value("body", &name, &value);
                    }
                }
            }
            Some(ct) if ct == "application/json" || ct.ends_with("+json") => {
                let mut json = serde_json::Deserializer::from_str(text);
                let walked = JsonWalk {
                    scan: &mut *self,
                    path: &mut Vec::new(),
                    element: false,
                }
                .deserialize(&mut json)
                .and_then(|()| json.end());
                if walked.is_err() && !self.done() {
                    // Not JSON after all (or nested deeper than the parser
                    // goes): judged as text.
                    self.value("body", "", text);
                }
            }
            _ => self.value("body", "", text),
        }
    }

    fn json_value(&mut self, path: &[String], value: &str) {
        if !self.done() && self.matches(value) {
            self.value("body", &path.join("."), value);
        }
    }

    /// Runs the content rules over one value and records what matched.
    fn value(&mut self, location: &'static str, field: &str, raw: &str) {
        let in_head = location != "body";
        let checked = if in_head {
            Checked::HeadContent
        } else {
            Checked::Content
        };
        if self.done() || raw.is_empty() || self.waf.known_clean(checked, raw) {
            return;
        }
        let matched = content_matches(&self.waf.inner.rules, raw, in_head);
        if matched.is_empty() {
            self.waf.remember_clean(checked, raw);
        }
        for rule in matched {
            self.found(rule.id, rule.group, location, field);
            if self.done() {
                return;
            }
        }
    }

    /// Whether any content rule matches (to build a JSON field's name only then).
    fn matches(&self, raw: &str) -> bool {
        !raw.is_empty() && !content_matches(&self.waf.inner.rules, raw, false).is_empty()
    }
}

/// The content rules matching `raw`: each view's rules over its view of the
/// decoded value, and the head-only rules for a value `in_head`.
fn content_matches(
    rules: &rules::CompiledRules,
    raw: &str,
    in_head: bool,
) -> Vec<&'static rules::Rule> {
    let decoded = decode::normalize(raw);
    let mut matched = rules.decoded.matching(&decoded);
    matched.extend(rules.sql.matching(&decode::sql_view(&decoded)));
    matched.extend(shell_matches(rules, &decoded));
    if in_head {
        matched.extend(rules.head.matching(&decoded));
    }
    matched
}

/// The command rules over the value as written and as a shell reads it
/// (`decode::shell_view`): `c'a't` is `cat` only to the shell, `c:\\` a
/// Windows path only as written.
fn shell_matches(rules: &rules::CompiledRules, decoded: &str) -> Vec<&'static rules::Rule> {
    let mut matched = rules.shell.matching(decoded);
    if let std::borrow::Cow::Owned(view) = decode::shell_view(decoded) {
        for rule in rules.shell.matching(&view) {
            if !matched.iter().any(|m| std::ptr::eq(*m, rule)) {
                matched.push(rule);
            }
        }
    }
    matched
}

/// A JSON body inspected while it is parsed: every string and key goes to
/// the content rules as the parser meets it, named by its path, and no tree
/// is built (a 1 MiB `[0,0,…]` became 25 MiB of values). Stops at the first
/// blocking finding.
struct JsonWalk<'s, 'w> {
    scan: &'s mut Scan<'w>,
    path: &'s mut Vec<String>,
    /// An array element: named by its array's path, but not that field itself.
    element: bool,
}

impl<'w> JsonWalk<'_, 'w> {
    fn nested(&mut self, element: bool) -> JsonWalk<'_, 'w> {
        JsonWalk {
            scan: &mut *self.scan,
            path: &mut *self.path,
            element,
        }
    }

    /// Ends the walk once the request is blocked.
    fn go_on<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.scan.done() {
            Err(E::custom("blocked"))
        } else {
            Ok(())
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for JsonWalk<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, json: D) -> Result<(), D::Error> {
        json.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonWalk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<(), E> {
        let field = self.path.last().map(String::as_str);
        // Polymorphic type handling (Jackson, fastjson): a class to build.
        if field == Some("@type") && is_class_name(value) {
            self.scan
                .found("java-gadget-type", Group::JavaInjection, "body", "@type");
            return self.go_on();
        }
        if self.scan.markdown && !self.element && markdown::is_markdown_field(self.path) {
            self.scan
                .json_value(self.path, &markdown::outside_code(value));
        } else if !field.is_some_and(|k| UNINSPECTED_FIELDS.contains(&k)) {
            self.scan.json_value(self.path, value);
        }
        self.go_on()
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(self.nested(true))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.path.push(key);
            if polluting(self.path) {
                self.scan.found(
                    "nodejs-prototype-pollution",
                    Group::NodejsInjection,
                    "body",
                    &self.path.join("."),
                );
            } else if let Some(key) = self.path.last() {
                let key = key.clone();
                self.scan.json_value(self.path, &key);
            }
            self.go_on()?;
            map.next_value_seed(self.nested(false))?;
            self.path.pop();
        }
        Ok(())
    }
}

/// A Java class name (`a.b.C`): three or more dotted identifiers.
fn is_class_name(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

/// A JSON key that reaches an object's prototype when merged into another
/// object (JavaScript): `__proto__`, or `prototype` under `constructor`.
/// No API field has either name.
fn polluting(path: &[String]) -> bool {
    match path {
        [.., key] if key == "__proto__" => true,
        [.., parent, key] => parent == "constructor" && key == "prototype",
        _ => false,
    }
}

fn is_textual(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/") || ct.contains("json") || ct.contains("x-www-form-urlencoded")
}

#[cfg(test)]
mod tests;

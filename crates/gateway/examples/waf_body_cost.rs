//! CPU time of the WAF's inspection of 1 MiB bodies, whatever their script
//! and shape: prose in several scripts, as one JSON string, as raw text and
//! as many short JSON strings, and the shapes that cost the parser (a long
//! array of numbers, deep nesting). Each body is inspected `runs` times on
//! one thread; the figure is the mean CPU time (the thread's own clock).
//! Exits non-zero when a body costs more than the budget.
//!
//! usage: cargo run --release -p cloudsec-gateway --example waf_body_cost [budget_ms]

use std::time::Duration;

use cloudsec_gateway::config::WafConfig;
use cloudsec_gateway::routes::Body;
use cloudsec_gateway::waf::Waf;
use serde_json::json;

const MIB: usize = 1 << 20;

/// `text` repeated to just under 1 MiB once JSON-encoded into a body.
fn fill(text: &str) -> String {
    let mut out = String::with_capacity(MIB);
    while out.len() + text.len() < MIB - 1024 {
        out.push_str(text);
    }
    out
}

fn thread_cpu() -> Duration {
    let mut usage = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command (which may hold spaces): state is field 3,
    // utime 14, stime 15, in clock ticks (100 per second here).
    if let Some(end) = usage.rfind(')') {
        usage = usage[end + 2..].to_owned();
    }
    let fields: Vec<u64> = usage
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn main() -> anyhow::Result<()> {
    let budget_ms: f64 = std::env::args()
        .nth(1)
        .map(|b| b.parse())
        .transpose()?
        .unwrap_or(50.0);
    let waf = Waf::new(&WafConfig::default(), 2 << 20, Duration::from_secs(30))?;
    let scripts = [
        (
            "ASCII prose",
            "It's a \"quoted\" <b>word</b> and SELECT words in prose; rm is fine. ",
        ),
        ("euro signs", "€"),
        (
            "German",
            "Größere Straßenbahnen fahren über die Brücke, nicht wahr? ",
        ),
        (
            "Cyrillic",
            "Съешь же ещё этих мягких французских булок, да выпей чаю. ",
        ),
        ("Greek", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. "),
        (
            "Arabic",
            "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر. ",
        ),
        ("Hebrew", "דג סקרן שט בים מאוכזב ולפתע מצא חברה. "),
        ("Chinese", "我能吞下玻璃而不伤身体。"),
        (
            "Japanese",
            "いろはにほへと ちりぬるを わかよたれそ つねならむ。",
        ),
        ("Korean", "다람쥐 헌 쳇바퀴에 타고파. "),
        (
            "Devanagari",
            "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश। ",
        ),
        ("Thai", "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า "),
        ("emoji", "😀🎉🚀👍🏽 "),
        (
            "mixed with markup",
            "<p>Größe € 😀 — \"x\" 'y' & z; a%20b \\u0041 ＡＢＣ</p> ",
        ),
    ];
    let mut bodies: Vec<(String, &str, Vec<u8>)> = Vec::new();
    for (name, text) in scripts {
        let long = fill(text);
        bodies.push((
            format!("{name}, one JSON string"),
            "application/json",
            serde_json::to_vec(&json!({"article": {"title": "t", "body": long}}))?,
        ));
        bodies.push((
            format!("{name}, raw text"),
            "text/plain",
            fill(text).into_bytes(),
        ));
    }
    let tags: Vec<String> = (0..MIB / 40).map(|i| format!("tag{i} Größe")).collect();
    bodies.push((
        "short JSON strings".to_owned(),
        "application/json",
        serde_json::to_vec(&json!({"article": {"tagList": tags}}))?,
    ));
    let mut zeros = String::from("[0");
    while zeros.len() < MIB - 2 {
        zeros.push_str(",0");
    }
    zeros.push(']');
    bodies.push((
        "[0,0,…] array".to_owned(),
        "application/json",
        zeros.into_bytes(),
    ));
    // Markdown built to cost the code-span and shell scanners: unclosed
    // backtick runs of every length, open braces, quotes, `$` and escapes.
    let mut runs = String::new();
    let mut length = 1;
    while runs.len() < MIB - 2_000 {
        runs.push_str(&"`".repeat(length));
        runs.push('x');
        length += 1;
    }
    let hostile = [
        ("backtick runs of every length", runs),
        (
            "open braces",
            format!("{}{}", "{".repeat(MIB / 2 - 64), ",}".repeat(MIB / 4 - 64)),
        ),
        (
            "quotes, dollars and braces",
            "it's \"so\" $5 {a,b} c\\d ".repeat(MIB / 24),
        ),
    ];
    for (name, text) in hostile {
        bodies.push((
            format!("{name}, article body"),
            "application/json",
            serde_json::to_vec(&json!({"article": {"title": "t", "body": text}}))?,
        ));
    }
    let deep = format!("{}{}", "[".repeat(MIB / 2), "]".repeat(MIB / 2));
    bodies.push((
        "deep nesting".to_owned(),
        "application/json",
        deep.into_bytes(),
    ));

    let mut worst = 0.0f64;
    println!("| body | bytes | CPU ms per inspection |");
    println!("|---|---|---|");
    for (name, content_type, bytes) in &bodies {
        let runs = 10;
        let before = thread_cpu();
        for _ in 0..runs {
            if waf
                .inspect_body(Body::Markdown, Some(content_type), bytes)
                .is_some()
            {
                anyhow::bail!("{name}: blocked");
            }
        }
        let ms = (thread_cpu() - before).as_secs_f64() * 1e3 / f64::from(runs);
        worst = worst.max(ms);
        println!("| {name} | {} | {ms:.1} |", bytes.len());
    }
    println!("worst: {worst:.1} ms (budget {budget_ms} ms)");
    if worst > budget_ms {
        anyhow::bail!("a body costs {worst:.1} ms, over the budget of {budget_ms} ms");
    }
    Ok(())
}

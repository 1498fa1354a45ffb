//! CPU time of the WAF's body inspection for large JSON bodies, the figure
//! behind inspecting bodies over 64 KiB on the blocking pool.
//!
//! usage: cargo run --release -p cloudsec-gateway --example waf_body_cost

use std::time::{Duration, Instant};

use cloudsec_gateway::config::WafConfig;
use cloudsec_gateway::waf::Waf;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let waf = Waf::new(&WafConfig::default(), 2 << 20, Duration::from_secs(30))?;
    let prose = "It's a \"quoted\" <b>word</b> and SELECT words in prose; rm is fine. ";
    let long = prose.repeat((1 << 20) / prose.len());
    let tags: Vec<String> = (0..20_000).map(|i| format!("tag{i}")).collect();
    let bodies = [
        (
            "one 1 MiB string",
            json!({"article": {"title": "t", "body": long}}),
        ),
        (
            "20,000 short strings",
            json!({"article": {"tagList": tags}}),
        ),
    ];
    for (name, body) in bodies {
        let bytes = serde_json::to_vec(&body)?;
        let runs = 20;
        let start = Instant::now();
        for _ in 0..runs {
            if waf.inspect_body(Some("application/json"), &bytes).is_some() {
                anyhow::bail!("{name}: blocked");
            }
        }
        println!(
            "{name}: {} bytes, {:.2} ms per inspection",
            bytes.len(),
            start.elapsed().as_secs_f64() * 1e3 / f64::from(runs)
        );
    }
    Ok(())
}

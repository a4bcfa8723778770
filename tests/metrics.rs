//! `GET /metrics` through the binary (`pallas serve --simulate`): scraped before and after
//! known calls, every counter moves by exactly what was done.

mod common;

use common::binary::ServedBinary;
use common::{ask, call, connect, eventually, write_project};
use serde_json::{Value, json};

const AGENTS: &str = r#"
registry_port: 0
agents:
  ada:
    port: 0
    servers: [notes]
  bo:
    port: 0
    budget: {usd_per_day: 0.000001}
"#;

const CONFIG: &str = r#"
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
mcp:
  servers:
    notes:
      command: "{notes}"
"#;

/// The sum of the samples of `name` whose labels include every pair of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

async fn scrape(registry: &str) -> String {
    let r = reqwest::get(format!("{registry}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    r.text().await.unwrap()
}

async fn health(url: &str) -> Value {
    let (client, _) = connect(url).await;
    call(&client, "get_health", json!({}))
        .await
        .structured_content
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_the_turns_model_calls_tool_calls_tokens_and_cost() {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), AGENTS, CONFIG);
    let served = ServedBinary::start(dir.path(), 2).await;
    let (ada, bo) = (
        served.agent_url("ada").to_string(),
        served.agent_url("bo").to_string(),
    );
    eventually("the notes server is up", || async {
        health(&ada).await["status"] == "ok"
    })
    .await;
    let before = scrape(&served.registry).await;
    let ada_l = [("agent", "ada")];

    // Two turns of ada: one model call; then a tool call between two model calls.
    let (client, _) = connect(&ada).await;
    let (answer, is_error) = ask(&client, "ada", "hello").await;
    assert!(!is_error, "{answer}");
    let (answer, is_error) = ask(&client, "ada", "what time is it? notes__now").await;
    assert!(!is_error, "{answer}");
    // bo: the first call spends its tiny budget, the second is refused.
    let (bo_client, _) = connect(&bo).await;
    assert!(!ask(&bo_client, "bo", "hello").await.1);
    assert!(ask(&bo_client, "bo", "hello").await.1);

    let after = scrape(&served.registry).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let ok = [("agent", "ada"), ("outcome", "ok")];
    assert_eq!(moved("pallas_turns_total", &ok), 2.0, "{after}");
    assert_eq!(
        moved(
            "pallas_model_calls_total",
            &[
                ("agent", "ada"),
                ("provider", "bedrock"),
                ("model", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
                ("outcome", "ok")
            ]
        ),
        3.0,
        "{after}"
    );
    assert_eq!(
        moved("pallas_model_call_duration_seconds_count", &ada_l),
        3.0
    );
    let first_tokens = moved("pallas_model_time_to_first_token_seconds_count", &ada_l);
    assert!((1.0..=3.0).contains(&first_tokens), "{first_tokens}");
    let notes = [("agent", "ada"), ("server", "notes"), ("outcome", "ok")];
    assert_eq!(moved("pallas_tool_calls_total", &notes), 1.0, "{after}");
    assert_eq!(
        moved(
            "pallas_tool_call_duration_seconds_count",
            &[("agent", "ada"), ("server", "notes")]
        ),
        1.0
    );
    assert_eq!(sample(&after, "pallas_turns_in_flight", &ada_l), 0.0);
    assert_eq!(
        sample(
            &after,
            "pallas_downstream_up",
            &[("agent", "ada"), ("server", "notes")]
        ),
        1.0
    );
    assert_eq!(sample(&after, "pallas_preflight_ok", &ada_l), 1.0);

    // Tokens and cost agree with what get_health reports for the same calls.
    let usage = health(&ada).await["usage"].clone();
    for (kind, field) in [
        ("input", "input_tokens"),
        ("output", "output_tokens"),
        ("cache_read", "cache_read_tokens"),
        ("cache_write", "cache_write_tokens"),
    ] {
        assert_eq!(
            moved("pallas_tokens_total", &[("agent", "ada"), ("kind", kind)]),
            usage[field].as_f64().unwrap(),
            "{kind}: {usage}"
        );
    }
    let cost = moved("pallas_cost_usd_total", &ada_l);
    assert!(
        (cost - usage["cost_usd"].as_f64().unwrap()).abs() < 1e-12 && cost > 0.0,
        "{cost} vs {usage}"
    );

    // bo: one ok turn and one refused by its budget, which the gauges show as spent.
    let bo_l = [("agent", "bo"), ("outcome", "budget_exhausted")];
    assert_eq!(moved("pallas_turns_total", &bo_l), 1.0, "{after}");
    assert_eq!(
        moved("pallas_turns_total", &[("agent", "bo"), ("outcome", "ok")]),
        1.0
    );
    assert_eq!(moved("pallas_model_calls_total", &[("agent", "bo")]), 1.0);
    assert!(
        sample(&after, "pallas_budget_spent_today_usd", &[("agent", "bo")])
            >= sample(&after, "pallas_budget_usd_per_day", &[("agent", "bo")])
    );
    served.stop().await;
}

//! Cost per agent: `get_health` usage carries the spend at the configured prices, a model
//! without a price says so, and a daily budget refuses calls once it is spent.

mod common;

use common::{ask, call, connect, get_json, start};
use serde_json::{Value, json};

const AGENT: &str = r#"
registry_port: 0
agents:
  ada:
    port: 0
    servers: [notes]
"#;

/// One USD per input token and two per output token: the expected cost is exact.
const PRICED: &str = r#"
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
prices:
  claude-haiku-4-5: {input: 1000000, output: 2000000, cache_read: 0, cache_write_5m: 0}
mcp:
  servers:
    notes:
      command: "{notes}"
"#;

async fn health(running: &common::Running) -> Value {
    let (client, _) = connect(&running.url("ada")).await;
    let r = call(&client, "get_health", json!({})).await;
    r.structured_content.expect("get_health is structured")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_usage_reports_the_cost_of_the_calls_at_the_overridden_price() {
    let running = start(AGENT, PRICED).await;
    let (client, _) = connect(&running.url("ada")).await;
    assert_eq!(health(&running).await["usage"]["cost_usd"], json!(0.0));
    for message in ["hello", "what time is it? notes__now"] {
        let (answer, is_error) = ask(&client, "ada", message).await;
        assert!(!is_error, "{answer}");
    }
    let usage = health(&running).await["usage"].clone();
    let input = usage["input_tokens"].as_u64().unwrap();
    let output = usage["output_tokens"].as_u64().unwrap();
    assert!(input > 0 && output > 0, "{usage}");
    assert_eq!(
        usage["cost_usd"].as_f64(),
        Some((input + 2 * output) as f64),
        "{usage}"
    );
    // The registry's health shows the same usage.
    let all = get_json(&format!("{}/health", running.registry())).await;
    assert_eq!(all["agents"]["ada"]["usage"], usage);
    running.fleet.shutdown().await;
}

/// The turn's own result carries its cost, priced like the agent's total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_reports_the_cost_of_its_own_turn() {
    let running = start(AGENT, PRICED).await;
    let (client, _) = connect(&running.url("ada")).await;
    let mut turn_costs = 0.0;
    for message in ["hello", "what time is it? notes__now"] {
        let r = call(&client, "ada", json!({"message": message})).await;
        let usage = r.structured_content.expect("structuredContent")["usage"].clone();
        let (input, output) = (
            usage["input_tokens"].as_u64().unwrap(),
            usage["output_tokens"].as_u64().unwrap(),
        );
        assert_eq!(
            usage["cost_usd"].as_f64(),
            Some((input + 2 * output) as f64),
            "{usage}"
        );
        turn_costs += usage["cost_usd"].as_f64().unwrap();
    }
    assert_eq!(
        health(&running).await["usage"]["cost_usd"].as_f64(),
        Some(turn_costs)
    );
    running.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_a_price_reports_no_price_rather_than_zero() {
    let config = PRICED
        .replace(
            "bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "bedrock.acme.mystery-v9",
        )
        .replace("claude-haiku-4-5:", "claude-sonnet-4-6:");
    let running = start(AGENT, &config).await;
    let (client, _) = connect(&running.url("ada")).await;
    let (answer, is_error) = ask(&client, "ada", "hello").await;
    assert!(!is_error, "{answer}");
    let h = health(&running).await;
    assert_eq!(h["usage"]["cost_usd"], json!("no price"), "{h}");
    assert!(h["usage"]["output_tokens"].as_u64().unwrap() > 0);
    running.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_budget_refuses_calls_and_degrades_health() {
    let agents = format!("{AGENT}    budget: {{usd_per_day: 5}}\n");
    let running = start(&agents, PRICED).await;
    let (client, _) = connect(&running.url("ada")).await;
    let h = health(&running).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["budget"]["usd_per_day"], json!(5.0));
    assert_eq!(h["budget"]["exhausted"], json!(false));

    // The first call is allowed (nothing spent yet) and costs far more than $5.
    let (answer, is_error) = ask(&client, "ada", "hello").await;
    assert!(!is_error, "{answer}");
    let calls_before = running.converse_requests().len();
    let (answer, is_error) = ask(&client, "ada", "hello again").await;
    assert!(is_error, "the budget is spent: {answer}");
    assert!(
        answer.contains("budget")
            && answer.contains("usd_per_day")
            && answer.contains("T00:00:00Z"),
        "the error says why and until when: {answer}"
    );
    assert_eq!(
        running.converse_requests().len(),
        calls_before,
        "no model call is made over budget"
    );

    let h = health(&running).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["message"].as_str().unwrap().contains("budget"), "{h}");
    assert_eq!(h["budget"]["exhausted"], json!(true));
    assert!(h["budget"]["spent_today_usd"].as_f64().unwrap() >= 5.0);
    running.fleet.shutdown().await;
}

#[test]
fn a_bad_price_is_a_config_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_project(
        dir.path(),
        AGENT,
        "default_model: bedrock.us.anthropic.claude-haiku-4-5\nprices:\n  claude-haiku-4-5: {input: cheap, output: 1}\n",
    );
    let err = pallas::config::load_project_with_env(&path, &|_| None)
        .expect_err("a price that is not a number is refused")
        .to_string();
    assert!(
        err.contains("fastagent.config.yaml:3") && err.contains("prices.claude-haiku-4-5"),
        "{err}"
    );
}

#[test]
fn a_bad_budget_fails_the_agent_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let agents = format!("{AGENT}    budget: 5\n");
    let path = common::write_project(dir.path(), &agents, PRICED);
    let project = pallas::config::load_project_with_env(&path, &|_| None).unwrap();
    let errors: Vec<_> = project.agent_errors.iter().map(|e| &e.message).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("budget") && e.contains("usd_per_day")),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hour_cache_writes_are_priced_at_the_one_hour_rate() {
    let config = r#"
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
bedrock:
  cache_ttl: 1h
prices:
  claude-haiku-4-5: {input: 0, output: 0, cache_read: 0, cache_write_5m: 1000000, cache_write_1h: 3000000}
mcp:
  servers:
    notes:
      command: "{notes}"
"#;
    let running = start(AGENT, config).await;
    let (client, _) = connect(&running.url("ada")).await;
    let (answer, is_error) = ask(&client, "ada", "hello").await;
    assert!(!is_error, "{answer}");
    let usage = health(&running).await["usage"].clone();
    let written = usage["cache_write_tokens"].as_u64().unwrap();
    assert!(written > 0, "the first call writes the cache: {usage}");
    assert_eq!(
        usage["cost_usd"].as_f64(),
        Some(3.0 * written as f64),
        "{usage}"
    );
    running.fleet.shutdown().await;
}

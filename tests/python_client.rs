//! The official Python MCP SDK (`mcp` 2.3.0) against a served agent, driven by
//! tests/python/mcp_script.py. In its default `auto` mode the SDK negotiates MCP 2026-07-28,
//! which has no sessions: conversation ids are what keep its history. Runs when
//! PALLAS_TEST_PYTHON names a python with that package (`.ci/run` makes one); skipped loudly
//! otherwise.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const AGENTS: &str = r#"
name: python
host: 127.0.0.1
registry_port: 0
agents:
  jarvis:
    port: 0
"#;

const CONFIG: &str = "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\n";

fn python() -> Option<String> {
    let python = std::env::var("PALLAS_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty());
    if python.is_none() {
        eprintln!(
            "SKIPPED python_client: set PALLAS_TEST_PYTHON to a python with mcp==2.3.0 \
             (.ci/run creates one: python3 -m venv DIR && DIR/bin/pip install mcp==2.3.0)"
        );
    }
    python
}

/// Runs the script in a thread (it blocks) and returns its JSON report.
async fn run_script(python: &str, script: Value) -> Value {
    let python = python.to_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_script.py");
    let output = tokio::time::timeout(
        TIMEOUT + Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(python)
                .arg(path)
                .arg(script.to_string())
                .output()
        }),
    )
    .await
    .expect("the Python client finishes in time")
    .unwrap()
    .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python failed\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"))
}

fn texts(prompt: &Value) -> Vec<String> {
    prompt["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {prompt}"))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_in_auto_mode_keeps_history_through_conversation_ids() {
    let Some(python) = python() else { return };
    let run = start(AGENTS, CONFIG).await;
    let report = run_script(
        &python,
        json!({
            "url": run.url("jarvis"),
            "mode": "auto",
            "steps": [
                {"call": "jarvis", "args": {"message": "my name is Ada", "conversation": "py-user-1"}},
                {"call": "jarvis", "args": {"message": "what is my name?", "conversation": "py-user-1"}},
                {"prompt": "jarvis_history", "args": {"conversation": "py-user-1"}},
                {"call": "jarvis", "args": {"message": "no id given"}},
                {"call": "jarvis", "args": {"message": "hi", "conversation": "not valid!"}}
            ]
        }),
    )
    .await;
    assert_eq!(report["protocol_version"], json!("2026-07-28"), "{report}");
    let results = report["results"].as_array().unwrap();
    for call in &results[..2] {
        assert_eq!(call["is_error"], json!(false), "{report}");
        assert_eq!(
            call["structured"]["conversation"],
            json!("py-user-1"),
            "{report}"
        );
        assert_eq!(call["structured"]["answer"], call["text"], "{report}");
    }
    assert_eq!(
        texts(&results[2]),
        [
            "my name is Ada",
            "Simulated reply to: my name is Ada",
            "what is my name?",
            "Simulated reply to: what is my name?"
        ]
    );
    // Without an id the answer names the new conversation, so the caller can continue it.
    let new_id = results[3]["structured"]["conversation"]
        .as_str()
        .unwrap_or_default();
    assert!(new_id.starts_with("session-"), "{report}");
    let refused = results[4].to_string();
    assert!(refused.contains("1 to 128 characters"), "{report}");
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_in_legacy_mode_keeps_its_session_conversation() {
    let Some(python) = python() else { return };
    let run = start(AGENTS, CONFIG).await;
    let report = run_script(
        &python,
        json!({
            "url": run.url("jarvis"),
            "mode": "legacy",
            "steps": [
                {"call": "jarvis", "args": {"message": "first"}},
                {"call": "jarvis", "args": {"message": "second"}},
                {"prompt": "jarvis_history"}
            ]
        }),
    )
    .await;
    let results = report["results"].as_array().unwrap();
    assert_eq!(texts(&results[2]).len(), 4, "{report}");
    assert_eq!(
        results[0]["structured"]["conversation"], results[1]["structured"]["conversation"],
        "{report}"
    );
    run.fleet.shutdown().await;
}

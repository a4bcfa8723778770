//! `logger.format: json` through the binary: every stderr line is one JSON object with a
//! timestamp, a level and the event's fields (the agent's name among them); plain text
//! stays the default.

mod common;

use common::binary::ServedBinary;
use common::{eventually, write_project};
use serde_json::Value;

const AGENTS: &str = "registry_port: 0\nagents:\n  ada:\n    port: 0\n";

async fn stderr_after_start(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), AGENTS, config);
    let served = ServedBinary::start(dir.path(), 1).await;
    let stderr = served.stderr.clone();
    eventually("the registry log line", || {
        let stderr = stderr.clone();
        async move { stderr.lock().unwrap().contains("registry at") }
    })
    .await;
    served.stop().await;
    stderr.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_timestamp_level_and_agent() {
    let text = stderr_after_start(
        "default_model: bedrock.us.anthropic.claude-haiku-4-5\nlogger:\n  format: json\n",
    )
    .await;
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 2, "{text}");
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
    }
    let serving = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("serving at"))
        })
        .unwrap_or_else(|| panic!("no serving line: {text}"));
    assert_eq!(serving["agent"], "ada", "{serving}");
    assert_eq!(serving["level"], "INFO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_logs_are_the_default() {
    let text = stderr_after_start("default_model: bedrock.us.anthropic.claude-haiku-4-5\n").await;
    let serving = text
        .lines()
        .find(|l| l.contains("serving at"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(serde_json::from_str::<Value>(serving).is_err(), "{serving}");
    assert!(
        serving.contains("INFO") && serving.contains("agent=ada"),
        "{serving}"
    );
}

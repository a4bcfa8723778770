//! Bedrock features end to end: the real agent loop and MCP server, the real AWS SDK, and
//! the simulator — streaming, reasoning, prompt caching, guardrails and request options.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pallas_simulator::{ScriptedReply, StreamException, StreamScript};
use serde_json::{Value, json};

const MODEL: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

/// One agent `jarvis` with the notes server; `extra` is indented into its entry.
fn agents(extra: &str) -> String {
    let extra: String = extra.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        r#"
name: features
host: 127.0.0.1
registry_port: 0
agents:
  jarvis:
    port: 0
    instruction: "You are Jarvis, a careful assistant who keeps notes for the user."
    servers: [notes]
    max_iterations: 4
{extra}"#
    )
}

fn config(bedrock: &str) -> String {
    format!("{NOTES_CONFIG}bedrock:\n{bedrock}\n")
}

fn operations(run: &Running) -> Vec<String> {
    run.converse_requests()
        .into_iter()
        .map(|r| r.operation)
        .collect()
}

/// Progress messages that are streamed text (not loop steps).
fn streamed_text(progress: &[String]) -> Vec<String> {
    progress
        .iter()
        .filter(|p| !p.starts_with("model call ") && !p.starts_with("tool call "))
        .cloned()
        .collect()
}

/// Waits until the streamed deltas, in the order sent, spell `answer`.
async fn wait_for_streamed(recorder: &Recorder, answer: &str) {
    eventually("the streamed deltas spell the answer", || async {
        streamed_text(&recorder.ordered_progress()).concat() == answer
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_text_arrives_as_progress() {
    let run = start(&agents(""), NOTES_CONFIG).await;
    let (client, recorder) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(
        &client,
        "jarvis",
        "please tell me something about the weather in the mountains today",
    )
    .await;
    assert!(!is_error, "{answer}");
    // The server sends every delta before the tool result that carries the whole answer;
    // the client handles notifications in concurrent tasks, so wait for the last handler.
    wait_for_streamed(&recorder, &answer).await;
    let deltas = streamed_text(&recorder.ordered_progress());
    assert!(deltas.len() >= 3, "several deltas: {deltas:?}");
    assert_eq!(operations(&run), vec!["ConverseStream"]);
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tool_calls_in_one_streamed_turn_including_a_zero_argument_tool() {
    let run = start(&agents(""), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    run.sim.push_reply(ScriptedReply::ToolUse(vec![
        (
            "notes__add_note".into(),
            json!({"title": "milk", "text": "buy 2 litres of milk, \"fresh\""}),
        ),
        ("notes__now".into(), json!({})),
    ]));
    let (answer, is_error) = ask(&client, "jarvis", "note milk and tell me the time").await;
    assert!(!is_error, "{answer}");
    assert!(
        answer.contains("[notes__add_note] Saved note 'milk'"),
        "{answer}"
    );
    assert!(answer.contains("[notes__now]"), "{answer}");
    assert!(!answer.contains("error"), "{answer}");
    // The streamed tool inputs were reassembled exactly and replayed.
    let second = &run.converse_requests()[1].body;
    let uses: Vec<&Value> = second["messages"][1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b.get("toolUse"))
        .collect();
    assert_eq!(uses.len(), 2);
    assert_eq!(
        uses[0]["input"],
        json!({"title": "milk", "text": "buy 2 litres of milk, \"fresh\""})
    );
    assert_eq!(uses[1]["input"], json!({}));
    assert_eq!(operations(&run), vec!["ConverseStream", "ConverseStream"]);
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_pauses_for_seconds_completes_and_its_first_words_arrive_before_the_answer() {
    let run = start(&agents(""), NOTES_CONFIG).await;
    let (client, recorder) = connect(&run.url("jarvis")).await;
    // messageStart and two text deltas, then 6 s of silence (a reasoning model thinking),
    // then the rest.
    run.sim.script_stream(StreamScript {
        pause: Some((3, Duration::from_secs(6))),
        fail_at: None,
    });
    let started = Instant::now();
    let mut asking = Box::pin(ask(&client, "jarvis", "think hard about this one please"));
    // The first deltas reach the caller while the answer is still being generated.
    let early = async {
        while streamed_text(&recorder.ordered_progress()).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = early => {}
        (answer, _) = &mut asking => panic!("the answer came before any streamed text: {answer}"),
    }
    let (answer, is_error) = asking.await;
    assert!(!is_error, "{answer}");
    assert!(started.elapsed() >= Duration::from_secs(6));
    assert_eq!(
        answer,
        "Simulated reply to: think hard about this one please"
    );
    wait_for_streamed(&recorder, &answer).await;
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mid_stream_exception_is_retried_once_then_a_clear_error_and_history_stays_clean() {
    let run = start(&agents(""), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let broken = StreamScript {
        pause: None,
        fail_at: Some((2, StreamException::ModelStreamError)),
    };
    // Once: retried, and the caller gets the answer.
    run.sim.script_stream(broken.clone());
    let (answer, is_error) = ask(&client, "jarvis", "a question").await;
    assert!(!is_error, "{answer}");
    assert_eq!(answer, "Simulated reply to: a question");
    assert_eq!(run.converse_requests().len(), 2);
    run.sim.clear_requests();
    // Twice in a row: a clear error.
    run.sim.script_stream(broken.clone());
    run.sim.script_stream(broken);
    let (answer, is_error) = ask(&client, "jarvis", "first question").await;
    assert!(is_error, "{answer}");
    assert!(
        answer.contains("stream broke off: the model failed while streaming")
            && answer.contains("retry"),
        "{answer}"
    );
    let (answer, is_error) = ask(&client, "jarvis", "second question").await;
    assert!(!is_error, "{answer}");
    let last = run.converse_requests().pop().unwrap().body;
    assert_eq!(
        last["messages"].as_array().unwrap().len(),
        3,
        "the first exchange is kept, the failed turn left no trace"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_blocks_round_trip_across_a_tool_turn_and_stay_hidden() {
    let spec = format!("model: bedrock.{MODEL}?reasoning=2048");
    let run = start(&agents(&spec), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "what time is it? use notes__now").await;
    // The simulator rejects the second call unless the signed reasoning block is replayed
    // first in the assistant turn, unchanged.
    assert!(!is_error, "{answer}");
    assert!(answer.starts_with("Tool results: [notes__now]"), "{answer}");
    assert!(
        !answer.contains("The user asked"),
        "reasoning is hidden: {answer}"
    );
    let requests = run.converse_requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0].body;
    assert_eq!(
        first["additionalModelRequestFields"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    let replayed = &requests[1].body["messages"][1]["content"];
    let reasoning = &replayed[0]["reasoningContent"]["reasoningText"];
    assert!(
        reasoning["text"]
            .as_str()
            .unwrap()
            .starts_with("The user asked")
    );
    assert!(
        reasoning["signature"]
            .as_str()
            .unwrap()
            .starts_with("sim-sig-")
    );
    assert!(replayed[2].get("toolUse").is_some(), "{replayed}");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_reasoning_returns_the_reasoning_with_the_answer() {
    let spec =
        format!("model: bedrock.{MODEL}?reasoning=low\nshow_reasoning: true\nstreaming: false");
    let run = start(&agents(&spec), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "why is the sky blue").await;
    assert!(!is_error, "{answer}");
    assert!(
        answer.starts_with("<reasoning>\nThe user asked about why is the sky blue"),
        "{answer}"
    );
    assert!(
        answer.ends_with("Simulated reply to: why is the sky blue"),
        "{answer}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[test]
fn reasoning_the_model_cannot_do_is_a_config_error_for_that_agent() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_project(
        dir.path(),
        &agents("model: bedrock.amazon.nova-pro-v1:0?reasoning=high"),
        NOTES_CONFIG,
    );
    let project = load(&path);
    let errors: Vec<&str> = project
        .agent_errors
        .iter()
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("agents.yaml:")
            && errors[0]
                .contains("agents.jarvis.model: model 'amazon.nova-pro-v1:0' has no reasoning"),
        "{errors:?}"
    );
    let path = write_project(
        dir.path(),
        &agents("model: bedrock.anthropic.claude-sonnet-4-5?reasoning=8000\nmax_tokens: 4000"),
        NOTES_CONFIG,
    );
    let errors = load(&path).agent_errors;
    assert!(
        errors[0].message.contains("below max_tokens (4000)"),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_points_are_sent_and_cache_tokens_show_in_health_usage() {
    let run = start(&agents(""), &config("  cache_ttl: 1h")).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    ask(&client, "jarvis", "first question").await;
    ask(&client, "jarvis", "second question").await;
    let first = &run.converse_requests()[0].body;
    let point = json!({"cachePoint": {"type": "default", "ttl": "1h"}});
    assert_eq!(first["system"][1], point, "after the system prompt");
    assert_eq!(
        first["toolConfig"]["tools"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &point,
        "after the tool definitions"
    );
    assert_eq!(
        first["messages"][0]["content"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &point,
        "on the conversation prefix"
    );
    let health = call(&client, "get_health", json!({})).await;
    let usage = &health.structured_content.unwrap()["usage"];
    assert_eq!(usage["model_calls"], 2);
    assert!(usage["cache_write_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert!(usage["cache_read_tokens"].as_u64().unwrap() > 0, "{usage}");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_mode_off_sends_no_cache_points() {
    let run = start(&agents(""), &config("  cache_mode: off")).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    ask(&client, "jarvis", "hello").await;
    let body = run.converse_requests()[0].body.to_string();
    assert!(!body.contains("cachePoint"), "{body}");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail_intervention_is_answered_cleanly() {
    let run = start(
        &agents(""),
        &config("  guardrail: {id: gr-test123, version: \"2\", trace: enabled}"),
    )
    .await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "tell me about guardrail-trigger").await;
    assert!(!is_error, "{answer}");
    assert!(
        answer.contains("Sorry, the model cannot answer this question.")
            && answer.contains("guardrail intervened"),
        "{answer}"
    );
    let guardrail = &run.converse_requests()[0].body["guardrailConfig"];
    assert_eq!(guardrail["guardrailIdentifier"], "gr-test123");
    assert_eq!(guardrail["guardrailVersion"], "2");
    assert_eq!(guardrail["trace"], "enabled");
    // The agent keeps working afterwards.
    let (answer, is_error) = ask(&client, "jarvis", "something harmless").await;
    assert!(
        !is_error && answer.contains("something harmless"),
        "{answer}"
    );
    // A content filter stopping the model mid-answer is an answer too.
    run.sim.push_reply(ScriptedReply::Raw(json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "The first part"}]}},
        "stopReason": "content_filtered",
        "usage": {"inputTokens": 10, "outputTokens": 3, "totalTokens": 13}
    })));
    let (answer, is_error) = ask(&client, "jarvis", "another one").await;
    assert!(!is_error, "{answer}");
    assert_eq!(
        answer,
        "The first part\n\n[The answer was blocked by content filtering.]"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[test]
fn a_guardrail_without_a_version_is_a_config_error_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_project(
        dir.path(),
        &agents(""),
        &config("  guardrail:\n    id: gr-test123"),
    );
    let err = pallas::config::load_project_with_env(&path, &|_| None)
        .expect_err("a guardrail needs a version")
        .to_string();
    assert!(
        err.contains("fastagent.config.yaml") && err.contains("bedrock.guardrail.version"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_false_uses_converse() {
    let run = start(&agents("streaming: false"), NOTES_CONFIG).await;
    let (client, recorder) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "use notes__now please").await;
    assert!(!is_error, "{answer}");
    assert_eq!(operations(&run), vec!["Converse", "Converse"]);
    assert!(streamed_text(&recorder.ordered_progress()).is_empty());
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_rejects_streaming_with_tools_falls_back_to_converse_and_remembers() {
    let run = start(&agents(""), NOTES_CONFIG).await;
    run.sim.reject_streaming_with_tools(MODEL);
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "use notes__now please").await;
    assert!(!is_error, "{answer}");
    assert!(answer.starts_with("Tool results: [notes__now]"), "{answer}");
    let (_, is_error) = ask(&client, "jarvis", "and again notes__now").await;
    assert!(!is_error);
    assert_eq!(
        operations(&run),
        vec![
            "ConverseStream",
            "Converse",
            "Converse",
            "Converse",
            "Converse"
        ],
        "one rejected stream, then Converse only"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_choice_and_sampling_options_reach_the_request() {
    let options = r#"tool_choice: notes__now
temperature: 0.3
top_p: 0.9
max_tokens: 1000
stop_sequences: ["STOP"]
additional_model_request_fields: {top_k: 5}"#;
    let run = start(&agents(options), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "hello there").await;
    assert!(!is_error, "{answer}");
    assert!(
        answer.starts_with("Tool results: [notes__now]"),
        "forced: {answer}"
    );
    let requests = run.converse_requests();
    let first = &requests[0].body;
    assert_eq!(
        first["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "notes__now"}})
    );
    let inference = &first["inferenceConfig"];
    assert_eq!(inference["maxTokens"], 1000);
    assert!((inference["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert!((inference["topP"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(inference["stopSequences"], json!(["STOP"]));
    assert_eq!(first["additionalModelRequestFields"], json!({"top_k": 5}));
    // Forcing applies to the first call only, or the loop would never end.
    assert!(requests[1].body["toolConfig"].get("toolChoice").is_none());
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

/// Logging is process-wide, so this runs the `pallas` binary with its own environment and
/// reads its stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logging_has_a_summary_line_per_call_and_redacted_raw_bodies() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let agents = "name: logs\nhost: 127.0.0.1\nregistry_port: 0\nagents:\n  jarvis:\n    port: 0\n";
    let config = format!(
        "default_model: bedrock.{MODEL}\nlogger:\n  level: debug\nbedrock:\n  raw_debug: true\n  guardrail: {{id: gr-log, version: DRAFT, trace: enabled}}\n"
    );
    let path = write_project(dir.path(), agents, &config);
    let mut child = common::binary::hermetic_command(dir.path())
        .args(["serve", "--simulate", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pallas serve");
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let registry = loop {
        let line = rx.recv_timeout(TIMEOUT).expect("pallas ready line");
        if let Some(r) = line.strip_prefix("pallas ready: registry=") {
            break r.trim().to_string();
        }
    };
    let list = get_json(&format!("{registry}/agents")).await;
    let url = list[0]["url"].as_str().expect("agent url").to_string();
    let (client, _) = connect(&url).await;
    let (answer, is_error) = ask(&client, "jarvis", "log this question please").await;
    assert!(!is_error, "{answer}");
    let (answer, is_error) = ask(&client, "jarvis", "now the guardrail-trigger").await;
    assert!(
        !is_error,
        "an intervention is an answer, not an error: {answer}"
    );
    client.cancel().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let text = stderr_reader.join().unwrap();

    let summary = text
        .lines()
        .find(|l| l.contains("model call") && l.contains("input_tokens="))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    for field in [
        "model=",
        "output_tokens=",
        "latency_ms=",
        "stop_reason=EndTurn",
    ] {
        assert!(summary.contains(field), "{field} missing: {summary}");
    }
    let request = text
        .lines()
        .find(|l| l.contains("bedrock request"))
        .unwrap_or_else(|| panic!("no raw request in:\n{text}"));
    assert!(request.contains("log this question please"), "{request}");
    assert!(
        text.contains("bedrock ConverseStream response (assembled)"),
        "{text}"
    );
    assert!(
        !text.contains("AWS4-HMAC-SHA256") && !text.contains("Bearer "),
        "{text}"
    );
    let blocked = text
        .lines()
        .find(|l| l.contains("blocked by a guardrail"))
        .unwrap_or_else(|| panic!("no guardrail line in:\n{text}"));
    assert!(
        blocked.contains("gr-log:DRAFT") && blocked.contains("Simulated denied topic"),
        "the trace is logged: {blocked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redacted_reasoning_is_streamed_and_replayed_unchanged() {
    let spec = format!("model: bedrock.{MODEL}?reasoning=high");
    let run = start(&agents(&spec), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    // Encrypted reasoning is opaque bytes (base64 on the wire) with no text or signature.
    let redacted = "ZW5jcnlwdGVkIHJlYXNvbmluZw==";
    run.sim.push_reply(ScriptedReply::Raw(json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"redactedContent": redacted}},
            {"toolUse": {"toolUseId": "tooluse_r1", "name": "notes__now", "input": {}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}
    })));
    let (answer, is_error) = ask(&client, "jarvis", "what time is it").await;
    assert!(!is_error, "{answer}");
    assert!(answer.starts_with("Tool results: [notes__now]"), "{answer}");
    let replayed = &run.converse_requests()[1].body["messages"][1]["content"];
    assert_eq!(
        replayed[0],
        json!({"reasoningContent": {"redactedContent": redacted}})
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

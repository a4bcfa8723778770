//! History inside the context window, end to end against the simulator: a conversation far
//! longer than a small `context_window` keeps being answered, every request sent fits the
//! window (counted the way the simulator counts tokens), the stored history keeps every turn,
//! and `summarize` sends one summary block that is reused rather than recomputed.

mod common;

use common::*;
use pallas_simulator::{InjectedError, RecordedRequest};
use serde_json::{Value, json};

const CONTEXT_WINDOW: u64 = 3_000;
const MAX_TOKENS: u64 = 200;

fn project(strategy: &str, servers: &str) -> String {
    format!(
        r#"
name: window
host: 127.0.0.1
registry_port: 0
agents:
  jarvis:
    port: 0
    instruction: "You are Jarvis."
    servers: [{servers}]
    max_tokens: {MAX_TOKENS}
    model_capabilities: {{context_window: {CONTEXT_WINDOW}}}
    history: {{strategy: {strategy}}}
"#
    )
}

/// The question of turn `i`: long enough that a few turns fill the window.
fn question(i: usize) -> String {
    format!("question {i}: {}", "lorem ipsum dolor sit amet ".repeat(22))
}

/// Tokens of a Converse request as the simulator counts them (its `usage.rs`): the text of
/// text blocks, the JSON of any other block, a token per four characters.
fn simulator_tokens(body: &Value) -> u64 {
    let block_chars = |b: &Value| match b.get("text").and_then(Value::as_str) {
        Some(t) => t.chars().count(),
        None => b.to_string().chars().count(),
    };
    let list = |p: &str| {
        body.pointer(p)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut chars: usize = list("/toolConfig/tools").iter().map(block_chars).sum();
    chars += list("/system").iter().map(block_chars).sum::<usize>();
    for m in list("/messages") {
        chars += m["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(block_chars)
            .sum::<usize>();
    }
    (chars / 4) as u64
}

fn is_summary_request(r: &RecordedRequest) -> bool {
    r.body["system"][0]["text"]
        .as_str()
        .is_some_and(|s| s.starts_with("You condense conversations"))
}

fn texts_of(message: &Value) -> Vec<String> {
    message["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect()
}

/// Every toolUse sent is answered by a toolResult in the message right after it.
fn assert_tool_uses_answered(messages: &[Value]) {
    for (i, m) in messages.iter().enumerate() {
        for block in m["content"].as_array().unwrap() {
            let Some(id) = block.pointer("/toolUse/toolUseId") else {
                continue;
            };
            let next = messages.get(i + 1).expect("a tool use is never sent last");
            assert!(
                next["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b.pointer("/toolResult/toolUseId") == Some(id)),
                "tool use {id} sent without its result"
            );
        }
        if i == 0 {
            assert!(
                m["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|b| b.get("toolResult").is_none()),
                "a tool result is sent without its tool use"
            );
        }
    }
}

async fn usage(client: &Client) -> Value {
    let health = call(client, "get_health", json!({})).await;
    let health: Value = serde_json::from_str(&text(&health)).unwrap();
    health["agents"]
        .as_array()
        .map(|a| a[0]["usage"].clone())
        .unwrap_or_else(|| health["usage"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_conversation_keeps_working_and_every_request_fits_the_window() {
    let run = start(&project("truncate", "notes"), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let turns = 16;
    for i in 0..turns {
        let message = if i % 5 == 2 {
            // A turn with a tool call and its result in the history.
            format!(
                r#"{} notes__add_note {{"title": "n{i}", "text": "turn {i}"}}"#,
                question(i)
            )
        } else {
            question(i)
        };
        let (answer, is_error) = ask(&client, "jarvis", &message).await;
        assert!(!is_error, "turn {i}: {answer}");
        // The answer is the model's, with no note about the history left out.
        if i % 5 == 2 {
            assert!(
                answer.starts_with("Tool results: [notes__add_note]"),
                "{answer}"
            );
        } else {
            assert_eq!(
                answer,
                format!("Simulated reply to: {}…", &message[..200]),
                "turn {i}"
            );
        }
    }

    let requests = run.converse_requests();
    assert!(requests.len() > turns, "tool turns make two calls each");
    for r in &requests {
        let sent = simulator_tokens(&r.body);
        assert_eq!(r.body["inferenceConfig"]["maxTokens"], json!(MAX_TOKENS));
        assert!(
            sent + MAX_TOKENS <= CONTEXT_WINDOW,
            "{sent} input tokens + {MAX_TOKENS} output exceed the {CONTEXT_WINDOW}-token window"
        );
        let messages = r.body["messages"].as_array().unwrap();
        assert_eq!(messages[0]["role"], "user");
        assert_tool_uses_answered(messages);
    }
    // The last call sent the current question and left out the oldest turns.
    let last = &requests.last().unwrap().body["messages"];
    let last = last.as_array().unwrap();
    assert_eq!(
        texts_of(last.last().unwrap()),
        vec![question(turns - 1)],
        "the current turn is sent"
    );
    let all_text: String = last.iter().flat_map(texts_of).collect();
    assert!(
        !all_text.contains("question 0:"),
        "the oldest turn is left out"
    );
    assert!(
        last.len() >= 4,
        "more than the current turn fits: {}",
        last.len()
    );

    // The stored history keeps everything; health counts the trimmed calls.
    let history = client
        .get_prompt(rmcp::model::GetPromptRequestParams::new("jarvis_history"))
        .await
        .unwrap();
    let shown: String = history
        .messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect();
    assert!(shown.contains("question 0:") && shown.contains(&format!("question {}:", turns - 1)));
    let usage = usage(&client).await;
    assert!(usage["history_trimmed"].as_u64().unwrap() >= 5, "{usage}");
    assert_eq!(usage["history_summarized"], json!(0), "{usage}");

    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_sends_one_summary_block_and_reuses_it() {
    let run = start(&project("summarize", ""), NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    // Per turn: how many summaries had been requested, and the summary block sent (if any).
    let mut seen: Vec<(usize, Option<String>)> = Vec::new();
    for i in 0..16 {
        let (answer, is_error) = ask(&client, "jarvis", &question(i)).await;
        assert!(!is_error, "turn {i}: {answer}");
        assert_eq!(
            answer,
            format!("Simulated reply to: {}…", &question(i)[..200])
        );
        let requests = run.converse_requests();
        let summaries = requests.iter().filter(|r| is_summary_request(r)).count();
        let last = requests.last().unwrap();
        assert!(!is_summary_request(last), "the answer comes last");
        let sent = simulator_tokens(&last.body);
        assert!(sent + MAX_TOKENS <= CONTEXT_WINDOW, "turn {i}: {sent}");
        let messages = last.body["messages"].as_array().unwrap();
        let blocks: Vec<String> = messages
            .iter()
            .flat_map(texts_of)
            .filter(|t| t.starts_with("[Summary of the earlier part"))
            .collect();
        assert!(blocks.len() <= 1, "one summary block at most: {blocks:?}");
        if let Some(block) = blocks.first() {
            assert_eq!(
                texts_of(&messages[0])[0],
                *block,
                "the summary opens the first message"
            );
        }
        seen.push((summaries, blocks.into_iter().next()));
    }

    let first = seen
        .iter()
        .position(|(n, _)| *n > 0)
        .expect("the conversation outgrew the window and was summarized");
    assert!(seen[first].1.is_some(), "the summary is sent once computed");
    // The call after the one that summarized reuses the stored summary: no new summary
    // request, the same block sent.
    assert_eq!(seen[first + 1].0, seen[first].0, "summary recomputed");
    assert_eq!(seen[first + 1].1, seen[first].1);
    let computed = seen.last().unwrap().0;
    assert!(
        computed < seen.len() - first,
        "summaries are not computed on every call: {computed}"
    );

    // A summarizing call offers no tools and is counted.
    let requests = run.converse_requests();
    let summary_call = requests.iter().find(|r| is_summary_request(r)).unwrap();
    assert!(summary_call.body.get("toolConfig").is_none());
    let usage = usage(&client).await;
    assert_eq!(usage["history_summarized"], json!(computed), "{usage}");
    assert_eq!(
        usage["model_calls"],
        json!(16 + computed),
        "summaries are model calls too: {usage}"
    );

    // The stored history still holds every turn.
    let history = client
        .get_prompt(rmcp::model::GetPromptRequestParams::new("jarvis_history"))
        .await
        .unwrap();
    assert_eq!(history.messages.len(), 32);

    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_summary_falls_back_to_truncation_and_the_turn_is_answered() {
    // Two identical agents: the first shows at which turn a summary is needed, the second is
    // given the same turns with that summarizing call failing.
    let agents = project("summarize", "").replace(
        "agents:\n",
        &format!(
            "agents:\n  friday:\n    port: 0\n    instruction: \"You are Jarvis.\"\n    max_tokens: {MAX_TOKENS}\n    model_capabilities: {{context_window: {CONTEXT_WINDOW}}}\n    history: {{strategy: summarize}}\n"
        ),
    );
    let run = start(&agents, NOTES_CONFIG).await;
    let (jarvis, _) = connect(&run.url("jarvis")).await;
    let mut first = None;
    for i in 0..16 {
        ask(&jarvis, "jarvis", &question(i)).await;
        if run.converse_requests().iter().any(is_summary_request) {
            first = Some(i);
            break;
        }
    }
    let first = first.expect("jarvis needed a summary");

    let (friday, _) = connect(&run.url("friday")).await;
    for i in 0..first {
        ask(&friday, "friday", &question(i)).await;
    }
    run.sim.clear_requests();
    // The summarizing call comes first in the turn; it is refused.
    run.sim.inject_error(InjectedError::Validation, 1);
    let (answer, is_error) = ask(&friday, "friday", &question(first)).await;
    assert!(!is_error, "{answer}");
    assert_eq!(
        answer,
        format!("Simulated reply to: {}…", &question(first)[..200])
    );
    let requests = run.converse_requests();
    assert!(is_summary_request(&requests[0]), "a summary was attempted");
    let answered = requests.last().unwrap();
    assert!(!is_summary_request(answered));
    let sent = simulator_tokens(&answered.body);
    assert!(sent + MAX_TOKENS <= CONTEXT_WINDOW, "{sent}");
    let text: String = answered.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(texts_of)
        .collect();
    assert!(!text.contains("[Summary of the earlier part"), "{text}");
    assert!(
        !text.contains("question 0:"),
        "old turns left out without a summary"
    );
    let usage = usage(&friday).await;
    assert_eq!(usage["history_summarized"], json!(0), "{usage}");
    assert!(usage["history_trimmed"].as_u64().unwrap() >= 1, "{usage}");

    for client in [jarvis, friday] {
        client.cancel().await.unwrap();
    }
    run.fleet.shutdown().await;
}

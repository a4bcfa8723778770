//! Conversation ids end to end in one process: a stateless MCP 2026-07-28 client continues a
//! conversation by id, results carry the id and the turn's usage, scopes decide when no id is
//! given, bad ids are refused, a cancelled turn stores nothing, ending deletes, ttl expires.

mod common;

use std::time::Duration;

use common::*;
use rmcp::model::{CallToolRequestParams, CallToolResult, GetPromptRequestParams, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};

const AGENTS: &str = r#"
name: conversations
host: 127.0.0.1
registry_port: 0
conversations:
  store: memory
agents:
  jarvis:
    port: 0
  team:
    port: 0
    instance_scope: shared
  oneshot:
    port: 0
    instance_scope: request
"#;

const CONFIG: &str = "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\n";

type Stateless = RunningService<RoleClient, ()>;

/// A client without a session, as MCP 2026-07-28 clients are (the Python SDK's default).
async fn stateless(url: &str) -> Stateless {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    tokio::time::timeout(
        TIMEOUT,
        ().serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
    )
    .await
    .expect("discover in time")
    .expect("server/discover")
}

async fn call_raw(
    client: &RunningService<RoleClient, impl rmcp::service::Service<RoleClient>>,
    tool: &str,
    args: Value,
) -> Result<CallToolResult, rmcp::ServiceError> {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    tokio::time::timeout(
        TIMEOUT,
        client.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args)),
    )
    .await
    .expect("tool call in time")
}

/// A successful answer's structuredContent.
async fn turn(client: &Stateless, tool: &str, args: Value) -> Value {
    let result = call_raw(client, tool, args).await.expect("tool call");
    assert!(!result.is_error.unwrap_or(false), "{}", text(&result));
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(
        structured["answer"],
        json!(text(&result)),
        "text is the answer"
    );
    structured
}

async fn history(
    client: &RunningService<RoleClient, impl rmcp::service::Service<RoleClient>>,
    prompt: &str,
    conversation: Option<&str>,
) -> Vec<String> {
    let mut request = GetPromptRequestParams::new(prompt);
    if let Some(id) = conversation {
        let Value::Object(args) = json!({ "conversation": id }) else {
            unreachable!()
        };
        request.arguments = Some(args);
    }
    client
        .get_prompt(request)
        .await
        .expect("history prompt")
        .messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect()
}

fn last_request_messages(run: &Running) -> Vec<Value> {
    run.converse_requests().pop().expect("a model call").body["messages"]
        .as_array()
        .expect("messages")
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_continues_a_conversation_by_id_and_the_model_sees_it() {
    let run = start(AGENTS, CONFIG).await;
    let client = stateless(&run.url("jarvis")).await;

    let first = turn(&client, "jarvis", json!({"message": "my name is Ada"})).await;
    let id = first["conversation"].as_str().expect("an id").to_string();
    assert_eq!(first["stop_reason"], json!("end_turn"));
    assert_eq!(first["usage"]["model_calls"], json!(1));
    assert_eq!(first["usage"]["tool_calls"], json!(0));
    assert!(
        first["usage"]["input_tokens"].as_u64().unwrap() > 0,
        "{first}"
    );

    // Without the id a stateless client starts over every time (there is no session).
    let other = turn(&client, "jarvis", json!({"message": "who am I?"})).await;
    assert_ne!(other["conversation"], json!(id));
    assert_eq!(last_request_messages(&run).len(), 1);

    // With it, the model is sent the earlier turn.
    let second = turn(
        &client,
        "jarvis",
        json!({"message": "what is my name?", "conversation": id}),
    )
    .await;
    assert_eq!(second["conversation"], json!(id));
    let sent = last_request_messages(&run);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0]["content"][0]["text"], json!("my name is Ada"));

    assert_eq!(
        history(&client, "jarvis_history", Some(&id)).await,
        [
            "my name is Ada",
            "Simulated reply to: my name is Ada",
            "what is my name?",
            "Simulated reply to: what is my name?"
        ]
    );

    // A caller's own id is created on first use, per agent.
    let mine = turn(
        &client,
        "jarvis",
        json!({"message": "hello", "conversation": "user-42:thread.7"}),
    )
    .await;
    assert_eq!(mine["conversation"], json!("user-42:thread.7"));
    assert_eq!(last_request_messages(&run).len(), 1);

    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_declares_its_output_and_scopes_decide_without_an_id() {
    let run = start(AGENTS, CONFIG).await;
    let (session, _) = connect(&run.url("jarvis")).await;
    let tools = session.list_all_tools().await.unwrap();
    let schema = tools[0].output_schema.as_ref().expect("outputSchema");
    assert_eq!(
        schema["required"],
        json!(["answer", "conversation", "stop_reason", "usage"])
    );
    assert!(tools[0].input_schema["properties"]["conversation"].is_object());

    // connection: a client with a session keeps one conversation.
    let a = call(&session, "jarvis", json!({"message": "one"})).await;
    let b = call(&session, "jarvis", json!({"message": "two"})).await;
    let id = a.structured_content.as_ref().unwrap()["conversation"].clone();
    assert_eq!(b.structured_content.as_ref().unwrap()["conversation"], id);
    assert_eq!(history(&session, "jarvis_history", None).await.len(), 4);

    // shared: everyone's conversation is `shared`.
    let c = stateless(&run.url("team")).await;
    let shared = turn(&c, "team", json!({"message": "for everyone"})).await;
    assert_eq!(shared["conversation"], json!("shared"));
    let d = stateless(&run.url("team")).await;
    turn(&d, "team", json!({"message": "me too"})).await;
    assert_eq!(history(&d, "team_history", None).await.len(), 4);

    // request: nothing stored, and the result says so.
    let e = stateless(&run.url("oneshot")).await;
    let once = turn(&e, "oneshot", json!({"message": "forget me"})).await;
    assert_eq!(once["conversation"], Value::Null);
    let err = e
        .get_prompt(GetPromptRequestParams::new("oneshot_history"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("pass the 'conversation' argument"), "{err}");
    assert!(
        run.fleet
            .conversations
            .list(Some("oneshot"))
            .await
            .unwrap()
            .is_empty()
    );

    for client in [c, d, e] {
        client.cancel().await.unwrap();
    }
    session.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_are_refused_with_what_an_id_may_be() {
    let run = start(AGENTS, CONFIG).await;
    let client = stateless(&run.url("jarvis")).await;
    for bad in [
        json!("has space"),
        json!(""),
        json!("x".repeat(129)),
        json!(42),
    ] {
        let err = call_raw(
            &client,
            "jarvis",
            json!({"message": "hi", "conversation": bad}),
        )
        .await
        .expect_err("invalid params")
        .to_string();
        assert!(
            err.contains("'conversation'") && err.contains("1 to 128 characters"),
            "{err}"
        );
    }
    let err = call_raw(&client, "jarvis", json!({"end_conversation": true}))
        .await
        .expect_err("ending needs an id")
        .to_string();
    assert!(err.contains("needs the id"), "{err}");
    assert!(run.converse_requests().is_empty(), "no model call was made");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_turn_leaves_the_conversation_unchanged() {
    let run = start(AGENTS, CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let args = |m: &str| json!({"message": m, "conversation": "cancel-me"});
    call(&client, "jarvis", args("kept")).await;

    run.sim.set_latency(Duration::from_secs(30));
    let before = run.converse_requests().len();
    let client = std::sync::Arc::new(client);
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { call_raw(&*client, "jarvis", args("dropped")).await })
    };
    eventually("the model call started", || async {
        run.converse_requests().len() > before
    })
    .await;
    // Dropping the request future sends notifications/cancelled.
    pending.abort();
    run.sim.set_latency(Duration::ZERO);

    let after = call(&client, "jarvis", args("after")).await;
    assert!(!after.is_error.unwrap_or(false), "{}", text(&after));
    let sent = last_request_messages(&run);
    let texts: Vec<&str> = sent
        .iter()
        .map(|m| m["content"][0]["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["kept", "Simulated reply to: kept", "after"]);
    assert_eq!(
        history(&*client, "jarvis_history", Some("cancel-me"))
            .await
            .len(),
        4
    );
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_conversation_deletes_it() {
    let run = start(AGENTS, CONFIG).await;
    let client = stateless(&run.url("jarvis")).await;
    turn(
        &client,
        "jarvis",
        json!({"message": "hi", "conversation": "bye"}),
    )
    .await;
    let ended = turn(
        &client,
        "jarvis",
        json!({"conversation": "bye", "end_conversation": true}),
    )
    .await;
    assert_eq!(ended["stop_reason"], json!("conversation_ended"));
    assert!(
        ended["answer"].as_str().unwrap().contains("ended"),
        "{ended}"
    );
    assert!(
        history(&client, "jarvis_history", Some("bye"))
            .await
            .is_empty()
    );
    let again = turn(
        &client,
        "jarvis",
        json!({"conversation": "bye", "end_conversation": true}),
    )
    .await;
    assert!(
        again["answer"]
            .as_str()
            .unwrap()
            .contains("no stored conversation"),
        "{again}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_conversations_expire_after_the_ttl() {
    let agents = AGENTS.replace("  store: memory\n", "  store: sqlite\n  ttl: 1s\n");
    let run = start(&agents, CONFIG).await;
    assert!(
        run.dir.path().join(".pallas/conversations.db").exists(),
        "the default SQLite file is beside agents.yaml"
    );
    let client = stateless(&run.url("jarvis")).await;
    turn(
        &client,
        "jarvis",
        json!({"message": "soon gone", "conversation": "t"}),
    )
    .await;
    assert_eq!(run.fleet.conversations.list(None).await.unwrap().len(), 1);
    // The sweeper runs every second for a 1 s ttl.
    eventually("the idle conversation is swept", || async {
        run.fleet.conversations.list(None).await.unwrap().is_empty()
    })
    .await;
    assert!(
        history(&client, "jarvis_history", Some("t"))
            .await
            .is_empty()
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_too_long_for_a_busy_conversation_is_told_so() {
    let agents = AGENTS.replace("  store: memory\n", "  store: memory\n  busy_timeout: 1s\n");
    let run = start(&agents, CONFIG).await;
    let (first, second) = (
        stateless(&run.url("jarvis")).await,
        stateless(&run.url("jarvis")).await,
    );
    run.sim.set_latency(Duration::from_secs(4));
    let args = |m: &str| json!({"message": m, "conversation": "busy"});
    let slow = call_raw(&first, "jarvis", args("slow"));
    let waiting = async {
        eventually("the first turn reached the model", || async {
            !run.converse_requests().is_empty()
        })
        .await;
        call_raw(&second, "jarvis", args("impatient")).await
    };
    let (slow, waiting) = tokio::join!(slow, waiting);
    assert!(!slow.unwrap().is_error.unwrap_or(false));
    let waiting = waiting.expect("an error result, not a protocol error");
    assert_eq!(waiting.is_error, Some(true));
    let message = text(&waiting);
    assert!(
        message.contains("conversation 'busy' of agent 'jarvis' is busy")
            && message.contains("retry"),
        "{message}"
    );
    assert_eq!(
        run.converse_requests().len(),
        1,
        "the waiting call never ran"
    );
    first.cancel().await.unwrap();
    second.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

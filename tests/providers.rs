//! The HTTP providers end to end: one conversation suite through the real agent loop for
//! every provider surface the simulator serves, the Mantle shims shown necessary and
//! sufficient, and the token-free preflight for each provider with every failure it reports.

mod common;

use common::*;
use pallas::config::{AnthropicSettings, GenericSettings, OpenAiSettings, Secret, Settings};
use pallas::llm::{PreflightStatus, ProviderOverrides, build_provider};
use pallas::model::ModelSpec;
use pallas_simulator::Simulator;
use serde_json::{Value, json};

const KEY: &str = "sim-test-key";

const AGENT: &str = r#"
name: providers
version: "1.0.0"
host: 127.0.0.1
registry_port: 0
agents:
  jarvis:
    port: 0
    title: Jarvis
    description: "Test assistant with notes"
    instruction: "You are Jarvis."
    servers: [notes]
    max_iterations: 3
"#;

const NOTES: &str = r#"
mcp:
  servers:
    notes:
      command: "{notes}"
      read_timeout_seconds: 20
"#;

/// A provider surface of the simulator and the settings that reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// Path 1: ConverseStream through the AWS SDK.
    Bedrock,
    AnthropicDirect,
    AnthropicMantle,
    OpenAiMantle,
    Generic,
}

impl Surface {
    fn provider(self) -> &'static str {
        match self {
            Surface::AnthropicDirect | Surface::AnthropicMantle => "anthropic",
            Surface::OpenAiMantle => "openai",
            Surface::Generic => "generic",
            Surface::Bedrock => "bedrock",
        }
    }

    /// fastagent.config.yaml for this surface against `sim`.
    fn config(self, sim: &Simulator) -> String {
        let url = sim.endpoint_url();
        let provider = match self {
            Surface::AnthropicDirect => format!(
                "default_model: anthropic.claude-haiku-4-5\nanthropic:\n  base_url: {url}\n  api_key: {KEY}\n"
            ),
            // The loopback host does not say "bedrock-mantle", so Mantle mode is explicit.
            Surface::AnthropicMantle => format!(
                "default_model: anthropic.claude-haiku-4-5\nanthropic:\n  base_url: {url}/anthropic\n  api_key: {KEY}\n  mantle: true\n"
            ),
            Surface::OpenAiMantle => format!(
                "default_model: openai.minimax.minimax-m2.5\nopenai:\n  base_url: {url}/v1\n  api_key: {KEY}\n"
            ),
            Surface::Generic => {
                format!("default_model: generic.llama3.2\ngeneric:\n  base_url: {url}/v1\n")
            }
            // The simulator overrides point the SDK at the simulator.
            Surface::Bedrock => {
                "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\n".to_string()
            }
        };
        format!("{provider}{NOTES}")
    }

    /// The simulator operation its model calls are recorded under.
    fn operation(self) -> &'static str {
        match self {
            Surface::AnthropicDirect | Surface::AnthropicMantle => "Messages",
            Surface::OpenAiMantle | Surface::Generic => "ChatCompletions",
            Surface::Bedrock => "ConverseStream",
        }
    }
}

async fn start_surface(agents: &str, surface: Surface) -> Running {
    let run = start_with(agents, |sim| surface.config(sim)).await;
    if matches!(
        surface,
        Surface::AnthropicDirect | Surface::AnthropicMantle | Surface::OpenAiMantle
    ) {
        run.sim.set_api_key(Some(KEY));
    }
    run
}

fn model_calls(run: &Running, surface: Surface) -> Vec<Value> {
    run.sim
        .requests()
        .into_iter()
        .filter(|r| r.operation == surface.operation())
        .map(|r| r.body)
        .collect()
}

/// The conversation suite. Each step uses a fresh MCP session, so histories do not mix.
async fn conversation_suite(surface: Surface) {
    let run = start_surface(AGENT, surface).await;
    let url = run.url("jarvis");
    let provider = surface.provider();

    // Plain answer.
    let (client, _) = connect(&url).await;
    let (answer, is_error) = ask(&client, "jarvis", "hello there").await;
    assert!(!is_error, "{surface:?}: {answer}");
    assert_eq!(answer, "Simulated reply to: hello there", "{surface:?}");
    client.cancel().await.unwrap();

    // One tool call: the downstream result reaches the model on the second turn.
    let (client, _) = connect(&url).await;
    let (answer, is_error) = ask(
        &client,
        "jarvis",
        r#"Remember: notes__add_note {"title": "milk", "text": "buy 2 litres"}"#,
    )
    .await;
    assert!(!is_error, "{surface:?}: {answer}");
    assert!(
        answer.contains("[notes__add_note] Saved note 'milk'"),
        "{surface:?}: {answer}"
    );
    client.cancel().await.unwrap();

    // Two tool calls in one turn.
    let (client, _) = connect(&url).await;
    let (answer, is_error) = ask(
        &client,
        "jarvis",
        r#"notes__get_note {"title": "milk"} and notes__list_notes"#,
    )
    .await;
    assert!(!is_error, "{surface:?}: {answer}");
    assert!(
        answer.contains("[notes__get_note] buy 2 litres")
            && answer.contains("[notes__list_notes] milk"),
        "{surface:?}: {answer}"
    );
    let last = model_calls(&run, surface).pop().unwrap();
    let results = last["messages"].to_string();
    assert_eq!(
        results.matches("buy 2 litres").count(),
        1,
        "{surface:?}: {results}"
    );
    client.cancel().await.unwrap();

    // A tool without arguments.
    let (client, _) = connect(&url).await;
    let (answer, is_error) = ask(&client, "jarvis", "what time is it? notes__now").await;
    assert!(!is_error, "{surface:?}: {answer}");
    assert!(answer.contains("[notes__now] 20"), "{surface:?}: {answer}");
    client.cancel().await.unwrap();

    // A failing tool: an error result the model sees, not a failed agent call.
    let (client, _) = connect(&url).await;
    let (answer, is_error) = ask(
        &client,
        "jarvis",
        r#"notes__fail {"message": "disk on fire"}"#,
    )
    .await;
    assert!(!is_error, "{surface:?}: {answer}");
    assert!(
        answer.contains("[notes__fail] error: disk on fire"),
        "{surface:?}: {answer}"
    );
    client.cancel().await.unwrap();

    // Streaming: the answer's text arrives as progress notifications before the result.
    let (client, recorder) = connect(&url).await;
    let question = "please stream a reasonably long answer back to me";
    let (answer, is_error) = ask(&client, "jarvis", question).await;
    assert!(!is_error, "{surface:?}: {answer}");
    // The server sends every progress notification, in order, before the result; the client
    // handles notifications on their own tasks, so they may land after the result and out of
    // order. Every piece is part of the answer and together they are all of it.
    let streamed = || {
        let progress = recorder.progress.lock().unwrap().clone();
        progress
            .into_iter()
            .filter(|p| !p.starts_with("model call ") && !p.starts_with("tool call "))
            .collect::<Vec<_>>()
    };
    eventually("the streamed pieces add up to the answer", || {
        let pieces = streamed();
        let done = pieces.iter().all(|p| answer.contains(p.as_str()))
            && pieces.iter().map(String::len).sum::<usize>() == answer.len();
        async move { done }
    })
    .await;
    assert!(
        streamed().len() > 1,
        "{surface:?}: text came in several pieces: {:?}",
        streamed()
    );
    client.cancel().await.unwrap();

    // An error in the middle of the stream fails the call clearly; the next call works.
    let (client, _) = connect(&url).await;
    // Every provider retries a broken stream once, so it takes two to fail.
    run.sim.inject_stream_error(2);
    let (answer, is_error) = ask(&client, "jarvis", "this one breaks").await;
    assert!(is_error, "{surface:?}: {answer}");
    assert!(
        answer.contains(provider),
        "{surface:?} names the provider: {answer}"
    );
    assert!(answer.contains("stream broke off"), "{surface:?}: {answer}");
    let (answer, is_error) = ask(&client, "jarvis", "and now?").await;
    assert!(
        !is_error && answer == "Simulated reply to: and now?",
        "{surface:?}: {answer}"
    );
    client.cancel().await.unwrap();

    // The wire requests were authenticated, named the model as the surface wants it, and
    // never contained a null.
    let requests: Vec<_> = run
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.operation == surface.operation())
        .collect();
    for r in &requests {
        assert!(
            !r.body.to_string().contains("null"),
            "{surface:?}: {}",
            r.body
        );
        match surface {
            Surface::AnthropicDirect | Surface::AnthropicMantle => {
                assert_eq!(r.header("x-api-key"), Some(KEY));
                assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
            }
            Surface::OpenAiMantle => {
                assert_eq!(
                    r.header("authorization"),
                    Some(format!("Bearer {KEY}").as_str())
                )
            }
            Surface::Generic => assert_eq!(r.header("authorization"), None),
            Surface::Bedrock => assert!(r.header("authorization").is_some()),
        }
    }
    let (path, model) = match surface {
        Surface::AnthropicDirect => ("/v1/messages", "claude-haiku-4-5"),
        Surface::AnthropicMantle => ("/anthropic/v1/messages", "anthropic.claude-haiku-4-5"),
        Surface::OpenAiMantle => ("/v1/chat/completions", "minimax.minimax-m2.5"),
        Surface::Generic => ("/v1/chat/completions", "llama3.2"),
        Surface::Bedrock => (
            "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream",
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
    };
    assert_eq!(requests[0].path, path);
    assert_eq!(requests[0].model_id, model);
    run.fleet.shutdown().await;
}

/// One test per surface for a suite.
macro_rules! per_surface {
    ($suite:ident: $($name:ident => $surface:expr),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $suite($surface).await;
            }
        )*
    };
}

per_surface! {
    conversation_suite:
    conversation_bedrock => Surface::Bedrock,
    conversation_anthropic_direct => Surface::AnthropicDirect,
    conversation_anthropic_mantle => Surface::AnthropicMantle,
    conversation_openai_mantle => Surface::OpenAiMantle,
    conversation_generic => Surface::Generic,
}

// ── Shared policy: the same on every provider ───────────────────────────────────────────

/// [`AGENT`] plus `quiet`, which does not stream and passes a request field through.
fn policy_agents() -> String {
    format!(
        "{AGENT}  quiet:\n    port: 0\n    instruction: \"You are Quiet.\"\n    servers: [notes]\n    max_iterations: 3\n    streaming: false\n    additional_model_request_fields: {{top_k: 5}}\n"
    )
}

/// `streaming: false`, the one retry of a broken stream and pass-through request fields
/// behave alike on every provider, because the runtime, not the provider, owns them.
async fn policy_suite(surface: Surface) {
    let run = start_surface(&policy_agents(), surface).await;

    // A stream that breaks once is retried: the caller is told, then gets the answer.
    let (client, recorder) = connect(&run.url("jarvis")).await;
    run.sim.inject_stream_error(1);
    let (answer, is_error) = ask(&client, "jarvis", "this one breaks once").await;
    assert!(!is_error, "{surface:?}: {answer}");
    assert_eq!(
        answer, "Simulated reply to: this one breaks once",
        "{surface:?}"
    );
    eventually("the retry notice arrives", || {
        let notice = recorder
            .progress
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "\n[the answer stream broke off; retrying]\n");
        async move { notice }
    })
    .await;
    client.cancel().await.unwrap();

    // `streaming: false`: one plain call, no streamed text, the extra fields in the body.
    run.sim.clear_requests();
    let (client, recorder) = connect(&run.url("quiet")).await;
    let (answer, is_error) = ask(&client, "quiet", "hello quietly").await;
    assert!(!is_error, "{surface:?}: {answer}");
    assert_eq!(answer, "Simulated reply to: hello quietly", "{surface:?}");
    let streamed: Vec<String> = recorder
        .ordered_progress()
        .into_iter()
        .filter(|p| !p.starts_with("model call ") && !p.starts_with("tool call "))
        .collect();
    assert!(streamed.is_empty(), "{surface:?}: {streamed:?}");
    let calls = run.sim.requests();
    let call = calls
        .iter()
        .find(|r| {
            matches!(
                r.operation.as_str(),
                "Messages" | "ChatCompletions" | "Converse" | "ConverseStream"
            )
        })
        .unwrap();
    match surface {
        Surface::Bedrock => {
            assert_eq!(call.operation, "Converse");
            assert_eq!(call.body["additionalModelRequestFields"]["top_k"], 5);
        }
        _ => {
            assert_ne!(call.body["stream"], true, "{surface:?}: {}", call.body);
            assert_eq!(call.body["top_k"], 5, "{surface:?}: {}", call.body);
        }
    }
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

per_surface! {
    policy_suite:
    policy_bedrock => Surface::Bedrock,
    policy_anthropic_direct => Surface::AnthropicDirect,
    policy_anthropic_mantle => Surface::AnthropicMantle,
    policy_openai_mantle => Surface::OpenAiMantle,
    policy_generic => Surface::Generic,
}

// ── The Mantle shims ────────────────────────────────────────────────────────────────────

fn mantle_config(sim: &Simulator, extra: &str) -> String {
    format!(
        "default_model: anthropic.claude-haiku-4-5\nanthropic:\n  base_url: {}/anthropic\n  api_key: {KEY}\n{extra}{NOTES}",
        sim.endpoint_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_shims_mantle_refuses_the_model_name() {
    // A Mantle URL with Mantle mode forced off: the bare model name goes out and Mantle
    // answers 404, as the real service does.
    let run = start_with(AGENT, |sim| mantle_config(sim, "  mantle: false\n")).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "hello").await;
    assert!(is_error, "{answer}");
    assert!(
        answer.contains("404") && answer.contains("does not exist"),
        "{answer}"
    );
    let sent = run
        .sim
        .requests()
        .into_iter()
        .find(|r| r.operation == "Messages")
        .unwrap();
    assert_eq!(sent.model_id, "claude-haiku-4-5");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test]
async fn mantle_rejects_caller_null_and_accepts_the_same_turn_without_it() {
    let sim = Simulator::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let body = |tool_use: Value| {
        json!({
            "model": "anthropic.claude-haiku-4-5",
            "max_tokens": 100,
            "tools": [{"name": "notes__now", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "notes__now"},
                {"role": "assistant", "content": [tool_use]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "noon"}]},
            ],
        })
    };
    let post = |path: &'static str, body: Value| {
        let url = format!("{}{path}", sim.endpoint_url());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("x-api-key", KEY)
                .header("anthropic-version", "2023-06-01")
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // What an SDK that leaks `caller: null` sends on the second turn of a tool loop.
    let leaky =
        json!({"type": "tool_use", "id": "t1", "name": "notes__now", "input": {}, "caller": null});
    let (status, text) = post("/anthropic/v1/messages", body(leaky)).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("tool_use.caller: Input should be a valid dictionary or object"),
        "{text}"
    );
    let clean = json!({"type": "tool_use", "id": "t1", "name": "notes__now", "input": {}});
    let (status, text) = post("/anthropic/v1/messages", body(clean)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Tool results: [notes__now] noon"), "{text}");

    // And the unprefixed model name is unknown to Mantle.
    let mut bare = body(json!({"type": "tool_use", "id": "t1", "name": "notes__now", "input": {}}));
    bare["model"] = json!("claude-haiku-4-5");
    let (status, text) = post("/anthropic/v1/messages", bare).await;
    assert_eq!(status, 404, "{text}");
    assert!(
        text.contains("The model 'claude-haiku-4-5' does not exist"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_and_caching_are_sent_direct_and_left_off_on_mantle() {
    // Mantle (which refuses both) still answers when the config asks for them.
    let run = start_with(AGENT, |sim| {
        sim.set_api_key(Some(KEY));
        mantle_config(
            sim,
            "  mantle: true\n  reasoning: high\n  cache_mode: auto\n",
        )
    })
    .await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "notes__now").await;
    assert!(!is_error, "{answer}");
    for r in run
        .sim
        .requests()
        .iter()
        .filter(|r| r.operation == "Messages")
    {
        let body = r.body.to_string();
        assert!(
            !body.contains("thinking") && !body.contains("cache_control"),
            "{body}"
        );
    }
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;

    // The direct API gets them.
    let run = start_with(AGENT, |sim| {
        format!(
            "default_model: anthropic.claude-haiku-4-5\nanthropic:\n  base_url: {}\n  api_key: {KEY}\n  reasoning: 2048\n  cache_ttl: 1h\n{NOTES}",
            sim.endpoint_url()
        )
    })
    .await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "hello").await;
    assert!(!is_error, "{answer}");
    let sent = run
        .sim
        .requests()
        .into_iter()
        .find(|r| r.operation == "Messages")
        .unwrap()
        .body;
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(
        sent["system"][0]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"})
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonnet_4_6_on_mantle_does_not_start_and_the_other_agents_serve() {
    let agents = r#"
name: providers
host: 127.0.0.1
registry_port: 0
agents:  # expect-errors
  jarvis:
    port: 0
    model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
  sonnet:
    port: 0
    model: anthropic.claude-sonnet-4-6
"#;
    let run = start_with(agents, |_| {
        "anthropic:\n  base_url: https://bedrock-mantle.us-east-1.api.aws/anthropic\n  api_key: k\n"
            .to_string()
    })
    .await;
    assert!(run.fleet.agent("jarvis").is_some());
    assert!(run.fleet.agent("sonnet").is_none());
    let failed = &run.fleet.failed[0];
    assert_eq!(failed.name, "sonnet");
    assert!(
        failed.error.contains("has no Mantle endpoint")
            && failed.error.contains("bedrock provider"),
        "{}",
        failed.error
    );
    run.fleet.shutdown().await;
}

// ── Preflight ───────────────────────────────────────────────────────────────────────────

async fn preflight(model: &str, settings: &Settings) -> pallas::llm::Preflight {
    let spec: ModelSpec = model.parse().unwrap();
    build_provider(&spec, settings, &ProviderOverrides::default())
        .await
        .preflight()
        .await
}

fn anthropic(base_url: String, key: Option<&str>, mantle: Option<bool>) -> Settings {
    Settings {
        anthropic: AnthropicSettings {
            base_url: Some(base_url),
            api_key: key.map(|k| Secret(k.to_string())),
            mantle,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn openai(base_url: String, key: Option<&str>) -> Settings {
    Settings {
        openai: OpenAiSettings {
            base_url: Some(base_url),
            api_key: key.map(|k| Secret(k.to_string())),
            ..Default::default()
        },
        generic: GenericSettings {
            base_url: String::new(),
            api_key: key.map(|k| Secret(k.to_string())),
        },
        ..Default::default()
    }
}

fn generic(base_url: String, key: Option<&str>) -> Settings {
    Settings {
        generic: GenericSettings {
            base_url,
            api_key: key.map(|k| Secret(k.to_string())),
        },
        ..Default::default()
    }
}

/// A loopback port nothing listens on.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn assert_error(p: &pallas::llm::Preflight, needles: &[&str]) {
    assert_eq!(p.status, PreflightStatus::Error, "{}", p.message);
    for n in needles {
        assert!(p.message.contains(n), "'{n}' missing from: {}", p.message);
    }
}

async fn sim_with_key() -> Simulator {
    let sim = Simulator::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    sim.set_api_key(Some(KEY));
    sim
}

#[tokio::test]
async fn preflight_anthropic_direct() {
    let sim = sim_with_key().await;
    let url = sim.endpoint_url();
    let ok = preflight(
        "anthropic.claude-haiku-4-5",
        &anthropic(url.clone(), Some(KEY), None),
    )
    .await;
    assert_eq!(ok.status, PreflightStatus::Ok, "{}", ok.message);
    let probe = sim.requests().pop().unwrap();
    assert_eq!(
        (probe.method.as_str(), probe.path.as_str()),
        ("GET", "/v1/models/claude-haiku-4-5")
    );
    assert_eq!(probe.header("x-api-key"), Some(KEY));
    assert_eq!(probe.header("anthropic-version"), Some("2023-06-01"));
    assert!(
        sim.requests().iter().all(|r| r.operation != "Messages"),
        "no tokens spent"
    );

    let p = preflight(
        "anthropic.claude-haiku-4-5",
        &anthropic(url.clone(), Some("wrong"), None),
    )
    .await;
    assert_error(&p, &["401", "ANTHROPIC_API_KEY"]);
    let p = preflight(
        "anthropic.claude-nope-9",
        &anthropic(url.clone(), Some(KEY), None),
    )
    .await;
    assert_error(&p, &["404", "claude-nope-9", "check the model id"]);
    let p = preflight(
        "anthropic.claude-haiku-4-5",
        &anthropic(url.clone(), None, None),
    )
    .await;
    assert_error(&p, &["no API key", "ANTHROPIC_API_KEY"]);
    let p = preflight(
        "anthropic.claude-haiku-4-5",
        &anthropic(closed_port_url().await, Some(KEY), None),
    )
    .await;
    assert_error(&p, &["cannot connect", "check base_url"]);
}

// Paused time: the simulator's 8 s latency and the 5 s probe timeout are tokio timers, so
// the timeout fires without a real wait.
#[tokio::test(start_paused = true)]
async fn preflight_times_out_with_advice() {
    let sim = sim_with_key().await;
    sim.set_latency(std::time::Duration::from_secs(8));
    let started = std::time::Instant::now();
    let p = preflight(
        "anthropic.claude-haiku-4-5",
        &anthropic(sim.endpoint_url(), Some(KEY), None),
    )
    .await;
    assert_error(&p, &["no answer in time", "within 5 s", "check base_url"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn preflight_anthropic_mantle() {
    let sim = sim_with_key().await;
    let base = format!("{}/anthropic", sim.endpoint_url());
    let ok = preflight(
        "anthropic.claude-opus-4-7",
        &anthropic(base.clone(), Some(KEY), Some(true)),
    )
    .await;
    assert_eq!(ok.status, PreflightStatus::Ok, "{}", ok.message);
    // The catalogue is at the region root, under the prefixed wire name.
    assert_eq!(
        sim.requests().pop().unwrap().path,
        "/v1/models/anthropic.claude-opus-4-7"
    );

    let p = preflight(
        "anthropic.claude-opus-4-7",
        &anthropic(base.clone(), Some("expired"), Some(true)),
    )
    .await;
    assert_error(
        &p,
        &[
            "Mantle 401: the Bedrock API key is invalid or expired",
            "BEDROCK_API_KEY",
        ],
    );
    let p = preflight(
        "anthropic.claude-nope-9",
        &anthropic(base.clone(), Some(KEY), Some(true)),
    )
    .await;
    assert_error(
        &p,
        &["Mantle 404", "anthropic.claude-nope-9", "does not exist"],
    );
    let p = preflight(
        "anthropic.claude-opus-4-7",
        &anthropic(base, None, Some(true)),
    )
    .await;
    assert_error(&p, &["no Bedrock API key", "BEDROCK_API_KEY"]);
}

#[tokio::test]
async fn preflight_openai_checks_the_model_is_listed() {
    let sim = sim_with_key().await;
    let base = format!("{}/v1", sim.endpoint_url());
    let ok = preflight(
        "openai.minimax.minimax-m2.5",
        &openai(base.clone(), Some(KEY)),
    )
    .await;
    assert_eq!(ok.status, PreflightStatus::Ok, "{}", ok.message);
    let probe = sim.requests().pop().unwrap();
    assert_eq!(probe.path, "/v1/models");
    assert_eq!(
        probe.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    let p = preflight(
        "openai.minimax.minimax-m9",
        &openai(base.clone(), Some(KEY)),
    )
    .await;
    assert_error(
        &p,
        &[
            "'minimax.minimax-m9' is not listed",
            "minimax.minimax-m2.5",
            "check the model id",
        ],
    );
    let p = preflight(
        "openai.minimax.minimax-m2.5",
        &openai(base.clone(), Some("wrong")),
    )
    .await;
    assert_error(&p, &["401", "OPENAI_API_KEY"]);
    let p = preflight("openai.minimax.minimax-m2.5", &openai(base, None)).await;
    assert_error(&p, &["no API key", "OPENAI_API_KEY"]);
    let p = preflight(
        "openai.minimax.minimax-m2.5",
        &openai(format!("{}/v1", closed_port_url().await), Some(KEY)),
    )
    .await;
    assert_error(&p, &["cannot connect"]);
}

#[tokio::test]
async fn preflight_generic_only_needs_an_answer() {
    let sim = Simulator::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base = format!("{}/v1", sim.endpoint_url());
    // Local servers load models by name on demand: an unlisted model is fine.
    let ok = preflight("generic.not-downloaded-yet", &generic(base.clone(), None)).await;
    assert_eq!(ok.status, PreflightStatus::Ok, "{}", ok.message);
    assert_eq!(sim.requests().pop().unwrap().path, "/v1/models");

    sim.set_api_key(Some(KEY));
    let p = preflight("generic.llama3.2", &generic(base, Some("wrong"))).await;
    assert_error(&p, &["401", "generic.api_key"]);
    let p = preflight(
        "generic.llama3.2",
        &generic(format!("{}/v1", closed_port_url().await), None),
    )
    .await;
    assert_error(&p, &["cannot connect", "check base_url"]);
}

// ── get_health ──────────────────────────────────────────────────────────────────────────

async fn health(client: &Client, args: Value) -> Value {
    call(client, "get_health", args)
        .await
        .structured_content
        .expect("structured health")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_health_is_degraded_by_a_failed_probe_and_refresh_rechecks() {
    let run = start_with(AGENT, |sim| {
        sim.set_api_key(Some(KEY));
        mantle_config(sim, "  mantle: true\n").replace(KEY, "expired-key")
    })
    .await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let h = health(&client, json!({})).await;
    assert_eq!(h["status"], "degraded", "{h}");
    let message = h["message"].as_str().unwrap();
    assert!(
        message.contains("LLM: anthropic: Mantle 401: the Bedrock API key is invalid or expired"),
        "{message}"
    );
    assert!(
        !h.to_string().contains("expired-key"),
        "the key never shows: {h}"
    );

    // The key is fixed on the service side; the cached result stays until refreshed.
    run.sim.set_api_key(Some("expired-key"));
    assert_eq!(health(&client, json!({})).await["status"], "degraded");
    let h = health(&client, json!({"refresh": true})).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["llm"]["status"], "ok");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_refreshes_on_its_interval() {
    let run = start_with(AGENT, |sim| {
        sim.set_api_key(Some(KEY));
        format!(
            "health:\n  preflight_interval_seconds: 0.5\n{}",
            Surface::OpenAiMantle.config(sim).replace(KEY, "other-key")
        )
    })
    .await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let h = health(&client, json!({})).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["message"].as_str().unwrap().contains("LLM: openai: 401"),
        "{h}"
    );
    run.sim.set_api_key(Some("other-key"));
    eventually("the periodic preflight sees the fixed key", || {
        let client = &client;
        async move { health(client, json!({})).await["status"] == "ok" }
    })
    .await;
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

// ── Retries ─────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_and_throttling_are_retried_but_bad_requests_are_not() {
    use pallas_simulator::InjectedError;
    for surface in [Surface::AnthropicMantle, Surface::OpenAiMantle] {
        let run = start_surface(AGENT, surface).await;
        let (client, _) = connect(&run.url("jarvis")).await;
        run.sim.inject_error(InjectedError::Throttling, 1);
        run.sim.inject_error(InjectedError::ServiceUnavailable, 1);
        let (answer, is_error) = ask(&client, "jarvis", "hello").await;
        assert!(!is_error, "{surface:?}: {answer}");
        assert_eq!(
            model_calls(&run, surface).len(),
            3,
            "{surface:?}: two retries"
        );

        run.sim.clear_requests();
        run.sim.inject_error(InjectedError::Validation, 1);
        let (answer, is_error) = ask(&client, "jarvis", "hello").await;
        assert!(is_error, "{surface:?}: {answer}");
        assert!(
            answer.contains("request rejected (400)"),
            "{surface:?}: {answer}"
        );
        assert_eq!(
            model_calls(&run, surface).len(),
            1,
            "{surface:?}: 4xx is final"
        );
        client.cancel().await.unwrap();
        run.fleet.shutdown().await;
    }
}

// ── --simulate ──────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_runs_a_real_mantle_config_offline_with_the_shims() {
    // The overrides `pallas serve --simulate` uses; the config names the real Mantle host,
    // so Mantle mode comes from the host, as in production.
    let config = format!(
        "default_model: anthropic.claude-opus-4-7\nanthropic:\n  base_url: https://bedrock-mantle.us-east-1.api.aws/anthropic\n  api_key: \"${{BEDROCK_API_KEY}}\"\n{NOTES}"
    );
    let run = start_configured(AGENT, |_| config, true).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "notes__now").await;
    assert!(!is_error, "{answer}");
    assert!(answer.contains("[notes__now] 20"), "{answer}");
    let calls: Vec<_> = run
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.operation == "Messages")
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(
        calls.iter().all(
            |r| r.path == "/anthropic/v1/messages" && r.model_id == "anthropic.claude-opus-4-7"
        )
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

// ── Keys from the environment (the binary, with an environment of its own) ─────────────

/// `pallas check` against the simulator with a cleared environment plus `env`.
async fn check_with_env(settings: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let agents = "name: env-keys\nregistry_port: 0\nagents:\n  jarvis:\n    port: 0\n";
    std::fs::write(dir.path().join("agents.yaml"), agents).unwrap();
    std::fs::write(dir.path().join("fastagent.config.yaml"), settings).unwrap();
    let mut cmd = common::binary::hermetic_tokio_command(dir.path());
    cmd.arg("check")
        .arg("--config")
        .arg(dir.path().join("agents.yaml"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .expect("pallas check in time")
        .expect("pallas runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_the_generic_url_come_from_the_environment() {
    let sim = sim_with_key().await;
    let url = sim.endpoint_url();
    let anthropic =
        format!("default_model: anthropic.claude-haiku-4-5\nanthropic:\n  base_url: {url}\n");
    let (ok, out) = check_with_env(&anthropic, &[("ANTHROPIC_API_KEY", KEY)]).await;
    assert!(ok, "{out}");
    assert!(out.contains("preflight:    ok"), "{out}");
    let (ok, out) = check_with_env(&anthropic, &[("ANTHROPIC_API_KEY", "bad-key-Zq7vX")]).await;
    assert!(
        !ok && out.contains("401") && out.contains("ANTHROPIC_API_KEY"),
        "{out}"
    );
    assert!(
        !out.contains("bad-key-Zq7vX"),
        "the key is never printed: {out}"
    );

    let openai =
        format!("default_model: openai.minimax.minimax-m2.5\nopenai:\n  base_url: {url}/v1\n");
    let (ok, out) = check_with_env(&openai, &[("OPENAI_API_KEY", KEY)]).await;
    assert!(ok, "{out}");

    sim.set_api_key(None);
    let (ok, out) = check_with_env(
        "default_model: generic.llama3.2\n",
        &[("GENERIC_BASE_URL", &format!("{url}/v1"))],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{url}/v1/models")), "{out}");
}

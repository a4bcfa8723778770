//! The foundation, end to end in one process: agents served over MCP, the loop over the real
//! AWS SDK against the simulator, real downstream MCP servers, health and the registry.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pallas_simulator::{InjectedError, ScriptedReply};
use serde_json::{Value, json};

const ONE_AGENT: &str = r#"
name: test-project
version: "2.3.4"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_and_prompts_are_listed_with_descriptions_and_schemas() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["jarvis", "get_health"]);
    for t in &tools {
        assert!(
            t.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{} has a description",
            t.name
        );
        assert_eq!(t.input_schema.get("type"), Some(&json!("object")));
    }
    assert_eq!(
        tools[0].description.as_deref(),
        Some("Test assistant with notes")
    );
    // `message` is optional only so that `end_conversation` can be called without one.
    assert_eq!(
        tools[0].input_schema["properties"]["message"]["type"],
        json!("string")
    );
    let prompts = client.list_all_prompts().await.unwrap();
    assert_eq!(prompts[0].name, "jarvis_history");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_returns_the_downstream_output_and_the_model_saw_it() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    let (client, recorder) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(
        &client,
        "jarvis",
        r#"Remember this: notes__add_note {"title": "milk", "text": "buy 2 litres"}"#,
    )
    .await;
    assert!(!is_error, "{answer}");
    assert!(answer.contains("Saved note 'milk'"), "{answer}");

    // The note really is in the downstream server: a second turn reads it back.
    let (answer, _) = ask(&client, "jarvis", r#"notes__get_note {"title": "milk"}"#).await;
    assert!(answer.contains("buy 2 litres"), "{answer}");

    // The model was sent the downstream tool's real result, with the sanitised tool name
    // offered and the agent's instruction as system prompt.
    let requests = run.converse_requests();
    let second = &requests[1].body;
    assert_eq!(second["system"][0]["text"], "You are Jarvis.");
    let result = &second["messages"][2]["content"][0]["toolResult"];
    assert_eq!(result["status"], "success");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Saved note 'milk'")
    );
    let offered: Vec<&str> = second["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str())
        .collect();
    assert!(offered.contains(&"notes__add_note") && offered.contains(&"notes__now"));

    // Each loop step was reported as progress.
    let progress = recorder.progress.lock().unwrap().clone();
    assert!(
        progress.iter().any(|p| p.starts_with("model call 1/3")),
        "{progress:?}"
    );
    assert!(
        progress.iter().any(|p| p == "tool call notes__add_note"),
        "{progress:?}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_in_one_turn_run_in_parallel() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    run.sim.push_reply(ScriptedReply::ToolUse(vec![
        ("notes__sleep".into(), json!({"seconds": 2})),
        ("notes__sleep".into(), json!({"seconds": 2})),
        ("notes__now".into(), json!({})),
    ]));
    let started = Instant::now();
    let (answer, is_error) = ask(&client, "jarvis", "do three things").await;
    let elapsed = started.elapsed();
    assert!(!is_error, "{answer}");
    assert_eq!(answer.matches("slept 2").count(), 2, "{answer}");
    // Two 2 s sleeps one after the other would take at least 4 s.
    assert!(elapsed < Duration::from_millis(3800), "took {elapsed:?}");
    let last = run.converse_requests().pop().unwrap().body;
    let results = last["messages"][2]["content"].as_array().unwrap();
    let results: Vec<_> = results
        .iter()
        .filter(|b| b.get("toolResult").is_some())
        .collect();
    assert_eq!(results.len(), 3, "all three results in one user turn");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_iterations_stops_the_loop_and_says_so() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    for _ in 0..5 {
        run.sim.push_reply(ScriptedReply::ToolUse(vec![(
            "notes__now".into(),
            json!({}),
        )]));
    }
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "keep going").await;
    assert!(!is_error, "{answer}");
    assert!(
        answer.contains("Stopped after 3 model calls (max_iterations)"),
        "{answer}"
    );
    assert_eq!(run.converse_requests().len(), 3);
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_failures_and_unknown_tools_become_error_results_the_model_sees() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    run.sim.push_reply(ScriptedReply::ToolUse(vec![
        ("notes__fail".into(), json!({"message": "disk on fire"})),
        ("nope__missing".into(), json!({})),
    ]));
    let (client, _) = connect(&run.url("jarvis")).await;
    let (answer, is_error) = ask(&client, "jarvis", "try it").await;
    assert!(!is_error, "tool errors do not fail the agent: {answer}");
    let body = run.converse_requests().pop().unwrap().body;
    let results = body["messages"][2]["content"].as_array().unwrap();
    let fail = &results[0]["toolResult"];
    assert_eq!(fail["status"], "error");
    assert!(
        fail["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("disk on fire")
    );
    let unknown = results[1]["toolResult"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        unknown.contains("Tool 'nope__missing' is not available"),
        "{unknown}"
    );
    assert!(
        unknown.contains("notes__add_note"),
        "lists the available tools: {unknown}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_callers_each_get_their_own_answer() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    let url = run.url("jarvis");
    let callers = (0..16).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let (client, _) = connect(&url).await;
            let (answer, is_error) = if i % 2 == 0 {
                ask(&client, "jarvis", &format!("hello from caller {i}")).await
            } else {
                ask(
                    &client,
                    "jarvis",
                    &format!(r#"caller {i}: notes__add_note {{"title": "c{i}", "text": "t{i}"}}"#),
                )
                .await
            };
            client.cancel().await.unwrap();
            (i, answer, is_error)
        })
    });
    for handle in futures::future::join_all(callers).await {
        let (i, answer, is_error) = handle.unwrap();
        assert!(!is_error, "caller {i}: {answer}");
        if i % 2 == 0 {
            assert_eq!(answer, format!("Simulated reply to: hello from caller {i}"));
        } else {
            assert!(
                answer.contains(&format!("Saved note 'c{i}'")),
                "caller {i}: {answer}"
            );
        }
    }
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_scope_keeps_history_per_session_and_shared_scope_queues_callers() {
    let agents = r#"
name: scopes
host: 127.0.0.1
registry_port: 0
agents:
  solo:
    port: 0
    instance_scope: connection
  team:
    port: 0
    instance_scope: shared
"#;
    let run = start(agents, NOTES_CONFIG).await;
    // Per connection: each session sees only its own turns.
    let (a, _) = connect(&run.url("solo")).await;
    let (b, _) = connect(&run.url("solo")).await;
    ask(&a, "solo", "first from a").await;
    ask(&b, "solo", "first from b").await;
    ask(&a, "solo", "second from a").await;
    let history = a
        .get_prompt(rmcp::model::GetPromptRequestParams::new("solo_history"))
        .await
        .unwrap();
    let texts: Vec<String> = history
        .messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts.iter().all(|t| !t.contains("from b")), "{texts:?}");
    let last_request = run.converse_requests().pop().unwrap().body;
    assert_eq!(last_request["messages"].as_array().unwrap().len(), 3);

    // Shared: concurrent calls from two sessions are queued, never interleaved.
    run.sim.set_latency(Duration::from_millis(300));
    let (c, _) = connect(&run.url("team")).await;
    let (d, _) = connect(&run.url("team")).await;
    let (rc, rd) = tokio::join!(ask(&c, "team", "from c"), ask(&d, "team", "from d"));
    assert!(!rc.1 && !rd.1);
    let history = d
        .get_prompt(rmcp::model::GetPromptRequestParams::new("team_history"))
        .await
        .unwrap();
    let texts: Vec<String> = history
        .messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    for pair in texts.chunks(2) {
        let asked = pair[0].clone();
        assert_eq!(
            pair[1],
            format!("Simulated reply to: {asked}"),
            "turns interleaved: {texts:?}"
        );
    }
    for client in [a, b, c, d] {
        client.cancel().await.unwrap();
    }
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_errors_reach_the_caller_with_advice_and_leave_history_clean() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    run.sim.inject_error(InjectedError::AccessDenied, 1);
    let (answer, is_error) = ask(&client, "jarvis", "hello").await;
    assert!(is_error);
    assert!(answer.contains("access denied"), "{answer}");
    assert!(answer.contains("bedrock:InvokeModel"), "{answer}");
    assert!(
        answer.contains("inference-profile/*"),
        "geo id needs the profile ARN: {answer}"
    );

    // Throttling is retried by the SDK and the caller never notices.
    run.sim.inject_error(InjectedError::Throttling, 1);
    let (answer, is_error) = ask(&client, "jarvis", "again").await;
    assert!(!is_error, "{answer}");
    // The failed turn left nothing behind: this request holds only the new message.
    let last = run.converse_requests().pop().unwrap().body;
    assert_eq!(last["messages"].as_array().unwrap().len(), 1);
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

async fn health(url: &str, client: &Client) -> Value {
    let r = call(client, "get_health", json!({})).await;
    let structured = r.structured_content.clone().expect("structured content");
    let as_text: Value = serde_json::from_str(&text(&r)).expect("text content is the same JSON");
    assert_eq!(structured, as_text);
    let _ = url;
    structured
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_degrades_when_a_downstream_server_dies_and_recovers_when_it_returns() {
    let mut notes = spawn_http_notes("127.0.0.1:0").await;
    let config = format!(
        "default_model: bedrock.us.anthropic.claude-sonnet-4-6\nmcp:\n  servers:\n    notes:\n      url: \"{}\"\n",
        notes.url
    );
    let run = start(ONE_AGENT, &config).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let h = health(&run.url("jarvis"), &client).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["agent"], "jarvis");
    assert_eq!(h["version"], "2.3.4");
    assert_eq!(h["llm"]["provider"], "bedrock");
    assert_eq!(h["llm"]["model"], "us.anthropic.claude-sonnet-4-6");
    assert_eq!(h["llm"]["status"], "ok");
    assert!(h["llm"]["checked_at"].as_str().unwrap().contains('T'));
    assert!(
        !h.to_string().contains("simulator-secret"),
        "secrets never appear"
    );
    let server = &h["servers"]["notes"];
    assert_eq!(server["status"], "ok");
    assert_eq!(server["transport"], "http");
    assert_eq!(server["tools"], 9);
    assert!(server["latency_ms"].as_f64().is_some());
    // GET /health on the agent's port answers the same document.
    let plain = get_json(&format!(
        "http://{}/health",
        run.fleet.agent("jarvis").unwrap().addr
    ))
    .await;
    assert_eq!(plain["status"], "ok");
    assert_eq!(plain["servers"]["notes"]["tools"], 9);

    let addr = notes.addr.clone();
    notes.kill();
    let h = health(&run.url("jarvis"), &client).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["servers"]["notes"]["status"], "error");
    assert!(
        h["message"].as_str().unwrap().contains("server notes"),
        "{h}"
    );
    // The loop keeps working without the dead server's tools.
    let (answer, is_error) = ask(&client, "jarvis", "notes__now please").await;
    assert!(!is_error, "{answer}");
    let offered = &run.converse_requests().pop().unwrap().body;
    assert!(
        offered.get("toolConfig").is_none(),
        "dead server's tools are not offered"
    );

    let _notes = spawn_http_notes(&addr).await;
    eventually("notes reconnected and healthy", || async {
        health(&run.url("jarvis"), &client).await["status"] == "ok"
    })
    .await;
    let (answer, _) = ask(&client, "jarvis", "notes__now please").await;
    assert!(answer.contains("Tool results: [notes__now]"), "{answer}");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_lists_agents_and_aggregates_health_over_http_and_mcp() {
    let agents = r#"
name: fleet
version: "1.0.0"
host: 127.0.0.1
registry_port: 0
agents:
  alpha:
    port: 0
    description: "First"
    servers: [notes]
  beta:
    port: 0
    tool_name: "{agent}_send"
    model: bedrock.eu.anthropic.claude-sonnet-4-6
  broken:  # expect-errors
    port: 0
    servers: [does_not_exist]
"#;
    let run = start(agents, NOTES_CONFIG).await;
    let listed = get_json(&format!("{}/agents", run.registry())).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["name"], "alpha");
    assert_eq!(listed[0]["description"], "First");
    assert_eq!(listed[0]["provider"], "bedrock");
    assert_eq!(listed[0]["tool"], "alpha");
    assert_eq!(listed[1]["tool"], "beta_send");
    assert_eq!(listed[1]["model"], "eu.anthropic.claude-sonnet-4-6");
    // The advertised URL really serves the agent.
    let (client, _) = connect(listed[1]["url"].as_str().unwrap()).await;
    let (answer, _) = ask(&client, "beta_send", "hi").await;
    assert_eq!(answer, "Simulated reply to: hi");
    client.cancel().await.unwrap();

    let health = get_json(&format!("{}/health", run.registry())).await;
    assert_eq!(
        health["status"], "degraded",
        "the broken agent is not serving"
    );
    assert_eq!(health["agents"]["alpha"]["status"], "ok");
    assert_eq!(health["agents"]["broken"]["status"], "error");
    assert!(
        health["agents"]["broken"]["message"]
            .as_str()
            .unwrap()
            .contains("does_not_exist"),
        "{health}"
    );

    let (registry, _) = connect(&format!("{}/mcp", run.registry())).await;
    let r = call(&registry, "list_agents", json!({})).await;
    let names: Vec<String> = r.structured_content.unwrap()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let r = call(&registry, "get_health", json!({})).await;
    assert_eq!(
        r.structured_content.unwrap()["agents"]["beta"]["status"],
        "ok"
    );
    registry.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_preflight_failure_degrades_health_with_the_provider_prefix() {
    let agents = r#"
name: preflight
host: 127.0.0.1
registry_port: 0
agents:
  future:
    port: 0
    model: anthropic.claude-opus-9-9  # not in the simulator's catalogue: the probe gets 404
"#;
    let run = start(agents, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("future")).await;
    let h = health(&run.url("future"), &client).await;
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["llm"]["status"], "error");
    assert!(
        h["message"]
            .as_str()
            .unwrap()
            .starts_with("LLM: anthropic: "),
        "{h}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

struct HttpNotes {
    child: tokio::process::Child,
    addr: String,
    url: String,
}

impl HttpNotes {
    fn kill(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Drop for HttpNotes {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The example notes server over Streamable HTTP, as a separate process the test can kill.
async fn spawn_http_notes(addr: &str) -> HttpNotes {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(notes_server())
        .args(["--http", addr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(TIMEOUT, lines.next_line())
        .await
        .expect("notes server starts")
        .unwrap()
        .expect("a listening line");
    let url = line
        .strip_prefix("notes_server listening on ")
        .expect("listening line")
        .to_string();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    HttpNotes { child, addr, url }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_downstream_call_times_out_into_an_error_result() {
    let config = NOTES_CONFIG.replace("read_timeout_seconds: 20", "read_timeout_seconds: 1");
    let run = start(ONE_AGENT, &config).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let started = Instant::now();
    let (answer, is_error) = ask(&client, "jarvis", r#"notes__sleep {"seconds": 30}"#).await;
    assert!(!is_error, "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the call was not left hanging"
    );
    assert!(
        answer.contains("error: tool 'sleep' on server 'notes' did not answer within 1s"),
        "{answer}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_stdio_server_is_restarted_and_its_tools_come_back() {
    let run = start(ONE_AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("jarvis")).await;
    let h = health(&run.url("jarvis"), &client).await;
    let pid = h["servers"]["notes"]["pid"]
        .as_u64()
        .expect("stdio server pid");
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    eventually("the notes server was restarted", || async {
        let h = health(&run.url("jarvis"), &client).await;
        h["servers"]["notes"]["status"] == "ok"
            && h["servers"]["notes"]["pid"].as_u64() != Some(pid)
    })
    .await;
    let h = health(&run.url("jarvis"), &client).await;
    assert!(
        h["servers"]["notes"]["reconnects"].as_u64().unwrap() >= 1,
        "{h}"
    );
    let (answer, _) = ask(&client, "jarvis", "notes__now please").await;
    assert!(answer.contains("Tool results: [notes__now]"), "{answer}");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_host_is_accepted_and_other_hosts_are_refused() {
    let agents = ONE_AGENT.replace("host: 127.0.0.1", "host: pallas.internal.example");
    let run = start(&agents, NOTES_CONFIG).await;
    let url = run.url("jarvis");
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let status_for = |host: &'static str| {
        let (url, body) = (url.clone(), initialize.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .header("Host", host)
                .header("Accept", "application/json, text/event-stream")
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status_for("pallas.internal.example").await, 200);
    assert_eq!(status_for("localhost").await, 200);
    assert_eq!(status_for("attacker.example").await, 403);
    let listed = get_json(&format!("{}/agents", run.registry())).await;
    assert!(
        listed[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://pallas.internal.example:"),
        "{listed}"
    );
    run.fleet.shutdown().await;
}

//! Safe to expose (issue 9), through the real binary: credentials on every route, Host and
//! Origin on every route, the secure default for non-loopback binds, body limits before
//! reading, the session cap with idle expiry, busy and turn-timeout results, redaction.

mod common;
mod exposure_support;

use std::time::Duration;

use common::notes_server;
use exposure_support::{
    MODEL, ProjectDir, Served, agents, get, http, initialize, mcp_client, wait_ready,
};
use futures::StreamExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

const TOKEN: &str = "exposure-test-token-0123456789abcdef";
/// Distinctive, so any leak is found by a substring search.
const URL_PASSWORD: &str = "hunter2-Pw9xQ";
const QUERY_SECRET: &str = "qs-secret-8JkL2";
const PORT_SECRET: &str = "port-secret-Zz81";

fn config() -> String {
    format!(
        "default_model: {MODEL}\nbedrock:\n  region: us-east-1\nmcp:\n  servers:\n    notes:\n      command: {}\n    search:\n      transport: http\n      url: \"http://user:{URL_PASSWORD}@127.0.0.1:9/mcp?api_key=${{SEARCH_TOKEN}}\"\n",
        notes_server().display()
    )
}

const AGENTS: &str = r#"
registry_port: 0
auth:
  tokens: ["${PALLAS_TOKEN}"]
allowed_origins: [https://app.example.com]
agents:
  jarvis:
    port: 0
    servers: [notes, search]
    max_concurrent_turns: 1
    max_queued_turns: 0
    turn_timeout_seconds: 2
  capped:
    port: 0
    max_sessions: 2
    session_idle_seconds: 1
  broken:
    port: ${BROKEN_PORT}
"#;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PALLAS_TOKEN", TOKEN),
        ("SEARCH_TOKEN", QUERY_SECRET),
        ("BROKEN_PORT", PORT_SECRET),
    ]
}

/// Agent base URLs (`http://localhost:PORT`) by name, from the registry.
async fn agent_base(served: &Served, name: &str) -> String {
    let list = agents(served, Some(TOKEN)).await;
    let entry = list
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list:?}"));
    entry["url"]
        .as_str()
        .unwrap()
        .trim_end_matches("/mcp")
        .to_string()
}

#[tokio::test]
async fn a_token_is_required_everywhere_and_secrets_never_show() {
    let project = ProjectDir::new(AGENTS, &config());
    let served = Served::start(&project, &env()).await;
    let jarvis = agent_base(&served, "jarvis").await;
    wait_ready(&jarvis).await;
    wait_ready(&served.registry).await;

    // Every route but the probes: 401 with the metadata pointer, no body content.
    for url in [
        format!("{jarvis}/health"),
        served.registry_url("/health"),
        served.registry_url("/agents"),
    ] {
        let (status, body, headers) = get(&url, None).await;
        assert_eq!(status, 401, "{url}: {body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer resource_metadata=\"http://localhost:")
                && challenge.ends_with("/.well-known/oauth-protected-resource\""),
            "{url}: {challenge}"
        );
        let (status, _, _) = get(&url, Some("wrong-token-0123456789abcdef")).await;
        assert_eq!(status, 401, "{url} with a wrong token");
    }
    for url in [format!("{jarvis}/mcp"), served.registry_url("/mcp")] {
        let response = initialize(&url).send().await.unwrap();
        assert_eq!(response.status(), 401, "{url}");
    }
    // The probes stay open and say one word.
    let (status, body, _) = get(&format!("{jarvis}/livez"), None).await;
    assert_eq!((status, body.trim()), (200, "ok"));

    // With the token: the registry says who needs a credential.
    let list = agents(&served, Some(TOKEN)).await;
    let jarvis_entry = list.iter().find(|a| a["name"] == "jarvis").unwrap();
    assert_eq!(jarvis_entry["auth"], "1 static token(s)");
    assert_eq!(jarvis_entry["credential_required"], true);

    // Redaction: the downstream URL's password and query value, and a ${VAR} value that
    // failed validation, appear nowhere a caller can read.
    let (status, agent_health, _) = get(&format!("{jarvis}/health"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(agent_health.contains("\"search\""), "{agent_health}");
    let (_, registry_health, _) = get(&served.registry_url("/health"), Some(TOKEN)).await;
    assert!(
        registry_health.contains("${BROKEN_PORT}"),
        "the broken agent's error names its variable: {registry_health}"
    );
    let client = mcp_client(&format!("{jarvis}/mcp"), TOKEN).await;
    let tool_health = client
        .call_tool(CallToolRequestParams::new("get_health"))
        .await
        .unwrap();
    let tool_health = serde_json::to_string(&tool_health).unwrap();
    for text in [&agent_health, &registry_health, &tool_health] {
        for secret in [URL_PASSWORD, QUERY_SECRET, PORT_SECRET, TOKEN] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
    client.cancel().await.unwrap();
    let stderr = served.stop().await;
    for secret in [URL_PASSWORD, QUERY_SECRET, PORT_SECRET, TOKEN] {
        assert!(
            !stderr.contains(secret),
            "{secret} leaked into the log: {stderr}"
        );
    }
}

#[tokio::test]
async fn foreign_host_and_origin_are_refused_on_every_route() {
    let project = ProjectDir::new(AGENTS, &config());
    let served = Served::start(&project, &env()).await;
    let jarvis = agent_base(&served, "jarvis").await;
    let routes = [
        format!("{jarvis}/mcp"),
        format!("{jarvis}/health"),
        served.registry_url("/mcp"),
        served.registry_url("/health"),
        served.registry_url("/agents"),
    ];
    for url in &routes {
        let request = |name: &'static str, value: &'static str| {
            let builder = if url.ends_with("/mcp") {
                initialize(url)
            } else {
                http().get(url)
            };
            builder.bearer_auth(TOKEN).header(name, value)
        };
        let refused = request("origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{url}");
        let body = refused.text().await.unwrap();
        assert!(
            body.contains("Origin `http://evil.example`"),
            "{url}: {body}"
        );

        let refused = request("host", "evil.example").send().await.unwrap();
        assert_eq!(refused.status(), 403, "{url}");
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("Host `evil.example`")
        );

        let allowed = request("origin", "https://app.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "{url} from an allowed origin");
    }
    served.stop().await;
}

#[tokio::test]
async fn bodies_are_limited_before_they_are_read() {
    let project = ProjectDir::new(AGENTS, &config());
    let served = Served::start(&project, &env()).await;
    let jarvis = agent_base(&served, "jarvis").await;
    // A body that announces 20 GB and then never arrives: the answer can only come
    // before reading it.
    let endless = || {
        let stream =
            futures::stream::once(async { Ok::<_, std::io::Error>(b"{\"jsonrpc\":".to_vec()) })
                .chain(futures::stream::pending());
        reqwest::Body::wrap_stream(stream)
    };
    let post = |url: String, token: Option<&str>| {
        let mut request = http()
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("content-length", "20000000000")
            .body(endless());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let no_token =
        tokio::time::timeout(Duration::from_secs(10), post(format!("{jarvis}/mcp"), None))
            .await
            .expect("answered without reading the body")
            .unwrap();
    assert_eq!(no_token.status(), 401);
    for url in [format!("{jarvis}/mcp"), served.registry_url("/mcp")] {
        let too_large =
            tokio::time::timeout(Duration::from_secs(10), post(url.clone(), Some(TOKEN)))
                .await
                .expect("answered without reading the body")
                .unwrap();
        assert_eq!(too_large.status(), 413, "{url}");
    }
    // An unknown session is refused before its (never-ending) body is read.
    let unknown = tokio::time::timeout(
        Duration::from_secs(10),
        http()
            .post(format!("{jarvis}/mcp"))
            .bearer_auth(TOKEN)
            .header("mcp-session-id", "no-such-session")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(endless())
            .send(),
    )
    .await
    .expect("answered without reading the body")
    .unwrap();
    assert_eq!(unknown.status(), 404);
    // The registry's small limit: 2 MiB is refused even with a token.
    let two_mib = http()
        .post(served.registry_url("/mcp"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(two_mib.status(), 413);
    served.stop().await;
}

#[tokio::test]
async fn sessions_are_capped_and_unused_ones_expire() {
    let project = ProjectDir::new(AGENTS, &config());
    let served = Served::start(&project, &env()).await;
    let capped = format!("{}/mcp", agent_base(&served, "capped").await);
    for _ in 0..2 {
        let opened = initialize(&capped).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(opened.status(), 200);
        assert!(opened.headers().contains_key("mcp-session-id"));
    }
    let refused = initialize(&capped).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "10");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("maximum of 2 open sessions"),
        "the reason names the cap"
    );
    // The two sessions never called anything: after session_idle_seconds (1 s) they are
    // closed and new sessions are accepted again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = initialize(&capped).bearer_auth(TOKEN).send().await.unwrap();
        if attempt.status() == 200 {
            break;
        }
        assert_eq!(attempt.status(), 503);
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle sessions never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    served.stop().await;
}

#[tokio::test]
async fn a_busy_agent_refuses_at_once_and_a_long_turn_times_out() {
    let project = ProjectDir::new(AGENTS, &config());
    let served = Served::start(&project, &env()).await;
    let jarvis = agent_base(&served, "jarvis").await;
    wait_ready(&jarvis).await;
    let slow_client = mcp_client(&format!("{jarvis}/mcp"), TOKEN).await;
    let other_client = mcp_client(&format!("{jarvis}/mcp"), TOKEN).await;
    let spawn_slow = |client: rmcp::service::RunningService<rmcp::RoleClient, ()>| {
        tokio::spawn(async move {
            let call = CallToolRequestParams::new("jarvis").with_arguments(
                json!({"message": "notes__sleep {\"seconds\": 30}"})
                    .as_object()
                    .unwrap()
                    .clone(),
            );
            let started = tokio::time::Instant::now();
            let result = client.call_tool(call).await.unwrap();
            (result, started.elapsed(), client)
        })
    };
    let mut slow = spawn_slow(slow_client);
    // Once the slow call holds the only slot, the next call is refused without waiting.
    // (If a probe held the slot when the slow call arrived, the slow call was the one
    // refused; it is sent again.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let busy = loop {
        let call = CallToolRequestParams::new("jarvis")
            .with_arguments(json!({"message": "hello"}).as_object().unwrap().clone());
        let result = other_client.call_tool(call).await.unwrap();
        let text = serde_json::to_string(&result.content).unwrap();
        if text.contains("busy") {
            break (result, text);
        }
        if slow.is_finished() {
            let (lost, _, client) = slow.await.unwrap();
            let lost = serde_json::to_string(&lost.content).unwrap();
            assert!(lost.contains("busy"), "{lost}");
            slow = spawn_slow(client);
        }
        assert!(tokio::time::Instant::now() < deadline, "never busy: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(busy.0.is_error, Some(true));
    assert!(
        busy.1
            .contains("busy: jarvis is already running 1 call(s) with 0 waiting; retry in 5 s"),
        "{}",
        busy.1
    );
    let (result, elapsed, slow_client) = slow.await.unwrap();
    assert_eq!(result.is_error, Some(true));
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(text.contains("turn_timeout_seconds (2 s)"), "{text}");
    assert!(
        elapsed < Duration::from_secs(20),
        "stopped by the timeout: {elapsed:?}"
    );
    slow_client.cancel().await.unwrap();
    other_client.cancel().await.unwrap();
    served.stop().await;
}

#[tokio::test]
async fn a_public_bind_without_auth_is_refused_and_check_reports_auth() {
    let open = "registry_port: 0\nbind: 0.0.0.0\nagents:\n  jarvis:\n    port: 0\n";
    let project = ProjectDir::new(
        open,
        &format!("default_model: {MODEL}\nbedrock:\n  region: us-east-1\n"),
    );
    let (ok, text) = project.run("serve", &[]).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("agent `jarvis` would listen on 0.0.0.0") && text.contains("auth: none"),
        "{text}"
    );
    let (ok, text) = project.run("check", &[]).await;
    assert!(!ok, "{text}");
    assert!(text.contains("would listen on 0.0.0.0"), "{text}");

    let project = ProjectDir::new(AGENTS, &config());
    let (_, text) = project.run("check", &env()).await;
    assert!(text.contains("auth:         1 static token(s)"), "{text}");
    for secret in [URL_PASSWORD, QUERY_SECRET, PORT_SECRET, TOKEN] {
        assert!(!text.contains(secret), "{secret} leaked in check: {text}");
    }
    assert!(text.contains("${BROKEN_PORT}"), "{text}");
}

#[tokio::test]
async fn exposure_config_mistakes_are_explained_at_their_line() {
    let agents = "registry_port: 0\nauth:\n  tokns: [\"${PALLAS_TOKEN}\"]\nagents:\n  jarvis:\n    port: 0\n";
    let project = ProjectDir::new(
        agents,
        &format!("default_model: {MODEL}\nbedrock:\n  region: us-east-1\n"),
    );
    let (ok, text) = project.run("check", &env()).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("agents.yaml:2: auth: unknown field `tokns`, expected `tokens` or `oauth`"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");

    let agents = "registry_port: 0\nalowed_origins: [x]\nagents:\n  jarvis:\n    port: 0\n    max_sessions: lots\n    auth: {tokens: [short]}\n";
    let project = ProjectDir::new(
        agents,
        &format!("default_model: {MODEL}\nbedrock:\n  region: us-east-1\n"),
    );
    let (ok, text) = project.run("check", &[]).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("alowed_origins") && text.contains("allowed_origins"),
        "did you mean: {text}"
    );
    assert!(
        text.contains("agents.jarvis.max_sessions: 'lots' is not a whole number of at least 1"),
        "{text}"
    );
    assert!(text.contains("tokens[0] has 5 characters"), "{text}");
}

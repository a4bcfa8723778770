//! Downstream faults, end to end against `examples/fault_server`: a server that changes its
//! tool list, exits at start-up, never answers, writes garbage, answers too much, or crashes
//! mid-call. Each test asserts what a user sees (the tool list, `get_health`'s fields, the
//! error text a call returns).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TIMEOUT, eventually};
use pallas::config::{DEFAULT_MAX_TOOL_RESULT_BYTES, McpServerConfig, McpTransport};
use pallas::downstream::{Downstream, ServerPool, Timings};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

pub fn fault_server() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let debug = exe.parent().and_then(Path::parent).expect("target/debug");
    let path = debug.join("examples").join("fault_server");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples",
        path.display()
    );
    path
}

fn stdio(name: &str, args: &[&str]) -> McpServerConfig {
    McpServerConfig {
        name: name.into(),
        transport: McpTransport::Stdio {
            command: fault_server().display().to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: BTreeMap::new(),
            cwd: None,
        },
        read_timeout: Duration::from_secs(60),
        max_tool_result_bytes: DEFAULT_MAX_TOOL_RESULT_BYTES,
    }
}

struct Pool {
    pool: ServerPool,
    shutdown: CancellationToken,
}

impl Pool {
    fn start(configs: Vec<McpServerConfig>, timings: Timings) -> Pool {
        let shutdown = CancellationToken::new();
        let pool = ServerPool::start_with(configs, Path::new("/"), &shutdown, timings);
        Pool { pool, shutdown }
    }

    fn server(&self, name: &str) -> Arc<Downstream> {
        self.pool.get(name).expect("server in pool")
    }
}

impl Drop for Pool {
    /// Cancelling stops every supervisor, which kills its child process.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn args(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn tool_names(server: &Downstream) -> Vec<String> {
    let mut names: Vec<String> = server
        .tools()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_tool_the_server_adds_or_removes_shows_in_the_tool_list_and_health() {
    let p = Pool::start(vec![stdio("faults", &[])], Timings::default());
    let server = p.server("faults");
    assert_eq!(server.tools().await.expect("connected").len(), 7);

    let added = server
        .call("add_tool", args(json!({"name": "weather"})))
        .await
        .expect("add_tool answers");
    assert_eq!(text_of(&added), "added weather");
    eventually("the added tool is listed", || async {
        tool_names(&server).await.contains(&"weather".to_string())
    })
    .await;
    assert_eq!(server.probe().await.tools, 8);
    let called = server
        .call("weather", Map::new())
        .await
        .expect("new tool answers");
    assert_eq!(text_of(&called), "weather was called");

    server
        .call("remove_tool", args(json!({"name": "weather"})))
        .await
        .expect("remove_tool answers");
    eventually("the removed tool is gone", || async {
        !tool_names(&server).await.contains(&"weather".to_string())
    })
    .await;
    assert_eq!(server.probe().await.tools, 7);
}

#[tokio::test]
async fn a_server_that_exits_at_start_reports_its_status_and_stderr_and_counts_attempts() {
    let p = Pool::start(
        vec![stdio("broken", &["--exit-at-start", "3"])],
        Timings::default(),
    );
    let server = p.server("broken");
    p.pool.settle(TIMEOUT).await;
    let health = server.probe().await;
    assert_eq!(health.status, "error");
    let error = health.error.clone().unwrap_or_default();
    assert!(
        error.contains("exited with status 3 before completing the MCP handshake"),
        "{error}"
    );
    assert!(
        error.contains("last stderr lines: fault_server: reading configuration | fault_server: error: the configuration file is missing"),
        "{error}"
    );
    assert!(
        error.ends_with("Run the command by hand to see why"),
        "{error}"
    );
    assert!(health.reconnects >= 1, "a failed start counts: {health:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_initialize_times_out_with_a_clear_message() {
    let timings = Timings {
        handshake: Duration::from_secs(1),
        ..Timings::default()
    };
    let p = Pool::start(
        vec![
            stdio("silent", &["--silent"]),
            stdio("garbage", &["--garbage"]),
        ],
        timings,
    );
    p.pool.settle(TIMEOUT).await;
    let silent = p.server("silent").probe().await.error.unwrap_or_default();
    assert!(
        silent.contains("is running but did not complete the MCP handshake within 1s"),
        "{silent}"
    );
    let garbage = p.server("garbage").probe().await.error.unwrap_or_default();
    assert!(
        garbage
            .contains("it wrote output that is not JSON-RPC to stdout: \"this is not JSON-RPC\""),
        "{garbage}"
    );
    assert!(garbage.contains("logs to stderr"), "{garbage}");
}

#[tokio::test]
async fn a_large_result_is_cut_with_a_note_and_an_oversized_one_fails_at_once() {
    let mut config = stdio("big", &[]);
    config.max_tool_result_bytes = 64 * 1024;
    let p = Pool::start(vec![config], Timings::default());
    let server = p.server("big");

    let cut = server
        .call("huge", args(json!({"megabytes": 1})))
        .await
        .expect("a 1 MiB result is allowed");
    let text = text_of(&cut);
    assert!(text.len() < 65 * 1024, "{} bytes", text.len());
    assert!(
        text.ends_with("[result truncated: the tool returned 1.0 MiB of text; only the first 64 KiB are shown (max_tool_result_bytes of server 'big'). Ask for a smaller part if you need more.]"),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );

    let started = Instant::now();
    let error = server
        .call("huge", args(json!({"megabytes": 17})))
        .await
        .expect_err("a 17 MiB line is over the stdio limit");
    assert!(
        error
            .to_string()
            .starts_with("result from server 'big' (tool 'huge') exceeds 16 MiB"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    // The connection stays usable.
    let echo = server
        .call("echo", args(json!({"text": "still here"})))
        .await
        .expect("echo");
    assert_eq!(text_of(&echo), "echo: still here");
}

#[tokio::test]
async fn the_first_call_after_start_waits_for_the_first_connection_attempt() {
    let p = Pool::start(vec![stdio("early", &[])], Timings::default());
    // No settle: the call races the server's start-up, as a client right after boot does.
    let tools = p.server("early").tools().await;
    assert_eq!(tools.map(|t| t.len()), Some(7));
}

#[tokio::test]
async fn a_server_that_crashes_mid_call_reports_its_exit_and_comes_back() {
    let p = Pool::start(vec![stdio("crashy", &[])], Timings::default());
    let server = p.server("crashy");
    p.pool.settle(TIMEOUT).await;
    let error = server
        .call("crash", args(json!({"code": 7})))
        .await
        .expect_err("the call dies with the server");
    assert!(
        error.to_string().contains("calling 'crash' on server 'crashy' failed: the connection closed before the server answered"),
        "{error}"
    );
    assert!(!error.to_string().contains("Transport"), "{error}");
    eventually("the server is reconnected", || async {
        server.probe().await.status == "ok"
    })
    .await;
    assert!(server.probe().await.reconnects >= 1);
}

#[tokio::test]
async fn an_unreachable_url_is_reported_as_a_sentence() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/mcp");
    let config = McpServerConfig {
        name: "remote".into(),
        transport: McpTransport::Http {
            url: url.clone(),
            headers: BTreeMap::new(),
        },
        read_timeout: Duration::from_secs(60),
        max_tool_result_bytes: DEFAULT_MAX_TOOL_RESULT_BYTES,
    };
    let p = Pool::start(vec![config], Timings::default());
    p.pool.settle(TIMEOUT).await;
    let error = p.server("remote").probe().await.error.unwrap_or_default();
    assert!(
        error.starts_with(&format!("cannot connect to {url}: ")),
        "{error}"
    );
    assert!(error.contains("nothing is listening there"), "{error}");
    assert!(
        !error.contains("rmcp::") && !error.contains("Transport ["),
        "{error}"
    );
}

/// `pallas check` starts each downstream server once: a good one reports its tool count,
/// a missing program and one that exits at start-up report why.
#[test]
fn check_reports_whether_each_downstream_server_answers_initialize() {
    let dir = tempfile::tempdir().unwrap();
    let fault = fault_server().display().to_string();
    std::fs::write(
        dir.path().join("agents.yaml"),
        "name: p\nregistry_port: 0\nagents:\n  a:\n    port: 0\n    instruction: Hi.\n    servers: [good, missing, dying]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fastagent.config.yaml"),
        format!(
            "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nmcp:\n  servers:\n    good:\n      command: \"{fault}\"\n    missing:\n      command: /nonexistent/pallas-server\n    dying:\n      command: \"{fault}\"\n      args: [\"--exit-at-start\", \"3\"]\n"
        ),
    )
    .unwrap();
    let out = common::binary::hermetic_command(dir.path())
        .current_dir(dir.path())
        .arg("check")
        .output()
        .expect("pallas check runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("server:       good (stdio): ok, answers initialize, 7 tools"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "server:       missing (stdio): ERROR: cannot start '/nonexistent/pallas-server'"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("server:       dying (stdio): ERROR: '")
            && stdout.contains("exited with status 3 before completing the MCP handshake"),
        "{stdout}"
    );
}

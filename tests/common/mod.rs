//! In-process harness: a project in a temp dir, the fleet started against the simulator on
//! free loopback ports, and MCP clients that record progress notifications.

#![allow(dead_code)]

pub mod binary;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pallas::config::{Project, load_project_with_env};
use pallas::fleet::Fleet;
use pallas_simulator::Simulator;
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProgressNotificationParam, ProtocolVersion,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

/// Every wait in these tests is bounded by this; generous for a busy 2-core machine.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub fn notes_server() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let debug = exe.parent().and_then(Path::parent).expect("target/debug");
    let path = debug.join("examples").join("notes_server");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples",
        path.display()
    );
    path
}

/// Writes agents.yaml and fastagent.config.yaml; `{notes}` in either is replaced by the
/// notes server binary.
pub fn write_project(dir: &Path, agents: &str, config: &str) -> PathBuf {
    let notes = notes_server().display().to_string();
    std::fs::write(dir.join("agents.yaml"), agents.replace("{notes}", &notes)).unwrap();
    std::fs::write(
        dir.join("fastagent.config.yaml"),
        config.replace("{notes}", &notes),
    )
    .unwrap();
    dir.join("agents.yaml")
}

/// Loads the project and applies the provider checks, as `pallas check` and `serve` do.
pub fn load(path: &Path) -> Project {
    let mut project = load_project_with_env(path, &|_| None).expect("project loads");
    pallas::assembly::validate_project(&mut project);
    project
}

pub const NOTES_CONFIG: &str = r#"
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
mcp:
  servers:
    notes:
      command: "{notes}"
      read_timeout_seconds: 20
"#;

pub struct Running {
    pub fleet: Fleet,
    pub sim: Simulator,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub fn url(&self, agent: &str) -> String {
        let a = self.fleet.agent(agent).expect("agent is serving");
        format!("http://{}/mcp", a.addr)
    }

    pub fn registry(&self) -> String {
        format!("http://{}", self.fleet.registry_addr)
    }

    /// Downstream servers start in the background; tests that need tools wait for them.
    pub async fn servers_up(&self) {
        self.fleet.pool.settle(TIMEOUT).await;
    }

    /// Model calls, streamed (ConverseStream, the default) or not (Converse): both carry
    /// the same request body.
    pub fn converse_requests(&self) -> Vec<pallas_simulator::RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.operation == "Converse" || r.operation == "ConverseStream")
            .collect()
    }
}

pub async fn start(agents: &str, config: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = write_project(dir.path(), agents, config);
    let project = load(&path);
    assert!(
        project.agent_errors.is_empty() || agents.contains("# expect-errors"),
        "{:?}",
        project.agent_errors
    );
    let sim = Simulator::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let overrides = pallas::cli::simulator_overrides(&sim);
    let fleet = Fleet::start(&project, &overrides)
        .await
        .expect("fleet starts");
    let running = Running { fleet, sim, dir };
    running.servers_up().await;
    running
}

/// A client that keeps every progress message it receives.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<String>>>,
    /// `(progress, message)` pairs: the client may handle notifications concurrently, so
    /// the order they were sent in is the order of their `progress` values.
    pub steps: Arc<Mutex<Vec<(f64, String)>>>,
}

impl Recorder {
    /// Progress messages in the order the server sent them.
    pub fn ordered_progress(&self) -> Vec<String> {
        let mut steps = self.steps.lock().unwrap().clone();
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        steps.into_iter().map(|(_, m)| m).collect()
    }
}

impl rmcp::ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let message = params.message.unwrap_or_default();
        self.steps
            .lock()
            .unwrap()
            .push((params.progress, message.clone()));
        self.progress.lock().unwrap().push(message);
    }

    fn get_info(&self) -> ClientConfig {
        // A session-based protocol version, as Python/TypeScript clients use today, so
        // per-connection history applies.
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("pallas-tests", "1"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }
}

pub type Client = RunningService<RoleClient, Recorder>;

pub async fn connect(url: &str) -> (Client, Recorder) {
    let recorder = Recorder::default();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    let client = tokio::time::timeout(TIMEOUT, recorder.clone().serve(transport))
        .await
        .expect("connect in time")
        .expect("MCP handshake");
    (client, recorder)
}

pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    tokio::time::timeout(
        TIMEOUT,
        client.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args)),
    )
    .await
    .expect("tool call in time")
    .expect("tool call succeeds at the protocol level")
}

pub async fn ask(client: &Client, tool: &str, message: &str) -> (String, bool) {
    let r = call(client, tool, serde_json::json!({ "message": message })).await;
    (text(&r), r.is_error.unwrap_or(false))
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn get_json(url: &str) -> Value {
    tokio::time::timeout(TIMEOUT, async {
        reqwest::get(url)
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
    .await
    .expect("HTTP answer in time")
}

/// Polls `probe` until it returns true, bounded by [`TIMEOUT`]; for states that change in
/// the background (a server dying, a reconnect).
pub async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Like [`start`], but the settings file is written once the simulator runs, so it can
/// point HTTP providers (`anthropic.base_url`, `openai.base_url`, …) at it; their base URLs
/// are used as written.
pub async fn start_with(agents: &str, config: impl FnOnce(&Simulator) -> String) -> Running {
    start_configured(agents, config, false).await
}

/// With `simulate_http`, HTTP providers are redirected to the simulator whatever their
/// `base_url` says, as `pallas serve --simulate` does.
pub async fn start_configured(
    agents: &str,
    config: impl FnOnce(&Simulator) -> String,
    simulate_http: bool,
) -> Running {
    let sim = Simulator::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_project(dir.path(), agents, &config(&sim));
    let project = load(&path);
    assert!(
        project.agent_errors.is_empty() || agents.contains("# expect-errors"),
        "{:?}",
        project.agent_errors
    );
    let mut overrides = pallas::cli::simulator_overrides(&sim);
    if !simulate_http {
        overrides.http_simulator_url = None;
    }
    let fleet = Fleet::start(&project, &overrides)
        .await
        .expect("fleet starts");
    let running = Running { fleet, sim, dir };
    running.servers_up().await;
    running
}

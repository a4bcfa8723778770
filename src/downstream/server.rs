//! Connections to downstream MCP servers. Each server has a supervisor task that connects,
//! notices when the connection dies, and reconnects with backoff, so a crashed server shows
//! up in health and comes back on its own instead of hanging calls or stopping the agent.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientRequest,
    Implementation, PingRequest, Tool,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde::Serialize;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{McpServerConfig, McpTransport};

/// A server that has not finished its handshake by then is reported as failing to start.
const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(60);
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DownstreamError {
    #[error("server '{server}' is not connected: {reason}")]
    NotConnected { server: String, reason: String },
    #[error("tool '{tool}' on server '{server}' did not answer within {}s (read_timeout_seconds)", timeout.as_secs_f64())]
    Timeout {
        server: String,
        tool: String,
        timeout: Duration,
    },
    #[error("calling '{tool}' on server '{server}' failed: {message}")]
    Call {
        server: String,
        tool: String,
        message: String,
    },
}

/// Health of one downstream server, as `get_health` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerHealth {
    pub status: &'static str,
    pub transport: &'static str,
    pub tools: usize,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    pub reconnects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

#[derive(Clone)]
enum State {
    Connecting,
    Up(Arc<Connection>),
    Down(String),
}

struct Connection {
    peer: Peer<RoleClient>,
    tools: Vec<Tool>,
    pid: Option<u32>,
}

/// One downstream server shared by every agent that lists it.
pub struct Downstream {
    pub config: McpServerConfig,
    root: PathBuf,
    /// A watch channel rather than a lock, so startup and tests can wait for a state change
    /// instead of polling.
    state: watch::Sender<State>,
    /// Tells the supervisor the connection looks dead (a failed ping or call).
    reconnect: Notify,
    reconnects: AtomicU64,
}

impl Downstream {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The tools of a connected server; `None` while it is down or still connecting.
    pub async fn tools(&self) -> Option<Vec<Tool>> {
        match &*self.state.borrow() {
            State::Up(c) => Some(c.tools.clone()),
            _ => None,
        }
    }

    pub async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Result<CallToolResult, DownstreamError> {
        let conn = self.connection().await?;
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let timeout = self.config.read_timeout;
        // Dropping the call on timeout makes rmcp send notifications/cancelled downstream.
        match tokio::time::timeout(timeout, conn.peer.call_tool(params)).await {
            Err(_) => Err(DownstreamError::Timeout {
                server: self.name().to_string(),
                tool: tool.to_string(),
                timeout,
            }),
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => {
                if matches!(
                    e,
                    rmcp::ServiceError::TransportClosed | rmcp::ServiceError::TransportSend(_)
                ) {
                    self.mark_down(format!("connection lost: {e}")).await;
                }
                Err(DownstreamError::Call {
                    server: self.name().to_string(),
                    tool: tool.to_string(),
                    message: e.to_string(),
                })
            }
        }
    }

    /// Live probe: an MCP ping with a short timeout. A failed ping marks the server down
    /// and wakes the supervisor to reconnect.
    pub async fn probe(&self, timeout: Duration) -> ServerHealth {
        let state = self.state.borrow().clone();
        let mut health = ServerHealth {
            status: "error",
            transport: self.config.transport.kind(),
            tools: 0,
            latency_ms: None,
            error: None,
            reconnects: self.reconnects.load(Ordering::Relaxed),
            pid: None,
        };
        match state {
            State::Connecting => health.error = Some("connecting".to_string()),
            State::Down(reason) => health.error = Some(reason),
            State::Up(conn) => {
                health.tools = conn.tools.len();
                health.pid = conn.pid;
                let started = Instant::now();
                match ping(&conn.peer, timeout).await {
                    Ok(()) => {
                        health.status = "ok";
                        health.latency_ms =
                            Some((started.elapsed().as_secs_f64() * 1e5).round() / 100.0);
                    }
                    Err(e) => {
                        let reason = format!("ping failed: {e}");
                        self.mark_down(reason.clone()).await;
                        health.error = Some(reason);
                    }
                }
            }
        }
        health
    }

    async fn connection(&self) -> Result<Arc<Connection>, DownstreamError> {
        match &*self.state.borrow() {
            State::Up(c) => Ok(c.clone()),
            State::Connecting => Err(self.not_connected("still connecting")),
            State::Down(reason) => Err(self.not_connected(reason)),
        }
    }

    fn not_connected(&self, reason: &str) -> DownstreamError {
        DownstreamError::NotConnected {
            server: self.name().to_string(),
            reason: reason.to_string(),
        }
    }

    async fn mark_down(&self, reason: String) {
        let changed = self.state.send_if_modified(|state| {
            if matches!(state, State::Up(_)) {
                *state = State::Down(reason.clone());
                true
            } else {
                false
            }
        });
        if changed {
            tracing::warn!(server = %self.name(), "{reason}");
            self.reconnect.notify_one();
        }
    }

    async fn supervise(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = BACKOFF_START;
        loop {
            let connected = tokio::select! {
                r = tokio::time::timeout(INITIALIZE_TIMEOUT, self.connect()) => match r {
                    Ok(r) => r,
                    Err(_) => Err(format!("did not complete the MCP handshake within {}s", INITIALIZE_TIMEOUT.as_secs())),
                },
                _ = shutdown.cancelled() => return,
            };
            match connected {
                Ok((running, conn)) => {
                    tracing::info!(server = %self.name(), tools = conn.tools.len(), "downstream server connected");
                    backoff = BACKOFF_START;
                    self.state.send_replace(State::Up(Arc::new(conn)));
                    let stop = running.cancellation_token();
                    let waiting = running.waiting();
                    tokio::pin!(waiting);
                    let reason = tokio::select! {
                        r = &mut waiting => format!("connection closed ({})", match r {
                            Ok(reason) => format!("{reason:?}"),
                            Err(e) => e.to_string(),
                        }),
                        _ = self.reconnect.notified() => {
                            stop.cancel();
                            let _ = tokio::time::timeout(Duration::from_secs(5), waiting).await;
                            String::new()
                        }
                        _ = shutdown.cancelled() => {
                            stop.cancel();
                            let _ = tokio::time::timeout(Duration::from_secs(5), waiting).await;
                            return;
                        }
                    };
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    // A ping or call that found the connection dead already recorded why.
                    if !reason.is_empty() {
                        tracing::warn!(server = %self.name(), "{reason}; reconnecting");
                        self.state.send_replace(State::Down(reason));
                    } else {
                        self.state.send_if_modified(|state| {
                            let up = matches!(state, State::Up(_));
                            if up {
                                *state = State::Down("connection lost".into());
                            }
                            up
                        });
                    }
                }
                Err(reason) => {
                    tracing::warn!(server = %self.name(), "cannot connect: {reason}; retrying in {:?}", backoff);
                    self.state.send_replace(State::Down(reason));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn connect(
        &self,
    ) -> Result<(RunningService<RoleClient, ClientConfig>, Connection), String> {
        let client_info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("pallas", env!("CARGO_PKG_VERSION")),
        );
        let (running, pid) = match &self.config.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let cwd = cwd.clone().unwrap_or_else(|| self.root.clone());
                let mut cmd = tokio::process::Command::new(resolve_program(command, &cwd));
                cmd.args(args).envs(env).current_dir(&cwd);
                let (transport, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| {
                        format!("cannot start '{command}' (cwd {}): {e}", cwd.display())
                    })?;
                let pid = transport.id();
                if let Some(stderr) = stderr {
                    tokio::spawn(forward_stderr(self.name().to_string(), stderr));
                }
                let running = client_info
                    .serve(transport)
                    .await
                    .map_err(|e| format!("MCP handshake with '{command}' failed: {e}"))?;
                (running, pid)
            }
            McpTransport::Http { url, headers } => {
                let mut custom = HashMap::new();
                for (k, v) in headers {
                    let name = HeaderName::try_from(k.as_str())
                        .map_err(|e| format!("header name '{k}' is invalid: {e}"))?;
                    let value = HeaderValue::try_from(v.as_str())
                        .map_err(|e| format!("header '{k}' has an invalid value: {e}"))?;
                    custom.insert(name, value);
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(custom)
                    .reinit_on_expired_session(true);
                let transport = StreamableHttpClientTransport::from_config(config);
                let running = client_info
                    .serve(transport)
                    .await
                    .map_err(|e| format!("cannot connect to {url}: {e}"))?;
                (running, None)
            }
        };
        let tools = tokio::time::timeout(self.config.read_timeout, running.peer().list_all_tools())
            .await
            .map_err(|_| "tools/list timed out".to_string())?
            .map_err(|e| format!("tools/list failed: {e}"))?;
        let conn = Connection {
            peer: running.peer().clone(),
            tools,
            pid,
        };
        Ok((running, conn))
    }
}

async fn ping(peer: &Peer<RoleClient>, timeout: Duration) -> Result<(), String> {
    let request = ClientRequest::PingRequest(PingRequest::default());
    let handle = peer
        .send_request_with_option(request, PeerRequestOptions::with_timeout(timeout))
        .await
        .map_err(|e| e.to_string())?;
    handle
        .await_response()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A relative program path with a slash is taken relative to the server's cwd, which is
/// what people mean when they write `command: ./bin/server` next to their config.
fn resolve_program(command: &str, cwd: &Path) -> PathBuf {
    let path = Path::new(command);
    if path.is_relative() && command.contains('/') {
        cwd.join(path)
    } else {
        path.to_path_buf()
    }
}

async fn forward_stderr(server: String, stderr: tokio::process::ChildStderr) {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "pallas::downstream", server = %server, "{line}");
    }
}

/// Every downstream server of the fleet, each connected once and shared by its agents.
#[derive(Clone, Default)]
pub struct ServerPool {
    servers: BTreeMap<String, Arc<Downstream>>,
    supervisors: TaskTracker,
}

impl ServerPool {
    /// Starts a supervisor per server; returns at once (connections come up in the background).
    pub fn start(
        configs: impl IntoIterator<Item = McpServerConfig>,
        root: &Path,
        shutdown: &CancellationToken,
    ) -> ServerPool {
        let supervisors = TaskTracker::new();
        let servers = configs
            .into_iter()
            .map(|config| {
                let server = Arc::new(Downstream {
                    config,
                    root: root.to_path_buf(),
                    state: watch::Sender::new(State::Connecting),
                    reconnect: Notify::new(),
                    reconnects: AtomicU64::new(0),
                });
                supervisors.spawn(server.clone().supervise(shutdown.child_token()));
                (server.name().to_string(), server)
            })
            .collect();
        supervisors.close();
        ServerPool {
            servers,
            supervisors,
        }
    }

    /// Waits (bounded) for every supervisor to close its connection after shutdown, so
    /// child processes are terminated before the process exits.
    pub async fn closed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.supervisors.wait()).await;
    }

    pub fn get(&self, name: &str) -> Option<Arc<Downstream>> {
        self.servers.get(name).cloned()
    }

    /// Waits until every server has left the connecting state (up or down), for startup
    /// summaries and tests; bounded by `timeout`.
    pub async fn settle(&self, timeout: Duration) {
        let all = futures::future::join_all(self.servers.values().map(|server| {
            let mut rx = server.state.subscribe();
            async move {
                let _ = rx.wait_for(|s| !matches!(s, State::Connecting)).await;
            }
        }));
        let _ = tokio::time::timeout(timeout, all).await;
    }
}

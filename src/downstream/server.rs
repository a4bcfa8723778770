//! One downstream server as agents see it: its current connection (kept by the supervisor
//! task), tool calls with their timeout, and the live probe behind `get_health`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{Peer, RoleClient};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::Timings;
use super::connect::ping;
use super::stdio::{MAX_LINE_BYTES, StdioWatch};
use crate::config::McpServerConfig;

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
    #[error("result from server '{server}' (tool '{tool}') exceeds {} MiB, the most one stdio MCP message may carry; ask the tool for less (a page, a filter) or have the server return a link to the data", limit / (1024 * 1024))]
    TooLarge {
        server: String,
        tool: String,
        limit: usize,
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
pub(super) enum State {
    Connecting,
    Up(Arc<Connection>),
    Down(String),
}

pub(super) struct Connection {
    pub(super) peer: Peer<RoleClient>,
    pub(super) tools: Vec<Tool>,
    pub(super) pid: Option<u32>,
    /// What a stdio server's streams showed (oversized lines wake calls in flight).
    pub(super) stdio: Option<Arc<StdioWatch>>,
}

impl Connection {
    /// The same connection with a fresh tool list (after `tools/list_changed`).
    pub(super) fn with_tools(&self, tools: Vec<Tool>) -> Connection {
        Connection {
            peer: self.peer.clone(),
            tools,
            pid: self.pid,
            stdio: self.stdio.clone(),
        }
    }
}

/// One downstream server shared by every agent that lists it.
pub struct Downstream {
    pub config: McpServerConfig,
    pub(super) root: PathBuf,
    pub(super) timings: Timings,
    /// A watch channel rather than a lock, so startup and tests can wait for a state change
    /// instead of polling.
    pub(super) state: watch::Sender<State>,
    /// Tells the supervisor the connection looks dead (a failed ping or call).
    pub(super) reconnect: Notify,
    pub(super) reconnects: AtomicU64,
    pub(super) connect_attempts: AtomicU64,
    /// Set by the client handler on `notifications/tools/list_changed`.
    pub(super) tools_changed: Arc<Notify>,
}

impl Downstream {
    pub(super) fn new(config: McpServerConfig, root: PathBuf, timings: Timings) -> Downstream {
        Downstream {
            config,
            root,
            timings,
            state: watch::Sender::new(State::Connecting),
            reconnect: Notify::new(),
            reconnects: AtomicU64::new(0),
            connect_attempts: AtomicU64::new(0),
            tools_changed: Arc::new(Notify::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The tools of a connected server; `None` while it is down. During the server's first
    /// connection attempt this waits for it (at most [`Timings::startup_wait`]), so the first
    /// call after a start is offered the tools instead of racing the server's start-up.
    pub async fn tools(&self) -> Option<Vec<Tool>> {
        self.first_attempt().await;
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
        self.first_attempt().await;
        let conn = self.connection().await?;
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let timeout = self.config.read_timeout;
        // rmcp drops a stdio line over its limit without a word; the stream watcher sees it,
        // so the caller hears at once instead of after `read_timeout_seconds`. Which call the
        // line answered is unknown, so every call in flight on this server fails with it.
        let oversized = async {
            match &conn.stdio {
                Some(watch) => watch.oversized.notified().await,
                None => std::future::pending().await,
            }
        };
        // Dropping the call on timeout makes rmcp send notifications/cancelled downstream.
        let answer = tokio::select! {
            answer = tokio::time::timeout(timeout, conn.peer.call_tool(params)) => answer,
            () = oversized => {
                return Err(DownstreamError::TooLarge {
                    server: self.name().to_string(),
                    tool: tool.to_string(),
                    limit: MAX_LINE_BYTES,
                });
            }
        };
        match answer {
            Err(_) => Err(DownstreamError::Timeout {
                server: self.name().to_string(),
                tool: tool.to_string(),
                timeout,
            }),
            Ok(Ok(result)) => Ok(super::result_size::limit(
                result,
                self.config.max_tool_result_bytes,
                self.name(),
            )),
            Ok(Err(e)) => {
                if matches!(
                    e,
                    rmcp::ServiceError::TransportClosed | rmcp::ServiceError::TransportSend(_)
                ) {
                    self.mark_down(format!("connection lost: {}", super::errors::service(&e)))
                        .await;
                }
                Err(DownstreamError::Call {
                    server: self.name().to_string(),
                    tool: tool.to_string(),
                    message: super::errors::service(&e),
                })
            }
        }
    }

    /// Connected right now (no ping; for metrics scraped often).
    pub fn is_up(&self) -> bool {
        matches!(&*self.state.borrow(), State::Up(_))
    }

    /// How many times the connection was re-established after being lost.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// How many times the supervisor has tried to connect (the first attempt included), so
    /// the reconnect schedule can be observed.
    pub fn connect_attempts(&self) -> u64 {
        self.connect_attempts.load(Ordering::Relaxed)
    }

    /// Live probe: an MCP ping bounded by [`Timings::probe_timeout`]. A failed ping marks the
    /// server down and wakes the supervisor to reconnect.
    pub async fn probe(&self) -> ServerHealth {
        let timeout = self.timings.probe_timeout;
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

    /// Waits (bounded by [`Timings::startup_wait`]) while the first connection attempt runs.
    async fn first_attempt(&self) {
        let mut rx = self.state.subscribe();
        if matches!(*rx.borrow(), State::Connecting) {
            let wait = rx.wait_for(|s| !matches!(s, State::Connecting));
            let _ = tokio::time::timeout(self.timings.startup_wait, wait).await;
        }
    }

    /// Whether the first connection attempt has finished, up or down (`/readyz`). Later
    /// reconnects do not make a server "not ready" again.
    pub fn first_attempt_done(&self) -> bool {
        self.connect_attempts() > 1 || !matches!(*self.state.borrow(), State::Connecting)
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
}

//! Opening one connection to a downstream server: starting the stdio program or reaching the
//! HTTP endpoint, the MCP handshake, and the tool list agents will see.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::model::{ClientRequest, PingRequest, Tool};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::process::Child;

use super::client::DownstreamClient;
use super::server::{Connection, Downstream};
use super::stdio;
use crate::config::McpTransport;

pub(super) type Running = RunningService<RoleClient, DownstreamClient>;

/// A stdio server's process lives as long as its connection; the supervisor stops it.
pub(super) struct Opened {
    pub(super) running: Running,
    pub(super) conn: Connection,
    pub(super) child: Option<Child>,
}

impl Downstream {
    /// One connection attempt, bounded by [`super::Timings::handshake`]; the error is a
    /// sentence for `get_health` and the log.
    pub(super) async fn connect(&self) -> Result<Opened, String> {
        let client = DownstreamClient {
            tools_changed: self.tools_changed.clone(),
        };
        let handshake = self.timings.handshake;
        let late = format!(
            "did not complete the MCP handshake within {}s",
            handshake.as_secs_f64()
        );
        match &self.config.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let cwd = cwd.clone().unwrap_or_else(|| self.root.clone());
                let program = resolve_program(command, &cwd);
                let stdio::StdioChild {
                    mut child,
                    stdin,
                    stdout,
                    watch,
                } = stdio::spawn(self.name(), &program, args, env, &cwd).map_err(|e| {
                    let fix = if e.kind() == std::io::ErrorKind::NotFound {
                        "; check that the program is installed and on PATH (or give its full path)"
                    } else {
                        ""
                    };
                    format!("cannot start '{command}' (cwd {}): {e}{fix}", cwd.display())
                })?;
                let transport = AsyncRwTransport::new_client(stdout, stdin);
                let handshake_and_tools = async {
                    let running = client.serve(transport).await.map_err(|_| ())?;
                    let tools = list_tools(running.peer(), self.config.read_timeout)
                        .await
                        .map_err(|_| ())?;
                    Ok::<_, ()>((running, tools))
                };
                match tokio::time::timeout(handshake, handshake_and_tools).await {
                    Ok(Ok((running, tools))) => Ok(Opened {
                        conn: Connection {
                            peer: running.peer().clone(),
                            tools,
                            pid: child.id(),
                            stdio: Some(watch),
                        },
                        running,
                        child: Some(child),
                    }),
                    Ok(Err(())) => Err(stdio::explain_failure(
                        command,
                        &mut child,
                        &watch,
                        "before completing the MCP handshake",
                        Duration::from_secs(2),
                    )
                    .await),
                    Err(_) => Err(stdio::explain_failure(
                        command,
                        &mut child,
                        &watch,
                        &late,
                        Duration::ZERO,
                    )
                    .await),
                }
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
                let attempt = async {
                    let running = client
                        .serve(transport)
                        .await
                        .map_err(|e| super::errors::http_connect(url, &e))?;
                    let tools = list_tools(running.peer(), self.config.read_timeout).await?;
                    Ok::<_, String>((running, tools))
                };
                let (running, tools) =
                    tokio::time::timeout(handshake, attempt)
                        .await
                        .map_err(|_| {
                            format!(
                                "{url} {late}; check that it is an MCP Streamable HTTP endpoint"
                            )
                        })??;
                Ok(Opened {
                    conn: Connection {
                        peer: running.peer().clone(),
                        tools,
                        pid: None,
                        stdio: None,
                    },
                    running,
                    child: None,
                })
            }
        }
    }
}

/// The server's whole tool list, bounded by its `read_timeout_seconds`.
pub(super) async fn list_tools(
    peer: &Peer<RoleClient>,
    timeout: Duration,
) -> Result<Vec<Tool>, String> {
    tokio::time::timeout(timeout, peer.list_all_tools())
        .await
        .map_err(|_| {
            format!(
                "tools/list did not answer within {}s (read_timeout_seconds)",
                timeout.as_secs_f64()
            )
        })?
        .map_err(|e| format!("tools/list failed: {}", super::errors::service(&e)))
}

/// Stops a stdio server: its stdin is already closed (the transport is gone), which is how
/// MCP asks it to exit; one that does not within `grace` is killed.
pub(super) async fn stop_child(child: &mut Child, grace: Duration) {
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

pub(super) async fn ping(peer: &Peer<RoleClient>, timeout: Duration) -> Result<(), String> {
    let request = ClientRequest::PingRequest(PingRequest::default());
    let handle = peer
        .send_request_with_option(request, PeerRequestOptions::with_timeout(timeout))
        .await
        .map_err(|e| super::errors::service(&e))?;
    handle
        .await_response()
        .await
        .map(|_| ())
        .map_err(|e| super::errors::service(&e))
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

//! Opening one connection to a downstream server: starting the stdio program or reaching the
//! HTTP endpoint, the MCP handshake, and the tool list agents will see.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, ClientRequest, Implementation, PingRequest};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};

use super::server::{Connection, Downstream};
use crate::config::McpTransport;

impl Downstream {
    pub(super) async fn connect(
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
                    tokio::spawn(super::stderr::forward_stderr(
                        self.name().to_string(),
                        stderr,
                    ));
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

pub(super) async fn ping(peer: &Peer<RoleClient>, timeout: Duration) -> Result<(), String> {
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

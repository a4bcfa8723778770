//! `pallas serve --simulate` as a subprocess for the exposure tests: a project folder, the
//! ready line, an authenticated HTTP client and an rmcp client with a bearer header.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr};

use crate::common::binary::hermetic_tokio_command;

pub const MODEL: &str = "bedrock.us.anthropic.claude-sonnet-4-6";
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ProjectDir {
    pub dir: tempfile::TempDir,
}

impl ProjectDir {
    pub fn new(agents_yaml: &str, config_yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("agents.yaml"), agents_yaml).unwrap();
        std::fs::write(dir.path().join("fastagent.config.yaml"), config_yaml).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Self { dir }
    }

    pub fn command(&self, sub: &str, env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = hermetic_tokio_command(&self.dir.path().join("home"));
        cmd.arg(sub)
            .arg("--config")
            .arg(self.dir.path().join("agents.yaml"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `pallas check` (or another short command) to completion: (success, stdout + stderr).
    pub async fn run(&self, sub: &str, env: &[(&str, &str)]) -> (bool, String) {
        let mut cmd = self.command(sub, env);
        if sub == "serve" {
            cmd.arg("--simulate");
        }
        let out = tokio::time::timeout(READY_TIMEOUT, cmd.output())
            .await
            .expect("command finished in time")
            .expect("run pallas");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

/// A running `pallas serve --simulate`; killed when dropped.
pub struct Served {
    child: Child,
    pub registry: String,
    stderr: Option<ChildStderr>,
}

impl Served {
    pub async fn start(project: &ProjectDir, env: &[(&str, &str)]) -> Served {
        let mut cmd = project.command("serve", env);
        cmd.arg("--simulate")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn pallas serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take();
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("pallas ready: registry=") {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(registry) = ready else {
            let mut text = String::new();
            if let Some(err) = stderr.as_mut() {
                let _ = tokio::time::timeout(Duration::from_secs(5), err.read_to_string(&mut text))
                    .await;
            }
            panic!("pallas serve did not become ready:\n{text}");
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Served {
            child,
            registry,
            stderr,
        }
    }

    pub fn registry_url(&self, path: &str) -> String {
        format!("{}{path}", self.registry)
    }

    /// Stops the process (by its PID) and returns what it wrote to stderr.
    pub async fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let mut text = String::new();
        if let Some(mut err) = self.stderr.take() {
            let _ = err.read_to_string(&mut text).await;
        }
        text
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `GET url` with an optional bearer token: (status, body).
pub async fn get(url: &str, token: Option<&str>) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = http().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap_or_default(), headers)
}

/// The registry's `/agents`, read with `token`.
pub async fn agents(served: &Served, token: Option<&str>) -> Vec<Value> {
    let (status, body, _) = get(&served.registry_url("/agents"), token).await;
    assert_eq!(status, 200, "/agents: {body}");
    serde_json::from_str(&body).unwrap()
}

/// An `initialize` POST (raw JSON-RPC) to `url`.
pub fn initialize(url: &str) -> reqwest::RequestBuilder {
    http()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "exposure-test", "version": "0"}}
        }))
}

/// An MCP client session with `Authorization: Bearer token`.
pub async fn mcp_client(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(token);
    let transport = StreamableHttpClientTransport::from_config(config);
    tokio::time::timeout(Duration::from_secs(30), ().serve(transport))
        .await
        .expect("handshake in time")
        .expect("handshake")
}

/// Polls `/readyz` until it says ready (readiness waits, not sleeps).
pub async fn wait_ready(base: &str) {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let (status, body, _) = get(&format!("{base}/readyz"), None).await;
        if status == 200 {
            assert_eq!(body.trim(), "ready");
            return;
        }
        assert_eq!(status, 503, "{body}");
        assert_eq!(body.trim(), "starting");
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

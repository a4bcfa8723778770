//! One agent on the network: the MCP server over Streamable HTTP at `/mcp`, plus a plain
//! `GET /health` beside it, behind a Host-header allow list.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::agent_server::{AgentRuntime, AgentServer};
use super::health::AgentHealth;
use crate::agent::media;

/// Host headers the server accepts: the advertised host and bind address besides loopback,
/// so clients reaching the agent by its configured name are not refused with 403.
pub fn allowed_hosts(host: &str, bind: &std::net::IpAddr) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "[::1]".to_string(),
        host.to_string(),
    ];
    if !bind.is_unspecified() {
        hosts.push(bind.to_string());
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Serves one agent on `listener` until `shutdown` fires.
pub async fn serve_agent(
    runtime: Arc<AgentRuntime>,
    listener: tokio::net::TcpListener,
    hosts: Vec<String>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let refresher = runtime.clone();
    let refresh_stop = shutdown.child_token();
    tokio::spawn(async move { refresher.refresh_periodically(refresh_stop).await });
    let factory_runtime = runtime.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(AgentServer::new(factory_runtime.clone())),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_max_request_body_bytes(media::MAX_ATTACHMENTS_REQUEST_BYTES)
            .with_cancellation_token(shutdown.child_token()),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .route("/health", get(health_route))
        .with_state(runtime);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn health_route(State(runtime): State<Arc<AgentRuntime>>) -> Json<AgentHealth> {
    Json(runtime.health().await)
}

pub fn local_url(addr: SocketAddr) -> String {
    format!("http://{addr}/mcp")
}

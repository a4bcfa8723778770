//! One agent on the network: the MCP server over Streamable HTTP at `/mcp`, a plain
//! `GET /health` beside it, the open probes, and in front of all of them the Host/Origin
//! guard, the credential check and the body limit (`crate::auth::protect`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::agent_server::{AgentRuntime, AgentServer};
use super::health::AgentHealth;
use super::limits::gate_sessions;
use super::probes;
use crate::agent::media;
use crate::auth::{Authenticator, BodyLimit, protect};
use crate::http_guard::HostOriginGuard;

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

/// Who may reach one server: its Host/Origin rules and its credential check.
#[derive(Clone)]
pub struct Exposure {
    pub guard: Arc<HostOriginGuard>,
    pub auth: Arc<Authenticator>,
}

/// rmcp's own Host/Origin checks are off: [`HostOriginGuard`] covers every route with one
/// meaning (see `crate::http_guard`). Its body limit is the largest any caller may send;
/// the smaller limits are enforced before rmcp reads anything.
pub(super) fn mcp_config(
    shutdown: &CancellationToken,
    max_body: usize,
) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(max_body)
        .with_cancellation_token(shutdown.child_token())
}

/// Serves one agent on `listener` until `shutdown` fires.
pub async fn serve_agent(
    runtime: Arc<AgentRuntime>,
    listener: tokio::net::TcpListener,
    exposure: Exposure,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let refresher = runtime.clone();
    let refresh_stop = shutdown.child_token();
    tokio::spawn(async move { refresher.refresh_periodically(refresh_stop).await });
    let gate = runtime.sessions.clone();
    tokio::spawn(gate.clone().sweep(shutdown.child_token()));
    let factory_runtime = runtime.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(AgentServer::new(factory_runtime.clone())),
        gate.manager(),
        mcp_config(&shutdown, media::MAX_ATTACHMENTS_REQUEST_BYTES),
    );
    let mcp = axum::Router::new()
        .fallback_service(mcp)
        .layer(axum::middleware::from_fn_with_state(gate, gate_sessions));
    // Attachments need the large limit; `auth: none` means the operator trusts whoever
    // reaches the port, so anonymous callers get it there too.
    let body = BodyLimit::default().authenticated(
        "/mcp",
        media::MAX_ATTACHMENTS_REQUEST_BYTES,
        !exposure.auth.requires_credential(),
    );
    let ready = probes::servers_ready(runtime.agent.servers.clone());
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .route("/health", get(health_route))
        .with_state(runtime)
        .merge(probes::routes(ready));
    // The guard and the credential check let the probe paths through (`auth::PROBE_PATHS`).
    let app = protect(app, exposure.guard, exposure.auth, body);
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

//! The registry on `registry_port`: where every agent lives and how it is doing, over plain
//! HTTP (`GET /agents`, `GET /health`) and over MCP (`list_agents`, `get_health`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use futures::future::join_all;
use rmcp::ErrorData as McpError;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::auth::{BodyLimit, DEFAULT_BODY_LIMIT, protect};
use crate::served::agent_server::AgentRuntime;
use crate::served::health::Status;
use crate::served::listen::{Exposure, mcp_config};
use crate::served::probes::{self, Readiness};

/// One line of `GET /agents`.
#[derive(Debug, Clone, Serialize)]
pub struct AgentEntry {
    pub name: String,
    pub title: String,
    pub description: String,
    pub url: String,
    pub port: u16,
    pub tool: String,
    pub model: String,
    pub provider: String,
    /// The agent's auth mode (`none`, `2 static token(s)`, `OAuth (issuer …)`).
    pub auth: String,
    /// Whether a caller must send `Authorization: Bearer …`.
    pub credential_required: bool,
}

/// An agent that is configured but not serving, kept so `/health` says why.
#[derive(Debug, Clone)]
pub struct FailedAgent {
    pub name: String,
    pub error: String,
}

pub struct Registry {
    pub project: String,
    pub version: String,
    pub agents: Vec<(AgentEntry, Arc<AgentRuntime>)>,
    pub failed: Vec<FailedAgent>,
}

impl Registry {
    pub fn entries(&self) -> Vec<AgentEntry> {
        self.agents.iter().map(|(e, _)| e.clone()).collect()
    }

    /// Every agent's health, probed in parallel, plus failed agents and an overall status.
    pub async fn health(&self) -> serde_json::Value {
        let healths = join_all(self.agents.iter().map(|(_, rt)| rt.health())).await;
        let mut agents = BTreeMap::new();
        let mut degraded = Vec::new();
        for h in healths {
            if h.status != Status::Ok {
                degraded.push(format!("{}: {}", h.agent, h.message));
            }
            agents.insert(
                h.agent.clone(),
                serde_json::to_value(&h).unwrap_or_default(),
            );
        }
        for f in &self.failed {
            let error = crate::redact::redact_text(&f.error);
            degraded.push(format!("{}: not serving: {error}", f.name));
            agents.insert(
                f.name.clone(),
                json!({"status": Status::Error, "agent": f.name, "message": error}),
            );
        }
        let status = if degraded.is_empty() {
            Status::Ok
        } else {
            Status::Degraded
        };
        json!({
            "status": status,
            "project": self.project,
            "version": self.version,
            "message": if degraded.is_empty() {
                format!("{} agent(s) ok", self.agents.len())
            } else {
                degraded.join("; ")
            },
            "agents": agents,
        })
    }
}

#[derive(Clone)]
struct RegistryServer(Arc<Registry>);

impl RegistryServer {
    fn tools() -> Vec<Tool> {
        let empty = || {
            let mut m = serde_json::Map::new();
            m.insert("type".into(), "object".into());
            m.insert("properties".into(), json!({}));
            m
        };
        vec![
            Tool::new(
                "list_agents",
                "List every agent served here: name, title, description, MCP url, port, tool name, model and provider. Takes no arguments.",
                empty(),
            ),
            Tool::new(
                "get_health",
                "Health of every agent (ok, degraded with the reason, or error when it is not serving) and an overall status. Takes no arguments.",
                empty(),
            ),
        ]
    }
}

impl ServerHandler for RegistryServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                format!("{}-registry", self.0.project),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("Discover the agents of this Pallas fleet and poll their health.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(Self::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        Self::tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let value = match request.name.as_ref() {
            "list_agents" => json!({ "agents": self.0.entries() }),
            "get_health" => self.0.health().await,
            other => {
                return Err(McpError::invalid_params(
                    format!(
                        "unknown tool '{other}'; this registry offers list_agents and get_health"
                    ),
                    None,
                ));
            }
        };
        Ok(CallToolResult::structured(value).into())
    }
}

/// Serves the registry behind the same guard, credential check (the top-level `auth:`)
/// and small body limit as the agents.
pub async fn serve_registry(
    registry: Arc<Registry>,
    listener: tokio::net::TcpListener,
    exposure: Exposure,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let for_mcp = registry.clone();
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.init_timeout = Some(crate::served::limits::INIT_TIMEOUT);
    let mcp = StreamableHttpService::new(
        move || Ok(RegistryServer(for_mcp.clone())),
        sessions.into(),
        mcp_config(&shutdown, DEFAULT_BODY_LIMIT),
    );
    let agents: Vec<Readiness> = registry
        .agents
        .iter()
        .map(|(_, rt)| probes::servers_ready(rt.agent.servers.clone()))
        .collect();
    let ready: Readiness = Arc::new(move || agents.iter().all(|ready| ready()));
    let app = axum::Router::new()
        .route("/agents", get(list_route))
        .route("/health", get(health_route))
        .route("/metrics", get(metrics_route))
        .route("/", get(crate::served::status_page::status_page))
        .nest_service("/mcp", mcp)
        .with_state(registry)
        .merge(probes::routes(ready));
    let app = protect(app, exposure.guard, exposure.auth, BodyLimit::default());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn list_route(State(registry): State<Arc<Registry>>) -> Json<Vec<AgentEntry>> {
    Json(registry.entries())
}

async fn health_route(State(registry): State<Arc<Registry>>) -> Json<serde_json::Value> {
    Json(registry.health().await)
}

/// `GET /metrics`: the state gauges are refreshed from every agent, then all series rendered.
async fn metrics_route(State(registry): State<Arc<Registry>>) -> impl axum::response::IntoResponse {
    let metrics = crate::metrics::global();
    for (entry, rt) in &registry.agents {
        let preflight_ok =
            rt.preflight.read().expect("preflight lock").status == crate::llm::PreflightStatus::Ok;
        let agent = &rt.agent;
        metrics.set_agent_state(&crate::metrics::AgentState {
            agent: &entry.name,
            preflight_ok,
            servers: agent
                .servers
                .iter()
                .map(|s| (s.name(), s.is_up(), s.reconnects()))
                .collect(),
            budget: agent.budget().map(|b| (b.usd_per_day, b.spent_today_usd)),
        });
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        metrics.render(),
    )
}

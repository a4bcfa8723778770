//! Each agent as an MCP server: its agent tool, `get_health`, and the history prompt
//! (`listen` puts it on the network).

use std::sync::{Arc, RwLock};

use rmcp::ErrorData as McpError;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock as McpContent,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, Prompt, PromptArgument,
    PromptMessage, Role as McpRole, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::agent::media;
use crate::agent::{Agent, AgentEvent};
use crate::llm::Preflight;
use crate::llm::conversation::{ContentBlock, Message, Role, ToolResultContent};
use crate::served::health::{AgentHealth, agent_health};
use crate::served::limits::{SessionGate, TurnLimiter};
use crate::served::turns::{self, Target, TurnStore};

pub const HEALTH_TOOL: &str = "get_health";

/// What every MCP session of one agent shares.
pub struct AgentRuntime {
    pub agent: Agent,
    pub version: String,
    /// Token-free preflight result, computed at startup and reused by every health call;
    /// refreshed every `preflight_interval` and on `get_health {"refresh": true}`.
    pub preflight: RwLock<Preflight>,
    pub preflight_interval: std::time::Duration,
    /// Where this agent's conversations are kept (one store for the whole fleet).
    pub turns: TurnStore,
    /// `max_concurrent_turns`, `max_queued_turns`, `turn_timeout_seconds`.
    pub turn_limits: TurnLimiter,
    /// `max_sessions` and the idle sweep of sessions that never call.
    pub sessions: Arc<SessionGate>,
}

impl AgentRuntime {
    pub fn new(agent: Agent, version: String, preflight: Preflight) -> AgentRuntime {
        let limits = agent.config.limits;
        AgentRuntime {
            turn_limits: TurnLimiter::new(&agent.config.name, &limits),
            sessions: SessionGate::new(&limits),
            agent,
            version,
            preflight: RwLock::new(preflight),
            preflight_interval: crate::config::DEFAULT_PREFLIGHT_INTERVAL,
            turns: TurnStore::in_memory(),
        }
    }

    /// Keeps conversations in `turns` (the fleet's store) instead of process memory.
    pub fn with_turns(mut self, turns: TurnStore) -> AgentRuntime {
        self.turns = turns;
        self
    }

    pub fn with_preflight_interval(mut self, interval: std::time::Duration) -> AgentRuntime {
        self.preflight_interval = interval;
        self
    }

    /// Runs the provider's preflight again and caches the result.
    pub async fn refresh_preflight(&self) -> Preflight {
        let fresh = self.agent.llm.preflight().await;
        if fresh.status != crate::llm::PreflightStatus::Ok {
            tracing::warn!(agent = %self.name(), "LLM preflight: {}", fresh.message);
        }
        *self.preflight.write().expect("preflight lock") = fresh.clone();
        fresh
    }

    /// Refreshes the preflight every `preflight_interval` until `shutdown`, so a key that
    /// expires (or a server that comes back) shows in `get_health` without a restart; a
    /// failed one is retried sooner (see [`super::preflight_schedule`]).
    pub(super) async fn refresh_periodically(&self, shutdown: CancellationToken) {
        let first_ok = self.preflight.read().expect("preflight lock").status
            == crate::llm::PreflightStatus::Ok;
        super::preflight_schedule::run(self.preflight_interval, first_ok, shutdown, || async {
            self.refresh_preflight().await.status == crate::llm::PreflightStatus::Ok
        })
        .await;
    }

    pub async fn health(&self) -> AgentHealth {
        let preflight = self.preflight.read().expect("preflight lock").clone();
        agent_health(&self.agent, &self.version, &preflight).await
    }

    fn name(&self) -> &str {
        &self.agent.config.name
    }
}

/// One instance per MCP session (rmcp calls the factory per session, and per request for
/// clients without a session), which is what makes `instance_scope: connection` a
/// per-session conversation.
#[derive(Clone)]
pub struct AgentServer {
    runtime: Arc<AgentRuntime>,
    /// The id this session's conversation is stored under.
    session_conversation: String,
}

impl AgentServer {
    pub fn new(runtime: Arc<AgentRuntime>) -> AgentServer {
        AgentServer {
            runtime,
            session_conversation: turns::new_session_id(),
        }
    }

    fn target(&self, given: Option<String>) -> Target {
        turns::resolve(
            given,
            self.runtime.agent.config.instance_scope,
            &self.session_conversation,
        )
    }

    /// Offered under every scope: with `instance_scope: request` it needs a `conversation`.
    fn history_prompt_name(&self) -> Option<String> {
        Some(format!("{}_history", self.runtime.name()))
    }

    fn tools(&self) -> Vec<Tool> {
        let config = &self.runtime.agent.config;
        let send_schema = json!({
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": format!("The message for {}", config.title)},
                "attachments": media::attachments_schema(self.runtime.agent.llm.limits())
            }
        });
        let mut send_schema = as_object(send_schema);
        if let Some(Value::Object(properties)) = send_schema.get_mut("properties") {
            properties.extend(turns::input_properties().map(|(k, v)| (k.to_string(), v)));
        }
        let health_schema = json!({
            "type": "object",
            "properties": {
                "refresh": {
                    "type": "boolean",
                    "description": "Run the LLM preflight again now instead of using the cached result"
                }
            }
        });
        let mut agent_tool = Tool::new(
            config.tool_name.clone(),
            config.description.clone(),
            send_schema,
        )
        .with_title(config.title.clone());
        agent_tool.output_schema = Some(Arc::new(turns::output_schema()));
        vec![
            agent_tool,
            Tool::new(
                HEALTH_TOOL,
                format!(
                    "Health of the {} agent: status ok or degraded with the reason, each downstream MCP server probed live, the cached LLM preflight (pass refresh: true to re-run it), and token usage.",
                    config.name
                ),
                as_object(health_schema),
            ),
        ]
    }

    async fn call_agent(
        &self,
        arguments: Option<serde_json::Map<String, Value>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let given = turns::conversation_argument(arguments.as_ref())?;
        let message = arguments
            .as_ref()
            .and_then(|a| a.get("message"))
            .and_then(Value::as_str);
        let ending = arguments
            .as_ref()
            .and_then(|a| a.get("end_conversation"))
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        if ending {
            return self.end_conversation(given, message.is_some()).await;
        }
        let message = message
            .ok_or_else(|| {
                McpError::invalid_params(
                    "missing required argument 'message' (a string with the request for the agent)",
                    None,
                )
            })?
            .to_string();
        let agent = &self.runtime.agent;
        let attachments = arguments.as_ref().and_then(|a| a.get("attachments"));
        // Files come first: models read a document or image better before the question.
        let mut content = match media::attachment_blocks(attachments, agent.media_support()) {
            Ok(blocks) => blocks,
            Err(problem) => return Ok(CallToolResult::error(vec![McpContent::text(problem)])),
        };
        content.push(ContentBlock::Text(message));
        let message = Message {
            role: Role::User,
            content,
        };
        let (progress_tx, forwarder) = match context.meta.get_progress_token() {
            Some(token) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<AgentEvent>();
                let peer = context.peer.clone();
                let forwarder = tokio::spawn(async move {
                    let mut step = 0.0;
                    while let Some(event) = rx.recv().await {
                        step += 1.0;
                        let param = ProgressNotificationParam::new(token.clone(), step)
                            .with_message(progress_message(event));
                        if peer.notify_progress(param).await.is_err() {
                            break;
                        }
                    }
                });
                (Some(tx), Some(forwarder))
            }
            None => (None, None),
        };
        let target = self.target(given);
        let turn = crate::metrics::global().turn_started(self.runtime.name());
        // Dropping the turn (the caller cancelled) releases the conversation unchanged.
        let outcome = tokio::select! {
            r = turns::run_turn(agent, &self.runtime.turns, &target, message, progress_tx.as_ref()) => Some(r),
            _ = context.ct.cancelled() => None,
        };
        drop(progress_tx);
        if let Some(f) = forwarder {
            // Progress must reach the caller before the result does.
            let _ = f.await;
        }
        turn.finish(&match &outcome {
            Some(Ok(_)) => "ok".to_string(),
            Some(Err(e)) => e.outcome(),
            None => "cancelled".to_string(),
        });
        Ok(match outcome {
            Some(Ok(report)) => report.into_result(),
            Some(Err(e)) => {
                tracing::warn!(agent = %self.runtime.name(), "{e}");
                CallToolResult::error(vec![McpContent::text(e.to_string())])
            }
            None => CallToolResult::error(vec![McpContent::text("cancelled by the caller")]),
        })
    }

    /// `{"conversation": ID, "end_conversation": true}`: deletes that conversation.
    async fn end_conversation(
        &self,
        given: Option<String>,
        with_message: bool,
    ) -> Result<CallToolResult, McpError> {
        let Some(id) = given else {
            return Err(McpError::invalid_params(
                "end_conversation needs the id of the conversation to end in 'conversation'",
                None,
            ));
        };
        if with_message {
            return Err(McpError::invalid_params(
                "end_conversation takes no 'message': send the last message first, then end the conversation in a separate call",
                None,
            ));
        }
        match turns::end(&self.runtime.turns, self.runtime.name(), &id).await {
            Ok(existed) => Ok(turns::ended_result(&id, existed)),
            Err(e) => Ok(CallToolResult::error(vec![McpContent::text(e.to_string())])),
        }
    }
}

fn as_object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(o) => o,
        _ => serde_json::Map::new(),
    }
}

impl ServerHandler for AgentServer {
    fn get_info(&self) -> ServerConfig {
        let config = &self.runtime.agent.config;
        let capabilities = if self.history_prompt_name().is_some() {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().build()
        };
        ServerConfig::new(capabilities)
            .with_server_info(server_info(config))
            .with_instructions(config.description.clone())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.as_ref();
        if name == HEALTH_TOOL {
            let refresh = request
                .arguments
                .as_ref()
                .and_then(|a| a.get("refresh"))
                .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
            if refresh {
                self.runtime.refresh_preflight().await;
            }
            let health = self.runtime.health().await;
            let value = serde_json::to_value(&health)
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
            return Ok(CallToolResult::structured(value).into());
        }
        if name == self.runtime.agent.config.tool_name {
            if let Some(session) = context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.headers.get("mcp-session-id"))
                .and_then(|v| v.to_str().ok())
            {
                self.runtime.sessions.mark_used(session);
            }
            let result = match self
                .runtime
                .turn_limits
                .run(self.call_agent(request.arguments, context))
                .await
            {
                Ok(result) => result?,
                Err(refusal) => {
                    tracing::warn!(agent = %self.runtime.name(), "{refusal}");
                    CallToolResult::error(vec![McpContent::text(refusal.to_string())])
                }
            };
            return Ok(result.into());
        }
        Err(McpError::invalid_params(
            format!(
                "unknown tool '{name}'; this server offers '{}' and '{HEALTH_TOOL}'",
                self.runtime.agent.config.tool_name
            ),
            None,
        ))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let prompts = self
            .history_prompt_name()
            .map(|name| {
                let mut argument = PromptArgument::new("conversation");
                argument.description = Some(
                    "The conversation id (from an answer's structuredContent); default: this agent's conversation for this caller"
                        .into(),
                );
                argument.required = Some(false);
                vec![Prompt::new(
                    name,
                    Some(format!(
                        "The conversation with {} so far",
                        self.runtime.agent.config.title
                    )),
                    Some(vec![argument]),
                )]
            })
            .unwrap_or_default();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if Some(&request.name) != self.history_prompt_name().as_ref() {
            return Err(McpError::invalid_params(
                format!("unknown prompt '{}'", request.name),
                None,
            ));
        }
        let given = turns::conversation_argument(request.arguments.as_ref())?;
        let Target::Stored(id) = self.target(given) else {
            return Err(McpError::invalid_params(
                "this agent has instance_scope: request and keeps no conversation of its own; pass the 'conversation' argument with a conversation id",
                None,
            ));
        };
        let history = turns::history(&self.runtime.turns, self.runtime.name(), &id)
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let messages = history.iter().filter_map(prompt_message).collect();
        Ok(GetPromptResult::new(messages).into())
    }
}

fn server_info(config: &crate::config::AgentConfig) -> Implementation {
    Implementation::new(config.name.clone(), env!("CARGO_PKG_VERSION"))
        .with_title(config.title.clone())
        .with_description(config.description.clone())
}

/// History as `[{role, content}]` text, the shape fast-agent's history prompt has.
fn prompt_message(m: &Message) -> Option<PromptMessage> {
    let parts: Vec<String> = m
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text(t) => Some(t.clone()),
            ContentBlock::ToolUse(u) => Some(format!("[tool call {} {}]", u.name, u.input)),
            ContentBlock::ToolResult(r) => Some(format!(
                "[tool result{}: {}]",
                if r.is_error { " (error)" } else { "" },
                r.content
                    .iter()
                    .map(|c| match c {
                        ToolResultContent::Text(t) => t.clone(),
                        ToolResultContent::Json(v) => v.to_string(),
                        ToolResultContent::Image(i) => format!("<{} image>", i.mime_type),
                        ToolResultContent::Document(d) => {
                            format!("<{} document {}>", d.format, d.name)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            ContentBlock::Image(i) => Some(format!("<{} image>", i.mime_type)),
            ContentBlock::Document(d) => Some(format!("<{} document {}>", d.format, d.name)),
            ContentBlock::Reasoning(_) => None,
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let role = match m.role {
        Role::User => McpRole::User,
        Role::Assistant => McpRole::Assistant,
    };
    Some(PromptMessage::new_text(role, parts.join("\n")))
}

/// The progress text the MCP client sees for each turn event.
fn progress_message(event: AgentEvent) -> String {
    match event {
        AgentEvent::ModelCall {
            iteration,
            max_iterations,
            tools_offered,
        } => format!("model call {iteration}/{max_iterations} ({tools_offered} tools offered)"),
        AgentEvent::ToolCall { name } => format!("tool call {name}"),
        AgentEvent::TextDelta(text) | AgentEvent::Notice(text) => text,
    }
}

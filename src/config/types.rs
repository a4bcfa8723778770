//! The resolved configuration the rest of Pallas runs from. Loading (files, `${VAR}`,
//! `.env`, secrets, modules, validation) lives in `load.rs`; these types carry no YAML.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{CapabilityOverrides, ModelSpec};

/// Everything `pallas serve` and `pallas check` need, already validated.
#[derive(Debug, Clone)]
pub struct Project {
    /// Folder holding `agents.yaml`; relative paths (modules, stdio `cwd`) resolve from here.
    pub root: PathBuf,
    pub agents_file: PathBuf,
    pub name: String,
    pub version: String,
    /// Advertised in registry URLs and accepted as the `Host` header.
    pub host: String,
    pub bind: IpAddr,
    pub registry_port: u16,
    /// Agents whose entries are valid, in file order.
    pub agents: Vec<AgentConfig>,
    /// Agent entries that are not valid. Serving skips them (the others still start);
    /// `pallas check` fails on them.
    pub agent_errors: Vec<AgentError>,
    pub settings: Settings,
    /// Non-fatal findings (unset `${VAR}` without default, unknown model, …).
    pub warnings: Vec<String>,
    /// Variables from `.env` that the process environment does not already set. The CLI
    /// exports them before starting the runtime, so the AWS SDK sees them too.
    pub dotenv: BTreeMap<String, String>,
}

/// One invalid agent entry, with a message naming file, line, field and fix.
#[derive(Debug, Clone)]
pub struct AgentError {
    pub agent: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceScope {
    /// One conversation for every caller.
    Shared,
    /// One conversation per MCP session (the default).
    #[default]
    Connection,
    /// A fresh conversation for every call; no history prompt.
    Request,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    pub title: String,
    pub description: String,
    pub port: u16,
    pub model: ModelSpec,
    /// Agent-level overrides already layered over the config-wide `model_capabilities`.
    pub capability_overrides: CapabilityOverrides,
    pub instruction: String,
    /// Names from `mcp.servers`, validated to exist.
    pub servers: Vec<String>,
    pub max_iterations: u32,
    /// The agent tool's name with `{agent}` already substituted.
    pub tool_name: String,
    pub instance_scope: InstanceScope,
    /// Request parameters (`tool_choice`, `temperature`, `streaming`, …).
    pub options: super::agent_options::AgentOptions,
}

/// Settings from `fastagent.config.yaml` merged with `fastagent.secrets.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub secrets_file: Option<PathBuf>,
    pub default_model: Option<String>,
    pub model_capabilities: CapabilityOverrides,
    pub bedrock: BedrockSettings,
    pub mcp_servers: BTreeMap<String, McpServerConfig>,
    /// `logger.level` (fast-agent names: debug, info, warning, error).
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BedrockSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub reasoning: Option<String>,
    pub endpoint_url: Option<String>,
    /// Caching, guardrail and debug options (`bedrock_options.rs`).
    pub features: super::bedrock_options::BedrockFeatures,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Resolved against the project root.
        cwd: Option<PathBuf>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

impl McpTransport {
    pub fn kind(&self) -> &'static str {
        match self {
            McpTransport::Stdio { .. } => "stdio",
            McpTransport::Http { .. } => "http",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerConfig {
    pub name: String,
    pub transport: McpTransport,
    /// Per-request timeout for downstream calls (`read_timeout_seconds`, default 60 s).
    pub read_timeout: Duration,
}

pub const DEFAULT_MAX_ITERATIONS: u32 = 20;
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

//! The resolved configuration the rest of Pallas runs from. Loading (files, `${VAR}`,
//! `.env`, secrets, modules, validation) lives in `load.rs`; these types carry no YAML.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::diagnostic::{Diagnostic, Severity};
use crate::model::{CapabilityOverrides, CrossRegion, ModelSpec};

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
    /// The top-level `auth:`; `None` when not written (loopback only, see `auth::check_exposure`).
    pub auth: Option<crate::auth::AuthPolicy>,
    /// Extra `Host` values accepted (`allowed_hosts:`), besides loopback, `host` and `bind`.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call (`allowed_origins:`); empty refuses any `Origin`.
    pub allowed_origins: Vec<String>,
    /// Agents whose entries are valid, in file order.
    pub agents: Vec<AgentConfig>,
    /// Agent entries that are not valid. Serving skips them (the others still start);
    /// `pallas check` fails on them.
    pub agent_errors: Vec<AgentError>,
    pub settings: Settings,
    /// Non-fatal findings (unset `${VAR}` without default, unknown model, …), rendered.
    pub warnings: Vec<String>,
    /// Every finding of the validation pass, structured: the agent errors, then the
    /// warnings (`agent_errors` and `warnings` are these, rendered).
    pub diagnostics: Vec<Diagnostic>,
    /// Variables from `.env` that the process environment does not already set. The CLI
    /// exports them before starting the runtime, so the AWS SDK sees them too.
    pub dotenv: BTreeMap<String, String>,
    /// The `conversations:` section: which store keeps conversations, and for how long.
    pub conversations: crate::store::ConversationsConfig,
}

/// One invalid agent entry, with a message naming file, line, field and fix.
#[derive(Debug, Clone)]
pub struct AgentError {
    pub agent: String,
    pub message: String,
}

impl From<&Diagnostic> for AgentError {
    fn from(problem: &Diagnostic) -> AgentError {
        AgentError {
            agent: problem.agent.as_deref().unwrap_or_default().to_string(),
            message: problem.to_string(),
        }
    }
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

#[derive(Debug, Clone, PartialEq)]
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
    /// What happens to turns that no longer fit the context window (`history:`).
    pub history: super::agent_history::HistoryOptions,
    /// Where the model spec is written (the agent's `model`, or `default_model`), so checks
    /// made after loading (provider rules, reasoning) can still point at the line.
    pub model_at: FieldLocation,
    /// This agent's own `auth:`, overriding the top-level one.
    pub auth: Option<crate::auth::AuthPolicy>,
    pub limits: super::exposure::ServeLimits,
}

impl Project {
    /// The `auth:` that applies to `agent`: its own, else the top-level one.
    pub fn auth_for<'a>(&'a self, agent: &'a AgentConfig) -> Option<&'a crate::auth::AuthPolicy> {
        agent.auth.as_ref().or(self.auth.as_ref())
    }
}

/// A field's `{file}:{line}` and dotted path, kept past loading for later messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldLocation {
    pub file: PathBuf,
    pub line: usize,
    /// e.g. `agents.jarvis.model`.
    pub path: String,
}

impl FieldLocation {
    /// An error about this field; `problem` carries its own fix.
    pub fn diagnostic(&self, problem: &str) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            agent: None,
            file: self.file.clone().into(),
            line: self.line,
            field: self.path.as_str().into(),
            problem: problem.into(),
            fix: "".into(),
        }
    }
}

/// Settings from `fastagent.config.yaml` merged with `fastagent.secrets.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub secrets_file: Option<PathBuf>,
    pub default_model: Option<String>,
    pub model_capabilities: CapabilityOverrides,
    pub bedrock: BedrockSettings,
    pub anthropic: AnthropicSettings,
    pub openai: OpenAiSettings,
    pub generic: GenericSettings,
    pub health: HealthSettings,
    pub mcp_servers: BTreeMap<String, McpServerConfig>,
    /// `logger.level` (fast-agent names: debug, info, warning, error).
    pub log_level: Option<String>,
    /// `logger.format`: plain text (default) or JSON lines.
    pub log_format: super::operations::LogFormat,
    /// `prices:`: per-model price overrides over the built-in table.
    pub prices: BTreeMap<String, crate::model::prices::Rates>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BedrockSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub reasoning: Option<String>,
    pub endpoint_url: Option<String>,
    /// `bedrock.cross_region`: add the region's geo prefix to models that need a profile.
    pub cross_region: CrossRegion,
    /// `bedrock.max_attempts`: attempts per call, including the first (SDK standard retry).
    pub max_attempts: Option<u32>,
    /// Caching, guardrail and debug options (`bedrock_options.rs`).
    pub features: super::bedrock_options::BedrockFeatures,
}

/// `anthropic:` — the Messages API, direct (api.anthropic.com) or through Bedrock Mantle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnthropicSettings {
    /// Without `/v1/messages` (appended as the Anthropic SDK does); `None` = api.anthropic.com.
    pub base_url: Option<String>,
    /// `anthropic.api_key`, else `ANTHROPIC_API_KEY` (resolved at load time).
    pub api_key: Option<Secret>,
    pub default_headers: BTreeMap<String, String>,
    /// `off`, `prompt` or `auto` (default `auto`); direct API only.
    pub cache_mode: Option<String>,
    /// `5m` or `1h`; direct API only.
    pub cache_ttl: Option<String>,
    /// Extended thinking (a level or token budget); direct API only.
    pub reasoning: Option<String>,
    /// Forces Mantle mode on or off; `None` detects it from a `bedrock-mantle` host.
    pub mantle: Option<bool>,
}

/// `openai:` — Chat Completions (OpenAI, or Mantle's `/v1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenAiSettings {
    /// Up to and including `/v1`; `None` = `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    /// `openai.api_key`, else `OPENAI_API_KEY` (resolved at load time).
    pub api_key: Option<Secret>,
    pub default_headers: BTreeMap<String, String>,
    pub reasoning_effort: Option<String>,
}

/// `generic:` — any OpenAI-compatible server (Ollama, llama.cpp, vLLM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericSettings {
    /// From the config, else `GENERIC_BASE_URL`, else [`DEFAULT_GENERIC_BASE_URL`].
    pub base_url: String,
    pub api_key: Option<Secret>,
}

impl Default for GenericSettings {
    fn default() -> Self {
        GenericSettings {
            base_url: DEFAULT_GENERIC_BASE_URL.to_string(),
            api_key: None,
        }
    }
}

pub const DEFAULT_GENERIC_BASE_URL: &str = "http://localhost:11434/v1";

/// `health:` — how often the cached LLM preflight is refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    pub preflight_interval: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            preflight_interval: DEFAULT_PREFLIGHT_INTERVAL,
        }
    }
}

pub const DEFAULT_PREFLIGHT_INTERVAL: Duration = Duration::from_secs(300);

/// An API key. `Debug` never prints it, so settings can be logged without leaking secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Resolved against the project root, and absolute.
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
    /// Text of a tool result beyond this is cut, with a note the model sees
    /// (`max_tool_result_bytes`, default 256 KiB).
    pub max_tool_result_bytes: usize,
}

/// A quarter MiB of text is about 64k tokens: plenty for a tool answer, and well inside
/// every supported model's context.
pub const DEFAULT_MAX_TOOL_RESULT_BYTES: usize = 256 * 1024;

pub const DEFAULT_MAX_ITERATIONS: u32 = 20;
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

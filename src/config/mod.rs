//! Loading `agents.yaml`, `fastagent.config.yaml`, `fastagent.secrets.yaml` and `.env`.
//!
//! [`load_project`] is the entry point; it reads, substitutes and validates in one pass:
//!
//! - `source.rs`, `locate.rs`: a file's text kept for line numbers; YAML syntax errors;
//!   `${VAR}` substitution per file (`env.rs`), remembering what came from a variable.
//! - `raw.rs`, `raw_settings.rs`: the files as serde structs, one field per key Pallas
//!   reads; `keys.rs` warns about any other key, with the closest known one.
//! - `load.rs` (top level), `agents.rs` + `modules.rs` + `agent_fields.rs` +
//!   `agent_options.rs` (each agent), `settings.rs` + `provider_settings.rs` +
//!   `bedrock_*.rs` + `mcp_servers.rs` (the settings files): raw structs → [`Project`].
//!
//! Every finding is a [`Diagnostic`] (`{file}:{line}: {field path}: {problem}; {fix}`):
//! fatal ones are [`ConfigError`]s, those confined to one agent skip only that agent
//! ([`Project::agent_errors`]), the rest are warnings. Provider rules (which models a
//! provider can serve) are checked when an agent is assembled (`crate::assembly`), so this
//! module does not depend on `llm`.

mod agent_fields;
mod agent_history;
mod agent_options;
mod agents;
mod bedrock_connection;
mod bedrock_options;
mod conversations;
mod diagnostic;
mod env;
mod error;
mod exposure;
mod keys;
mod load;
mod locate;
mod mcp_servers;
mod modules;
mod operations;
mod provider_settings;
mod raw;
mod raw_settings;
mod settings;
mod source;
mod types;
mod value;

pub use agent_history::{HistoryOptions, HistoryStrategy};
pub use agent_options::AgentOptions;
pub use agents::{DEFAULT_INSTRUCTION, RESERVED_TOOL_NAME};
pub use bedrock_options::{
    BedrockFeatures, CacheMode, CacheTtl, GuardrailSettings, GuardrailTrace,
};
pub use diagnostic::{Diagnostic, Severity};
pub use env::{parse_dotenv, substitute_str};
pub use error::ConfigError;
pub use exposure::{
    DEFAULT_MAX_CONCURRENT_TURNS, DEFAULT_MAX_QUEUED_TURNS, DEFAULT_MAX_SESSIONS,
    DEFAULT_SESSION_IDLE, DEFAULT_TURN_TIMEOUT, ServeLimits,
};
pub use load::{DEFAULT_BIND, DEFAULT_HOST, DEFAULT_VERSION, load_project, load_project_with_env};
pub use operations::LogFormat;
pub use settings::{CONFIG_NAMES, SECRETS_NAMES};
pub use types::*;

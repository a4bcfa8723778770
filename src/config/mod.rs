//! Loading `agents.yaml`, `fastagent.config.yaml`, `fastagent.secrets.yaml` and `.env`.
//!
//! [`load_project`] is the entry point. Fatal problems are [`ConfigError`]s; problems
//! confined to one agent are [`AgentError`]s in [`Project::agent_errors`]. Every message
//! reads `{file}:{line}: {field path}: {problem}; {fix}`.

mod agent_fields;
mod agent_options;
mod agents;
mod bedrock_connection;
mod bedrock_options;
mod diagnostic;
mod env;
mod error;
mod keys;
mod load;
mod locate;
mod mcp_servers;
mod modules;
mod provider_settings;
mod raw;
mod raw_settings;
mod settings;
mod source;
mod types;
mod value;

pub use agent_options::AgentOptions;
pub use agents::{DEFAULT_INSTRUCTION, RESERVED_TOOL_NAME};
pub use bedrock_options::{
    BedrockFeatures, CacheMode, CacheTtl, GuardrailSettings, GuardrailTrace,
};
pub use diagnostic::{Diagnostic, Severity};
pub use env::{parse_dotenv, substitute_str};
pub use error::ConfigError;
pub use load::{DEFAULT_BIND, DEFAULT_HOST, DEFAULT_VERSION, load_project, load_project_with_env};
pub use settings::{CONFIG_NAMES, SECRETS_NAMES};
pub use types::*;

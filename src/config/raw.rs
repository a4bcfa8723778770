//! `agents.yaml` as written: one struct per mapping, one field per key Pallas reads.
//!
//! Adding a key means adding a field here and reading it in the validation pass; the
//! unknown-key check (`keys.rs`) learns it from the field. Fields are [`Lenient`] or raw
//! values rather than strict types so that validation reports every bad field of an agent
//! in one run, each with its own wording and fix, instead of serde's first error only.

use serde::{Deserialize, Deserializer};
use serde_yaml::Value;

use super::types::InstanceScope;
use super::value::{as_bool, as_f64, as_int, scalar_string};
use crate::model::ToolChoice;

/// The top level of `agents.yaml`.
#[derive(Debug, Default, Deserialize)]
pub struct RawProject {
    pub name: Option<Lenient<String>>,
    pub version: Option<Lenient<String>>,
    pub host: Option<Lenient<String>>,
    pub bind: Option<Value>,
    pub registry_port: Option<Lenient<u16>>,
    pub agents: Option<Value>,
    /// Who may call every agent and the registry (`config::exposure`).
    pub auth: Option<Value>,
    /// `Host` values accepted besides loopback, `host` and `bind`.
    pub allowed_hosts: Option<Value>,
    /// Browser origins allowed to call (default none).
    pub allowed_origins: Option<Value>,
    /// Where conversations are stored (read by `conversations.rs`).
    pub conversations: Option<Value>,
}

/// Agent keys fast-agent reads (AgentCard fields) that Pallas does not: accepted silently.
pub const ACCEPTED_AGENT_KEYS: [&str; 14] = [
    "name",
    "type",
    "default",
    "use_history",
    "request_params",
    "human_input",
    "tools",
    "resources",
    "prompts",
    "skills",
    "api_key",
    "history_source",
    "messages",
    "function_tools",
];

/// One agent: its `agents.yaml` entry with its module file's keys merged below.
#[derive(Debug, Default, Deserialize)]
pub struct RawAgent {
    /// `agents.jarvis` → `agents/jarvis.yaml` or `.md`; read before merging.
    pub module: Option<Value>,
    pub port: Option<Lenient<u16>>,
    pub title: Option<Lenient<String>>,
    pub description: Option<Lenient<String>>,
    pub model: Option<Lenient<String>>,
    pub model_capabilities: Option<Value>,
    pub instruction: Option<Lenient<String>>,
    pub servers: Option<Value>,
    pub max_iterations: Option<Lenient<u32>>,
    pub tool_name: Option<Lenient<String>>,
    pub instance_scope: Option<Lenient<InstanceScope>>,
    pub tool_choice: Option<Lenient<ToolChoice>>,
    pub max_tokens: Option<Lenient<u32>>,
    pub temperature: Option<Lenient<f64>>,
    pub top_p: Option<Lenient<f64>>,
    pub stop_sequences: Option<Value>,
    pub additional_model_request_fields: Option<Value>,
    pub streaming: Option<Lenient<bool>>,
    pub show_reasoning: Option<Lenient<bool>>,
    /// Overrides the top-level `auth:` for this agent.
    pub auth: Option<Value>,
    pub max_sessions: Option<Value>,
    pub max_concurrent_turns: Option<Value>,
    pub max_queued_turns: Option<Value>,
    pub turn_timeout_seconds: Option<Value>,
    pub session_idle_seconds: Option<Value>,
    /// `{strategy: truncate | summarize}`, read by `agent_history.rs`.
    pub history: Option<Value>,
    /// `{usd_per_day: N}`, read by `agent_options.rs`.
    pub budget: Option<Value>,
}

/// A value read as `T` when it fits, with what was written kept for messages.
///
/// `${VAR}` substitution turns every value into text, so numbers and bools are accepted as
/// strings spelling them (as pydantic does for fast-agent).
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T> {
    /// `None` when the written value does not read as `T`.
    pub value: Option<T>,
    pub written: Value,
}

impl<T> Lenient<T> {
    /// The value when it fit; a misfit reads as absent (for fields with a quiet default).
    pub fn fit(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// The value, or `problem(written)` when it did not fit.
    pub fn or_problem(&self, problem: impl FnOnce(&Value)) -> Option<&T> {
        if self.value.is_none() {
            problem(&self.written);
        }
        self.value.as_ref()
    }
}

impl<'de, T: FromYaml> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let written = Value::deserialize(deserializer)?;
        Ok(Lenient {
            value: T::from_yaml(&written),
            written,
        })
    }
}

/// Reading a YAML value as a field type, leniently (see [`Lenient`]).
pub trait FromYaml: Sized {
    fn from_yaml(value: &Value) -> Option<Self>;
}

impl FromYaml for String {
    fn from_yaml(value: &Value) -> Option<Self> {
        scalar_string(value)
    }
}

impl FromYaml for u16 {
    fn from_yaml(value: &Value) -> Option<Self> {
        as_int(value).and_then(|n| u16::try_from(n).ok())
    }
}

impl FromYaml for u32 {
    fn from_yaml(value: &Value) -> Option<Self> {
        as_int(value).and_then(|n| u32::try_from(n).ok())
    }
}

impl FromYaml for f64 {
    fn from_yaml(value: &Value) -> Option<Self> {
        as_f64(value)
    }
}

impl FromYaml for bool {
    fn from_yaml(value: &Value) -> Option<Self> {
        as_bool(value)
    }
}

impl FromYaml for InstanceScope {
    fn from_yaml(value: &Value) -> Option<Self> {
        match scalar_string(value)?.trim().to_ascii_lowercase().as_str() {
            "shared" => Some(InstanceScope::Shared),
            "connection" => Some(InstanceScope::Connection),
            "request" => Some(InstanceScope::Request),
            _ => None,
        }
    }
}

impl FromYaml for ToolChoice {
    fn from_yaml(value: &Value) -> Option<Self> {
        match scalar_string(value)?.trim() {
            "auto" => Some(ToolChoice::Auto),
            "any" | "required" => Some(ToolChoice::Any),
            "none" => Some(ToolChoice::None),
            "" => None,
            name => Some(ToolChoice::Tool(name.to_string())),
        }
    }
}

/// Reads a mapping into its raw struct. Every field accepts any value, so this fails only
/// on a non-mapping, which callers have ruled out.
pub fn from_mapping<T: for<'de> Deserialize<'de> + Default>(map: &serde_yaml::Mapping) -> T {
    serde_yaml::from_value(Value::Mapping(map.clone())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::fields_of;

    fn fit<T: Clone>(field: &Option<Lenient<T>>) -> Option<T> {
        field.as_ref().and_then(|l| l.value.clone())
    }

    #[test]
    fn substituted_strings_fit_numbers_and_bools_and_misfits_are_kept() {
        let raw: RawAgent = serde_yaml::from_str(
            "port: \"8201\"\nstreaming: \"FALSE\"\nmax_iterations: lots\ntitle: 5\ninstance_scope: Shared\n",
        )
        .unwrap();
        assert_eq!(fit(&raw.port), Some(8201));
        assert_eq!(fit(&raw.streaming), Some(false));
        let iterations = raw.max_iterations.unwrap();
        assert_eq!(iterations.value, None);
        assert_eq!(iterations.written, Value::String("lots".into()));
        assert_eq!(fit(&raw.title), Some("5".to_string()));
        assert_eq!(fit(&raw.instance_scope), Some(InstanceScope::Shared));
        assert_eq!(raw.model, None);
    }

    #[test]
    fn the_struct_is_the_key_list() {
        let keys = fields_of::<RawAgent>();
        assert!(keys.contains(&"port") && keys.contains(&"show_reasoning"));
        assert_eq!(keys.len(), 27);
    }
}

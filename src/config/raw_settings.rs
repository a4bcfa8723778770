//! `fastagent.config.yaml` (merged with the secrets file) as written: one struct per
//! section, one field per key Pallas reads. The section readers take these structs, so a
//! key is declared once; the unknown-key check learns it from the field.
//!
//! fast-agent reads many keys Pallas does not (other providers, OpenTelemetry, console
//! display, …). Those are listed per section as `ACCEPTED_*` and load silently, so an
//! existing fast-agent project is not flooded with warnings; anything else is likely a typo
//! and is warned with the closest key.

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::diagnostic::Diagnostic;
use super::keys::{KeyCheck, fields_of};
use super::raw::Lenient;
use super::source::{Sources, key_path};
use super::value::{get, key_string};

#[derive(Debug, Default, Deserialize)]
pub struct RawSettings {
    pub default_model: Option<Lenient<String>>,
    pub model_capabilities: Option<Value>,
    pub bedrock: Option<Value>,
    pub anthropic: Option<Value>,
    pub openai: Option<Value>,
    pub generic: Option<Value>,
    pub health: Option<Value>,
    pub logger: Option<Value>,
    pub mcp: Option<Value>,
    /// `prices: {model-id: {input, output, cache_read, cache_write_5m, cache_write_1h}}`.
    pub prices: Option<Value>,
}

/// fast-agent's other top-level settings.
pub const ACCEPTED_SETTINGS_KEYS: &[&str] = &[
    "$schema",
    "execution_engine",
    "temporal",
    "default_agent",
    "auto_sampling",
    "deepseek",
    "google",
    "xai",
    "openrouter",
    "tensorzero",
    "azure",
    "aliyun",
    "huggingface",
    "groq",
    "otel",
    "shell_execution",
    "llm_retries",
    "mcp_ui_mode",
    "mcp_ui_output_dir",
    "skills_directory",
    "session_history",
    "mcp_timeline",
    "environment_dir",
    "cards",
    "model_aliases",
];

#[derive(Debug, Default, Deserialize)]
pub struct RawBedrock {
    pub region: Option<Lenient<String>>,
    pub profile: Option<Lenient<String>>,
    pub reasoning: Option<Lenient<String>>,
    pub endpoint_url: Option<Lenient<String>>,
    pub cross_region: Option<Value>,
    pub max_attempts: Option<Value>,
    pub cache_mode: Option<Value>,
    pub cache_ttl: Option<Value>,
    pub guardrail: Option<Value>,
    pub raw_debug: Option<Value>,
}

pub const ACCEPTED_BEDROCK_KEYS: &[&str] = &["reasoning_effort", "default_model"];

#[derive(Debug, Default, Deserialize)]
pub struct RawGuardrail {
    pub id: Option<Value>,
    /// The AWS API's name for `id`.
    pub identifier: Option<Value>,
    pub version: Option<Value>,
    pub trace: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAnthropic {
    pub base_url: Option<Lenient<String>>,
    pub api_key: Option<Lenient<String>>,
    pub default_headers: Option<Value>,
    pub cache_mode: Option<Lenient<String>>,
    pub cache_ttl: Option<Lenient<String>>,
    pub reasoning: Option<Lenient<String>>,
    pub mantle: Option<Lenient<bool>>,
}

pub const ACCEPTED_ANTHROPIC_KEYS: &[&str] = &[
    "reasoning_effort",
    "thinking_enabled",
    "thinking_budget_tokens",
    "web_search",
    "web_fetch",
];

#[derive(Debug, Default, Deserialize)]
pub struct RawOpenAi {
    pub base_url: Option<Lenient<String>>,
    pub api_key: Option<Lenient<String>>,
    pub default_headers: Option<Value>,
    pub reasoning_effort: Option<Lenient<String>>,
}

pub const ACCEPTED_OPENAI_KEYS: &[&str] =
    &["reasoning", "text_verbosity", "service_tier", "transport"];

#[derive(Debug, Default, Deserialize)]
pub struct RawGeneric {
    pub base_url: Option<Lenient<String>>,
    pub api_key: Option<Lenient<String>>,
}

pub const ACCEPTED_GENERIC_KEYS: &[&str] = &["default_headers"];

#[derive(Debug, Default, Deserialize)]
pub struct RawHealth {
    pub preflight_interval_seconds: Option<Lenient<f64>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLogger {
    pub level: Option<Lenient<String>>,
    /// `plain` (default) or `json`.
    pub format: Option<Lenient<String>>,
}

/// fast-agent's logging and console display options.
pub const ACCEPTED_LOGGER_KEYS: &[&str] = &[
    "type",
    "path",
    "batch_size",
    "flush_interval",
    "max_queue_size",
    "http_endpoint",
    "http_headers",
    "http_timeout",
    "show_chat",
    "show_tools",
    "truncate_tools",
    "enable_markup",
    "streaming",
    "streaming_display",
    "streaming_plain_text",
    "enable_prompt_marks",
    "progress_display",
];

#[derive(Debug, Default, Deserialize)]
pub struct RawMcp {
    pub servers: Option<Value>,
}

/// One `mcp.servers.<name>` entry.
#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    pub transport: Option<Value>,
    pub command: Option<Value>,
    pub args: Option<Value>,
    pub env: Option<Value>,
    pub cwd: Option<Value>,
    pub url: Option<Value>,
    pub headers: Option<Value>,
    pub read_timeout_seconds: Option<Lenient<f64>>,
    pub max_tool_result_bytes: Option<Lenient<f64>>,
}

/// fast-agent's other server options (auth, roots, sampling, reconnection, …).
pub const ACCEPTED_SERVER_KEYS: &[&str] = &[
    "name",
    "description",
    "read_transport_sse_timeout_seconds",
    "http_timeout_seconds",
    "ping_interval_seconds",
    "max_missed_pings",
    "reconnect_on_disconnect",
    "auth",
    "roots",
    "sampling",
    "elicitation",
    "include_instructions",
    "load_on_start",
    "implementation",
    "tool_call_timeout_seconds",
];

/// Unknown-key warnings for every settings mapping Pallas reads.
pub fn unknown_key_warnings(map: &Mapping, loc: &Sources<'_>) -> Vec<Diagnostic> {
    let check = |known, accepted, path: &[&str], map: &Mapping| {
        KeyCheck {
            known,
            accepted,
            path: key_path(path),
        }
        .warnings(map, loc)
    };
    let section = |map: &Mapping, key: &str| get(map, key).and_then(Value::as_mapping).cloned();
    let mut warnings = check(fields_of::<RawSettings>(), ACCEPTED_SETTINGS_KEYS, &[], map);
    let sections: [(&str, &[&str], &[&str]); 6] = [
        ("bedrock", fields_of::<RawBedrock>(), ACCEPTED_BEDROCK_KEYS),
        (
            "anthropic",
            fields_of::<RawAnthropic>(),
            ACCEPTED_ANTHROPIC_KEYS,
        ),
        ("openai", fields_of::<RawOpenAi>(), ACCEPTED_OPENAI_KEYS),
        ("generic", fields_of::<RawGeneric>(), ACCEPTED_GENERIC_KEYS),
        ("health", fields_of::<RawHealth>(), &[]),
        ("logger", fields_of::<RawLogger>(), ACCEPTED_LOGGER_KEYS),
    ];
    for (name, known, accepted) in sections {
        if let Some(m) = section(map, name) {
            warnings.extend(check(known, accepted, &[name], &m));
        }
    }
    if let Some(guardrail) = section(map, "bedrock").and_then(|b| section(&b, "guardrail")) {
        warnings.extend(check(
            fields_of::<RawGuardrail>(),
            &[],
            &["bedrock", "guardrail"],
            &guardrail,
        ));
    }
    let mcp = section(map, "mcp");
    if let Some(mcp) = &mcp {
        warnings.extend(check(fields_of::<RawMcp>(), &[], &["mcp"], mcp));
    }
    if let Some(servers) = mcp.and_then(|m| section(&m, "servers")) {
        for (name, entry) in &servers {
            if let Value::Mapping(entry) = entry {
                let name = key_string(name);
                warnings.extend(check(
                    fields_of::<RawServer>(),
                    ACCEPTED_SERVER_KEYS,
                    &["mcp", "servers", &name],
                    entry,
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::source::Source;

    fn warnings(text: &str) -> Vec<String> {
        let (source, value) =
            Source::parse(Path::new("fastagent.config.yaml"), text.into(), 0, vec![]).unwrap();
        unknown_key_warnings(value.as_mapping().unwrap(), &Sources::new(vec![&source]))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn misspelt_settings_keys_warn_and_fast_agent_keys_do_not() {
        let w = warnings(
            "default_modle: x\notel: {enabled: false}\nbedrock:\n  regoin: us-east-1\n  guardrail: {id: g, versoin: '1'}\nlogger: {level: info, show_chat: true}\nmcp:\n  servers:\n    notes:\n      comand: x\n      ping_interval_seconds: 5\n",
        );
        assert_eq!(
            w,
            [
                "fastagent.config.yaml:1: default_modle: unknown key, ignored; did you mean `default_model`?",
                "fastagent.config.yaml:4: bedrock.regoin: unknown key, ignored; did you mean `region`?",
                "fastagent.config.yaml:5: bedrock.guardrail.versoin: unknown key, ignored; did you mean `version`?",
                "fastagent.config.yaml:10: mcp.servers.notes.comand: unknown key, ignored; did you mean `command`?",
            ]
        );
    }
}

//! Bedrock Mantle: the gateway that serves the Anthropic Messages API at
//! `https://bedrock-mantle.{region}.api.aws/anthropic` and Chat Completions at `…/v1`.
//!
//! Mantle accepts the Messages request shape with three differences the `anthropic`
//! provider has to respect (the "shims"): model names keep their `anthropic.` prefix, no
//! field may be `null` (its validator rejects `tool_use.caller: null`), and thinking, prompt
//! caching and server tools are not available.

use serde_json::Value;

use crate::config::{AnthropicSettings, Settings};
use crate::model::{ModelSpec, Provider};

/// The model-name prefix Mantle requires for Claude models.
pub const CLAUDE_PREFIX: &str = "anthropic.";

/// Models Mantle does not serve, with the reason.
const NO_MANTLE_ENDPOINT: [&str; 1] = ["claude-sonnet-4-6"];

/// True when `url`'s host is a Mantle host (`bedrock-mantle.{region}.api.aws`).
pub fn is_mantle_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    host.to_ascii_lowercase().contains("bedrock-mantle")
}

/// Mantle mode for the `anthropic` provider: `anthropic.mantle` when set, else detected
/// from the base URL's host.
pub fn anthropic_mantle_mode(settings: &AnthropicSettings) -> bool {
    settings
        .mantle
        .unwrap_or_else(|| settings.base_url.as_deref().is_some_and(is_mantle_url))
}

/// `claude-opus-4-7` → `anthropic.claude-opus-4-7` (unchanged when already prefixed).
pub fn wire_model(model: &str) -> String {
    if model.starts_with(CLAUDE_PREFIX) {
        model.to_string()
    } else {
        format!("{CLAUDE_PREFIX}{model}")
    }
}

/// The region root that serves Mantle's model catalogue: the base URL without `/anthropic`.
pub fn region_root(base_url: &str) -> String {
    let trimmed = base_url.trim_end_matches('/');
    trimmed
        .strip_suffix("/anthropic")
        .unwrap_or(trimmed)
        .to_string()
}

/// Removes every `null` member from objects, recursively. Mantle's validator treats an
/// explicit `null` as a wrong type rather than an absent field.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Why an agent with this model cannot start, if it cannot: Claude Sonnet 4.6 has no Mantle
/// endpoint, so asking Mantle for it only ever fails with 404.
pub fn startup_problem(spec: &ModelSpec, settings: &Settings) -> Option<String> {
    if spec.provider != Provider::Anthropic || !anthropic_mantle_mode(&settings.anthropic) {
        return None;
    }
    let bare = spec
        .model_id
        .strip_prefix(CLAUDE_PREFIX)
        .unwrap_or(&spec.model_id);
    NO_MANTLE_ENDPOINT
        .iter()
        .find(|m| bare.starts_with(*m))
        .map(|m| {
            format!(
                "model '{}' has no Mantle endpoint (anthropic.base_url is Bedrock Mantle), so every call would fail with 404; Claude Sonnet 4.6 must use the bedrock provider: model: bedrock.us.anthropic.{m} (or bedrock.anthropic.{m} in-region)",
                spec.model_id
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_names_and_region_root() {
        assert!(is_mantle_url(
            "https://bedrock-mantle.us-east-1.api.aws/anthropic"
        ));
        assert!(!is_mantle_url("https://api.anthropic.com"));
        assert!(!is_mantle_url("http://proxy.local/bedrock-mantle"));
        assert_eq!(wire_model("claude-opus-4-7"), "anthropic.claude-opus-4-7");
        assert_eq!(
            wire_model("anthropic.claude-opus-4-7"),
            "anthropic.claude-opus-4-7"
        );
        assert_eq!(
            region_root("https://bedrock-mantle.eu-west-1.api.aws/anthropic/"),
            "https://bedrock-mantle.eu-west-1.api.aws"
        );
        let forced = AnthropicSettings {
            base_url: Some("https://bedrock-mantle.us-east-1.api.aws/anthropic".into()),
            mantle: Some(false),
            ..Default::default()
        };
        assert!(!anthropic_mantle_mode(&forced));
    }

    #[test]
    fn nulls_are_removed_everywhere() {
        let mut v = serde_json::json!({"a": null, "b": [{"type": "tool_use", "caller": null, "input": {}}]});
        strip_nulls(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"b": [{"type": "tool_use", "input": {}}]})
        );
    }

    #[test]
    fn sonnet_4_6_on_mantle_is_refused() {
        let mut settings = Settings::default();
        settings.anthropic.base_url =
            Some("https://bedrock-mantle.us-east-1.api.aws/anthropic".into());
        let spec: ModelSpec = "anthropic.claude-sonnet-4-6".parse().unwrap();
        let problem = startup_problem(&spec, &settings).unwrap();
        assert!(
            problem.contains("no Mantle endpoint") && problem.contains("bedrock provider"),
            "{problem}"
        );
        let opus: ModelSpec = "anthropic.claude-opus-4-7".parse().unwrap();
        assert!(startup_problem(&opus, &settings).is_none());
        settings.anthropic.base_url = None;
        assert!(
            startup_problem(&spec, &settings).is_none(),
            "direct API serves it"
        );
    }
}

//! The `anthropic:`, `openai:`, `generic:` and `health:` sections of the settings files.
//!
//! API keys and base URLs fall back to the same environment variables the official SDKs
//! read. The fallback goes through the loader's `lookup` (process environment, then `.env`),
//! so tests can load a project with an environment of their own.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::Value;

use super::diagnostic::Diagnostic;
use super::raw::{Lenient, from_mapping};
use super::raw_settings::{RawAnthropic, RawGeneric, RawHealth, RawOpenAi, RawSettings};
use super::source::{Sources, key_path};
use super::types::{
    AnthropicSettings, DEFAULT_GENERIC_BASE_URL, DEFAULT_PREFLIGHT_INTERVAL, GenericSettings,
    HealthSettings, OpenAiSettings, Secret, Settings,
};
use super::value::{describe, key_string, scalar_string};

/// Reads the provider sections into `settings`. Problems are warnings: a bad provider
/// option must not stop agents that use other providers.
pub fn read_provider_settings(
    raw: &RawSettings,
    lookup: &dyn Fn(&str) -> Option<String>,
    loc: &Sources<'_>,
    settings: &mut Settings,
    warnings: &mut Vec<Diagnostic>,
) {
    fn section<T: for<'de> serde::Deserialize<'de> + Default>(value: &Option<Value>) -> T {
        value
            .as_ref()
            .and_then(Value::as_mapping)
            .map(from_mapping)
            .unwrap_or_default()
    }
    let env = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let secret = |v: Option<String>| v.filter(|k| !k.trim().is_empty()).map(Secret);

    let a: RawAnthropic = section(&raw.anthropic);
    settings.anthropic = AnthropicSettings {
        base_url: text(&a.base_url),
        api_key: secret(text(&a.api_key).or_else(|| env("ANTHROPIC_API_KEY"))),
        default_headers: headers(&a.default_headers, &["anthropic"], loc, warnings),
        cache_mode: text(&a.cache_mode),
        cache_ttl: text(&a.cache_ttl),
        reasoning: text(&a.reasoning),
        mantle: a.mantle.as_ref().and_then(|mantle| {
            mantle
                .or_problem(|v| {
                    let problem = format!(
                        "{} is not true or false, so Mantle mode is detected from base_url",
                        describe(v)
                    );
                    let fix = "write `mantle: true` or `mantle: false`, or remove it";
                    let path = key_path(&["anthropic", "mantle"]);
                    warnings.push(loc.diagnostic(&path, &problem, fix).warning());
                })
                .copied()
        }),
    };

    let o: RawOpenAi = section(&raw.openai);
    settings.openai = OpenAiSettings {
        base_url: text(&o.base_url),
        api_key: secret(text(&o.api_key).or_else(|| env("OPENAI_API_KEY"))),
        default_headers: headers(&o.default_headers, &["openai"], loc, warnings),
        reasoning_effort: text(&o.reasoning_effort),
    };

    let g: RawGeneric = section(&raw.generic);
    settings.generic = GenericSettings {
        base_url: text(&g.base_url)
            .or_else(|| env("GENERIC_BASE_URL"))
            .unwrap_or_else(|| DEFAULT_GENERIC_BASE_URL.to_string()),
        api_key: secret(text(&g.api_key)),
    };

    let h: RawHealth = section(&raw.health);
    settings.health = HealthSettings {
        preflight_interval: match &h.preflight_interval_seconds {
            None => DEFAULT_PREFLIGHT_INTERVAL,
            Some(interval) => match interval.fit() {
                Some(secs) if *secs > 0.0 && secs.is_finite() => Duration::from_secs_f64(*secs),
                _ => {
                    let problem = format!(
                        "{} is not a positive number of seconds, so the default of {} s is used",
                        describe(&interval.written),
                        DEFAULT_PREFLIGHT_INTERVAL.as_secs()
                    );
                    let path = key_path(&["health", "preflight_interval_seconds"]);
                    warnings.push(loc.diagnostic(&path, &problem, "use e.g. 300").warning());
                    DEFAULT_PREFLIGHT_INTERVAL
                }
            },
        },
    };
}

fn text(value: &Option<Lenient<String>>) -> Option<String> {
    value
        .as_ref()
        .and_then(Lenient::fit)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `default_headers: {Name: value}`; entries that are not text are skipped with a warning.
fn headers(
    value: &Option<Value>,
    section: &[&str],
    loc: &Sources<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let mut path = key_path(section);
    path.push("default_headers".to_string());
    match value {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| match scalar_string(v) {
                Some(v) => Some((key_string(k), v)),
                None => {
                    let mut p = path.clone();
                    p.push(key_string(k));
                    warnings.push(
                        loc.diagnostic(
                            &p,
                            &format!("is {}, not text, so the header is not sent", describe(v)),
                            "write the header value as a string",
                        )
                        .warning(),
                    );
                    None
                }
            })
            .collect(),
        Some(v) => {
            warnings.push(
                loc.diagnostic(
                    &path,
                    &format!(
                        "is {}, not a mapping, so no extra headers are sent",
                        describe(v)
                    ),
                    "write it as `Header-Name: value` lines",
                )
                .warning(),
            );
            BTreeMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::source::Source;

    fn read(yaml: &str, env: &[(&str, &str)]) -> (Settings, Vec<String>) {
        let (source, value) = Source::parse(
            Path::new("fastagent.config.yaml"),
            yaml.to_string(),
            0,
            vec![],
        )
        .unwrap();
        let loc = Sources::new(vec![&source]);
        let lookup = |k: &str| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        };
        let mut settings = Settings::default();
        let mut warnings = Vec::new();
        let raw: RawSettings = from_mapping(&value.as_mapping().cloned().unwrap_or_default());
        read_provider_settings(&raw, &lookup, &loc, &mut settings, &mut warnings);
        (settings, warnings.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn keys_come_from_the_config_else_the_sdk_environment_variables() {
        let (s, w) = read(
            "anthropic:\n  base_url: https://bedrock-mantle.us-east-1.api.aws/anthropic\n  mantle: \"true\"\n  default_headers: {X-Team: blue}\nopenai:\n  api_key: sk-config\n",
            &[
                ("ANTHROPIC_API_KEY", "from-env"),
                ("OPENAI_API_KEY", "ignored"),
            ],
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.anthropic.api_key.as_ref().unwrap().expose(), "from-env");
        assert_eq!(s.anthropic.mantle, Some(true));
        assert_eq!(s.anthropic.default_headers["X-Team"], "blue");
        assert_eq!(s.openai.api_key.as_ref().unwrap().expose(), "sk-config");
        assert!(
            !format!("{s:?}").contains("sk-config"),
            "keys never in Debug"
        );
        assert_eq!(s.generic.base_url, DEFAULT_GENERIC_BASE_URL);
        assert_eq!(s.health.preflight_interval, DEFAULT_PREFLIGHT_INTERVAL);
    }

    #[test]
    fn generic_base_url_falls_back_to_the_environment_and_bad_values_warn() {
        let (s, w) = read(
            "health:\n  preflight_interval_seconds: -3\nanthropic:\n  mantle: maybe\n",
            &[("GENERIC_BASE_URL", "http://127.0.0.1:8080/v1")],
        );
        assert_eq!(s.generic.base_url, "http://127.0.0.1:8080/v1");
        assert_eq!(s.health.preflight_interval, DEFAULT_PREFLIGHT_INTERVAL);
        assert_eq!(s.anthropic.mantle, None);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w.iter()
                .any(|w| w.contains("health.preflight_interval_seconds")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains("anthropic.mantle")), "{w:?}");
    }
}

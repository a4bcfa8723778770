//! `bedrock.cache_mode`, `bedrock.cache_ttl`, `bedrock.guardrail` and `bedrock.raw_debug`.
//!
//! A bad value here is fatal (a [`ConfigError`]): every Bedrock agent would run without the
//! guardrail or cache policy the operator asked for, which is worse than not starting.

use serde_yaml::Value;

use super::error::ConfigError;
use super::raw::from_mapping;
use super::raw_settings::{RawBedrock, RawGuardrail};
use super::source::{Sources, key_path};
use super::value::{as_bool, describe, scalar_string};

/// `cache_mode`: where `cachePoint` blocks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    Off,
    /// After the system prompt and after the tool definitions.
    Prompt,
    /// As `Prompt`, plus one on the conversation prefix (the newest message).
    Auto,
}

/// `cache_ttl`: how long Bedrock keeps a cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTtl {
    FiveMinutes,
    OneHour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardrailTrace {
    #[default]
    Disabled,
    Enabled,
    EnabledFull,
}

impl GuardrailTrace {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardrailTrace::Disabled => "disabled",
            GuardrailTrace::Enabled => "enabled",
            GuardrailTrace::EnabledFull => "enabled_full",
        }
    }
}

/// `bedrock.guardrail`: applied to every Converse/ConverseStream call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailSettings {
    pub id: String,
    pub version: String,
    pub trace: GuardrailTrace,
}

/// The Bedrock request features beyond region and credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BedrockFeatures {
    /// `None` = `auto` where the model supports caching, `off` elsewhere.
    pub cache_mode: Option<CacheMode>,
    /// `None` = Bedrock's default (5 minutes).
    pub cache_ttl: Option<CacheTtl>,
    pub guardrail: Option<GuardrailSettings>,
    /// Log full request and response bodies (credentials and base64 payloads redacted).
    pub raw_debug: bool,
}

pub fn read(bedrock: &RawBedrock, loc: &Sources<'_>) -> Result<BedrockFeatures, ConfigError> {
    let fail = |field: &[&str], problem: String, fix: &str| {
        let path = key_path(&[&["bedrock"], field].concat());
        ConfigError::Invalid(Box::new(loc.diagnostic(&path, &problem, fix)))
    };
    let text = |v: &Value| scalar_string(v).map(|s| s.trim().to_ascii_lowercase());
    let mut f = BedrockFeatures::default();
    if let Some(v) = &bedrock.cache_mode {
        f.cache_mode = Some(match text(v).as_deref() {
            Some("off") | Some("false") | Some("none") => CacheMode::Off,
            Some("prompt") => CacheMode::Prompt,
            Some("auto") => CacheMode::Auto,
            _ => {
                return Err(fail(
                    &["cache_mode"],
                    format!("{} is not a cache mode", describe(v)),
                    "use off, prompt or auto",
                ));
            }
        });
    }
    if let Some(v) = &bedrock.cache_ttl {
        f.cache_ttl = Some(match text(v).as_deref() {
            Some("5m") => CacheTtl::FiveMinutes,
            Some("1h") => CacheTtl::OneHour,
            _ => {
                return Err(fail(
                    &["cache_ttl"],
                    format!("{} is not a cache TTL", describe(v)),
                    "use 5m or 1h",
                ));
            }
        });
    }
    if let Some(v) = &bedrock.raw_debug {
        f.raw_debug = as_bool(v).ok_or_else(|| {
            fail(
                &["raw_debug"],
                format!("{} is not true or false", describe(v)),
                "write `raw_debug: true` to log request and response bodies",
            )
        })?;
    }
    match &bedrock.guardrail {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(g)) => {
            let g: RawGuardrail = from_mapping(g);
            let field = |value: &Option<Value>| {
                value
                    .as_ref()
                    .and_then(scalar_string)
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            let fix = "write both, e.g. `guardrail: {id: gr-abc123, version: \"1\"}` (the guardrail id or ARN and its version number or DRAFT)";
            let id = field(&g.id)
                .or_else(|| field(&g.identifier))
                .ok_or_else(|| fail(&["guardrail", "id"], "is missing".into(), fix))?;
            let version = field(&g.version)
                .ok_or_else(|| fail(&["guardrail", "version"], "is missing".into(), fix))?;
            let trace = match &g.trace {
                None => GuardrailTrace::Disabled,
                Some(v) => match (as_bool(v), text(v).as_deref()) {
                    (Some(true), _) | (_, Some("enabled")) => GuardrailTrace::Enabled,
                    (Some(false), _) | (_, Some("disabled")) => GuardrailTrace::Disabled,
                    (_, Some("enabled_full")) | (_, Some("full")) => GuardrailTrace::EnabledFull,
                    _ => {
                        return Err(fail(
                            &["guardrail", "trace"],
                            format!("{} is not a trace setting", describe(v)),
                            "use enabled, disabled or enabled_full (true/false also work)",
                        ));
                    }
                },
            };
            f.guardrail = Some(GuardrailSettings { id, version, trace });
        }
        Some(other) => {
            return Err(fail(
                &["guardrail"],
                format!("is {}, not a mapping", describe(other)),
                "write `guardrail: {id: gr-abc123, version: \"1\", trace: enabled}`",
            ));
        }
    }
    Ok(f)
}

//! `fastagent.config.yaml` + `fastagent.secrets.yaml` → [`Settings`].
//!
//! Both files are optional and found the way fast-agent finds them, so an existing
//! fast-agent project works unchanged. Each file gets `${VAR}` substitution on its own,
//! then secrets are deep-merged over the config. A bad MCP server entry is not fatal: it
//! is kept in `server_errors` and only agents that use it fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::diagnostic::{Diagnostic, Severity};
use super::env::Unset;
use super::error::ConfigError;
use super::keys::{KeyCheck, fields_of};
use super::mcp_servers::read_servers;
use super::raw::{Lenient, from_mapping};
use super::raw_settings::{RawBedrock, RawLogger, RawMcp, RawSettings, unknown_key_warnings};
use super::source::{Source, Sources, key_path, read_text};
use super::types::{BedrockSettings, Settings};
use super::value::{deep_merge, describe, typed_scalars};
use crate::model::CapabilityOverrides;

pub const CONFIG_NAMES: [&str; 3] = [
    "fastagent.config.yaml",
    "fast-agent.config.yaml",
    "fast-agent.yaml",
];
pub const SECRETS_NAMES: [&str; 2] = ["fastagent.secrets.yaml", "fast-agent.secrets.yaml"];

/// Settings plus what the agent pass needs to report problems precisely.
#[derive(Debug)]
pub struct LoadedSettings {
    pub settings: Settings,
    /// Config then secrets (those that exist), for locating settings keys.
    pub sources: Vec<Source>,
    /// Invalid `mcp.servers` entries: name → what is wrong.
    pub server_errors: BTreeMap<String, Diagnostic>,
    /// Invalid config-wide `model_capabilities`: every agent fails with this.
    pub capabilities_error: Option<Diagnostic>,
}

impl LoadedSettings {
    pub fn locator(&self) -> Sources<'_> {
        Sources::new(self.sources.iter().collect())
    }

    /// Where a user should add settings, for fix hints.
    pub fn config_file_hint(&self, root: &Path) -> PathBuf {
        self.settings
            .config_file
            .clone()
            .unwrap_or_else(|| root.join(CONFIG_NAMES[0]))
    }

    /// Every server name written under `mcp.servers`, valid or not.
    pub fn defined_servers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .settings
            .mcp_servers
            .keys()
            .chain(self.server_errors.keys())
            .cloned()
            .collect();
        names.sort();
        names
    }
}

/// The first config file in `root` or a parent folder.
fn find_config(root: &Path) -> Option<PathBuf> {
    let in_root = CONFIG_NAMES
        .iter()
        .map(|n| root.join(n))
        .find(|p| p.is_file());
    if in_root.is_some() {
        return in_root;
    }
    // Parents need an absolute path; `root` as given is kept for the common case so
    // messages show the path the user typed.
    let absolute = std::path::absolute(root).ok()?;
    absolute
        .ancestors()
        .skip(1)
        .flat_map(|dir| CONFIG_NAMES.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn find_secrets(dir: &Path) -> Option<PathBuf> {
    SECRETS_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Reads, substitutes and parses one settings file; a non-mapping top level is fatal.
fn read_settings_file(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<(PathBuf, Unset)>,
) -> Result<(Source, Value), ConfigError> {
    let (mut source, mut value) = Source::parse(path, read_text(path)?, 0, vec![])?;
    if value.is_null() {
        value = Value::Mapping(Mapping::new());
    }
    if !value.is_mapping() {
        return Err(ConfigError::Invalid(Box::new(Diagnostic {
            severity: Severity::Error,
            agent: None,
            file: path.into(),
            line: 1,
            field: "(top level)".into(),
            problem: format!("is {}, not a mapping of settings", describe(&value)).into(),
            fix: "write settings as `key: value` lines (default_model, mcp, bedrock, …)".into(),
        })));
    }
    let found = source.substitute(&mut value, lookup);
    unset.extend(found.into_iter().map(|u| (path.to_path_buf(), u)));
    Ok((source, value))
}

/// Finds, reads and merges the settings files. Unset `${VAR}`s are returned with their
/// file so the caller can word the warnings uniformly across files.
pub fn load_settings(
    root: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<Diagnostic>,
    unset: &mut Vec<(PathBuf, Unset)>,
) -> Result<LoadedSettings, ConfigError> {
    let config_file = find_config(root);
    let secrets_dir = config_file
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
    let secrets_file = find_secrets(&secrets_dir).or_else(|| find_secrets(root));

    let mut sources = Vec::new();
    let mut merged = Value::Mapping(Mapping::new());
    for path in config_file.iter().chain(secrets_file.iter()) {
        let (source, value) = read_settings_file(path, lookup, unset)?;
        deep_merge(&mut merged, value);
        sources.push(source);
    }
    let Value::Mapping(map) = merged else {
        unreachable!("settings files are checked to be mappings")
    };

    let mut loaded = LoadedSettings {
        settings: Settings {
            config_file,
            secrets_file,
            ..Settings::default()
        },
        sources,
        server_errors: BTreeMap::new(),
        capabilities_error: None,
    };
    let mut server_warnings = Vec::new();
    {
        let loc = Sources::new(loaded.sources.iter().collect());
        server_warnings.extend(unknown_key_warnings(&map, &loc));
        let raw: RawSettings = from_mapping(&map);
        let s = &mut loaded.settings;
        s.default_model = raw.default_model.as_ref().and_then(Lenient::fit).cloned();
        match raw.model_capabilities.as_ref().map(|v| {
            read_capabilities(
                v,
                &loc,
                &key_path(&["model_capabilities"]),
                &mut server_warnings,
            )
        }) {
            Some(Ok(caps)) => s.model_capabilities = caps,
            Some(Err(e)) => loaded.capabilities_error = Some(e),
            None => {}
        }
        if let Some(Value::Mapping(bedrock)) = &raw.bedrock {
            let bedrock: RawBedrock = from_mapping(bedrock);
            let text = |v: &Option<Lenient<String>>| v.as_ref().and_then(Lenient::fit).cloned();
            s.bedrock = BedrockSettings {
                region: text(&bedrock.region),
                profile: text(&bedrock.profile),
                reasoning: text(&bedrock.reasoning),
                endpoint_url: text(&bedrock.endpoint_url),
                ..BedrockSettings::default()
            };
            super::bedrock_connection::read_connection(&bedrock, &loc, &mut s.bedrock)?;
            s.bedrock.features = super::bedrock_options::read(&bedrock, &loc)?;
        }
        super::provider_settings::read_provider_settings(
            &raw,
            lookup,
            &loc,
            s,
            &mut server_warnings,
        );
        if let Some(Value::Mapping(logger)) = &raw.logger {
            let logger = from_mapping::<RawLogger>(logger);
            s.log_level = logger.level.as_ref().and_then(Lenient::fit).cloned();
            if let Some(format) = &logger.format {
                s.log_format =
                    super::operations::read_log_format(&format.written, &loc, &mut server_warnings);
            }
        }
        if let Some(prices) = &raw.prices {
            s.prices = super::operations::read_prices(prices, &loc, &mut server_warnings)?;
        }
        let servers = raw
            .mcp
            .as_ref()
            .and_then(Value::as_mapping)
            .and_then(|mcp| from_mapping::<RawMcp>(mcp).servers);
        read_servers(
            servers.as_ref(),
            root,
            &loc,
            &mut s.mcp_servers,
            &mut loaded.server_errors,
            &mut server_warnings,
        );
    }
    warnings.extend(server_warnings);
    Ok(loaded)
}

/// `model_capabilities` (config-wide or per agent), lenient about substituted strings.
/// A misspelt key is a warning; a value of the wrong type names its own key and line.
pub fn read_capabilities(
    value: &Value,
    loc: &Sources<'_>,
    path: &[String],
    warnings: &mut Vec<Diagnostic>,
) -> Result<CapabilityOverrides, Diagnostic> {
    let Value::Mapping(map) = value else {
        return Err(loc.diagnostic(
            path,
            &format!("is {}, not a mapping", describe(value)),
            "write e.g. `model_capabilities: {vision: true, context_window: 200000}`",
        ));
    };
    warnings.extend(
        KeyCheck {
            known: fields_of::<CapabilityOverrides>(),
            accepted: &[],
            path: path.to_vec(),
        }
        .warnings(map, loc),
    );
    serde_path_to_error::deserialize(typed_scalars(value.clone())).map_err(|e| {
        let mut field = path.to_vec();
        field.extend(e.path().iter().map(|segment| segment.to_string()));
        loc.diagnostic(
            &field,
            &e.inner().to_string(),
            "use true/false for vision, reasoning, prompt_caching, streaming_with_tools, documents and whole numbers for context_window, max_output_tokens",
        )
    })
}

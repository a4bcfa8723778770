//! `fastagent.config.yaml` + `fastagent.secrets.yaml` → [`Settings`].
//!
//! Both files are optional and found the way fast-agent finds them, so an existing
//! fast-agent project works unchanged. Each file gets `${VAR}` substitution on its own,
//! then secrets are deep-merged over the config. A bad MCP server entry is not fatal: it
//! is kept in `server_errors` and only agents that use it fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::env::{Unset, substitute_value};
use super::error::ConfigError;
use super::source::{Source, Sources, key_path, read_text};
use super::types::{
    BedrockSettings, DEFAULT_READ_TIMEOUT, McpServerConfig, McpTransport, Settings,
};
use super::value::{as_f64, deep_merge, describe, get, key_string, scalar_string, typed_scalars};
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
    /// Invalid `mcp.servers` entries: name → full message.
    pub server_errors: BTreeMap<String, String>,
    /// Invalid config-wide `model_capabilities`: every agent fails with this message.
    pub capabilities_error: Option<String>,
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
    let (source, mut value) = Source::parse(path, read_text(path)?, 0, vec![])?;
    if value.is_null() {
        value = Value::Mapping(Mapping::new());
    }
    if !value.is_mapping() {
        return Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            line: 1,
            message: format!(
                "{}:1: (top level): is {}, not a mapping of settings; write settings as `key: value` lines (default_model, mcp, bedrock, …)",
                path.display(),
                describe(&value)
            ),
        });
    }
    let mut found = Vec::new();
    substitute_value(&mut value, lookup, &mut vec![], &mut found);
    unset.extend(found.into_iter().map(|u| (path.to_path_buf(), u)));
    Ok((source, value))
}

/// Finds, reads and merges the settings files. Unset `${VAR}`s are returned with their
/// file so the caller can word the warnings uniformly across files.
pub fn load_settings(
    root: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
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
        let s = &mut loaded.settings;
        s.default_model = get(&map, "default_model").and_then(scalar_string);
        match get(&map, "model_capabilities")
            .map(|v| read_capabilities(v, &loc, &key_path(&["model_capabilities"])))
        {
            Some(Ok(caps)) => s.model_capabilities = caps,
            Some(Err(e)) => loaded.capabilities_error = Some(e),
            None => {}
        }
        if let Some(Value::Mapping(bedrock)) = get(&map, "bedrock") {
            let text = |k: &str| get(bedrock, k).and_then(scalar_string);
            s.bedrock = BedrockSettings {
                region: text("region"),
                profile: text("profile"),
                reasoning: text("reasoning"),
                endpoint_url: text("endpoint_url"),
                ..BedrockSettings::default()
            };
            super::bedrock_connection::read_connection(bedrock, &loc, &mut s.bedrock)?;
            s.bedrock.features = super::bedrock_options::read(bedrock, &loc)?;
        }
        super::provider_settings::read_provider_settings(
            &map,
            lookup,
            &loc,
            s,
            &mut server_warnings,
        );
        if let Some(Value::Mapping(logger)) = get(&map, "logger") {
            s.log_level = get(logger, "level").and_then(scalar_string);
        }
        let servers = get(&map, "mcp")
            .and_then(Value::as_mapping)
            .and_then(|mcp| get(mcp, "servers"));
        match servers {
            Some(Value::Mapping(servers)) => {
                for (key, entry) in servers {
                    let name = key_string(key);
                    match read_server(&name, entry, root, &loc, &mut server_warnings) {
                        Ok(server) => {
                            s.mcp_servers.insert(name, server);
                        }
                        Err(message) => {
                            loaded.server_errors.insert(name, message);
                        }
                    }
                }
            }
            Some(other) => server_warnings.push(loc.message(
                &key_path(&["mcp", "servers"]),
                &format!(
                    "is {}, not a mapping of server names to entries",
                    describe(other)
                ),
                "write each server as `name:` with its command or url below it",
            )),
            None => {}
        }
    }
    warnings.extend(server_warnings);
    Ok(loaded)
}

/// `path` made absolute against the process's current folder (as given when that fails).
pub fn absolute_or_same(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `model_capabilities` (config-wide or per agent), lenient about substituted strings.
pub fn read_capabilities(
    value: &Value,
    loc: &Sources<'_>,
    path: &[String],
) -> Result<CapabilityOverrides, String> {
    if !value.is_mapping() {
        return Err(loc.message(
            path,
            &format!("is {}, not a mapping", describe(value)),
            "write e.g. `model_capabilities: {vision: true, context_window: 200000}`",
        ));
    }
    serde_yaml::from_value(typed_scalars(value.clone())).map_err(|e| {
        loc.message(
            path,
            &e.to_string(),
            "use true/false for vision, reasoning, prompt_caching, streaming_with_tools, documents and whole numbers for context_window, max_output_tokens",
        )
    })
}

/// One `mcp.servers.<name>` entry. `Err` holds the full message for agents that use it.
fn read_server(
    name: &str,
    entry: &Value,
    root: &Path,
    loc: &Sources<'_>,
    warnings: &mut Vec<String>,
) -> Result<McpServerConfig, String> {
    let path = |field: &str| {
        let mut p = key_path(&["mcp", "servers", name]);
        if !field.is_empty() {
            p.push(field.to_string());
        }
        p
    };
    let Value::Mapping(map) = entry else {
        return Err(loc.message(
            &path(""),
            &format!("is {}, not a mapping", describe(entry)),
            "give the server a `command` (stdio) or `url` (Streamable HTTP)",
        ));
    };
    let text = |field: &str| -> Result<Option<String>, String> {
        match get(map, field) {
            None => Ok(None),
            Some(v) => scalar_string(v).map(Some).ok_or_else(|| {
                loc.message(
                    &path(field),
                    &format!("is {}, not text", describe(v)),
                    "write it as a single string",
                )
            }),
        }
    };
    let string_map = |field: &str| -> Result<BTreeMap<String, String>, String> {
        match get(map, field) {
            None => Ok(BTreeMap::new()),
            Some(Value::Mapping(m)) => m
                .iter()
                .map(|(k, v)| {
                    let key = key_string(k);
                    let value = if v.is_null() {
                        Some(String::new())
                    } else {
                        scalar_string(v)
                    };
                    value.map(|v| (key.clone(), v)).ok_or_else(|| {
                        let mut p = path(field);
                        p.push(key);
                        loc.message(
                            &p,
                            &format!("is {}, not text", describe(v)),
                            "write the value as a string",
                        )
                    })
                })
                .collect(),
            Some(v) => Err(loc.message(
                &path(field),
                &format!("is {}, not a mapping", describe(v)),
                "write it as `NAME: value` lines",
            )),
        }
    };

    let command = text("command")?;
    let url = text("url")?;
    let transport = match text("transport")?.map(|t| t.trim().to_ascii_lowercase()) {
        Some(t) if t == "stdio" => "stdio",
        Some(t) if t == "http" => "http",
        Some(t) if t == "sse" => {
            return Err(loc.message(
                &path("transport"),
                "SSE is not supported",
                "use Streamable HTTP: `transport: http` with the server's `url`",
            ));
        }
        Some(t) => {
            return Err(loc.message(
                &path("transport"),
                &format!("'{t}' is not a transport"),
                "use `stdio` (with `command`) or `http` (Streamable HTTP, with `url`)",
            ));
        }
        None => match (&command, &url) {
            (Some(_), Some(_)) => {
                warnings.push(loc.message(
                    &path(""),
                    "has both `command` and `url` and no `transport`, so `url` (Streamable HTTP) is used",
                    "set `transport: http` or `transport: stdio` to say which you mean",
                ));
                "http"
            }
            (None, Some(_)) => "http",
            (Some(_), None) => "stdio",
            (None, None) => {
                return Err(loc.message(
                    &path(""),
                    "needs `command` (stdio) or `url` (Streamable HTTP)",
                    "add one of them",
                ));
            }
        },
    };

    let transport = if transport == "stdio" {
        let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
            return Err(loc.message(
                &path("command"),
                "is missing for a stdio server",
                "set `command` to the program to run",
            ));
        };
        let args = match get(map, "args") {
            None => Vec::new(),
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    scalar_string(item).ok_or_else(|| {
                        let mut p = path("args");
                        p.push(format!("[{i}]"));
                        loc.message(
                            &p,
                            &format!("is {}, not text", describe(item)),
                            "write each argument as a string",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(v) => {
                return Err(loc.message(
                    &path("args"),
                    &format!("is {}, not a list", describe(v)),
                    "write it as a list, e.g. `args: [\"-y\", \"server\"]`",
                ));
            }
        };
        McpTransport::Stdio {
            command,
            args,
            env: string_map("env")?,
            // Absolute, so the child's cwd and its program path do not both resolve
            // against a relative `--config` folder.
            cwd: text("cwd")?.map(|cwd| absolute_or_same(&root.join(cwd))),
        }
    } else {
        let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
            return Err(loc.message(
                &path("url"),
                "is missing for an http server",
                "set `url` to the server's Streamable HTTP endpoint",
            ));
        };
        McpTransport::Http {
            url,
            headers: string_map("headers")?,
        }
    };

    let read_timeout = match get(map, "read_timeout_seconds") {
        None => DEFAULT_READ_TIMEOUT,
        Some(v) => match as_f64(v) {
            Some(secs) if secs > 0.0 && secs.is_finite() => Duration::from_secs_f64(secs),
            _ => {
                return Err(loc.message(
                    &path("read_timeout_seconds"),
                    &format!("{} is not a positive number of seconds", describe(v)),
                    &format!(
                        "use e.g. 60, or remove it for the default of {} s",
                        DEFAULT_READ_TIMEOUT.as_secs()
                    ),
                ));
            }
        },
    };

    Ok(McpServerConfig {
        name: name.to_string(),
        transport,
        read_timeout,
    })
}

//! The `mcp.servers` section: each entry → [`McpServerConfig`]. A bad entry is not fatal:
//! it is kept as a message in `server_errors` and only the agents that use it fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use super::diagnostic::Diagnostic;
use super::raw::from_mapping;
use super::raw_settings::RawServer;
use super::source::{Sources, key_path};
use super::types::{
    DEFAULT_MAX_TOOL_RESULT_BYTES, DEFAULT_READ_TIMEOUT, McpServerConfig, McpTransport,
};
use super::value::{describe, key_string, scalar_string};

/// Reads every entry of `mcp.servers` into `servers`, or its message into `errors`.
pub fn read_servers(
    section: Option<&Value>,
    root: &Path,
    loc: &Sources<'_>,
    servers: &mut BTreeMap<String, McpServerConfig>,
    errors: &mut BTreeMap<String, Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    match section {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(entries)) => {
            for (key, entry) in entries {
                let name = key_string(key);
                match read_server(&name, entry, root, loc, warnings) {
                    Ok(server) => {
                        servers.insert(name, server);
                    }
                    Err(message) => {
                        errors.insert(name, message);
                    }
                }
            }
        }
        Some(other) => warnings.push(
            loc.diagnostic(
                &key_path(&["mcp", "servers"]),
                &format!(
                    "is {}, not a mapping of server names to entries",
                    describe(other)
                ),
                "write each server as `name:` with its command or url below it",
            )
            .warning(),
        ),
    }
}

/// `path` made absolute against the process's current folder (as given when that fails).
pub fn absolute_or_same(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One `mcp.servers.<name>` entry. `Err` holds the full message for agents that use it.
fn read_server(
    name: &str,
    entry: &Value,
    root: &Path,
    loc: &Sources<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<McpServerConfig, Diagnostic> {
    let path = |field: &str| {
        let mut p = key_path(&["mcp", "servers", name]);
        if !field.is_empty() {
            p.push(field.to_string());
        }
        p
    };
    let Value::Mapping(entry_map) = entry else {
        return Err(loc.diagnostic(
            &path(""),
            &format!("is {}, not a mapping", describe(entry)),
            "give the server a `command` (stdio) or `url` (Streamable HTTP)",
        ));
    };
    let raw: RawServer = from_mapping(entry_map);
    let text = |field: &str, value: &Option<Value>| -> Result<Option<String>, Diagnostic> {
        match value {
            None => Ok(None),
            Some(v) => scalar_string(v).map(Some).ok_or_else(|| {
                loc.diagnostic(
                    &path(field),
                    &format!("is {}, not text", describe(v)),
                    "write it as a single string",
                )
            }),
        }
    };
    let string_map =
        |field: &str, value: &Option<Value>| -> Result<BTreeMap<String, String>, Diagnostic> {
            match value {
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
                            loc.diagnostic(
                                &p,
                                &format!("is {}, not text", describe(v)),
                                "write the value as a string",
                            )
                        })
                    })
                    .collect(),
                Some(v) => Err(loc.diagnostic(
                    &path(field),
                    &format!("is {}, not a mapping", describe(v)),
                    "write it as `NAME: value` lines",
                )),
            }
        };

    let command = text("command", &raw.command)?;
    let url = text("url", &raw.url)?;
    let transport = match text("transport", &raw.transport)?.map(|t| t.trim().to_ascii_lowercase())
    {
        Some(t) if t == "stdio" => "stdio",
        Some(t) if t == "http" => "http",
        Some(t) if t == "sse" => {
            return Err(loc.diagnostic(
                &path("transport"),
                "SSE is not supported",
                "use Streamable HTTP: `transport: http` with the server's `url`",
            ));
        }
        Some(t) => {
            return Err(loc.diagnostic(
                &path("transport"),
                &format!("'{t}' is not a transport"),
                "use `stdio` (with `command`) or `http` (Streamable HTTP, with `url`)",
            ));
        }
        None => match (&command, &url) {
            (Some(_), Some(_)) => {
                warnings.push(
                loc.diagnostic(
                    &path(""),
                    "has both `command` and `url` and no `transport`, so `url` (Streamable HTTP) is used",
                    "set `transport: http` or `transport: stdio` to say which you mean",
                )
                .warning(),
                );
                "http"
            }
            (None, Some(_)) => "http",
            (Some(_), None) => "stdio",
            (None, None) => {
                return Err(loc.diagnostic(
                    &path(""),
                    "needs `command` (stdio) or `url` (Streamable HTTP)",
                    "add one of them",
                ));
            }
        },
    };

    let transport = if transport == "stdio" {
        let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
            return Err(loc.diagnostic(
                &path("command"),
                "is missing for a stdio server",
                "set `command` to the program to run",
            ));
        };
        let args = match &raw.args {
            None => Vec::new(),
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    scalar_string(item).ok_or_else(|| {
                        let mut p = path("args");
                        p.push(format!("[{i}]"));
                        loc.diagnostic(
                            &p,
                            &format!("is {}, not text", describe(item)),
                            "write each argument as a string",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(v) => {
                return Err(loc.diagnostic(
                    &path("args"),
                    &format!("is {}, not a list", describe(v)),
                    "write it as a list, e.g. `args: [\"-y\", \"server\"]`",
                ));
            }
        };
        McpTransport::Stdio {
            command,
            args,
            env: string_map("env", &raw.env)?,
            // Absolute, so the child's cwd and its program path do not both resolve
            // against a relative `--config` folder.
            cwd: text("cwd", &raw.cwd)?.map(|cwd| absolute_or_same(&root.join(cwd))),
        }
    } else {
        let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
            return Err(loc.diagnostic(
                &path("url"),
                "is missing for an http server",
                "set `url` to the server's Streamable HTTP endpoint",
            ));
        };
        McpTransport::Http {
            url,
            headers: string_map("headers", &raw.headers)?,
        }
    };

    let read_timeout = match &raw.read_timeout_seconds {
        None => DEFAULT_READ_TIMEOUT,
        Some(timeout) => match timeout.fit() {
            Some(secs) if *secs > 0.0 && secs.is_finite() => Duration::from_secs_f64(*secs),
            _ => {
                return Err(loc.diagnostic(
                    &path("read_timeout_seconds"),
                    &format!(
                        "{} is not a positive number of seconds",
                        describe(&timeout.written)
                    ),
                    &format!(
                        "use e.g. 60, or remove it for the default of {} s",
                        DEFAULT_READ_TIMEOUT.as_secs()
                    ),
                ));
            }
        },
    };

    let max_tool_result_bytes = match &raw.max_tool_result_bytes {
        None => DEFAULT_MAX_TOOL_RESULT_BYTES,
        Some(bytes) => match bytes.fit() {
            Some(n) if *n >= 1.0 && n.is_finite() => *n as usize,
            _ => {
                return Err(loc.diagnostic(
                    &path("max_tool_result_bytes"),
                    &format!(
                        "{} is not a positive number of bytes",
                        describe(&bytes.written)
                    ),
                    &format!(
                        "use e.g. 262144, or remove it for the default of {DEFAULT_MAX_TOOL_RESULT_BYTES}"
                    ),
                ));
            }
        },
    };

    Ok(McpServerConfig {
        name: name.to_string(),
        transport,
        read_timeout,
        max_tool_result_bytes,
    })
}

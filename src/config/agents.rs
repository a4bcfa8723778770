//! The `agents:` mapping → [`AgentConfig`]s.
//!
//! Each agent is validated on its own: a problem with one agent becomes an [`AgentError`]
//! and skips only that agent, so one typo does not take the whole fleet down. Every
//! problem found for an agent is reported (one `AgentError` each), so `pallas check` shows
//! them all in one run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::agent_options::{self, AgentOptions};
use super::env::substitute_value;
use super::error::ConfigError;
use super::keys::{KeyCheck, fields_of};
use super::raw::{ACCEPTED_AGENT_KEYS, Lenient, RawAgent, from_mapping};
use super::settings::{LoadedSettings, read_capabilities};
use super::source::{Source, Sources, dotted, read_text};
use super::types::{AgentConfig, AgentError, DEFAULT_MAX_ITERATIONS, FieldLocation, InstanceScope};
use super::value::{describe, key_string, scalar_string};
use crate::model::{ModelCapabilities, ModelSpec};

pub const DEFAULT_INSTRUCTION: &str = "You are a helpful AI agent.";
pub const DEFAULT_TOOL_NAME: &str = "{agent}";
/// The tool every agent server exposes besides its own; an agent tool may not shadow it.
pub const RESERVED_TOOL_NAME: &str = "get_health";

/// What the agent pass reads besides the `agents:` mapping itself.
pub struct AgentsContext<'a> {
    pub root: &'a Path,
    pub agents_source: &'a Source,
    pub settings: &'a LoadedSettings,
    pub registry_port: u16,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
}

#[derive(Debug, Default)]
pub struct AgentsOutcome {
    pub agents: Vec<AgentConfig>,
    pub errors: Vec<AgentError>,
    pub warnings: Vec<String>,
    /// Server names referenced by any agent entry, valid or not (unused bad servers only warn).
    pub used_servers: BTreeSet<String>,
}

/// Validates every agent in file order. `Err` only for fatal problems in module files
/// (YAML syntax, unreadable file).
pub fn build_agents(
    agents: &Mapping,
    ctx: &AgentsContext<'_>,
) -> Result<AgentsOutcome, ConfigError> {
    let mut out = AgentsOutcome::default();
    let mut ports: Vec<(String, u16)> = Vec::new();
    for (key, entry) in agents {
        let name = key_string(key);
        let mut problems = Vec::new();
        let entry_path = vec!["agents".to_string(), name.clone()];
        let agents_loc = Sources::new(vec![ctx.agents_source]);

        let inline = match entry {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m.clone(),
            other => {
                problems.push(agents_loc.message(
                    &entry_path,
                    &format!("is {}, not a mapping", describe(other)),
                    "write the agent's settings (port, model, …) indented below its name",
                ));
                push_errors(&mut out, &name, problems);
                continue;
            }
        };

        let module = match &from_mapping::<RawAgent>(&inline).module {
            None => None,
            Some(value) => match load_module(&name, value, &agents_loc, ctx, &mut out.warnings)? {
                Ok(module) => Some(module),
                Err(problem) => {
                    push_errors(&mut out, &name, vec![problem]);
                    continue;
                }
            },
        };

        // Inline keys override the module's keys, one top-level key at a time.
        let (module_source, mut merged) = match module {
            Some((source, map)) => (Some(source), map),
            None => (None, Mapping::new()),
        };
        for (k, v) in inline {
            merged.insert(k, v);
        }
        merged.remove("module");
        let loc = Sources::new(module_source.iter().chain([ctx.agents_source]).collect());

        out.warnings.extend(
            KeyCheck {
                known: fields_of::<RawAgent>(),
                accepted: &ACCEPTED_AGENT_KEYS,
                path: entry_path.clone(),
            }
            .warnings(&merged, &loc),
        );
        let raw: RawAgent = from_mapping(&merged);
        let agent = AgentBuilder {
            name: &name,
            raw: &raw,
            loc: &loc,
            ctx,
            problems: &mut problems,
            warnings: &mut out.warnings,
        }
        .build(&ports, &mut out.used_servers);
        if let Some(port) = agent.port {
            ports.push((name.clone(), port));
        }
        match agent.config {
            Some(config) if problems.is_empty() => out.agents.push(config),
            _ => push_errors(&mut out, &name, problems),
        }
    }
    Ok(out)
}

fn push_errors(out: &mut AgentsOutcome, agent: &str, problems: Vec<String>) {
    out.errors
        .extend(problems.into_iter().map(|message| AgentError {
            agent: agent.to_string(),
            message,
        }));
}

/// Loads `module: agents.jarvis` from `<root>/agents/jarvis.yaml` or `.md`. The outer
/// `Result` is fatal; the inner `Err` is this agent's problem.
fn load_module(
    name: &str,
    value: &Value,
    loc: &Sources<'_>,
    ctx: &AgentsContext<'_>,
    warnings: &mut Vec<String>,
) -> Result<Result<(Source, Mapping), String>, ConfigError> {
    let path = vec!["agents".to_string(), name.to_string(), "module".to_string()];
    let module = scalar_string(value).unwrap_or_default();
    let parts: Vec<&str> = module.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.contains(['/', '\\']))
    {
        return Ok(Err(loc.message(
            &path,
            &format!("{} is not a module name", describe(value)),
            "write it as dotted names below the agents.yaml folder, e.g. `module: agents.jarvis` for agents/jarvis.yaml",
        )));
    }
    let base: PathBuf = parts
        .iter()
        .fold(ctx.root.to_path_buf(), |p, part| p.join(part));
    let yaml_file = base.with_extension("yaml");
    let md_file = base.with_extension("md");
    let prefix = vec!["agents".to_string(), name.to_string()];

    let (source, mut value, body) = if yaml_file.is_file() {
        let (source, value) = Source::parse(&yaml_file, read_text(&yaml_file)?, 0, prefix.clone())?;
        (source, value, None)
    } else if md_file.is_file() {
        let (front, body) = split_front_matter(&read_text(&md_file)?);
        let (source, value) = Source::parse(&md_file, front, 1, prefix.clone())?;
        (source, value, Some(body))
    } else {
        return Ok(Err(loc.message(
            &path,
            &format!(
                "module '{module}' not found (tried {} and {})",
                yaml_file.display(),
                md_file.display()
            ),
            "create one of those files or fix the module name",
        )));
    };

    let mut unset = Vec::new();
    substitute_value(&mut value, ctx.lookup, &mut prefix.clone(), &mut unset);
    let module_loc = Sources::new(vec![&source]);
    warnings.extend(
        unset
            .iter()
            .map(|u| unset_warning(&module_loc, &u.path, &u.var)),
    );

    let mut map = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(map) => map,
        other => {
            return Ok(Err(format!(
                "{}:{}: agents.{name}: module file is {}, not a mapping; write the agent's settings as `key: value` lines",
                source.file.display(),
                1 + source.line_offset,
                describe(&other)
            )));
        }
    };
    // A markdown card's body is the instruction: prose reads better outside YAML. It is
    // not `${VAR}`-substituted (fast-agent substitutes config values, not prompt text).
    if let Some(body) = body.map(|b| b.trim().to_string()).filter(|b| !b.is_empty()) {
        map.insert("instruction".into(), Value::String(body));
    }
    Ok(Ok((source, map)))
}

/// Splits `---\nfront matter\n---\nbody`. Without an opening `---` line it is all body.
fn split_front_matter(text: &str) -> (String, String) {
    let mut lines = text.split_inclusive('\n');
    if lines.next().is_none_or(|first| first.trim() != "---") {
        return (String::new(), text.to_string());
    }
    let mut front = String::new();
    for line in lines.by_ref() {
        if matches!(line.trim(), "---" | "...") {
            return (front, lines.collect());
        }
        front.push_str(line);
    }
    // No closing line: treat everything after the opening `---` as front matter.
    (front, String::new())
}

/// Warning for a `${VAR}` left as written.
pub fn unset_warning(loc: &Sources<'_>, path: &[String], var: &str) -> String {
    loc.message(
        path,
        &format!("${{{var}}} is not set and has no default, so it is left as written"),
        &format!("set {var} in the environment or .env, or write ${{{var}:default}}"),
    )
}

struct Built {
    config: Option<AgentConfig>,
    /// The parsed port, even when other fields failed, for duplicate checks.
    port: Option<u16>,
}

struct AgentBuilder<'a, 'b> {
    name: &'a str,
    raw: &'a RawAgent,
    loc: &'a Sources<'b>,
    ctx: &'a AgentsContext<'b>,
    problems: &'a mut Vec<String>,
    warnings: &'a mut Vec<String>,
}

impl AgentBuilder<'_, '_> {
    fn path(&self, field: &str) -> Vec<String> {
        vec![
            "agents".to_string(),
            self.name.to_string(),
            field.to_string(),
        ]
    }

    fn problem(&mut self, field: &str, problem: &str, fix: &str) {
        let message = self.loc.message(&self.path(field), problem, fix);
        self.problems.push(message);
    }

    /// An optional text field; non-text values are a problem.
    fn text(&mut self, field: &str, value: &Option<Lenient<String>>) -> Option<String> {
        value
            .as_ref()?
            .or_problem(|v| {
                self.problem(
                    field,
                    &format!("is {}, not text", describe(v)),
                    "write it as a single string",
                )
            })
            .cloned()
    }

    fn build(mut self, ports: &[(String, u16)], used_servers: &mut BTreeSet<String>) -> Built {
        let port = self.port(ports);
        let raw = self.raw;
        let title = self
            .text("title", &raw.title)
            .unwrap_or_else(|| self.name.to_string());
        let description = self
            .text("description", &raw.description)
            .unwrap_or_else(|| format!("Send a message to the {} agent", self.name));
        let instruction = self
            .text("instruction", &raw.instruction)
            .unwrap_or_else(|| DEFAULT_INSTRUCTION.to_string());
        let capability_overrides = self.capabilities();
        let model = self.model(capability_overrides.as_ref());
        let servers = self.servers(used_servers);
        let max_iterations = self.max_iterations();
        let tool_name = self.tool_name();
        let instance_scope = self.instance_scope();
        let options = self.options();

        let config = (|| {
            Some(AgentConfig {
                name: self.name.to_string(),
                title,
                description,
                port: port?,
                model: model.as_ref()?.0.clone(),
                model_at: model?.1,
                capability_overrides: capability_overrides?,
                instruction,
                servers: servers?,
                max_iterations: max_iterations?,
                tool_name: tool_name?,
                instance_scope: instance_scope?,
                options,
            })
        })();
        Built { config, port }
    }

    fn port(&mut self, earlier: &[(String, u16)]) -> Option<u16> {
        let Some(value) = &self.raw.port else {
            self.problem(
                "port",
                "missing",
                "add `port: 8201` (a free port for this agent, or 0 for any free port)",
            );
            return None;
        };
        let port = *value.or_problem(|v| {
            self.problem(
                "port",
                &format!("{} is not a port number (0 to 65535)", describe(v)),
                "write a whole number such as 8201, or 0 for any free port",
            )
        })?;
        if port != 0 {
            if port == self.ctx.registry_port {
                self.problem(
                    "port",
                    &format!("{port} is already used by registry_port"),
                    "give each agent its own port",
                );
                return Some(port);
            }
            if let Some((other, _)) = earlier.iter().find(|(_, p)| *p == port) {
                self.problem(
                    "port",
                    &format!("{port} is already used by agents.{other}"),
                    "give each agent its own port",
                );
            }
        }
        Some(port)
    }

    fn capabilities(&mut self) -> Option<crate::model::CapabilityOverrides> {
        let global = &self.ctx.settings.settings.model_capabilities;
        if let Some(error) = &self.ctx.settings.capabilities_error {
            self.problems.push(format!(
                "config-wide model_capabilities is invalid: {error}"
            ));
            return None;
        }
        match &self.raw.model_capabilities {
            None => Some(global.clone()),
            Some(value) => {
                match read_capabilities(value, self.loc, &self.path("model_capabilities")) {
                    Ok(own) => Some(own.over(global)),
                    Err(message) => {
                        self.problems.push(message);
                        None
                    }
                }
            }
        }
    }

    fn model(
        &mut self,
        overrides: Option<&crate::model::CapabilityOverrides>,
    ) -> Option<(ModelSpec, FieldLocation)> {
        let settings_loc = self.ctx.settings.locator();
        let own = self.text("model", &self.raw.model);
        let (raw, loc, path) = match (own, &self.ctx.settings.settings.default_model) {
            (Some(raw), _) => (raw, self.loc.clone(), self.path("model")),
            (None, Some(default)) => (
                default.clone(),
                settings_loc,
                vec!["default_model".to_string()],
            ),
            (None, None) => {
                let fix = format!(
                    "set agents.{}.model, or default_model in {}",
                    self.name,
                    self.ctx.settings.config_file_hint(self.ctx.root).display()
                );
                self.problem("model", "no model is set", &fix);
                return None;
            }
        };
        match raw.parse::<ModelSpec>() {
            Ok(spec) => {
                let caps = ModelCapabilities::resolve(
                    &spec.model_id,
                    &overrides.cloned().unwrap_or_default(),
                );
                if !caps.known {
                    self.warnings.push(loc.message(
                        &path,
                        &format!(
                            "model '{}' is not in Pallas's capability table, so conservative defaults are used (agent {})",
                            spec.model_id, self.name
                        ),
                        "set model_capabilities (vision, context_window, max_output_tokens, …) to describe it",
                    ));
                }
                let (file, line) = loc.locate(&path);
                let path = dotted(&path);
                Some((spec, FieldLocation { file, line, path }))
            }
            Err(error) => {
                let error = error.to_string();
                // Most ModelSpecError messages carry their own fix after a `;`.
                let message = if error.contains(';') {
                    format!("{}: {}: {error}", loc.at(&path), dotted(&path))
                } else {
                    loc.message(
                        &path,
                        &error,
                        "write it as provider.model-id[?reasoning=…], e.g. bedrock.us.anthropic.claude-sonnet-4-6",
                    )
                };
                self.problems.push(message);
                None
            }
        }
    }

    fn servers(&mut self, used: &mut BTreeSet<String>) -> Option<Vec<String>> {
        let names: Vec<String> = match &self.raw.servers {
            None => return Some(Vec::new()),
            Some(Value::Sequence(items)) => {
                let names: Vec<String> = items.iter().filter_map(scalar_string).collect();
                if names.len() != items.len() {
                    self.problem(
                        "servers",
                        "has an item that is not a server name",
                        "list server names from mcp.servers, e.g. `servers: [notes]`",
                    );
                    return None;
                }
                names
            }
            Some(other) => {
                let fix = match scalar_string(other) {
                    Some(one) => format!("write it as a list: `servers: [{one}]`"),
                    None => "write it as a list of names from mcp.servers, e.g. `servers: [notes]`"
                        .to_string(),
                };
                self.problem(
                    "servers",
                    &format!("is {}, not a list", describe(other)),
                    &fix,
                );
                return None;
            }
        };
        let settings = self.ctx.settings;
        let config_hint = settings.config_file_hint(self.ctx.root);
        let mut ok = true;
        for server in &names {
            used.insert(server.clone());
            if settings.settings.mcp_servers.contains_key(server) {
                continue;
            }
            ok = false;
            if let Some(error) = settings.server_errors.get(server) {
                self.problem(
                    "servers",
                    &format!("server '{server}' has an invalid entry ({error})"),
                    &format!("fix mcp.servers.{server}"),
                );
                continue;
            }
            let defined = settings.defined_servers();
            if defined.is_empty() {
                self.problem(
                    "servers",
                    &format!("server '{server}' is not defined, and no mcp.servers are defined"),
                    &format!(
                        "add `{server}` under mcp.servers in {}",
                        config_hint.display()
                    ),
                );
            } else {
                self.problem(
                    "servers",
                    &format!(
                        "server '{server}' is not defined in mcp.servers (defined: {})",
                        defined.join(", ")
                    ),
                    &format!(
                        "use one of those names or add `{server}` under mcp.servers in {}",
                        config_hint.display()
                    ),
                );
            }
        }
        ok.then_some(names)
    }

    fn max_iterations(&mut self) -> Option<u32> {
        let Some(value) = &self.raw.max_iterations else {
            return Some(DEFAULT_MAX_ITERATIONS);
        };
        let written = match value {
            Lenient::Fit(n) if *n >= 1 => return Some(*n),
            Lenient::Fit(n) => Value::from(*n),
            Lenient::Unfit(v) => v.clone(),
        };
        self.problem(
            "max_iterations",
            &format!("{} is not a whole number of at least 1", describe(&written)),
            &format!("use e.g. {DEFAULT_MAX_ITERATIONS} (tool-use rounds per request)"),
        );
        None
    }

    fn tool_name(&mut self) -> Option<String> {
        let template = self
            .text("tool_name", &self.raw.tool_name)
            .unwrap_or_else(|| DEFAULT_TOOL_NAME.to_string());
        let tool_name = template.replace("{agent}", self.name);
        let valid_chars = tool_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if tool_name == RESERVED_TOOL_NAME {
            self.problem(
                "tool_name",
                &format!("'{RESERVED_TOOL_NAME}' is reserved for the health tool"),
                "choose another tool_name",
            );
            None
        } else if tool_name.is_empty() || tool_name.len() > 64 || !valid_chars {
            self.problem(
                "tool_name",
                &format!("'{tool_name}' is not a valid tool name (1 to 64 letters, digits, `_`, `.`, `-`)"),
                "set tool_name to such a name (`{agent}` is replaced by the agent name)",
            );
            None
        } else {
            Some(tool_name)
        }
    }

    fn options(&mut self) -> AgentOptions {
        let mut problems = Vec::new();
        let options = agent_options::read(self.raw, &mut |field, problem, fix| {
            problems.push((field.to_string(), problem.to_string(), fix.to_string()))
        });
        for (field, problem, fix) in problems {
            self.problem(&field, &problem, &fix);
        }
        options
    }

    fn instance_scope(&mut self) -> Option<InstanceScope> {
        let Some(value) = &self.raw.instance_scope else {
            return Some(InstanceScope::default());
        };
        value
            .or_problem(|v| {
                self.problem(
                    "instance_scope",
                    &format!("{} is not an instance scope", describe(v)),
                    "use one of shared, connection, request",
                )
            })
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_splits_from_body() {
        let (front, body) = split_front_matter("---\nport: 1\n---\nYou are X.\n");
        assert_eq!(front, "port: 1\n");
        assert_eq!(body, "You are X.\n");
        let (front, body) = split_front_matter("Just prose.\n");
        assert_eq!(front, "");
        assert_eq!(body, "Just prose.\n");
    }
}

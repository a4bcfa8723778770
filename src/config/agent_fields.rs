//! One agent's merged entry ([`RawAgent`]) → [`AgentConfig`], field by field. Every
//! problem is collected (not only the first), each naming its file, line, field and fix.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::agent_history::{self, HistoryOptions};
use super::agent_options::{self, AgentOptions};
use super::agents::{AgentsContext, DEFAULT_INSTRUCTION, DEFAULT_TOOL_NAME, RESERVED_TOOL_NAME};
use super::diagnostic::Diagnostic;
use super::raw::{Lenient, RawAgent};
use super::settings::read_capabilities;
use super::source::{Sources, dotted};
use super::types::{AgentConfig, DEFAULT_MAX_ITERATIONS, FieldLocation, InstanceScope};
use super::value::{describe, scalar_string};
use crate::model::{ModelCapabilities, ModelSpec};

pub struct Built {
    pub config: Option<AgentConfig>,
    /// The parsed port, even when other fields failed, for duplicate checks.
    pub port: Option<u16>,
}

pub struct AgentBuilder<'a, 'b> {
    pub name: &'a str,
    pub raw: &'a RawAgent,
    pub loc: &'a Sources<'b>,
    pub ctx: &'a AgentsContext<'b>,
    pub problems: &'a mut Vec<Diagnostic>,
    pub warnings: &'a mut Vec<Diagnostic>,
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
        let problem = self.loc.diagnostic(&self.path(field), problem, fix);
        self.problems.push(problem);
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

    pub fn build(mut self, ports: &[(String, u16)], used_servers: &mut BTreeSet<String>) -> Built {
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
        let auth = self.auth();
        let limits = self.limits();
        let history = self.history();

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
                auth: auth?,
                limits,
                history: history?,
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
            self.problems.push(error.clone());
            return None;
        }
        match &self.raw.model_capabilities {
            None => Some(global.clone()),
            Some(value) => {
                let path = self.path("model_capabilities");
                match read_capabilities(value, self.loc, &path, self.warnings) {
                    Ok(own) => Some(own.over(global)),
                    Err(problem) => {
                        self.problems.push(problem);
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
                    self.warnings.push(loc.diagnostic(
                        &path,
                        &format!(
                            "model '{}' is not in Pallas's capability table, so conservative defaults are used (agent {})",
                            spec.model_id, self.name
                        ),
                        "set model_capabilities (vision, context_window, max_output_tokens, …) to describe it",
                    ).warning());
                }
                let (file, line) = loc.locate(&path);
                let path = dotted(&path);
                Some((spec, FieldLocation { file, line, path }))
            }
            Err(error) => {
                let error = error.to_string();
                // Most ModelSpecError messages carry their own fix after a `;`.
                let fix = if error.contains(';') {
                    ""
                } else {
                    "write it as provider.model-id[?reasoning=…], e.g. bedrock.us.anthropic.claude-sonnet-4-6"
                };
                self.problems.push(loc.diagnostic(&path, &error, fix));
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
        if let Some(n) = value.fit().filter(|n| **n >= 1) {
            return Some(*n);
        }
        self.problem(
            "max_iterations",
            &format!(
                "{} is not a whole number of at least 1",
                describe(&value.written)
            ),
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

    /// `Some(None)`: no override; `None`: the override is invalid (already reported).
    fn auth(&mut self) -> Option<Option<crate::auth::AuthPolicy>> {
        let path = self.path("auth");
        match super::exposure::read_auth(self.raw.auth.as_ref(), &path, self.loc) {
            Ok(policy) => Some(policy),
            Err(problem) => {
                self.problems.push(problem);
                None
            }
        }
    }

    fn limits(&mut self) -> super::exposure::ServeLimits {
        let raw = self.raw;
        let fields = [
            ("max_sessions", raw.max_sessions.as_ref()),
            ("max_concurrent_turns", raw.max_concurrent_turns.as_ref()),
            ("max_queued_turns", raw.max_queued_turns.as_ref()),
            ("turn_timeout_seconds", raw.turn_timeout_seconds.as_ref()),
            ("session_idle_seconds", raw.session_idle_seconds.as_ref()),
        ];
        super::exposure::read_limits(fields, &mut |field, problem, fix| {
            self.problem(field, &problem, fix)
        })
    }

    fn history(&mut self) -> Option<HistoryOptions> {
        let Some(value) = &self.raw.history else {
            return Some(HistoryOptions::default());
        };
        let path = self.path("history");
        match agent_history::read(value, self.loc, &path, self.warnings) {
            Ok(history) => Some(history),
            Err(problem) => {
                self.problems.push(problem);
                None
            }
        }
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

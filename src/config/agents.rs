//! The `agents:` mapping → [`AgentConfig`]s.
//!
//! Each agent is validated on its own: a problem with one agent becomes an [`AgentError`]
//! and skips only that agent, so one typo does not take the whole fleet down. Every
//! problem found for an agent is reported (one `AgentError` each), so `pallas check` shows
//! them all in one run.

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::agent_fields::AgentBuilder;
use super::diagnostic::Diagnostic;
use super::error::ConfigError;
use super::keys::{KeyCheck, fields_of};
use super::modules::load_module;
use super::raw::{ACCEPTED_AGENT_KEYS, RawAgent, from_mapping};
use super::settings::LoadedSettings;
use super::source::{Source, Sources};
use super::types::AgentConfig;
use super::value::{describe, key_string};

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
    /// Each names its agent.
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
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
                problems.push(agents_loc.diagnostic(
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

fn push_errors(out: &mut AgentsOutcome, agent: &str, problems: Vec<Diagnostic>) {
    out.errors
        .extend(problems.into_iter().map(|problem| problem.for_agent(agent)));
}

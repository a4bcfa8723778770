//! `agents.yaml` (+ settings, `.env`, modules) → [`Project`].
//!
//! The order matters and mirrors fast-agent: `.env` is read first so `${VAR}` can use it,
//! each file is substituted on its own before merging, and only then are typed values
//! read. Fatal errors are the ones that leave nothing to serve; everything confined to one
//! agent lands in `Project.agent_errors`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::agents::{AgentsContext, build_agents};
use super::conversations::read_conversations;
use super::diagnostic::{Diagnostic, Severity};
use super::env::parse_dotenv;
use super::error::ConfigError;
use super::exposure;
use super::keys::{KeyCheck, fields_of};
use super::modules::unset_warning;
use super::raw::{Lenient, RawProject, from_mapping};
use super::settings::{LoadedSettings, load_settings};
use super::source::{Source, Sources, key_path, read_text};
use super::types::{AgentError, Project};
use super::value::{describe, scalar_string};

pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_VERSION: &str = "0.0.0";
pub const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Loads the project using the process environment for `${VAR}`.
pub fn load_project(agents_file: &Path) -> Result<Project, ConfigError> {
    load_project_with_env(agents_file, &|name| std::env::var(name).ok())
}

/// Loads the project with `env` as the environment. Reads no process-global state (the
/// environment is only what `env` answers), so tests can run in parallel.
pub fn load_project_with_env(
    agents_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, ConfigError> {
    if !agents_file.exists() {
        return Err(ConfigError::AgentsFileNotFound {
            path: agents_file.to_path_buf(),
        });
    }
    let text = read_text(agents_file)?;
    let root = match agents_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let dotenv_file = root.join(".env");
    let mut dotenv_warnings = Vec::new();
    let dotenv_all = if dotenv_file.is_file() {
        let text = read_text(&dotenv_file)?;
        dotenv_warnings = super::env::dotenv_problems(&text)
            .into_iter()
            .map(|(line, problem)| Diagnostic {
                severity: Severity::Warning,
                agent: None,
                file: dotenv_file.clone().into(),
                line,
                field: ".env".into(),
                problem: problem.into(),
                fix: "".into(),
            })
            .collect();
        parse_dotenv(&text)
    } else {
        BTreeMap::new()
    };
    let dotenv: BTreeMap<String, String> = dotenv_all
        .iter()
        .filter(|(k, _)| env(k).is_none())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let lookup = |name: &str| env(name).or_else(|| dotenv_all.get(name).cloned());

    let mut warnings = dotenv_warnings;
    let (mut source, mut doc) = Source::parse(agents_file, text, 0, vec![])?;
    let Value::Mapping(_) = &doc else {
        return Err(invalid(
            &Sources::new(vec![&source]),
            &[],
            &format!("is {}, not a mapping", describe(&doc)),
            "start agents.yaml with `name:`, `registry_port:` and `agents:` lines",
        ));
    };
    let unset = source.substitute(&mut doc, &lookup);
    let loc = Sources::new(vec![&source]);
    warnings.extend(unset.iter().map(|u| unset_warning(&loc, &u.path, &u.var)));
    let Value::Mapping(top) = &doc else {
        unreachable!("checked above")
    };

    let mut settings_unset = Vec::new();
    let settings = load_settings(&root, &lookup, &mut warnings, &mut settings_unset)?;
    for (file, u) in &settings_unset {
        let source = settings.sources.iter().find(|s| &s.file == file);
        let file_loc = Sources::new(source.into_iter().collect());
        warnings.push(unset_warning(&file_loc, &u.path, &u.var));
    }

    warnings.extend(
        KeyCheck {
            known: fields_of::<RawProject>(),
            accepted: &[],
            path: vec![],
        }
        .warnings(top, &loc),
    );
    let raw: RawProject = from_mapping(top);
    let text = |field: &Option<Lenient<String>>| field.as_ref().and_then(Lenient::fit).cloned();
    let name = text(&raw.name).unwrap_or_else(|| folder_name(&root));
    let version = text(&raw.version).unwrap_or_else(|| DEFAULT_VERSION.to_string());
    let host = text(&raw.host).unwrap_or_else(|| DEFAULT_HOST.to_string());
    let bind = read_bind(raw.bind.as_ref(), &loc)?;
    let registry_port = read_registry_port(raw.registry_port.as_ref(), &loc)?;
    let fatal = |d: Diagnostic| ConfigError::Invalid(Box::new(d));
    let auth = exposure::read_auth(raw.auth.as_ref(), &key_path(&["auth"]), &loc).map_err(fatal)?;
    let allowed_hosts = exposure::read_list(
        raw.allowed_hosts.as_ref(),
        &key_path(&["allowed_hosts"]),
        &loc,
    )
    .map_err(fatal)?;
    let allowed_origins = exposure::read_list(
        raw.allowed_origins.as_ref(),
        &key_path(&["allowed_origins"]),
        &loc,
    )
    .map_err(fatal)?;
    if let Err(e) = crate::http_guard::HostOriginGuard::new(
        allowed_hosts.iter().chain([&host]),
        &allowed_origins,
    ) {
        return Err(invalid(
            &loc,
            &key_path(&["allowed_origins"]),
            &e.to_string(),
            "see docs/exposing.md#origin-and-host",
        ));
    }
    let conversations = read_conversations(raw.conversations.as_ref(), &loc)?;
    let agents = match &raw.agents {
        Some(Value::Mapping(agents)) => agents,
        None | Some(Value::Null) => {
            return Err(invalid(
                &loc,
                &key_path(&["agents"]),
                "missing",
                "add an `agents:` mapping, e.g. `agents: {jarvis: {port: 8201}}`",
            ));
        }
        Some(other) => {
            return Err(invalid(
                &loc,
                &key_path(&["agents"]),
                &format!(
                    "is {}, not a mapping of agent names to settings",
                    describe(other)
                ),
                "write each agent as `name:` with its port and model indented below",
            ));
        }
    };

    let outcome = build_agents(
        agents,
        &AgentsContext {
            root: &root,
            agents_source: &source,
            settings: &settings,
            registry_port,
            lookup: &lookup,
        },
    )?;
    warnings.extend(outcome.warnings);
    warnings.extend(unused_bad_servers(&settings, &outcome.used_servers));
    let diagnostics: Vec<Diagnostic> = outcome.errors.into_iter().chain(warnings).collect();

    Ok(Project {
        root,
        agents_file: agents_file.to_path_buf(),
        name,
        version,
        host,
        bind,
        registry_port,
        auth,
        allowed_hosts,
        allowed_origins,
        agents: outcome.agents,
        agent_errors: diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(AgentError::from)
            .collect(),
        settings: settings.settings,
        warnings: diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .map(ToString::to_string)
            .collect(),
        diagnostics,
        dotenv,
        conversations,
    })
}

fn invalid(loc: &Sources<'_>, path: &[String], problem: &str, fix: &str) -> ConfigError {
    ConfigError::Invalid(Box::new(loc.diagnostic(path, problem, fix)))
}

fn folder_name(root: &Path) -> String {
    std::path::absolute(root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "pallas".to_string())
}

fn read_bind(value: Option<&Value>, loc: &Sources<'_>) -> Result<IpAddr, ConfigError> {
    let Some(value) = value else {
        return Ok(DEFAULT_BIND);
    };
    scalar_string(value)
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
        .ok_or_else(|| {
            invalid(
                loc,
                &key_path(&["bind"]),
                &format!("{} is not an IP address", describe(value)),
                "use e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces); put host names in `host`",
            )
        })
}

fn read_registry_port(value: Option<&Lenient<u16>>, loc: &Sources<'_>) -> Result<u16, ConfigError> {
    let path = key_path(&["registry_port"]);
    match value {
        None => Err(invalid(
            loc,
            &path,
            "missing",
            "add `registry_port: 8200` (or 0 for any free port)",
        )),
        Some(Lenient {
            value: Some(port), ..
        }) => Ok(*port),
        Some(Lenient { written, .. }) => Err(invalid(
            loc,
            &path,
            &format!("{} is not a port number (0 to 65535)", describe(written)),
            "write a whole number such as 8200, or 0 for any free port",
        )),
    }
}

/// Bad server entries no agent uses cannot break anything yet, so they only warn.
fn unused_bad_servers(
    settings: &LoadedSettings,
    used: &std::collections::BTreeSet<String>,
) -> Vec<Diagnostic> {
    settings
        .server_errors
        .iter()
        .filter(|(name, _)| !used.contains(*name))
        .map(|(_, problem)| Diagnostic {
            fix: format!(
                "{} (no agent uses this server, so this is only a warning)",
                problem.fix
            )
            .into(),
            ..problem.clone().warning()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;
    use crate::config::{InstanceScope, McpTransport};
    use crate::model::Provider;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn load(dir: &Path, env: &[(&str, &str)]) -> Result<Project, ConfigError> {
        load_project_with_env(&dir.join("agents.yaml"), &vars(env))
    }

    fn messages(project: &Project) -> String {
        project
            .agent_errors
            .iter()
            .map(|e| format!("[{}] {}", e.agent, e.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    const MODEL: &str = "bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0";

    #[test]
    fn full_valid_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "agents.yaml",
            "\
version: 2
registry_port: 8200
bind: 0.0.0.0
agents:
  jarvis:
    module: agents.jarvis
    port: 8201
    servers: [notes, web]
  friday:
    module: agents.friday
    port: 0
  plain:
    port: 0
    model: bedrock.us.anthropic.claude-sonnet-4-6
",
        );
        write(
            root,
            "agents/jarvis.yaml",
            "\
title: Jarvis
port: 9999
instruction: You are Jarvis.
model_capabilities: {vision: false}
max_iterations: 5
tool_name: ask_{agent}
instance_scope: shared
",
        );
        write(
            root,
            "agents/friday.md",
            "---\ndescription: Friday helps\nmodel: bedrock.us.anthropic.claude-sonnet-4-6\n---\n\nYou are Friday.\nBe brief.\n",
        );
        write(
            root,
            "fastagent.config.yaml",
            "\
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
model_capabilities: {context_window: 100000, vision: true}
logger: {level: info}
anthropic: {api_key: ignored}
bedrock:
  region: us-west-2
  profile: dev
mcp:
  servers:
    notes:
      command: npx
      args: [\"-y\", notes-server, 3]
      env: {TOKEN: plain}
      cwd: tools
    web:
      url: http://localhost:9000/mcp
      headers: {Authorization: Bearer x}
      read_timeout_seconds: 2.5
      ping_interval_seconds: 10
",
        );
        write(
            root,
            "fastagent.secrets.yaml",
            "bedrock:\n  profile: prod\nmcp:\n  servers:\n    notes:\n      env: {TOKEN: secret}\n",
        );

        let p = load(root, &[]).unwrap();
        assert!(p.agent_errors.is_empty(), "{}", messages(&p));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(p.name, root.file_name().unwrap().to_string_lossy());
        assert_eq!(p.version, "2");
        assert_eq!(p.host, "localhost");
        assert_eq!(p.bind, "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(p.registry_port, 8200);
        let names: Vec<&str> = p.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["jarvis", "friday", "plain"]);

        let jarvis = &p.agents[0];
        assert_eq!(jarvis.port, 8201, "inline keys override the module's");
        assert_eq!(jarvis.title, "Jarvis");
        assert_eq!(jarvis.description, "Send a message to the jarvis agent");
        assert_eq!(jarvis.instruction, "You are Jarvis.");
        assert_eq!(jarvis.model.provider, Provider::Bedrock);
        assert_eq!(jarvis.model.raw, MODEL);
        assert_eq!(jarvis.capability_overrides.vision, Some(false));
        assert_eq!(jarvis.capability_overrides.context_window, Some(100_000));
        assert_eq!(jarvis.servers, ["notes", "web"]);
        assert_eq!(jarvis.max_iterations, 5);
        assert_eq!(jarvis.tool_name, "ask_jarvis");
        assert_eq!(jarvis.instance_scope, InstanceScope::Shared);

        let friday = &p.agents[1];
        assert_eq!(friday.title, "friday");
        assert_eq!(friday.description, "Friday helps");
        assert_eq!(friday.instruction, "You are Friday.\nBe brief.");
        assert_eq!(friday.model.model_id, "us.anthropic.claude-sonnet-4-6");
        assert_eq!(friday.capability_overrides.vision, Some(true));

        let plain = &p.agents[2];
        assert_eq!(plain.instruction, DEFAULT_INSTRUCTION_FOR_TEST);
        assert_eq!(plain.max_iterations, crate::config::DEFAULT_MAX_ITERATIONS);
        assert_eq!(plain.tool_name, "plain");
        assert_eq!(plain.instance_scope, InstanceScope::Connection);
        assert!(plain.servers.is_empty());

        let s = &p.settings;
        assert_eq!(s.config_file, Some(root.join("fastagent.config.yaml")));
        assert_eq!(s.secrets_file, Some(root.join("fastagent.secrets.yaml")));
        assert_eq!(s.bedrock.region.as_deref(), Some("us-west-2"));
        assert_eq!(s.bedrock.profile.as_deref(), Some("prod"), "secrets win");
        assert_eq!(s.log_level.as_deref(), Some("info"));
        let notes = &s.mcp_servers["notes"];
        assert_eq!(notes.read_timeout, crate::config::DEFAULT_READ_TIMEOUT);
        assert_eq!(
            notes.transport,
            McpTransport::Stdio {
                command: "npx".into(),
                args: vec!["-y".into(), "notes-server".into(), "3".into()],
                env: [("TOKEN".to_string(), "secret".to_string())].into(),
                cwd: Some(root.join("tools")),
            },
            "secrets deep-merge into the server entry"
        );
        let web = &s.mcp_servers["web"];
        assert_eq!(web.read_timeout, Duration::from_millis(2500));
        assert_eq!(
            web.transport,
            McpTransport::Http {
                url: "http://localhost:9000/mcp".into(),
                headers: [("Authorization".to_string(), "Bearer x".to_string())].into(),
            }
        );
    }

    const DEFAULT_INSTRUCTION_FOR_TEST: &str = "You are a helpful AI agent.";

    #[test]
    fn config_is_found_in_a_parent_folder_and_secrets_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        write(
            dir.path(),
            "fast-agent.yaml",
            &format!("default_model: {MODEL}\n"),
        );
        write(
            dir.path(),
            "fast-agent.secrets.yaml",
            "bedrock: {region: eu-west-1}\n",
        );
        write(
            &root,
            "agents.yaml",
            "registry_port: 0\nagents:\n  a: {port: 0}\n",
        );
        let p = load(&root, &[]).unwrap();
        assert!(p.agent_errors.is_empty(), "{}", messages(&p));
        assert_eq!(p.agents[0].model.raw, MODEL);
        assert_eq!(p.settings.bedrock.region.as_deref(), Some("eu-west-1"));
        assert!(p.settings.config_file.unwrap().ends_with("fast-agent.yaml"));
    }

    #[test]
    fn missing_agents_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), &[]).unwrap_err();
        assert!(matches!(err, ConfigError::AgentsFileNotFound { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains(&dir.path().join("agents.yaml").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("--config PATH"), "{msg}");
    }

    #[test]
    fn bad_yaml_gives_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            "registry_port: 8200\nagents:\n  a:\n    port: [1, 2\n",
        );
        let err = load(dir.path(), &[]).unwrap_err();
        let ConfigError::Yaml { file, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(file, &dir.path().join("agents.yaml"));
        assert!(*line >= 4, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:{line}:", file.display())),
            "{err}"
        );

        write(
            dir.path(),
            "agents.yaml",
            "registry_port: 8200\nagents: {}\n",
        );
        write(
            dir.path(),
            "fastagent.config.yaml",
            "mcp:\n  servers:\n    x: {command: a\n",
        );
        let err = load(dir.path(), &[]).unwrap_err();
        assert!(err.to_string().contains("fastagent.config.yaml:"), "{err}");
    }

    #[test]
    fn project_level_problems_are_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("- a\n- b\n", "(top level): is a list, not a mapping"),
            ("agents: {}\n", "agents.yaml:1: registry_port: missing;"),
            (
                "registry_port: http\nagents: {}\n",
                "agents.yaml:1: registry_port: 'http' is not a port number",
            ),
            (
                "registry_port: 1\nbind: localhost\nagents: {}\n",
                "agents.yaml:2: bind: 'localhost' is not an IP address",
            ),
            ("registry_port: 1\n", "agents: missing"),
            (
                "registry_port: 1\nagents: [a]\n",
                "agents.yaml:2: agents: is a list",
            ),
        ];
        for (text, expected) in cases {
            write(dir.path(), "agents.yaml", text);
            let err = load(dir.path(), &[]).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn unknown_provider_names_valid_ones() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            "registry_port: 0\nagents:\n  a:\n    port: 0\n    model: bedrok.claude\n",
        );
        let p = load(dir.path(), &[]).unwrap();
        let msg = messages(&p);
        assert!(
            msg.contains("agents.yaml:5: agents.a.model: unknown provider 'bedrok'"),
            "{msg}"
        );
        assert!(msg.contains("bedrock, anthropic, openai, generic"), "{msg}");
    }

    #[test]
    fn no_model_at_all_says_where_to_set_one() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            "registry_port: 0\nagents:\n  a:\n    port: 0\n",
        );
        let p = load(dir.path(), &[]).unwrap();
        let msg = messages(&p);
        assert!(
            msg.contains(
                "agents.a.model: no model is set; set agents.a.model, or default_model in"
            ),
            "{msg}"
        );
    }

    #[test]
    fn unknown_server_lists_defined_ones() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            &format!(
                "registry_port: 0\nagents:\n  a:\n    port: 0\n    model: {MODEL}\n    servers: [nots]\n"
            ),
        );
        let p = load(dir.path(), &[]).unwrap();
        assert!(
            messages(&p).contains("server 'nots' is not defined, and no mcp.servers are defined"),
            "{}",
            messages(&p)
        );
        assert!(
            messages(&p).contains("fastagent.config.yaml"),
            "{}",
            messages(&p)
        );

        write(
            dir.path(),
            "fastagent.config.yaml",
            "mcp:\n  servers:\n    notes: {command: x}\n    web: {url: http://h}\n",
        );
        let p = load(dir.path(), &[]).unwrap();
        let msg = messages(&p);
        assert!(msg.contains("agents.yaml:6: agents.a.servers: server 'nots' is not defined in mcp.servers (defined: notes, web)"), "{msg}");
    }

    #[test]
    fn duplicate_port_names_both_agents_and_the_second_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            &format!(
                "registry_port: 8200\ndefault: x\nagents:\n  friday:\n    port: 8201\n    model: {MODEL}\n  jarvis:\n    model: {MODEL}\n    port: 8201\n  reg:\n    port: 8200\n    model: {MODEL}\n  zero1: {{port: 0, model: {MODEL}}}\n  zero2: {{port: 0, model: {MODEL}}}\n"
            ),
        );
        let p = load(dir.path(), &[]).unwrap();
        let file = dir.path().join("agents.yaml");
        assert_eq!(
            p.agent_errors[0].message,
            format!(
                "{}:9: agents.jarvis.port: 8201 is already used by agents.friday; give each agent its own port",
                file.display()
            )
        );
        assert_eq!(p.agent_errors[0].agent, "jarvis");
        assert!(
            p.agent_errors[1]
                .message
                .contains("agents.reg.port: 8200 is already used by registry_port")
        );
        assert_eq!(p.agent_errors.len(), 2);
        let names: Vec<&str> = p.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["friday", "zero1", "zero2"]);
    }

    #[test]
    fn one_bad_agent_leaves_the_others_loaded() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            &format!(
                "registry_port: 0\nagents:\n  good:\n    port: 0\n    model: {MODEL}\n  bad:\n    prot: 1\n    model: {MODEL}\n    max_iterations: 0\n    tool_name: get_health\n    instance_scope: global\n  also_good:\n    port: 0\n    model: {MODEL}\n  worse: 5\n  lost:\n    module: agents.lost\n    port: 0\n"
            ),
        );
        let p = load(dir.path(), &[]).unwrap();
        let names: Vec<&str> = p.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["good", "also_good"]);
        let msg = messages(&p);
        assert!(
            msg.contains("[bad]") && msg.contains("agents.bad.port: missing"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "agents.yaml:9: agents.bad.max_iterations: 0 is not a whole number of at least 1"
            ),
            "{msg}"
        );
        assert!(msg.contains("'get_health' is reserved"), "{msg}");
        assert!(
            msg.contains(
                "'global' is not an instance scope; use one of shared, connection, request"
            ),
            "{msg}"
        );
        assert!(msg.contains("[worse]"), "{msg}");
        let tried = format!(
            "tried {} and {}",
            dir.path().join("agents/lost.yaml").display(),
            dir.path().join("agents/lost.md").display()
        );
        assert!(msg.contains(&tried), "{msg}");
        let warning = p
            .warnings
            .iter()
            .find(|w| w.contains("agents.bad.prot"))
            .expect("typo warning");
        assert!(
            warning.contains("agents.yaml:7:") && warning.contains("did you mean `port`?"),
            "{warning}"
        );
    }

    #[test]
    fn module_key_errors_point_at_the_module_file() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            "registry_port: 0\nagents:\n  a:\n    module: agents.a\n    port: 0\n",
        );
        write(
            dir.path(),
            "agents/a.md",
            "---\ntitle: A\nmodel: nope\n---\nHi\n",
        );
        let p = load(dir.path(), &[]).unwrap();
        let msg = messages(&p);
        let module = dir.path().join("agents/a.md");
        assert!(
            msg.contains(&format!(
                "{}:3: agents.a.model: model spec 'nope' has no provider",
                module.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn substitution_in_all_files_with_lenient_types() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            "registry_port: ${REG:0}\nname: ${NAME}\nhost: ${HOST:h}\nagents:\n  a:\n    port: ${PORT:8201}\n    model: ${MODEL}\n    description: ${MISSING}\n    model_capabilities: {vision: \"${VISION:true}\"}\n",
        );
        write(
            dir.path(),
            "fastagent.config.yaml",
            "bedrock:\n  region: ${REGION:us-east-1}\n  endpoint_url: ${URL:http://h:80}\n  profile: ${EMPTY:fallback}\n",
        );
        write(
            dir.path(),
            ".env",
            "MODEL=bedrock.us.anthropic.claude-sonnet-4-6\nNAME=from-dotenv\nREGION=eu-central-1\n",
        );
        let p = load(dir.path(), &[("NAME", "from-env"), ("EMPTY", "")]).unwrap();
        assert!(p.agent_errors.is_empty(), "{}", messages(&p));
        let a = &p.agents[0];
        assert_eq!(a.port, 8201);
        assert_eq!(a.model.model_id, "us.anthropic.claude-sonnet-4-6");
        assert_eq!(a.description, "${MISSING}");
        assert_eq!(a.capability_overrides.vision, Some(true));
        assert_eq!(p.name, "from-env", ".env does not override the environment");
        assert_eq!(p.host, "h");
        assert_eq!(p.registry_port, 0);
        assert_eq!(p.settings.bedrock.region.as_deref(), Some("eu-central-1"));
        assert_eq!(
            p.settings.bedrock.endpoint_url.as_deref(),
            Some("http://h:80")
        );
        assert_eq!(
            p.settings.bedrock.profile.as_deref(),
            Some(""),
            "set to empty is not unset"
        );
        assert_eq!(
            p.dotenv.keys().collect::<Vec<_>>(),
            ["MODEL", "REGION"],
            "only .env entries the environment lacks"
        );
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert_eq!(
            p.warnings[0],
            format!(
                "{}:8: agents.a.description: ${{MISSING}} is not set and has no default, so it is left as written; set MISSING in the environment or .env, or write ${{MISSING:default}}",
                dir.path().join("agents.yaml").display()
            )
        );
    }

    #[test]
    fn bad_server_fails_only_agents_using_it() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            &format!(
                "registry_port: 0\nagents:\n  uses_bad:\n    port: 0\n    model: {MODEL}\n    servers: [old]\n  fine:\n    port: 0\n    model: {MODEL}\n    servers: [good]\n"
            ),
        );
        write(
            dir.path(),
            "fastagent.config.yaml",
            "mcp:\n  servers:\n    good: {command: x}\n    old:\n      transport: sse\n      url: http://h/sse\n    empty: {}\n    both: {command: x, url: http://h}\n    slow: {url: http://h, read_timeout_seconds: 0}\n",
        );
        let p = load(dir.path(), &[]).unwrap();
        let names: Vec<&str> = p.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["fine"]);
        let msg = messages(&p);
        let config = dir.path().join("fastagent.config.yaml");
        assert!(
            msg.contains("agents.uses_bad.servers: server 'old' has an invalid entry"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!(
                "{}:5: mcp.servers.old.transport: SSE is not supported; use Streamable HTTP",
                config.display()
            )),
            "{msg}"
        );
        let warnings = p.warnings.join("\n");
        assert!(
            warnings
                .contains("mcp.servers.empty: needs `command` (stdio) or `url` (Streamable HTTP)"),
            "{warnings}"
        );
        assert!(warnings.contains("only a warning"), "{warnings}");
        assert!(
            warnings.contains("mcp.servers.slow.read_timeout_seconds"),
            "{warnings}"
        );
        assert!(
            warnings.contains("mcp.servers.both: has both"),
            "{warnings}"
        );
        assert!(matches!(
            p.settings.mcp_servers["both"].transport,
            McpTransport::Http { .. }
        ));
    }

    #[test]
    fn unknown_model_warns_about_conservative_defaults() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            "registry_port: 0\nagents:\n  a: {port: 0, model: generic.llama3.2:latest}\n",
        );
        let p = load(dir.path(), &[]).unwrap();
        assert_eq!(p.agents.len(), 1);
        let warnings = p.warnings.join("\n");
        assert!(
            warnings.contains("conservative defaults")
                && warnings.contains("set model_capabilities"),
            "{warnings}"
        );
    }

    #[test]
    fn a_bad_value_from_a_variable_names_the_variable_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            &format!("registry_port: 0\nagents:\n  a:\n    port: ${{PORT}}\n    model: {MODEL}\n"),
        );
        let p = load(dir.path(), &[("PORT", "s3cr3t-Zq7")]).unwrap();
        let msg = messages(&p);
        assert!(
            msg.contains("agents.yaml:4: agents.a.port: the value of ${PORT} is not a port number"),
            "{msg}"
        );
        assert!(!msg.contains("s3cr3t"), "{msg}");

        write(
            dir.path(),
            "fastagent.config.yaml",
            "bedrock:\n  cache_mode: ${MODE}\n",
        );
        let err = load(dir.path(), &[("MODE", "s3cr3t-Zq7")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bedrock.cache_mode: the value of ${MODE} is not a cache mode"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn capability_keys_are_checked_and_a_bad_value_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            &format!(
                "registry_port: 0\nagents:\n  a:\n    port: 0\n    model: {MODEL}\n    model_capabilities:\n      vison: true\n  b:\n    port: 0\n    model: {MODEL}\n    model_capabilities:\n      context_window: 10\n      vision: maybe\n"
            ),
        );
        let p = load(dir.path(), &[]).unwrap();
        let warnings = p.warnings.join("\n");
        assert!(
            warnings.contains("agents.yaml:7: agents.a.model_capabilities.vison: unknown key, ignored; did you mean `vision`?"),
            "{warnings}"
        );
        let msg = messages(&p);
        assert!(
            msg.contains("agents.yaml:13: agents.b.model_capabilities.vision: invalid type"),
            "{msg}"
        );
    }

    #[test]
    fn findings_are_kept_structured_with_severity_agent_line_field_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "agents.yaml",
            &format!(
                "registry_port: 0\nagents:\n  a:\n    port: 0\n    model: {MODEL}\n    max_iterations: 0\n    prot: 1\n"
            ),
        );
        let p = load(dir.path(), &[]).unwrap();
        let file = dir.path().join("agents.yaml");
        let error = Diagnostic {
            severity: Severity::Error,
            agent: Some("a".into()),
            file: file.clone().into(),
            line: 6,
            field: "agents.a.max_iterations".into(),
            problem: "0 is not a whole number of at least 1".into(),
            fix: "use e.g. 20 (tool-use rounds per request)".into(),
        };
        let warning = Diagnostic {
            severity: Severity::Warning,
            agent: None,
            file: file.into(),
            line: 7,
            field: "agents.a.prot".into(),
            problem: "unknown key, ignored".into(),
            fix: "did you mean `port`?".into(),
        };
        assert_eq!(p.diagnostics, [error.clone(), warning.clone()]);
        assert_eq!(p.agent_errors[0].message, error.to_string());
        assert_eq!(p.warnings, [warning.to_string()]);
    }
}

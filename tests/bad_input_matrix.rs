//! The bad-input matrix: one row per mistake a user can make (config files, `.env`, module
//! files, downstream servers), each with the exact outcome they see. A bug found in the
//! wild becomes a row here. Rows load the project in-process as `pallas check` and
//! `pallas serve` do; downstream rows live in tests/faults.rs (they need a live server).

use std::path::Path;

use pallas::config::{Project, load_project_with_env};

const GOOD_AGENT: &str = "  good:\n    port: 0\n    instruction: Answer.\n";
const SETTINGS: &str = "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\n";

/// What the user sees.
enum Outcome {
    /// The project loads; `agent` is skipped with a message containing every fragment,
    /// and the `good` agent still serves.
    AgentSkipped(&'static str, &'static [&'static str]),
    /// The project loads with a warning containing every fragment.
    Warning(&'static [&'static str]),
    /// Loading fails with a message containing every fragment.
    Fatal(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    /// `(path, contents)` below the project folder; agents.yaml and fastagent.config.yaml
    /// get defaults unless given.
    files: &'static [(&'static str, &'static str)],
    outcome: Outcome,
}

use Outcome::*;

const CASES: &[Case] = &[
    Case {
        name: "module .md front matter that does not parse",
        files: &[
            (
                "agents.yaml",
                "name: p\nagents:\n  broken:\n    module: agents.broken\n    port: 0\n",
            ),
            (
                "agents/broken.md",
                "---\ntitle: Broken\nport: [1, 2\n---\nYou are broken.\n",
            ),
        ],
        outcome: AgentSkipped(
            "broken",
            &["agents/broken.md:", "invalid YAML", "this agent is skipped"],
        ),
    },
    Case {
        name: "module file missing",
        files: &[(
            "agents.yaml",
            "name: p\nagents:\n  lost:\n    module: agents.lost\n    port: 0\n",
        )],
        outcome: AgentSkipped(
            "lost",
            &[
                "agents.yaml:4",
                "module 'agents.lost' not found",
                "agents/lost.yaml",
            ],
        ),
    },
    Case {
        name: "module .md with a bad field reports the module file's own line",
        files: &[
            (
                "agents.yaml",
                "name: p\nagents:\n  odd:\n    module: agents.odd\n    port: 0\n",
            ),
            (
                "agents/odd.md",
                "---\ntitle: Odd\nmax_iterations: lots\n---\nYou are odd.\n",
            ),
        ],
        outcome: AgentSkipped("odd", &["agents/odd.md:3", "max_iterations"]),
    },
    Case {
        name: "agent with a field of the wrong type",
        files: &[(
            "agents.yaml",
            "name: p\nagents:\n  typed:\n    port: eighty\n",
        )],
        outcome: AgentSkipped("typed", &["agents.yaml:4", "agents.typed.port"]),
    },
    Case {
        name: "agent that uses an unknown downstream server",
        files: &[(
            "agents.yaml",
            "name: p\nagents:\n  lonely:\n    port: 0\n    servers: [nowhere]\n",
        )],
        outcome: AgentSkipped("lonely", &["nowhere"]),
    },
    Case {
        name: "server with a negative max_tool_result_bytes",
        files: &[
            (
                "agents.yaml",
                "name: p\nagents:\n  big:\n    port: 0\n    servers: [s]\n",
            ),
            (
                "fastagent.config.yaml",
                "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nmcp:\n  servers:\n    s:\n      command: x\n      max_tool_result_bytes: -1\n",
            ),
        ],
        outcome: AgentSkipped(
            "big",
            &[
                "mcp.servers.s.max_tool_result_bytes",
                "is not a positive number of bytes",
            ],
        ),
    },
    Case {
        name: ".env line without =",
        files: &[(".env", "GOOD=1\njust words\n")],
        outcome: Warning(&[".env:2", "has no `=`"]),
    },
    Case {
        name: ".env value with an unterminated quote",
        files: &[(".env", "A=\"open\n")],
        outcome: Warning(&[".env:1", "opens a \" quote that is not closed"]),
    },
    Case {
        name: "misspelt top-level settings key",
        files: &[(
            "fastagent.config.yaml",
            "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nbedrok:\n  region: us-east-1\n",
        )],
        outcome: Warning(&["fastagent.config.yaml:2", "bedrok", "bedrock"]),
    },
    Case {
        name: "misspelt server key",
        files: &[
            (
                "agents.yaml",
                "name: p\nagents:\n  good:\n    port: 0\n    servers: [s]\n",
            ),
            (
                "fastagent.config.yaml",
                "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nmcp:\n  servers:\n    s:\n      command: x\n      read_timout_seconds: 5\n",
            ),
        ],
        outcome: Warning(&[
            "fastagent.config.yaml:6",
            "read_timout_seconds",
            "read_timeout_seconds",
        ]),
    },
    Case {
        name: "misspelt agents.yaml key",
        files: &[(
            "agents.yaml",
            "name: p\nregisty_port: 8200\nagents:\n  good:\n    port: 0\n    instruction: Answer.\nregistry_port: 0\n",
        )],
        outcome: Warning(&["agents.yaml:2", "registy_port", "registry_port"]),
    },
    Case {
        name: "agents.yaml that is not YAML",
        files: &[("agents.yaml", "name: p\nagents: [\n")],
        outcome: Fatal(&["agents.yaml:", "invalid YAML"]),
    },
    Case {
        name: "duplicate top-level key is reported at the duplicate's line",
        files: &[(
            "fastagent.config.yaml",
            "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nlogger:\n  level: info\nlogger:\n  level: debug\n",
        )],
        outcome: Fatal(&["fastagent.config.yaml:4", "duplicate"]),
    },
    Case {
        name: "misspelt logger key",
        files: &[(
            "fastagent.config.yaml",
            "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nlogger:\n  levle: debug\n",
        )],
        outcome: Warning(&["fastagent.config.yaml:3", "levle", "level"]),
    },
    Case {
        name: "misspelt key in an agent",
        files: &[(
            "agents.yaml",
            "name: p\nagents:\n  typo:\n    port: 0\n    instructon: Hi.\n",
        )],
        outcome: Warning(&["agents.yaml:5", "instructon", "instruction"]),
    },
    Case {
        name: "secrets file with a misspelt key",
        files: &[("fastagent.secrets.yaml", "anthropic:\n  api_kye: x\n")],
        outcome: Warning(&["fastagent.secrets.yaml:2", "api_kye", "api_key"]),
    },
    Case {
        name: "server with neither command nor url",
        files: &[
            (
                "agents.yaml",
                "name: p\nagents:\n  needy:\n    port: 0\n    servers: [s]\n",
            ),
            (
                "fastagent.config.yaml",
                "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nmcp:\n  servers:\n    s:\n      args: [x]\n",
            ),
        ],
        outcome: AgentSkipped(
            "needy",
            &["mcp.servers.s", "needs `command` (stdio) or `url`"],
        ),
    },
    Case {
        name: "server with an SSE transport",
        files: &[
            (
                "agents.yaml",
                "name: p\nagents:\n  old:\n    port: 0\n    servers: [s]\n",
            ),
            (
                "fastagent.config.yaml",
                "default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\nmcp:\n  servers:\n    s:\n      transport: sse\n      url: http://127.0.0.1:1/sse\n",
            ),
        ],
        outcome: AgentSkipped("old", &["SSE is not supported", "transport: http"]),
    },
];

fn write(dir: &Path, files: &[(&str, &str)]) {
    let defaults = [
        (
            "agents.yaml",
            format!("name: p\nregistry_port: 0\nagents:\n{GOOD_AGENT}"),
        ),
        ("fastagent.config.yaml", SETTINGS.to_string()),
    ];
    for (path, text) in defaults {
        if !files.iter().any(|(p, _)| *p == path) {
            std::fs::write(dir.join(path), text).unwrap();
        }
    }
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Every agents.yaml also holds the good agent, which must survive the bad part; both
        // go at the end so the line numbers a case expects are those it wrote.
        let mut text = text.to_string();
        if path.ends_with("agents.yaml") {
            if !text.contains("  good:") {
                text.push_str(GOOD_AGENT);
            }
            if !text.contains("registry_port:") {
                text.push_str("registry_port: 0\n");
            }
        }
        std::fs::write(path, text).unwrap();
    }
}

fn load(dir: &Path) -> Result<Project, String> {
    let mut project =
        load_project_with_env(&dir.join("agents.yaml"), &|_| None).map_err(|e| e.to_string())?;
    pallas::assembly::validate_project(&mut project);
    Ok(project)
}

fn check(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), case.files);
    let contains_all = |text: &str, fragments: &[&str]| fragments.iter().all(|f| text.contains(f));
    match (&case.outcome, load(dir.path())) {
        (Fatal(fragments), Err(e)) if contains_all(&e, fragments) => Ok(()),
        (Fatal(_), other) => Err(format!(
            "expected a fatal error, got {:?}",
            other.map(|p| p.diagnostics)
        )),
        (_, Err(e)) => Err(format!("the project did not load: {e}")),
        (AgentSkipped(agent, fragments), Ok(p)) => {
            let error = p.agent_errors.iter().find(|e| e.agent == *agent);
            let served: Vec<&str> = p.agents.iter().map(|a| a.name.as_str()).collect();
            match error {
                Some(e) if contains_all(&e.message, fragments) && served == ["good"] => Ok(()),
                _ => Err(format!(
                    "agent errors {:?}, serving {served:?}",
                    p.agent_errors
                )),
            }
        }
        (Warning(fragments), Ok(p)) => {
            let warnings: Vec<String> = p.diagnostics.iter().map(|d| d.to_string()).collect();
            if warnings.iter().any(|w| contains_all(w, fragments)) && p.agent_errors.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "diagnostics {warnings:#?}, agent errors {:?}",
                    p.agent_errors
                ))
            }
        }
    }
}

#[test]
fn every_bad_input_has_its_documented_outcome() {
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|case| check(case).err().map(|e| format!("{}: {e}", case.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

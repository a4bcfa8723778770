//! Fatal configuration errors: the ones that leave nothing to serve. Problems confined to
//! one agent are not errors here; they become `Project.agent_errors` so the rest still run.

use std::path::PathBuf;

use super::diagnostic::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The agents file does not exist.
    #[error(
        "agents file {} not found; run from the folder holding agents.yaml or pass --config PATH",
        path.display()
    )]
    AgentsFileNotFound { path: PathBuf },
    /// A file exists but cannot be read.
    #[error("cannot read {}: {source}; check the file's permissions or pass --config PATH", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML. `line` and `column` are 1-based.
    #[error("{}:{line}:{column}: invalid YAML: {message}; fix the syntax at that spot", file.display())]
    Yaml {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A required project-level field is missing or wrong, or a setting every agent
    /// depends on (guardrail, caching, routing) is invalid.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

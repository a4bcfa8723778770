//! One finding of the validation pass, kept structured until it is shown.
//!
//! Every problem the loader finds, whatever the file or section, is a [`Diagnostic`]: the
//! pass collects them in one list, and [`crate::config::Project`] keeps that list next to
//! the rendered views (`warnings`, `agent_errors`) the rest of Pallas prints.

use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The agent it concerns (or, without one, the project) cannot run as written.
    Error,
    /// Worth fixing, but everything still runs.
    Warning,
}

/// Boxed strings keep it small enough to travel in a `Result` by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The agent the finding is confined to; `None` for project-wide findings.
    pub agent: Option<Box<str>>,
    pub file: Box<Path>,
    /// 1-based.
    pub line: usize,
    /// Dotted key path, e.g. `agents.jarvis.port`.
    pub field: Box<str>,
    pub problem: Box<str>,
    /// What to do about it; empty when the problem text already says.
    pub fix: Box<str>,
}

impl Diagnostic {
    pub fn warning(mut self) -> Diagnostic {
        self.severity = Severity::Warning;
        self
    }

    pub fn for_agent(mut self, agent: &str) -> Diagnostic {
        self.agent = Some(agent.into());
        self
    }
}

/// `{file}:{line}: {field}: {problem}; {fix}`, the form every config message takes.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.field,
            self.problem
        )?;
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

//! `history:` per agent: what happens to the oldest turns of a conversation once it no longer
//! fits the model's context window (see `crate::agent::window`). Only what is sent to the
//! model changes; the stored history keeps every turn.

use serde::Deserialize;
use serde_yaml::Value;

use super::diagnostic::Diagnostic;
use super::keys::{KeyCheck, fields_of};
use super::raw::{Lenient, from_mapping};
use super::source::Sources;
use super::value::{describe, scalar_string};

/// How turns left out of the context window are handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryStrategy {
    /// The oldest whole turns are simply not sent.
    #[default]
    Truncate,
    /// The agent's own model condenses them into one summary, sent ahead of the rest and
    /// kept with the conversation so it is computed once.
    Summarize,
}

/// An agent's `history:` settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryOptions {
    pub strategy: HistoryStrategy,
}

/// `history:` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawHistory {
    pub strategy: Option<Lenient<String>>,
}

const FIX: &str =
    "write `history: {strategy: truncate}` (the default) or `history: {strategy: summarize}`";

/// Reads `value` (the agent's `history:`); a misspelt key is a warning, a bad value an error
/// naming its line.
pub fn read(
    value: &Value,
    loc: &Sources<'_>,
    path: &[String],
    warnings: &mut Vec<Diagnostic>,
) -> Result<HistoryOptions, Diagnostic> {
    let Value::Mapping(map) = value else {
        return Err(loc.diagnostic(path, &format!("is {}, not a mapping", describe(value)), FIX));
    };
    warnings.extend(
        KeyCheck {
            known: fields_of::<RawHistory>(),
            accepted: &[],
            path: path.to_vec(),
        }
        .warnings(map, loc),
    );
    let raw: RawHistory = from_mapping(map);
    let mut options = HistoryOptions::default();
    if let Some(strategy) = &raw.strategy {
        let written = scalar_string(&strategy.written).unwrap_or_default();
        options.strategy = match written.trim().to_ascii_lowercase().as_str() {
            "truncate" => HistoryStrategy::Truncate,
            "summarize" | "summarise" => HistoryStrategy::Summarize,
            _ => {
                let mut field = path.to_vec();
                field.push("strategy".into());
                return Err(loc.diagnostic(
                    &field,
                    &format!(
                        "{} is not a history strategy (truncate or summarize)",
                        describe(&strategy.written)
                    ),
                    FIX,
                ));
            }
        };
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_project_with_env;

    fn load(agent_keys: &str) -> crate::config::Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("agents.yaml"),
            format!(
                "registry_port: 0\nagents:\n  jarvis:\n    port: 0\n    model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0\n{agent_keys}"
            ),
        )
        .unwrap();
        load_project_with_env(&dir.path().join("agents.yaml"), &|_| None).unwrap()
    }

    #[test]
    fn truncate_is_the_default_and_summarize_is_read() {
        let p = load("");
        assert_eq!(p.agents[0].history.strategy, HistoryStrategy::Truncate);
        let p = load("    history: {strategy: summarize}\n");
        assert_eq!(p.agents[0].history.strategy, HistoryStrategy::Summarize);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn a_bad_strategy_is_an_error_and_a_misspelt_key_a_warning() {
        let p = load("    history: {strategy: forget}\n");
        assert!(p.agents.is_empty());
        let error = format!("{:?}", p.agent_errors);
        assert!(error.contains("history.strategy"), "{error}");
        assert!(error.contains("truncate or summarize"), "{error}");
        let p = load("    history: {stratgy: summarize}\n");
        let warning = format!("{:?}", p.warnings);
        assert!(warning.contains("did you mean `strategy`"), "{warning}");
    }
}

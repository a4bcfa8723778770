//! Per-agent request parameters in `agents.yaml` (`tool_choice`, `max_tokens`, `temperature`,
//! `top_p`, `stop_sequences`, `additional_model_request_fields`, `streaming`,
//! `show_reasoning`). Kept apart from `agents.rs` so the entry validator only calls [`read`].

use serde_yaml::Value;

use super::raw::RawAgent;
use super::value::{describe, scalar_string};
use crate::model::ToolChoice;

/// What the agent asks of every model call; `None` leaves the model's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentOptions {
    pub tool_choice: ToolChoice,
    /// Replaces the capability table's max output tokens.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop_sequences: Vec<String>,
    /// Model-native JSON passed through as Converse `additionalModelRequestFields`.
    pub additional_model_request_fields: Option<serde_json::Value>,
    /// `None` = stream when the model supports it (the default).
    pub streaming: Option<bool>,
    /// Return the model's reasoning text to the caller ahead of the answer.
    pub show_reasoning: bool,
    /// `budget: {usd_per_day: N}`: calls fail with a clear error once the agent has spent
    /// this much in the current UTC day.
    pub budget_usd_per_day: Option<f64>,
}

/// Reads the options from an agent entry. Each problem is reported through
/// `problem(field, problem, fix)`; a field with a problem keeps its default.
pub fn read(raw: &RawAgent, problem: &mut dyn FnMut(&str, &str, &str)) -> AgentOptions {
    let mut o = AgentOptions::default();
    if let Some(v) = &raw.tool_choice {
        match v.fit() {
            Some(choice) => o.tool_choice = choice.clone(),
            None => problem(
                "tool_choice",
                &format!("{} is not a tool choice", describe(&v.written)),
                "use auto, any, none or the name of one tool as the model sees it (server__tool)",
            ),
        }
    }
    if let Some(v) = &raw.max_tokens {
        match v.fit() {
            Some(n) if *n > 0 => o.max_tokens = Some(*n),
            _ => problem(
                "max_tokens",
                &format!("{} is not a positive whole number", describe(&v.written)),
                "write the most output tokens per model call, e.g. `max_tokens: 4096`",
            ),
        }
    }
    for (field, value, slot) in [
        ("temperature", &raw.temperature, &mut o.temperature),
        ("top_p", &raw.top_p, &mut o.top_p),
    ] {
        let Some(v) = value else { continue };
        match v.fit() {
            Some(x) if (0.0..=1.0).contains(x) => *slot = Some(*x as f32),
            _ => problem(
                field,
                &format!("{} is not a number from 0 to 1", describe(&v.written)),
                &format!("write e.g. `{field}: 0.2` (Bedrock accepts 0 to 1)"),
            ),
        }
    }
    if let Some(v) = &raw.stop_sequences {
        let list = match v {
            Value::Sequence(items) => items.iter().map(scalar_string).collect::<Option<Vec<_>>>(),
            other => scalar_string(other).map(|s| vec![s]),
        };
        match list {
            Some(list) if list.len() <= 4 && list.iter().all(|s| !s.is_empty()) => {
                o.stop_sequences = list
            }
            _ => problem(
                "stop_sequences",
                &format!("{} is not a list of up to 4 non-empty strings", describe(v)),
                "write e.g. `stop_sequences: [\"END\"]`",
            ),
        }
    }
    if let Some(v) = &raw.additional_model_request_fields {
        match serde_json::to_value(v) {
            Ok(json @ serde_json::Value::Object(_)) => {
                o.additional_model_request_fields = Some(json)
            }
            _ => problem(
                "additional_model_request_fields",
                &format!("{} is not a mapping", describe(v)),
                "write model-native request fields as a mapping, e.g. `additional_model_request_fields: {top_k: 50}`",
            ),
        }
    }
    if let Some(v) = &raw.streaming {
        match v.fit() {
            Some(b) => o.streaming = Some(*b),
            None => problem(
                "streaming",
                &format!("{} is not true or false", describe(&v.written)),
                "write `streaming: false` to use Converse instead of ConverseStream",
            ),
        }
    }
    if let Some(v) = &raw.show_reasoning {
        match v.fit() {
            Some(b) => o.show_reasoning = *b,
            None => problem(
                "show_reasoning",
                &format!("{} is not true or false", describe(&v.written)),
                "write `show_reasoning: true` to return the model's reasoning with the answer",
            ),
        }
    }
    if let Some(v) = &raw.budget {
        let usd = v
            .as_mapping()
            .and_then(|m| m.get("usd_per_day"))
            .and_then(super::value::as_f64);
        match usd {
            Some(usd) if usd.is_finite() && usd > 0.0 => o.budget_usd_per_day = Some(usd),
            _ => problem(
                "budget",
                &format!("{} is not a daily budget", describe(v)),
                "write the most USD this agent may spend per UTC day, e.g. `budget: {usd_per_day: 5}`",
            ),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (AgentOptions, Vec<String>) {
        let raw: RawAgent = serde_yaml::from_str(yaml).unwrap();
        let mut problems = Vec::new();
        let o = read(&raw, &mut |f, p, _| problems.push(format!("{f}: {p}")));
        (o, problems)
    }

    #[test]
    fn reads_every_option() {
        let (o, problems) = parse(
            "tool_choice: notes__add_note\nmax_tokens: '512'\ntemperature: 0.2\ntop_p: 0.9\nstop_sequences: [END]\nadditional_model_request_fields: {top_k: 5}\nstreaming: false\nshow_reasoning: true\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(o.tool_choice, ToolChoice::Tool("notes__add_note".into()));
        assert_eq!(o.max_tokens, Some(512));
        assert_eq!(o.temperature, Some(0.2));
        assert_eq!(o.stop_sequences, vec!["END"]);
        assert_eq!(
            o.additional_model_request_fields,
            Some(serde_json::json!({"top_k": 5}))
        );
        assert_eq!(o.streaming, Some(false));
        assert!(o.show_reasoning);
    }

    #[test]
    fn reports_bad_values_by_field() {
        let (_, problems) =
            parse("temperature: 3\nmax_tokens: -1\nstreaming: maybe\nstop_sequences: {a: b}\n");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("max_tokens"), "{problems:?}");
    }
}

//! Scripted guardrail: when a request carries `guardrailConfig` and the latest user text
//! contains [`TRIGGER`], the guardrail blocks the input like a denied topic would: the
//! answer is the guardrail's blocked message, `stopReason: guardrail_intervened`, and a
//! `trace` naming the guardrail when tracing is enabled.

use serde_json::{Value, json};

use super::errors::ApiError;
use super::scripted_model::ModelTurn;

/// Text in the latest user message that makes a configured guardrail intervene.
pub const TRIGGER: &str = "guardrail-trigger";
/// What the simulated guardrail answers in place of the model.
pub const BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";

/// The intervention for `body`, if any, with its trace.
pub(crate) fn intervene(body: &Value) -> Result<Option<(ModelTurn, Option<Value>)>, ApiError> {
    let Some(config) = body.get("guardrailConfig").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    let id = config
        .get("guardrailIdentifier")
        .and_then(Value::as_str)
        .unwrap_or("");
    let version = config
        .get("guardrailVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if id.is_empty() || version.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: guardrailConfig must set guardrailIdentifier and guardrailVersion",
        ));
    }
    let latest_user_text = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_array())
        .map(|c| {
            c.iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if !latest_user_text.contains(TRIGGER) {
        return Ok(None);
    }
    let traced = matches!(
        config.get("trace").and_then(Value::as_str),
        Some("enabled") | Some("enabled_full")
    );
    let trace = traced.then(|| {
        json!({"guardrail": {"inputAssessment": {id: {"topicPolicy": {"topics": [
            {"name": "Simulated denied topic", "type": "DENY", "action": "BLOCKED", "detected": true}
        ]}}}}})
    });
    Ok(Some((
        ModelTurn {
            content: vec![json!({"text": BLOCKED_MESSAGE})],
            stop_reason: "guardrail_intervened",
        },
        trace,
    )))
}

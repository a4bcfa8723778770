//! Claude extended thinking as Bedrock enforces it: with
//! `additionalModelRequestFields.thinking` enabled (or adaptive), the budget must be at
//! least 1024 and below `maxTokens`, `temperature`/`topP` must be unset, tool use cannot be
//! forced, and an assistant turn replayed with `toolUse` must start with the reasoning block
//! the model issued, its signature intact. Each turn then starts with a signed reasoning
//! block (signature = a keyed hash of the text, so a changed text fails the check).

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use super::errors::ApiError;

/// Whether the request turns Claude thinking on.
pub(crate) fn thinking_enabled(body: &Value) -> bool {
    matches!(
        body.pointer("/additionalModelRequestFields/thinking/type")
            .and_then(Value::as_str),
        Some("enabled") | Some("adaptive")
    )
}

/// The signature the simulator issues for reasoning `text`.
pub(crate) fn signature(text: &str) -> String {
    let mut h = DefaultHasher::new();
    "pallas-simulator-thinking".hash(&mut h);
    text.hash(&mut h);
    format!("sim-sig-{:016x}", h.finish())
}

fn invalid(message: impl Into<String>) -> Result<(), ApiError> {
    Err(ApiError::validation(message))
}

pub(crate) fn validate(body: &Value) -> Result<(), ApiError> {
    if !thinking_enabled(body) {
        return Ok(());
    }
    let thinking = &body["additionalModelRequestFields"]["thinking"];
    if thinking["type"] == "enabled" {
        let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
        let max = body
            .pointer("/inferenceConfig/maxTokens")
            .and_then(Value::as_u64);
        match (budget, max) {
            (None, _) => return invalid("thinking.enabled.budget_tokens: Field required"),
            (Some(b), _) if b < 1024 => {
                return invalid(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                );
            }
            (Some(b), Some(m)) if b >= m => {
                return invalid(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
                );
            }
            _ => {}
        }
    }
    for field in ["temperature", "topP"] {
        if body
            .pointer(&format!("/inferenceConfig/{field}"))
            .is_some_and(|v| !v.is_null())
        {
            return invalid(format!(
                "`{field}` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility"
            ));
        }
    }
    if let Some(choice) = body.pointer("/toolConfig/toolChoice")
        && (choice.get("any").is_some() || choice.get("tool").is_some())
    {
        return invalid("Thinking may not be enabled when tool_choice forces tool use.");
    }
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, m) in messages.iter().enumerate() {
        if m["role"] != "assistant" {
            continue;
        }
        let content = m["content"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !content.iter().any(|b| b.get("toolUse").is_some()) {
            continue;
        }
        let first = content.first().and_then(|b| b.get("reasoningContent"));
        let Some(first) = first else {
            let found = content
                .first()
                .and_then(|b| b.as_object())
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default();
            return invalid(format!(
                "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`."
            ));
        };
        if let Some(text) = first.get("reasoningText") {
            let t = text.get("text").and_then(Value::as_str).unwrap_or("");
            if text.get("signature").and_then(Value::as_str) != Some(signature(t).as_str()) {
                return invalid(format!(
                    "messages.{i}.content.0: Invalid `signature` in `thinking` block"
                ));
            }
        }
    }
    Ok(())
}

/// Prepends a signed reasoning block to the turn when thinking is on.
pub(crate) fn add_reasoning(body: &Value, content: &mut Vec<Value>) {
    if !thinking_enabled(body) {
        return;
    }
    let last_user = body["messages"]
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
    let topic = if last_user.trim().is_empty() {
        "the tool results".to_string()
    } else {
        last_user.chars().take(80).collect()
    };
    let text = format!("The user asked about {topic}. I will answer step by step.");
    let sig = signature(&text);
    content.insert(
        0,
        json!({"reasoningContent": {"reasoningText": {"text": text, "signature": sig}}}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(assistant_first: Value) -> Value {
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "q"}]},
                {"role": "assistant", "content": [assistant_first, {"toolUse": {"toolUseId": "t", "name": "x", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "r"}]}}]}
            ],
            "inferenceConfig": {"maxTokens": 4000},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}
        })
    }

    #[test]
    fn replayed_tool_turns_need_their_signed_reasoning_first() {
        let good = json!({"reasoningContent": {"reasoningText": {"text": "hm", "signature": signature("hm")}}});
        validate(&body(good)).unwrap();
        let forged = json!({"reasoningContent": {"reasoningText": {"text": "changed", "signature": signature("hm")}}});
        assert!(
            validate(&body(forged))
                .unwrap_err()
                .message
                .contains("Invalid `signature`")
        );
        let missing = json!({"text": "no thinking"});
        assert!(
            validate(&body(missing))
                .unwrap_err()
                .message
                .contains("must start with a thinking block")
        );
        let mut hot = body(json!({"text": "x"}));
        hot["inferenceConfig"]["temperature"] = json!(0.5);
        assert!(validate(&hot).unwrap_err().message.contains("temperature"));
    }
}

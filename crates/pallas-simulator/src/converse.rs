//! Converse request validation (the rules the real service enforces that matter to
//! a client) and the response body shape.

use std::collections::HashSet;

use serde_json::Value;

use super::errors::ApiError;
use super::media::{self, MediaCount};

/// Members of the `ContentBlock` union (Bedrock Runtime API reference).
const CONTENT_BLOCK_MEMBERS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
    "toolAddition",
    "toolRemoval",
];
const SYSTEM_BLOCK_MEMBERS: &[&str] = &["text", "cachePoint", "guardContent"];
const TOOL_MEMBERS: &[&str] = &["toolSpec", "cachePoint", "systemTool"];
const TOOL_RESULT_MEMBERS: &[&str] =
    &["text", "json", "image", "document", "video", "searchResult"];
const MAX_CACHE_POINTS: usize = 4;

type Check = Result<(), ApiError>;

fn invalid<T>(message: impl Into<String>) -> Result<T, ApiError> {
    Err(ApiError::validation(message))
}

/// The single member name of a union value, if it is an object with exactly one
/// member from `allowed`.
fn union_member<'a>(
    value: &'a Value,
    allowed: &[&str],
    at: &str,
) -> Result<(&'a str, &'a Value), ApiError> {
    let Some(obj) = value.as_object() else {
        return invalid(format!(
            "The value at {at} must be an object with exactly one member."
        ));
    };
    let mut members = obj.iter();
    match (members.next(), members.next()) {
        (Some((name, inner)), None) if allowed.contains(&name.as_str()) => {
            Ok((name.as_str(), inner))
        }
        (Some((name, _)), None) => invalid(format!(
            "The value at {at} has an unknown member '{name}'. Expected one of: {}.",
            allowed.join(", ")
        )),
        _ => invalid(format!(
            "The value at {at} must set exactly one member, but {} are set.",
            obj.len()
        )),
    }
}

/// Tool names offered in `toolConfig.tools`, in order.
pub(crate) fn offered_tool_names(body: &Value) -> Vec<String> {
    body.pointer("/toolConfig/tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/toolSpec/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validates a Converse request body; `Err` is the ValidationException to answer with.
pub(crate) fn validate(body: &Value) -> Check {
    if !body.is_object() {
        return Err(ApiError::malformed_input());
    }
    let mut cache_points = 0usize;
    let uses_tools = validate_messages(body, &mut cache_points)?;
    validate_system(body, &mut cache_points)?;
    let has_tool_config = validate_tool_config(body, &mut cache_points)?;
    if uses_tools && !has_tool_config {
        return invalid(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        );
    }
    if cache_points > MAX_CACHE_POINTS {
        return invalid(format!(
            "A request can contain at most {MAX_CACHE_POINTS} cachePoint blocks, but {cache_points} were found."
        ));
    }
    validate_inference_config(body)
}

/// Returns whether the history contains toolUse/toolResult blocks.
fn validate_messages(body: &Value, cache_points: &mut usize) -> Result<bool, ApiError> {
    let messages = match body.get("messages") {
        None | Some(Value::Null) => {
            return invalid(
                "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null",
            );
        }
        Some(Value::Array(m)) => m,
        Some(_) => return Err(ApiError::malformed_input()),
    };
    if messages.is_empty() {
        return invalid("The messages field must contain at least one message.");
    }
    let mut uses_tools = false;
    // toolUse ids of each message (assistant) and toolResult ids (user), by index.
    let mut tool_uses: Vec<Vec<&str>> = Vec::with_capacity(messages.len());
    let mut tool_results: Vec<Vec<&str>> = Vec::with_capacity(messages.len());
    let mut previous_role: Option<&str> = None;
    let mut media_count = MediaCount::default();

    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return invalid(format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                i + 1
            ));
        }
        match (previous_role, role) {
            (None, "assistant") => {
                return invalid(
                    "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
                );
            }
            (Some(prev), _) if prev == role => {
                return invalid(
                    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
                );
            }
            _ => {}
        }
        previous_role = Some(role);

        let content = match message.get("content") {
            Some(Value::Array(c)) => c,
            _ => {
                return invalid(format!(
                    "The content field in the Message object at messages.{i} is missing or not a list."
                ));
            }
        };
        if content.is_empty() {
            return invalid(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            ));
        }
        let mut uses = Vec::new();
        let mut results = Vec::new();
        for (j, block) in content.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            let (member, inner) = union_member(block, CONTENT_BLOCK_MEMBERS, &at)?;
            media::check(member, inner, &at, &mut media_count)?;
            match member {
                "text" => match inner.as_str() {
                    Some(t) if !t.trim().is_empty() => {}
                    Some(_) => {
                        return invalid(format!(
                            "The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again."
                        ));
                    }
                    None => return Err(ApiError::malformed_input()),
                },
                "cachePoint" => *cache_points += 1,
                "toolUse" => {
                    uses_tools = true;
                    if role != "assistant" {
                        return invalid(format!(
                            "The toolUse block at {at} is only allowed in an assistant message."
                        ));
                    }
                    let id = required_str(inner, "toolUseId", &at)?;
                    required_str(inner, "name", &at)?;
                    if inner.get("input").is_none_or(Value::is_null) {
                        return invalid(format!(
                            "The toolUse block at {at} is missing the input field."
                        ));
                    }
                    uses.push(id);
                }
                "toolResult" => {
                    uses_tools = true;
                    if role != "user" {
                        return invalid(format!(
                            "The toolResult block at {at} is only allowed in a user message."
                        ));
                    }
                    let id = required_str(inner, "toolUseId", &at)?;
                    validate_tool_result(inner, &at, &mut media_count)?;
                    results.push(id);
                }
                _ => {}
            }
        }
        tool_uses.push(uses);
        tool_results.push(results);
    }

    // Every toolUse is answered by the next (user) message; every toolResult answers one.
    for i in 0..messages.len() {
        if !tool_uses[i].is_empty() {
            let answered: HashSet<&str> = tool_results
                .get(i + 1)
                .into_iter()
                .flatten()
                .copied()
                .collect();
            let missing: Vec<&str> = tool_uses[i]
                .iter()
                .copied()
                .filter(|id| !answered.contains(id))
                .collect();
            if !missing.is_empty() {
                return invalid(format!(
                    "Expected toolResult blocks at messages.{}.content for the following Ids: {}",
                    i + 1,
                    missing.join(", ")
                ));
            }
        }
        if !tool_results[i].is_empty() {
            let requested: HashSet<&str> = match i.checked_sub(1) {
                Some(prev) => tool_uses[prev].iter().copied().collect(),
                None => HashSet::new(),
            };
            if let Some(orphan) = tool_results[i].iter().find(|id| !requested.contains(*id)) {
                return invalid(format!(
                    "The toolResult block at messages.{i}.content with toolUseId '{orphan}' does not match any toolUse block in the previous assistant message."
                ));
            }
            let mut seen = HashSet::new();
            if let Some(dup) = tool_results[i].iter().find(|id| !seen.insert(**id)) {
                return invalid(format!(
                    "The toolUseId '{dup}' appears in more than one toolResult block at messages.{i}.content."
                ));
            }
        }
    }
    Ok(uses_tools)
}

fn required_str<'a>(obj: &'a Value, field: &str, at: &str) -> Result<&'a str, ApiError> {
    match obj.get(field).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => invalid(format!(
            "The {field} field of the block at {at} is missing or empty."
        )),
    }
}

fn validate_tool_result(inner: &Value, at: &str, media_count: &mut MediaCount) -> Check {
    let Some(content) = inner.get("content").and_then(Value::as_array) else {
        return invalid(format!(
            "The toolResult block at {at} is missing the content field."
        ));
    };
    for (k, item) in content.iter().enumerate() {
        let item_at = format!("{at}.toolResult.content.{k}");
        let (member, inner) = union_member(item, TOOL_RESULT_MEMBERS, &item_at)?;
        media::check(member, inner, &item_at, media_count)?;
    }
    match inner.get("status") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s == "success" || s == "error" => Ok(()),
        Some(other) => invalid(format!(
            "1 validation error detected: Value '{}' at '{at}.toolResult.status' failed to satisfy constraint: Member must satisfy enum value set: [success, error]",
            other.as_str().unwrap_or_default()
        )),
    }
}

fn validate_system(body: &Value, cache_points: &mut usize) -> Check {
    let system = match body.get("system") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(s)) => s,
        Some(_) => return Err(ApiError::malformed_input()),
    };
    for (i, block) in system.iter().enumerate() {
        let at = format!("system.{i}");
        match union_member(block, SYSTEM_BLOCK_MEMBERS, &at)? {
            ("cachePoint", _) => *cache_points += 1,
            ("text", Value::String(t)) if t.trim().is_empty() => {
                return invalid(format!(
                    "The text field in the SystemContentBlock object at {at} is blank. Add text to the text field, and try again."
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Returns whether a toolConfig is present.
fn validate_tool_config(body: &Value, cache_points: &mut usize) -> Result<bool, ApiError> {
    let config = match body.get("toolConfig") {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Object(c)) => c,
        Some(_) => return Err(ApiError::malformed_input()),
    };
    let tools = match config.get("tools") {
        Some(Value::Array(t)) if !t.is_empty() => t,
        _ => {
            return invalid(
                "1 validation error detected: Value at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1",
            );
        }
    };
    let mut names = HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("toolConfig.tools.{i}");
        let (member, spec) = union_member(tool, TOOL_MEMBERS, &at)?;
        match member {
            "cachePoint" => *cache_points += 1,
            "toolSpec" => {
                let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
                if !valid_tool_name(name) {
                    return invalid(format!(
                        "1 validation error detected: Value '{name}' at 'toolConfig.tools.{}.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_-]{{1,64}}$",
                        i + 1
                    ));
                }
                if !names.insert(name) {
                    return invalid(format!(
                        "Tool names must be unique; '{name}' is offered more than once."
                    ));
                }
                let schema = spec.pointer("/inputSchema/json");
                if schema.and_then(|s| s.get("type")).and_then(Value::as_str) != Some("object") {
                    return invalid(format!(
                        "The inputSchema.json of the tool '{name}' at {at}.toolSpec must be a JSON schema whose root has \"type\": \"object\"."
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(choice) = config.get("toolChoice").filter(|c| !c.is_null()) {
        let (member, inner) =
            union_member(choice, &["auto", "any", "tool"], "toolConfig.toolChoice")?;
        if member == "tool" {
            let name = inner.get("name").and_then(Value::as_str).unwrap_or("");
            if !names.contains(name) {
                return invalid(format!(
                    "The tool '{name}' named in toolConfig.toolChoice is not one of the tools in toolConfig.tools."
                ));
            }
        }
    }
    Ok(true)
}

fn validate_inference_config(body: &Value) -> Check {
    let Some(config) = body.get("inferenceConfig").filter(|c| !c.is_null()) else {
        return Ok(());
    };
    if let Some(max) = config.get("maxTokens").filter(|v| !v.is_null())
        && max.as_i64().is_none_or(|m| m < 1)
    {
        return invalid(format!(
            "1 validation error detected: Value '{max}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ));
    }
    for field in ["temperature", "topP"] {
        if let Some(v) = config.get(field).filter(|v| !v.is_null())
            && v.as_f64().is_none_or(|x| !(0.0..=1.0).contains(&x))
        {
            return invalid(format!(
                "1 validation error detected: Value '{v}' at 'inferenceConfig.{field}' failed to satisfy constraint: Member must be between 0 and 1"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool_config() -> Value {
        json!({"tools": [{"toolSpec": {"name": "clock__now", "inputSchema": {"json": {"type": "object"}}}}]})
    }

    fn err(body: Value) -> String {
        validate(&body).expect_err("should be rejected").message
    }

    #[test]
    fn accepts_a_tool_round_trip() {
        let body = json!({
            "messages": [
                {"role": "user", "content": [{"text": "what time is it"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "clock__now", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "noon"}], "status": "success"}}]},
            ],
            "toolConfig": tool_config(),
        });
        validate(&body).unwrap();
    }

    #[test]
    fn rejects_structural_mistakes() {
        assert!(err(json!({"messages": []})).contains("at least one message"));
        assert!(
            err(json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}))
                .contains("start with a user")
        );
        assert!(
            err(json!({"messages": [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "user", "content": [{"text": "b"}]}
            ]}))
            .contains("alternate")
        );
        assert!(err(json!({"messages": [{"role": "user", "content": []}]})).contains("is empty"));
        assert!(
            err(json!({"messages": [{"role": "user", "content": [{"text": " "}]}]}))
                .contains("blank")
        );
        assert!(
            err(json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "inferenceConfig": {"maxTokens": 0}}))
                .contains("maxTokens")
        );
    }

    #[test]
    fn rejects_tool_pairing_mistakes() {
        let orphan_use = json!({
            "messages": [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "clock__now", "input": {}}}]},
                {"role": "user", "content": [{"text": "b"}]},
            ],
            "toolConfig": tool_config(),
        });
        assert!(err(orphan_use).contains(
            "Expected toolResult blocks at messages.2.content for the following Ids: t1"
        ));
        let orphan_result = json!({
            "messages": [
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t9", "content": [{"text": "x"}]}}]},
            ],
            "toolConfig": tool_config(),
        });
        assert!(err(orphan_result).contains("does not match any toolUse"));
        let no_config = json!({
            "messages": [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "clock__now", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "x"}]}}]},
            ],
        });
        assert!(err(no_config).contains("toolConfig field must be defined"));
    }

    #[test]
    fn rejects_bad_tools_and_too_many_cache_points() {
        let msgs = json!([{"role": "user", "content": [{"text": "a"}]}]);
        let bad_name = json!({"messages": msgs, "toolConfig": {"tools": [{"toolSpec": {"name": "a.b", "inputSchema": {"json": {"type": "object"}}}}]}});
        assert!(err(bad_name).contains("regular expression"));
        let bad_schema = json!({"messages": msgs, "toolConfig": {"tools": [{"toolSpec": {"name": "ab", "inputSchema": {"json": {"type": "string"}}}}]}});
        assert!(err(bad_schema).contains("\"type\": \"object\""));
        let cp = json!({"cachePoint": {"type": "default"}});
        let too_many = json!({
            "messages": [{"role": "user", "content": [{"text": "a"}, cp, cp]}],
            "system": [{"text": "s"}, cp, cp, cp],
        });
        assert!(err(too_many).contains("at most 4 cachePoint"));
    }
}

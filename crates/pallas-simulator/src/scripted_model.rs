//! The deterministic "model" behind the simulator.
//!
//! 1. The last user message carries toolResult blocks → `end_turn` text quoting them:
//!    `Tool results: [name] text; [other] error: text`.
//! 2. Tools are offered and the latest user text names some of them → one assistant
//!    turn with a toolUse per named tool (`stopReason: tool_use`); each tool's input
//!    is the first JSON object after its name (before the next named tool), else `{}`.
//!    `toolChoice` `tool`/`any` forces a call (the named / first offered tool) when no
//!    name is mentioned.
//! 3. Otherwise → `end_turn` text `Simulated reply to: <latest user text>`.
//!
//! Default text replies honour `inferenceConfig.maxTokens` (truncated, `max_tokens`).

use serde_json::{Value, json};

use super::ScriptedReply;
use super::converse::offered_tool_names;

/// Longest user text quoted back in a default reply.
const MAX_ECHO_CHARS: usize = 200;

/// An assistant turn: content blocks and stop reason.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelTurn {
    pub content: Vec<Value>,
    pub stop_reason: &'static str,
}

fn text_turn(text: String) -> ModelTurn {
    ModelTurn {
        content: vec![json!({ "text": text })],
        stop_reason: "end_turn",
    }
}

fn tool_use_block(id: String, name: &str, input: Value) -> Value {
    json!({ "toolUse": { "toolUseId": id, "name": name, "input": input } })
}

/// The turn for a queued reply; `None` for `Raw` (sent as is by the server).
pub(crate) fn scripted_turn(
    reply: &ScriptedReply,
    next_id: &mut impl FnMut() -> String,
) -> Option<ModelTurn> {
    match reply {
        ScriptedReply::Text(text) => Some(text_turn(text.clone())),
        ScriptedReply::ToolUse(calls) => Some(ModelTurn {
            content: calls
                .iter()
                .map(|(name, input)| tool_use_block(next_id(), name, input.clone()))
                .collect(),
            stop_reason: "tool_use",
        }),
        ScriptedReply::Raw(_) => None,
    }
}

/// The default behaviour for a (valid) Converse request body.
pub(crate) fn respond(body: &Value, next_id: &mut impl FnMut() -> String) -> ModelTurn {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last_user = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let Some(last_user) = last_user else {
        return text_turn("Simulated reply to: [no user message]".into());
    };
    let content = blocks(&messages[last_user]);

    if content.iter().any(|b| b.get("toolResult").is_some()) {
        let previous = last_user
            .checked_sub(1)
            .map(|i| blocks(&messages[i]))
            .unwrap_or_default();
        return limit(body, text_turn(quote_tool_results(content, previous)));
    }

    let text = content
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    let offered = offered_tool_names(body);
    let mut calls = named_tools(&text, &offered);
    if calls.is_empty()
        && let Some(forced) = forced_tool(body, &offered)
    {
        calls.push((forced, json!({})));
    }
    if !calls.is_empty() {
        let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
        let mut content = vec![json!({ "text": format!("Calling {}.", names.join(", ")) })];
        content.extend(
            calls
                .into_iter()
                .map(|(name, input)| tool_use_block(next_id(), &name, input)),
        );
        return ModelTurn {
            content,
            stop_reason: "tool_use",
        };
    }

    let attached: Vec<String> = content.iter().filter_map(super::media::describe).collect();
    let mut echo = if text.trim().is_empty() {
        "[non-text content]".to_string()
    } else {
        truncate(text.trim(), MAX_ECHO_CHARS)
    };
    if !attached.is_empty() {
        echo.push_str(&format!(" (attached: {})", attached.join(", ")));
    }
    limit(body, text_turn(format!("Simulated reply to: {echo}")))
}

fn blocks(message: &Value) -> &[Value] {
    message
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Applies `inferenceConfig.maxTokens` (4 characters a token) to a text turn.
fn limit(body: &Value, mut turn: ModelTurn) -> ModelTurn {
    let Some(max_tokens) = body
        .pointer("/inferenceConfig/maxTokens")
        .and_then(Value::as_u64)
    else {
        return turn;
    };
    let max_chars = usize::try_from(max_tokens.saturating_mul(4)).unwrap_or(usize::MAX);
    if let Some(Value::String(text)) = turn.content.first_mut().and_then(|b| b.get_mut("text"))
        && let Some((cut, _)) = text.char_indices().nth(max_chars)
    {
        text.truncate(cut);
        turn.stop_reason = "max_tokens";
    }
    turn
}

/// `Tool results: [name] text; [name] error: text`, names from the previous turn's toolUse blocks.
fn quote_tool_results(content: &[Value], previous: &[Value]) -> String {
    let name_of = |id: &str| {
        previous
            .iter()
            .filter_map(|b| b.get("toolUse"))
            .find(|u| u.get("toolUseId").and_then(Value::as_str) == Some(id))
            .and_then(|u| u.get("name").and_then(Value::as_str))
            .unwrap_or(id)
            .to_string()
    };
    let quoted: Vec<String> = content
        .iter()
        .filter_map(|b| b.get("toolResult"))
        .map(|result| {
            let id = result
                .get("toolUseId")
                .and_then(Value::as_str)
                .unwrap_or("");
            let error = result.get("status").and_then(Value::as_str) == Some("error");
            let text = result
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(flatten_result_item)
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "[{}] {}{}",
                name_of(id),
                if error { "error: " } else { "" },
                text
            )
        })
        .collect();
    format!("Tool results: {}", quoted.join("; "))
}

fn flatten_result_item(item: &Value) -> String {
    if let Some(text) = item.get("text").and_then(Value::as_str) {
        text.to_string()
    } else if let Some(json) = item.get("json") {
        json.to_string()
    } else if let Some(media) = super::media::describe(item) {
        media
    } else {
        "[content]".to_string()
    }
}

/// The offered tools named in `text` (longest names first, each at most once, no
/// overlapping matches), in order of appearance, each with its JSON input.
pub(crate) fn named_tools(text: &str, offered: &[String]) -> Vec<(String, Value)> {
    let mut by_length: Vec<&String> = offered.iter().collect();
    by_length.sort_by_key(|name| std::cmp::Reverse(name.len()));
    let mut found: Vec<(usize, usize, &String)> = Vec::new(); // (start, end, name)
    for name in by_length {
        if name.is_empty() || found.iter().any(|(_, _, n)| *n == name) {
            continue;
        }
        let hit = text.match_indices(name.as_str()).find(|(start, _)| {
            let end = start + name.len();
            found.iter().all(|&(s, e, _)| end <= s || *start >= e)
        });
        if let Some((start, _)) = hit {
            found.push((start, start + name.len(), name));
        }
    }
    found.sort_by_key(|&(start, _, _)| start);
    (0..found.len())
        .map(|i| {
            let (_, end, name) = found[i];
            let until = found.get(i + 1).map_or(text.len(), |&(next, _, _)| next);
            let input = first_json_object(&text[end..until]).unwrap_or_else(|| json!({}));
            (name.clone(), input)
        })
        .collect()
}

/// The tool `toolChoice` forces when the text names none: `tool.name`, or the
/// first offered tool for `any`.
fn forced_tool(body: &Value, offered: &[String]) -> Option<String> {
    let choice = body.pointer("/toolConfig/toolChoice")?;
    if let Some(name) = choice.pointer("/tool/name").and_then(Value::as_str) {
        return Some(name.to_string());
    }
    choice.get("any").and(offered.first().cloned())
}

/// The first balanced `{…}` in `text` that parses as a JSON object.
pub(crate) fn first_json_object(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = text[from..].find('{') {
        let start = from + offset;
        if let Some(end) = balanced_end(&bytes[start..])
            && let Ok(value @ Value::Object(_)) = serde_json::from_str(&text[start..start + end])
        {
            return Some(value);
        }
        from = start + 1;
    }
    None
}

/// Length of the balanced brace group at the start of `bytes` (strings respected).
fn balanced_end(bytes: &[u8]) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("tooluse_{n}")
        }
    }

    fn tools(names: &[&str]) -> Value {
        let tools: Vec<Value> = names
            .iter()
            .map(|n| json!({"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}}))
            .collect();
        json!({ "tools": tools })
    }

    #[test]
    fn names_tools_longest_first_in_order_with_inputs() {
        let offered = vec![
            "notes__add".to_string(),
            "notes__add_note".to_string(),
            "clock__now".to_string(),
        ];
        let calls = named_tools(
            r#"use clock__now then notes__add_note {"text": "a {b}", "n": 1} please"#,
            &offered,
        );
        assert_eq!(
            calls,
            vec![
                ("clock__now".to_string(), json!({})),
                (
                    "notes__add_note".to_string(),
                    json!({"text": "a {b}", "n": 1})
                ),
            ]
        );
    }

    #[test]
    fn json_scan_skips_non_objects() {
        assert_eq!(
            first_json_object(r#"{oops} then {"a": [1]}"#),
            Some(json!({"a": [1]}))
        );
        assert_eq!(first_json_object("no json {"), None);
    }

    #[test]
    fn default_replies() {
        let mut next = ids();
        let plain = json!({"messages": [{"role": "user", "content": [{"text": "hello"}]}]});
        assert_eq!(
            respond(&plain, &mut next),
            text_turn("Simulated reply to: hello".into())
        );

        let tool_call = json!({
            "messages": [{"role": "user", "content": [{"text": "run clock__now {\"tz\": \"UTC\"}"}]}],
            "toolConfig": tools(&["clock__now"]),
        });
        let turn = respond(&tool_call, &mut next);
        assert_eq!(turn.stop_reason, "tool_use");
        assert_eq!(turn.content[1]["toolUse"]["toolUseId"], "tooluse_1");
        assert_eq!(turn.content[1]["toolUse"]["input"], json!({"tz": "UTC"}));

        let results = json!({
            "messages": [
                {"role": "user", "content": [{"text": "x"}]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "a", "name": "clock__now", "input": {}}},
                    {"toolUse": {"toolUseId": "b", "name": "notes__add", "input": {}}}]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "a", "content": [{"text": "noon"}]}},
                    {"toolResult": {"toolUseId": "b", "content": [{"json": {"ok": false}}], "status": "error"}}]},
            ],
            "toolConfig": tools(&["clock__now", "notes__add"]),
        });
        assert_eq!(
            respond(&results, &mut next).content[0]["text"],
            r#"Tool results: [clock__now] noon; [notes__add] error: {"ok":false}"#
        );
    }

    #[test]
    fn max_tokens_truncates_and_tool_choice_forces() {
        let mut next = ids();
        let body = json!({
            "messages": [{"role": "user", "content": [{"text": "a long question indeed"}]}],
            "inferenceConfig": {"maxTokens": 2},
        });
        let turn = respond(&body, &mut next);
        assert_eq!(turn.stop_reason, "max_tokens");
        assert_eq!(turn.content[0]["text"], "Simulate");

        let mut config = tools(&["a", "bb"]);
        config["toolChoice"] = json!({"tool": {"name": "bb"}});
        let forced = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "toolConfig": config});
        assert_eq!(
            respond(&forced, &mut next).content[1]["toolUse"]["name"],
            "bb"
        );
    }
}

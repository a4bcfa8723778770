//! Neutral request → OpenAI Chat Completions JSON.

use serde_json::{Map, Value, json};

use crate::llm::conversation::{
    ContentBlock, Document, Image, Message, Request, Role, StopReason, ToolChoice,
    ToolResultContent, base64,
};

#[derive(Debug, Clone, Default)]
pub struct WireOptions {
    pub model: String,
    pub stream: bool,
    /// `max_completion_tokens` (OpenAI's current name) or `max_tokens` (what Mantle and
    /// local servers read).
    pub max_tokens_field: &'static str,
    pub reasoning_effort: Option<String>,
}

pub fn request_body(request: &Request, o: &WireOptions) -> Value {
    let mut messages = Vec::new();
    if !request.system.trim().is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for m in &request.messages {
        push_message(&mut messages, m);
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(o.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert(o.max_tokens_field.into(), json!(request.max_tokens));
    if !request.tools.is_empty() && request.options.tool_choice != ToolChoice::None {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let choice = match &request.options.tool_choice {
            ToolChoice::Auto | ToolChoice::None => None,
            ToolChoice::Any => Some(json!("required")),
            ToolChoice::Tool(name) => Some(json!({"type": "function", "function": {"name": name}})),
        };
        if let Some(choice) = choice {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(t) = request.options.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.options.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.options.stop_sequences.is_empty() {
        body.insert("stop".into(), json!(request.options.stop_sequences));
    }
    if let Some(effort) = &o.reasoning_effort {
        body.insert("reasoning_effort".into(), json!(effort));
    }
    if o.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

fn image_part(i: &Image) -> Value {
    json!({"type": "image_url", "image_url": {"url": format!("data:{};base64,{}", i.mime_type, base64::encode(&i.data))}})
}

/// One neutral message becomes one or more chat messages: tool results are `tool`
/// messages, and images they carry follow in a user message (tool messages are text-only).
fn push_message(out: &mut Vec<Value>, m: &Message) {
    match m.role {
        Role::Assistant => {
            let text = m.text();
            let calls: Vec<Value> = m
                .tool_uses()
                .map(|u| {
                    let args = if u.input.is_object() { u.input.to_string() } else { "{}".to_string() };
                    json!({"id": u.id, "type": "function", "function": {"name": u.name, "arguments": args}})
                })
                .collect();
            let mut msg = json!({"role": "assistant"});
            if !text.is_empty() {
                msg["content"] = json!(text);
            }
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            if text.is_empty() && msg.get("tool_calls").is_none() {
                return;
            }
            out.push(msg);
        }
        Role::User => {
            let mut parts = Vec::new();
            let mut tool_images = Vec::new();
            for b in &m.content {
                match b {
                    ContentBlock::Text(t) if !t.trim().is_empty() => {
                        parts.push(json!({"type": "text", "text": t}))
                    }
                    ContentBlock::Image(i) => parts.push(image_part(i)),
                    ContentBlock::Document(d) => {
                        parts.push(json!({"type": "text", "text": document_text(d)}))
                    }
                    ContentBlock::ToolResult(r) => {
                        let mut text: Vec<String> = Vec::new();
                        for c in &r.content {
                            match c {
                                ToolResultContent::Text(t) => text.push(t.clone()),
                                ToolResultContent::Json(v) => text.push(v.to_string()),
                                ToolResultContent::Image(i) => {
                                    text.push(format!("[image {} follows]", i.mime_type));
                                    tool_images.push(image_part(i));
                                }
                                ToolResultContent::Document(d) => text.push(document_text(d)),
                            }
                        }
                        let mut content = text.join("\n");
                        if r.is_error {
                            content = format!("Error: {content}");
                        } else if content.is_empty() {
                            content = "(no output)".to_string();
                        }
                        out.push(json!({"role": "tool", "tool_call_id": r.tool_use_id, "content": content}));
                    }
                    _ => {}
                }
            }
            if !tool_images.is_empty() {
                let mut content = vec![
                    json!({"type": "text", "text": "Images returned by the tool calls above:"}),
                ];
                content.extend(tool_images);
                out.push(json!({"role": "user", "content": content}));
            }
            if parts.is_empty() {
                return;
            }
            // Plain text as a string: the widest-supported form among compatible servers.
            let content = if parts.iter().all(|p| p["type"] == "text") {
                json!(
                    parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            } else {
                Value::Array(parts)
            };
            out.push(json!({"role": "user", "content": content}));
        }
    }
}

pub fn finish_reason(s: &str) -> StopReason {
    match s {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::ContentFiltered,
        _ => StopReason::Other,
    }
}

/// Chat Completions has no document part: text formats are inlined, others are named only.
fn document_text(d: &Document) -> String {
    match d.format {
        f if f.is_text() => {
            format!(
                "[document {} ({})]\n{}",
                d.name,
                d.format,
                String::from_utf8_lossy(&d.data)
            )
        }
        other => format!(
            "[document {} ({other}) omitted: Chat Completions does not take {other} files]",
            d.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{GenerationOptions, ToolResult, ToolUse};

    #[test]
    fn tool_results_become_tool_messages_and_images_follow() {
        let request = Request {
            system: "sys".into(),
            messages: vec![
                Message::user_text("hi"),
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock::ToolUse(ToolUse {
                        id: "c1".into(),
                        name: "shot".into(),
                        input: json!({}),
                    })],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult(ToolResult {
                        tool_use_id: "c1".into(),
                        content: vec![ToolResultContent::Image(Image {
                            mime_type: "image/png".into(),
                            data: vec![0],
                        })],
                        is_error: false,
                    })],
                },
            ],
            tools: vec![],
            max_tokens: 50,
            options: GenerationOptions::default(),
        };
        let body = request_body(
            &request,
            &WireOptions {
                model: "m".into(),
                stream: true,
                max_tokens_field: "max_tokens",
                reasoning_effort: None,
            },
        );
        let m = body["messages"].as_array().unwrap();
        assert_eq!(m[0]["role"], "system");
        assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"], "{}");
        assert!(m[2].get("content").is_none(), "no null content");
        assert_eq!(m[3]["role"], "tool");
        assert_eq!(m[4]["content"][1]["type"], "image_url");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_tokens"], 50);
    }
}

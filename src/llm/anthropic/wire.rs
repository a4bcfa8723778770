//! Neutral request → Anthropic Messages API JSON.

use serde_json::{Map, Value, json};

use crate::llm::conversation::{
    ContentBlock, Document, DocumentFormat, Image, Message, Reasoning, Request, Role, StopReason,
    ToolChoice, ToolResultContent, base64,
};
use crate::llm::reasoning::ReasoningFields;

/// What besides the conversation goes into a request.
#[derive(Debug, Clone, Default)]
pub struct WireOptions {
    pub model: String,
    pub stream: bool,
    /// Extended thinking as the reasoning planner decided it (never on Mantle).
    pub reasoning: Option<ReasoningFields>,
    /// `cache_control` placed on the system prompt, the last tool and (`auto`) the last
    /// message (never on Mantle).
    pub cache: Option<CachePlacement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CachePlacement {
    pub control: Value,
    /// Also mark the end of the conversation so the growing history is cached (`auto`).
    pub conversation: bool,
}

pub fn request_body(request: &Request, o: &WireOptions) -> Value {
    let thinking = o.reasoning.as_ref().is_some_and(|r| r.claude_thinking);
    let mut body = Map::new();
    body.insert("model".into(), json!(o.model));
    body.insert("max_tokens".into(), json!(request.max_tokens));
    let mut messages: Vec<Value> = request
        .messages
        .iter()
        .filter_map(|m| message(m, thinking))
        .collect();
    if let Some(cache) = o.cache.as_ref().filter(|c| c.conversation)
        && let Some(last) = messages
            .last_mut()
            .and_then(|m| m.get_mut("content"))
            .and_then(Value::as_array_mut)
            .and_then(|c| c.last_mut())
            .and_then(Value::as_object_mut)
    {
        last.insert("cache_control".into(), cache.control.clone());
    }
    body.insert("messages".into(), Value::Array(messages));
    if !request.system.trim().is_empty() {
        let system = match &o.cache {
            Some(cache) => {
                json!([{"type": "text", "text": request.system, "cache_control": cache.control}])
            }
            None => json!(request.system),
        };
        body.insert("system".into(), system);
    }
    let offer_tools = !request.tools.is_empty() && request.options.tool_choice != ToolChoice::None;
    if offer_tools {
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
        if let (Some(cache), Some(Value::Object(last))) = (&o.cache, tools.last_mut()) {
            last.insert("cache_control".into(), cache.control.clone());
        }
        body.insert("tools".into(), Value::Array(tools));
        let choice = match &request.options.tool_choice {
            // The API refuses forced tool use while thinking.
            ToolChoice::Any | ToolChoice::Tool(_) if thinking => None,
            ToolChoice::Auto | ToolChoice::None => None,
            ToolChoice::Any => Some(json!({"type": "any"})),
            ToolChoice::Tool(name) => Some(json!({"type": "tool", "name": name})),
        };
        if let Some(choice) = choice {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(Value::Object(fields)) = o.reasoning.as_ref().map(|r| &r.fields) {
        body.extend(fields.clone());
    }
    if !thinking {
        // The API refuses sampling parameters together with thinking.
        if let Some(t) = request.options.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = request.options.top_p {
            body.insert("top_p".into(), json!(p));
        }
    }
    if !request.options.stop_sequences.is_empty() {
        body.insert(
            "stop_sequences".into(),
            json!(request.options.stop_sequences),
        );
    }
    if o.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

fn message(m: &Message, thinking: bool) -> Option<Value> {
    let content: Vec<Value> = m
        .content
        .iter()
        .filter_map(|b| block(b, thinking))
        .collect();
    if content.is_empty() {
        return None;
    }
    let role = match m.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    Some(json!({"role": role, "content": content}))
}

fn image(i: &Image) -> Value {
    json!({"type": "image", "source": {"type": "base64", "media_type": i.mime_type, "data": base64::encode(&i.data)}})
}

/// PDFs go as base64 document blocks and text formats as plain-text documents; the API has
/// no block for Office files, so those become a note the model can read.
fn document(d: &Document) -> Value {
    match d.format {
        DocumentFormat::Pdf => json!({"type": "document", "title": d.name,
            "source": {"type": "base64", "media_type": "application/pdf", "data": base64::encode(&d.data)}}),
        f if f.is_text() => json!({"type": "document", "title": d.name,
            "source": {"type": "text", "media_type": "text/plain", "data": String::from_utf8_lossy(&d.data)}}),
        other => json!({"type": "text",
            "text": format!("[document {} ({other}) omitted: the Anthropic API does not take {other} files]", d.name)}),
    }
}

fn block(b: &ContentBlock, thinking: bool) -> Option<Value> {
    Some(match b {
        // The API rejects empty text blocks.
        ContentBlock::Text(t) if t.trim().is_empty() => return None,
        ContentBlock::Text(t) => json!({"type": "text", "text": t}),
        ContentBlock::Image(i) => image(i),
        ContentBlock::Document(d) => document(d),
        ContentBlock::ToolUse(u) => {
            let input = if u.input.is_object() {
                u.input.clone()
            } else {
                json!({})
            };
            json!({"type": "tool_use", "id": u.id, "name": u.name, "input": input})
        }
        ContentBlock::ToolResult(r) => {
            let mut content: Vec<Value> = r
                .content
                .iter()
                .map(|c| match c {
                    ToolResultContent::Text(t) => json!({"type": "text", "text": t}),
                    ToolResultContent::Json(v) => json!({"type": "text", "text": v.to_string()}),
                    ToolResultContent::Image(i) => image(i),
                    ToolResultContent::Document(d) => document(d),
                })
                .filter(|c| c.get("text").and_then(Value::as_str) != Some(""))
                .collect();
            if content.is_empty() {
                content.push(json!({"type": "text", "text": if r.is_error { "error" } else { "(no output)" }}));
            }
            let mut v =
                json!({"type": "tool_result", "tool_use_id": r.tool_use_id, "content": content});
            if r.is_error {
                v["is_error"] = json!(true);
            }
            v
        }
        // Thinking blocks are replayed only when thinking is on (the API then requires them
        // unchanged, signature included); otherwise they are dropped.
        ContentBlock::Reasoning(_) if !thinking => return None,
        ContentBlock::Reasoning(Reasoning {
            redacted: Some(data),
            ..
        }) => json!({"type": "redacted_thinking", "data": String::from_utf8_lossy(data)}),
        ContentBlock::Reasoning(r) => {
            let mut v = json!({"type": "thinking", "thinking": r.text});
            if let Some(s) = &r.signature {
                v["signature"] = json!(s);
            }
            v
        }
    })
}

pub fn stop_reason(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "refusal" => StopReason::ContentFiltered,
        "model_context_window_exceeded" => StopReason::ContextWindowExceeded,
        _ => StopReason::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{GenerationOptions, ToolResult, ToolSpec, ToolUse};

    #[test]
    fn requests_carry_tools_results_images_and_cache_control() {
        let request = Request {
            system: "Be brief.".into(),
            messages: vec![
                Message::user_text("hi"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Text(String::new()),
                        ContentBlock::Reasoning(Reasoning {
                            text: "hm".into(),
                            signature: Some("s".into()),
                            redacted: None,
                        }),
                        ContentBlock::ToolUse(ToolUse {
                            id: "t1".into(),
                            name: "a".into(),
                            input: json!({}),
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult(ToolResult {
                        tool_use_id: "t1".into(),
                        content: vec![
                            ToolResultContent::Text("boom".into()),
                            ToolResultContent::Image(Image {
                                mime_type: "image/png".into(),
                                data: vec![1, 2],
                            }),
                        ],
                        is_error: true,
                    })],
                },
            ],
            tools: vec![ToolSpec {
                name: "a".into(),
                description: "A".into(),
                input_schema: json!({"type": "object"}),
            }],
            max_tokens: 100,
            options: GenerationOptions::default(),
        };
        let control = json!({"type": "ephemeral"});
        let body = request_body(
            &request,
            &WireOptions {
                model: "claude-haiku-4-5".into(),
                stream: true,
                reasoning: None,
                cache: Some(CachePlacement {
                    control: control.clone(),
                    conversation: true,
                }),
            },
        );
        assert_eq!(body["system"][0]["cache_control"], control);
        assert_eq!(body["tools"][0]["cache_control"], control);
        let assistant = &body["messages"][1]["content"];
        assert_eq!(
            assistant.as_array().unwrap().len(),
            1,
            "empty text and thinking dropped: {assistant}"
        );
        let result = &body["messages"][2]["content"][0];
        assert_eq!(result["is_error"], true);
        assert_eq!(result["content"][1]["source"]["media_type"], "image/png");
        assert_eq!(result["cache_control"], control);
        assert_eq!(body["stream"], true);
    }
}

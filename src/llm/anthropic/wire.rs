//! Neutral conversation ⇄ Anthropic Messages API JSON, and the assembly of a streamed
//! answer from its SSE events.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::llm::conversation::{
    ContentBlock, Document, Image, Message, Reasoning, Request, Response, Role, StopReason,
    ToolChoice, ToolResultContent, ToolUse, Usage, base64,
};

/// What besides the conversation goes into a request.
#[derive(Debug, Clone, Default)]
pub struct WireOptions {
    pub model: String,
    pub stream: bool,
    /// Extended thinking with this budget (never on Mantle).
    pub thinking_budget: Option<u32>,
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
    let thinking = o.thinking_budget.is_some();
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
            ToolChoice::Auto | ToolChoice::None => None,
            ToolChoice::Any => Some(json!({"type": "any"})),
            ToolChoice::Tool(name) => Some(json!({"type": "tool", "name": name})),
        };
        if let Some(choice) = choice {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(budget) = o.thinking_budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    } else {
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
    match d.format.as_str() {
        "pdf" => json!({"type": "document", "title": d.name,
            "source": {"type": "base64", "media_type": "application/pdf", "data": base64::encode(&d.data)}}),
        "txt" | "md" | "csv" | "html" => json!({"type": "document", "title": d.name,
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

fn add_usage(usage: &mut Usage, u: &Value) {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    if let Some(v) = n("input_tokens") {
        usage.input_tokens = v;
    }
    if let Some(v) = n("output_tokens") {
        usage.output_tokens = v;
    }
    if let Some(v) = n("cache_read_input_tokens") {
        usage.cache_read_tokens = v;
    }
    if let Some(v) = n("cache_creation_input_tokens") {
        usage.cache_write_tokens = v;
    }
}

/// A non-streaming response body.
pub fn response_from_json(body: &Value) -> Result<Response, String> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or("the response has no content array")?;
    let mut assembler = StreamAssembler::default();
    for (index, b) in blocks.iter().enumerate() {
        assembler.blocks.insert(index, Partial::from_complete(b));
    }
    assembler.stop = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(u) = body.get("usage") {
        add_usage(&mut assembler.usage, u);
    }
    assembler.done = true;
    assembler.finish()
}

#[derive(Debug)]
enum Partial {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        json: String,
        input: Value,
    },
    Thinking {
        text: String,
        signature: Option<String>,
    },
    Redacted(String),
    Other,
}

impl Partial {
    fn from_complete(b: &Value) -> Partial {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match b.get("type").and_then(Value::as_str) {
            Some("text") => Partial::Text(s("text")),
            Some("tool_use") => Partial::ToolUse {
                id: s("id"),
                name: s("name"),
                json: String::new(),
                input: b.get("input").cloned().unwrap_or_else(|| json!({})),
            },
            Some("thinking") => Partial::Thinking {
                text: s("thinking"),
                signature: b
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            Some("redacted_thinking") => Partial::Redacted(s("data")),
            _ => Partial::Other,
        }
    }
}

/// Builds the turn from `message_start` … `message_stop`. Blocks are keyed by their
/// `index`, so several tool calls in one turn each keep their own arguments.
#[derive(Debug, Default)]
pub struct StreamAssembler {
    blocks: BTreeMap<usize, Partial>,
    stop: Option<String>,
    usage: Usage,
    done: bool,
}

impl StreamAssembler {
    /// Applies one event; returns text to show the caller now. `Err` is an `error` event
    /// or an event that does not parse.
    pub fn apply(&mut self, name: Option<&str>, data: &str) -> Result<Option<String>, String> {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| format!("an event that is not JSON ({e}): {data}"))?;
        let kind = v.get("type").and_then(Value::as_str).or(name).unwrap_or("");
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        match kind {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    add_usage(&mut self.usage, u);
                }
            }
            "content_block_start" => {
                let block = v.get("content_block").cloned().unwrap_or_default();
                let mut partial = Partial::from_complete(&block);
                // Streamed tool input arrives as deltas; the start carries `{}`.
                if let Partial::ToolUse { input, .. } = &mut partial {
                    *input = Value::Null;
                }
                self.blocks.insert(index, partial);
            }
            "content_block_delta" => {
                let delta = v.get("delta").cloned().unwrap_or_default();
                let text = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or("");
                match (
                    delta.get("type").and_then(Value::as_str),
                    self.blocks.get_mut(&index),
                ) {
                    (Some("text_delta"), Some(Partial::Text(t))) => {
                        t.push_str(text("text"));
                        return Ok(Some(text("text").to_string()).filter(|t| !t.is_empty()));
                    }
                    (Some("input_json_delta"), Some(Partial::ToolUse { json, .. })) => {
                        json.push_str(text("partial_json"))
                    }
                    (Some("thinking_delta"), Some(Partial::Thinking { text: t, .. })) => {
                        t.push_str(text("thinking"))
                    }
                    (Some("signature_delta"), Some(Partial::Thinking { signature, .. })) => {
                        signature
                            .get_or_insert_with(String::new)
                            .push_str(text("signature"))
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(Partial::ToolUse {
                    json, input, name, ..
                }) = self.blocks.get_mut(&index)
                {
                    *input = if json.trim().is_empty() {
                        json!({}) // a tool without arguments
                    } else {
                        serde_json::from_str(json).map_err(|e| {
                            format!("the arguments streamed for tool '{name}' are not valid JSON ({e}): {json}")
                        })?
                    };
                }
            }
            "message_delta" => {
                if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(s.to_string());
                }
                if let Some(u) = v.get("usage") {
                    add_usage(&mut self.usage, u);
                }
            }
            "message_stop" => self.done = true,
            "error" => {
                let e = v.get("error").unwrap_or(&v);
                let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                return Err(format!("{kind}: {message}"));
            }
            _ => {} // ping and future event types
        }
        Ok(None)
    }

    pub fn finish(self) -> Result<Response, String> {
        if !self.done {
            return Err("the stream ended before message_stop".to_string());
        }
        let content = self
            .blocks
            .into_values()
            .filter_map(|p| match p {
                Partial::Text(t) if t.is_empty() => None,
                Partial::Text(t) => Some(ContentBlock::Text(t)),
                Partial::ToolUse {
                    id, name, input, ..
                } => Some(ContentBlock::ToolUse(ToolUse {
                    id,
                    name,
                    input: if input.is_null() { json!({}) } else { input },
                })),
                Partial::Thinking { text, signature } => Some(ContentBlock::Reasoning(Reasoning {
                    text,
                    signature,
                    redacted: None,
                })),
                Partial::Redacted(data) => Some(ContentBlock::Reasoning(Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: Some(data.into_bytes()),
                })),
                Partial::Other => None,
            })
            .collect();
        Ok(Response {
            message: Message {
                role: Role::Assistant,
                content,
            },
            stop_reason: self.stop.as_deref().map_or(StopReason::Other, stop_reason),
            usage: self.usage,
        })
    }
}

impl crate::llm::sse::StreamAssembly for StreamAssembler {
    fn event(&mut self, event: &crate::llm::sse::SseEvent) -> Result<Option<String>, String> {
        self.apply(event.event.as_deref(), &event.data)
    }

    fn finish(self) -> Result<Response, String> {
        StreamAssembler::finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{GenerationOptions, ToolResult, ToolSpec};

    #[test]
    fn parallel_and_zero_argument_tool_calls_assemble_by_index() {
        let mut a = StreamAssembler::default();
        let events = [
            r#"{"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Calling."}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"a","input":{}}}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"b","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" 1}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let mut streamed = Vec::new();
        for e in events {
            streamed.extend(a.apply(None, e).unwrap());
        }
        assert_eq!(streamed, ["Calling."]);
        let r = a.finish().unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (12, 30));
        let uses: Vec<_> = r.message.tool_uses().collect();
        assert_eq!(uses[0].input, json!({"x": 1}));
        assert_eq!(uses[1].input, json!({}));
    }

    #[test]
    fn error_events_and_truncated_streams_fail() {
        let mut a = StreamAssembler::default();
        let e = a
            .apply(
                Some("error"),
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .unwrap_err();
        assert_eq!(e, "overloaded_error: Overloaded");
        assert!(StreamAssembler::default().finish().is_err());
    }

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
                thinking_budget: None,
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

    #[test]
    fn a_plain_json_message_is_read_too() {
        let r = response_from_json(&json!({
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "text", "text": "Hi"},
                {"type": "tool_use", "id": "t", "name": "a", "input": {"k": 1}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 4},
        }))
        .unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(r.message.text(), "Hi");
        assert_eq!(r.message.tool_uses().next().unwrap().input, json!({"k": 1}));
        assert!(
            matches!(&r.message.content[0], ContentBlock::Reasoning(x) if x.signature.as_deref() == Some("sig"))
        );
        assert_eq!((r.usage.output_tokens, r.usage.cache_read_tokens), (7, 4));
    }
}

//! Neutral conversation ⇄ OpenAI Chat Completions JSON, and the assembly of a streamed
//! answer whose `tool_calls` arrive as fragments keyed by `index`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::llm::conversation::{
    ContentBlock, Document, Image, Message, Request, Response, Role, StopReason, ToolChoice,
    ToolResultContent, ToolUse, Usage, base64,
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

fn usage(u: &Value) -> Usage {
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("/prompt_tokens"),
        output_tokens: n("/completion_tokens"),
        cache_read_tokens: n("/prompt_tokens_details/cached_tokens"),
        cache_write_tokens: 0,
    }
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Builds the turn from `chat.completion.chunk`s up to `[DONE]`.
#[derive(Debug, Default)]
pub struct StreamAssembler {
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    finish: Option<String>,
    usage: Usage,
    done: bool,
}

impl StreamAssembler {
    /// Applies one `data:` payload; returns text to show the caller now.
    pub fn data(&mut self, data: &str) -> Result<Option<String>, String> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| format!("a chunk that is not JSON ({e}): {data}"))?;
        if let Some(e) = v.get("error") {
            return Err(crate::llm::http_errors::error_text(
                &json!({"error": e}).to_string(),
            ));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = usage(u);
        }
        let mut streamed = String::new();
        for choice in v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let delta = choice.get("delta").cloned().unwrap_or_default();
            if let Some(t) = delta.get("content").and_then(Value::as_str) {
                self.text.push_str(t);
                streamed.push_str(t);
            }
            for (position, call) in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(position as u64);
                let partial = self.calls.entry(index).or_default();
                let s = |p: &str| call.pointer(p).and_then(Value::as_str);
                if let Some(id) = s("/id").filter(|id| !id.is_empty()) {
                    partial.id = id.to_string();
                }
                if let Some(name) = s("/function/name") {
                    partial.name.push_str(name);
                }
                if let Some(args) = s("/function/arguments") {
                    partial.arguments.push_str(args);
                }
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(f.to_string());
            }
        }
        Ok(Some(streamed).filter(|s| !s.is_empty()))
    }

    /// `[DONE]` or a finish reason both end a stream: some servers omit one of them.
    pub fn finish(self) -> Result<Response, String> {
        if !self.done && self.finish.is_none() {
            return Err("the stream ended before a finish_reason or [DONE]".to_string());
        }
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(ContentBlock::Text(self.text));
        }
        for (index, call) in self.calls {
            let input = if call.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&call.arguments).map_err(|e| {
                    format!(
                        "the arguments for tool '{}' are not valid JSON ({e}): {}",
                        call.name, call.arguments
                    )
                })?
            };
            let id = if call.id.is_empty() {
                format!("call_{index}")
            } else {
                call.id
            };
            content.push(ContentBlock::ToolUse(ToolUse {
                id,
                name: call.name,
                input,
            }));
        }
        let has_calls = content
            .iter()
            .any(|c| matches!(c, ContentBlock::ToolUse(_)));
        let stop_reason = match self.finish.as_deref().map(finish_reason) {
            // Some servers say `stop` even when the turn calls tools.
            _ if has_calls => StopReason::ToolUse,
            Some(r) => r,
            None => StopReason::EndTurn,
        };
        Ok(Response {
            message: Message {
                role: Role::Assistant,
                content,
            },
            stop_reason,
            usage: self.usage,
        })
    }
}

/// A non-streaming `chat.completion`.
pub fn response_from_json(body: &Value) -> Result<Response, String> {
    let choice = body
        .pointer("/choices/0")
        .ok_or("the response has no choices")?;
    let message = choice.get("message").cloned().unwrap_or_default();
    let mut a = StreamAssembler::default();
    if let Some(t) = message.get("content").and_then(Value::as_str) {
        a.text = t.to_string();
    }
    for (i, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = |p: &str| {
            call.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        a.calls.insert(
            i as u64,
            PartialCall {
                id: s("/id"),
                name: s("/function/name"),
                arguments: s("/function/arguments"),
            },
        );
    }
    a.finish = Some(
        choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop")
            .to_string(),
    );
    if let Some(u) = body.get("usage") {
        a.usage = usage(u);
    }
    a.done = true;
    a.finish()
}

/// Chat Completions has no document part: text formats are inlined, others are named only.
fn document_text(d: &Document) -> String {
    match d.format.as_str() {
        "txt" | "md" | "csv" | "html" => {
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

impl crate::llm::sse::StreamAssembly for StreamAssembler {
    fn event(&mut self, event: &crate::llm::sse::SseEvent) -> Result<Option<String>, String> {
        self.data(&event.data)
    }

    fn finish(self) -> Result<Response, String> {
        StreamAssembler::finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{GenerationOptions, ToolResult};

    #[test]
    fn tool_call_fragments_assemble_by_index_with_usage_from_the_last_chunk() {
        let mut a = StreamAssembler::default();
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Calling"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"notes__add","arguments":""}},{"index":1,"id":"c2","function":{"name":"notes__now","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"t\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
            "[DONE]",
        ];
        let mut text = String::new();
        for c in chunks {
            text.extend(a.data(c).unwrap());
        }
        assert_eq!(text, "Calling");
        let r = a.finish().unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (9, 4));
        let calls: Vec<_> = r.message.tool_uses().collect();
        assert_eq!(
            (calls[0].id.as_str(), &calls[0].input),
            ("c1", &json!({"t": 1}))
        );
        assert_eq!(
            (calls[1].name.as_str(), &calls[1].input),
            ("notes__now", &json!({}))
        );
    }

    #[test]
    fn error_chunks_and_cut_streams_fail() {
        let mut a = StreamAssembler::default();
        assert!(
            a.data(r#"{"choices":[{"delta":{"content":"partial"}}]}"#)
                .is_ok()
        );
        let e = a
            .data(r#"{"error":{"type":"server_error","message":"boom"}}"#)
            .unwrap_err();
        assert_eq!(e, "server_error: boom");
        assert!(a.finish().is_err());
    }

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

    #[test]
    fn a_plain_json_completion_is_read_too() {
        let r = response_from_json(&json!({
            "choices": [{"message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "now", "arguments": ""}}]},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 1}},
        }))
        .unwrap();
        assert_eq!(
            r.stop_reason,
            StopReason::ToolUse,
            "tool calls win over a `stop`"
        );
        assert_eq!(r.message.tool_uses().next().unwrap().input, json!({}));
        assert_eq!(r.usage.cache_read_tokens, 1);
    }
}

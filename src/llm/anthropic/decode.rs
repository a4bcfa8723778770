//! Anthropic Messages answers → neutral [`StreamEvent`]s: the SSE stream event by event,
//! and a whole JSON message block by block, so both go through the one assembler.

use serde_json::Value;

use super::wire::stop_reason;
use crate::llm::http::SseDecoder;
use crate::llm::stream_event::{ReasoningDelta, StreamEvent, UsageReport};

/// `message_start` … `message_stop`; blocks are keyed by their `index`.
#[derive(Debug, Default)]
pub struct MessagesDecoder;

fn usage(u: &Value) -> StreamEvent {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    StreamEvent::Usage(UsageReport {
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        cache_read_tokens: n("cache_read_input_tokens"),
        cache_write_tokens: n("cache_creation_input_tokens"),
    })
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A content block as `content_block_start` or a whole message carries it. `whole`: the
/// block is complete, so a tool's `input` is its real arguments rather than a placeholder.
fn block(index: usize, b: &Value, whole: bool) -> Vec<StreamEvent> {
    let reasoning = |delta| StreamEvent::Reasoning { index, delta };
    match b.get("type").and_then(Value::as_str) {
        Some("text") => vec![StreamEvent::Text {
            index,
            text: str_of(b, "text").to_string(),
        }],
        Some("tool_use") => {
            let mut events = vec![StreamEvent::ToolStart {
                index,
                id: str_of(b, "id").to_string(),
                name: str_of(b, "name").to_string(),
            }];
            if whole && let Some(input) = b.get("input") {
                events.push(StreamEvent::ToolInput {
                    index,
                    json: input.to_string(),
                });
            }
            events
        }
        Some("thinking") => {
            let mut events = vec![reasoning(ReasoningDelta::Text(
                str_of(b, "thinking").to_string(),
            ))];
            if let Some(s) = b.get("signature").and_then(Value::as_str) {
                events.push(reasoning(ReasoningDelta::Signature(s.to_string())));
            }
            events
        }
        Some("redacted_thinking") => vec![reasoning(ReasoningDelta::Redacted(
            str_of(b, "data").as_bytes().to_vec(),
        ))],
        _ => Vec::new(), // server tools and future block types
    }
}

impl SseDecoder for MessagesDecoder {
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<StreamEvent>, String> {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| format!("an event that is not JSON ({e}): {data}"))?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(name);
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        Ok(match kind {
            "message_start" => v.pointer("/message/usage").map(usage).into_iter().collect(),
            "content_block_start" => block(index, v.get("content_block").unwrap_or(&v), false),
            "content_block_delta" => {
                let delta = v.get("delta").unwrap_or(&Value::Null);
                let text = str_of(delta, "text").to_string();
                let reasoning = |delta| vec![StreamEvent::Reasoning { index, delta }];
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => vec![StreamEvent::Text { index, text }],
                    Some("input_json_delta") => vec![StreamEvent::ToolInput {
                        index,
                        json: str_of(delta, "partial_json").to_string(),
                    }],
                    Some("thinking_delta") => {
                        reasoning(ReasoningDelta::Text(str_of(delta, "thinking").to_string()))
                    }
                    Some("signature_delta") => reasoning(ReasoningDelta::Signature(
                        str_of(delta, "signature").to_string(),
                    )),
                    _ => Vec::new(),
                }
            }
            "content_block_stop" => vec![StreamEvent::BlockStop { index }],
            "message_delta" => {
                let mut events: Vec<StreamEvent> = v
                    .pointer("/delta/stop_reason")
                    .and_then(Value::as_str)
                    .map(|s| StreamEvent::Stop(stop_reason(s)))
                    .into_iter()
                    .collect();
                events.extend(v.get("usage").map(usage));
                events
            }
            "message_stop" => vec![StreamEvent::End],
            "error" => {
                let e = v.get("error").unwrap_or(&v);
                let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
                return Err(format!("{kind}: {}", str_of(e, "message")));
            }
            _ => Vec::new(), // ping and future event types
        })
    }
}

/// A non-streaming response body.
pub fn response_events(body: &Value) -> Result<Vec<StreamEvent>, String> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or("the response has no content array")?;
    let mut events: Vec<StreamEvent> = blocks
        .iter()
        .enumerate()
        .flat_map(|(index, b)| block(index, b, true))
        .collect();
    if let Some(s) = body.get("stop_reason").and_then(Value::as_str) {
        events.push(StreamEvent::Stop(stop_reason(s)));
    }
    events.extend(body.get("usage").map(usage));
    events.push(StreamEvent::End);
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::assembler::{AssemblyError, TurnAssembler};
    use crate::llm::conversation::{ContentBlock, StopReason};
    use serde_json::json;

    #[test]
    fn parallel_and_zero_argument_tool_calls_assemble_by_index() {
        let mut d = MessagesDecoder;
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
        let decoded: Vec<StreamEvent> = events
            .iter()
            .flat_map(|e| d.event("message", e).unwrap())
            .collect();
        let r = TurnAssembler::assemble(decoded).unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (12, 30));
        assert_eq!(r.message.text(), "Calling.");
        let uses: Vec<_> = r.message.tool_uses().collect();
        assert_eq!(uses[0].input, json!({"x": 1}));
        assert_eq!(uses[1].input, json!({}));
    }

    #[test]
    fn error_events_and_truncated_streams_fail() {
        let e = MessagesDecoder
            .event(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .unwrap_err();
        assert_eq!(e, "overloaded_error: Overloaded");
        let cut = MessagesDecoder
            .event(
                "message",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
            )
            .unwrap();
        assert_eq!(
            TurnAssembler::assemble(cut).unwrap_err(),
            AssemblyError::CutOff,
            "no message_stop"
        );
    }

    #[test]
    fn a_plain_json_message_is_read_too() {
        let events = response_events(&json!({
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "text", "text": "Hi"},
                {"type": "tool_use", "id": "t", "name": "a", "input": {"k": 1}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 4},
        }))
        .unwrap();
        let r = TurnAssembler::assemble(events).unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(r.message.text(), "Hi");
        assert_eq!(r.message.tool_uses().next().unwrap().input, json!({"k": 1}));
        assert!(
            matches!(&r.message.content[0], ContentBlock::Reasoning(x) if x.signature.as_deref() == Some("sig"))
        );
        assert_eq!((r.usage.output_tokens, r.usage.cache_read_tokens), (7, 4));
    }
}

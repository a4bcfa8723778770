//! Chat Completions answers → neutral [`StreamEvent`]s. Text has no block index on this
//! API, so it is block 0 and tool call `i` is block `i + 1`; tool calls arrive as fragments
//! keyed by their own `index`.

use serde_json::{Value, json};

use super::wire::finish_reason;
use crate::llm::conversation::StopReason;
use crate::llm::http::SseDecoder;
use crate::llm::http_errors::error_text;
use crate::llm::stream_event::{StreamEvent, UsageReport};

/// `chat.completion.chunk`s up to `[DONE]`. Either `[DONE]` or a finish reason ends a
/// stream: some servers omit one of them.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    finished: bool,
    done: bool,
}

fn usage(u: &Value) -> StreamEvent {
    let n = |p: &str| Some(u.pointer(p).and_then(Value::as_u64).unwrap_or(0));
    StreamEvent::Usage(UsageReport {
        input_tokens: n("/prompt_tokens"),
        output_tokens: n("/completion_tokens"),
        cache_read_tokens: n("/prompt_tokens_details/cached_tokens"),
        cache_write_tokens: Some(0),
    })
}

fn tool_events(position: usize, call: &Value, out: &mut Vec<StreamEvent>) {
    let index = call
        .get("index")
        .and_then(Value::as_u64)
        .map_or(position, |i| i as usize)
        + 1;
    let s = |p: &str| call.pointer(p).and_then(Value::as_str).unwrap_or("");
    out.push(StreamEvent::ToolStart {
        index,
        id: s("/id").to_string(),
        name: s("/function/name").to_string(),
    });
    if !s("/function/arguments").is_empty() {
        out.push(StreamEvent::ToolInput {
            index,
            json: s("/function/arguments").to_string(),
        });
    }
}

/// A streamed delta or a whole message: its text and its tool calls (whole calls carry no
/// `index`; their position is it).
fn message_events(message: &Value, out: &mut Vec<StreamEvent>) {
    if let Some(t) = message.get("content").and_then(Value::as_str) {
        out.push(StreamEvent::Text {
            index: 0,
            text: t.to_string(),
        });
    }
    for (position, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        tool_events(position, call, out);
    }
}

impl SseDecoder for ChunkDecoder {
    fn event(&mut self, _name: &str, data: &str) -> Result<Vec<StreamEvent>, String> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| format!("a chunk that is not JSON ({e}): {data}"))?;
        if let Some(e) = v.get("error") {
            return Err(error_text(&json!({"error": e}).to_string()));
        }
        let mut out = Vec::new();
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            out.push(usage(u));
        }
        for choice in v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            message_events(choice.get("delta").unwrap_or(&Value::Null), &mut out);
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finished = true;
                out.push(StreamEvent::Stop(finish_reason(f)));
            }
        }
        Ok(out)
    }

    fn end(&mut self) -> Vec<StreamEvent> {
        match (self.done, self.finished) {
            (false, false) => Vec::new(),
            (true, false) => vec![StreamEvent::Stop(StopReason::EndTurn), StreamEvent::End],
            (_, true) => vec![StreamEvent::End],
        }
    }
}

/// A non-streaming `chat.completion`.
pub fn response_events(body: &Value) -> Result<Vec<StreamEvent>, String> {
    let choice = body
        .pointer("/choices/0")
        .ok_or("the response has no choices")?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut out = Vec::new();
    message_events(message, &mut out);
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    out.push(StreamEvent::Stop(finish_reason(finish)));
    out.extend(body.get("usage").map(usage));
    out.push(StreamEvent::End);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::assembler::TurnAssembler;

    #[test]
    fn tool_call_fragments_assemble_by_index_with_usage_from_the_last_chunk() {
        let mut d = ChunkDecoder::default();
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Calling"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"notes__add","arguments":""}},{"index":1,"id":"c2","function":{"name":"notes__now","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"t\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
            "[DONE]",
        ];
        let mut events: Vec<StreamEvent> = chunks
            .iter()
            .flat_map(|c| d.event("message", c).unwrap())
            .collect();
        events.extend(d.end());
        let r = TurnAssembler::assemble(events).unwrap();
        assert_eq!(r.message.text(), "Calling");
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
        let mut d = ChunkDecoder::default();
        let partial = d
            .event(
                "message",
                r#"{"choices":[{"delta":{"content":"partial"}}]}"#,
            )
            .unwrap();
        let e = d
            .event(
                "message",
                r#"{"error":{"type":"server_error","message":"boom"}}"#,
            )
            .unwrap_err();
        assert_eq!(e, "server_error: boom");
        let mut events = partial;
        events.extend(d.end());
        assert!(
            TurnAssembler::assemble(events).is_err(),
            "no finish, no [DONE]"
        );
    }

    #[test]
    fn a_plain_json_completion_is_read_too() {
        let events = response_events(&json!({
            "choices": [{"message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "now", "arguments": ""}}]},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 1}},
        }))
        .unwrap();
        let r = TurnAssembler::assemble(events).unwrap();
        assert_eq!(
            r.stop_reason,
            StopReason::ToolUse,
            "tool calls win over a `stop`"
        );
        assert_eq!(r.message.tool_uses().next().unwrap().input, json!({}));
        assert_eq!(r.usage.cache_read_tokens, 1);
    }
}

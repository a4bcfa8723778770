//! The one place a streamed (or decoded) answer becomes an assistant [`Message`]: blocks
//! accumulate by index, tool arguments are parsed once complete (`{}` when none arrived),
//! and a turn that never reached its end marker is reported as cut off.

use std::collections::BTreeMap;

use serde_json::Value;

use super::conversation::{
    ContentBlock, Message, Reasoning, Response, Role, StopReason, ToolUse, Usage,
};
use super::stream_event::{ReasoningDelta, StreamEvent, UsageReport};

/// Why a stream could not be assembled into a turn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyError {
    /// The stream ended before the provider's end-of-message marker.
    #[error("the stream ended before the end of the message (connection closed mid-answer)")]
    CutOff,
    /// The events contradict each other or carry unparseable tool arguments.
    #[error("{0}")]
    Malformed(String),
}

#[derive(Debug)]
enum Partial {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
    Reasoning(Reasoning),
}

#[derive(Debug, Default)]
pub struct TurnAssembler {
    blocks: BTreeMap<usize, Partial>,
    stop: Option<StopReason>,
    usage: Usage,
    ended: bool,
}

impl TurnAssembler {
    /// Applies one event.
    pub fn push(&mut self, event: StreamEvent) -> Result<(), AssemblyError> {
        match event {
            StreamEvent::Text { index, text } => {
                match self
                    .blocks
                    .entry(index)
                    .or_insert_with(|| Partial::Text(String::new()))
                {
                    Partial::Text(t) => t.push_str(&text),
                    other => return Err(mismatch("text", index, other)),
                }
            }
            StreamEvent::Reasoning { index, delta } => {
                let entry = self.blocks.entry(index).or_insert_with(|| {
                    Partial::Reasoning(Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: None,
                    })
                });
                let Partial::Reasoning(r) = entry else {
                    return Err(mismatch("reasoning", index, entry));
                };
                match delta {
                    ReasoningDelta::Text(t) => r.text.push_str(&t),
                    ReasoningDelta::Signature(s) => {
                        r.signature.get_or_insert_with(String::new).push_str(&s)
                    }
                    ReasoningDelta::Redacted(b) => r
                        .redacted
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&b),
                }
            }
            StreamEvent::ToolStart { index, id, name } => {
                match self
                    .blocks
                    .entry(index)
                    .or_insert_with(|| Partial::ToolUse {
                        id: String::new(),
                        name: String::new(),
                        json: String::new(),
                    }) {
                    Partial::ToolUse {
                        id: have_id,
                        name: have_name,
                        ..
                    } => {
                        if !id.is_empty() {
                            *have_id = id;
                        }
                        have_name.push_str(&name);
                    }
                    other => return Err(mismatch("tool start", index, other)),
                }
            }
            StreamEvent::ToolInput { index, json } => match self.blocks.get_mut(&index) {
                Some(Partial::ToolUse { json: have, .. }) => have.push_str(&json),
                _ => {
                    return Err(AssemblyError::Malformed(format!(
                        "tool input for block {index} without a tool start"
                    )));
                }
            },
            StreamEvent::BlockStop { .. } => {}
            StreamEvent::Usage(report) => self.add_usage(report),
            StreamEvent::Stop(reason) => self.stop = Some(reason),
            StreamEvent::End => self.ended = true,
        }
        Ok(())
    }

    fn add_usage(&mut self, r: UsageReport) {
        let set = |slot: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut self.usage.input_tokens, r.input_tokens);
        set(&mut self.usage.output_tokens, r.output_tokens);
        set(&mut self.usage.cache_read_tokens, r.cache_read_tokens);
        set(&mut self.usage.cache_write_tokens, r.cache_write_tokens);
    }

    /// The complete turn.
    pub fn finish(self) -> Result<Response, AssemblyError> {
        if !self.ended {
            return Err(AssemblyError::CutOff);
        }
        let mut content = Vec::with_capacity(self.blocks.len());
        for (index, partial) in self.blocks {
            content.push(match partial {
                Partial::Text(t) if t.is_empty() => continue,
                Partial::Text(t) => ContentBlock::Text(t),
                Partial::ToolUse { id, name, json } => {
                    let input = if json.trim().is_empty() {
                        Value::Object(Default::default()) // a tool without arguments
                    } else {
                        serde_json::from_str(&json).map_err(|e| {
                            AssemblyError::Malformed(format!(
                                "the arguments for tool '{name}' are not valid JSON ({e}): {json}"
                            ))
                        })?
                    };
                    let id = if id.is_empty() {
                        format!("call_{index}")
                    } else {
                        id
                    };
                    ContentBlock::ToolUse(ToolUse { id, name, input })
                }
                Partial::Reasoning(r) => ContentBlock::Reasoning(r),
            });
        }
        let calls_tools = content
            .iter()
            .any(|c| matches!(c, ContentBlock::ToolUse(_)));
        let stop_reason = match self.stop {
            // Some servers say "stop" even when the turn calls tools.
            Some(StopReason::EndTurn) | None if calls_tools => StopReason::ToolUse,
            Some(r) => r,
            None => StopReason::Other,
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

    /// Assembles a whole answer already decoded into events (a non-streaming response).
    pub fn assemble(
        events: impl IntoIterator<Item = StreamEvent>,
    ) -> Result<Response, AssemblyError> {
        let mut a = TurnAssembler::default();
        for e in events {
            a.push(e)?;
        }
        a.finish()
    }
}

fn mismatch(what: &str, index: usize, block: &Partial) -> AssemblyError {
    let kind = match block {
        Partial::Text(_) => "text",
        Partial::ToolUse { .. } => "a tool call",
        Partial::Reasoning(_) => "reasoning",
    };
    AssemblyError::Malformed(format!("{what} for block {index}, which is {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(index: usize, t: &str) -> StreamEvent {
        StreamEvent::Text {
            index,
            text: t.into(),
        }
    }

    fn tool(index: usize, id: &str, name: &str) -> StreamEvent {
        StreamEvent::ToolStart {
            index,
            id: id.into(),
            name: name.into(),
        }
    }

    fn input(index: usize, json: &str) -> StreamEvent {
        StreamEvent::ToolInput {
            index,
            json: json.into(),
        }
    }

    #[test]
    fn blocks_accumulate_by_index_and_empty_tool_input_is_an_empty_object() {
        let r = TurnAssembler::assemble([
            StreamEvent::Reasoning {
                index: 0,
                delta: ReasoningDelta::Text("hm".into()),
            },
            StreamEvent::Reasoning {
                index: 0,
                delta: ReasoningDelta::Signature("sig".into()),
            },
            text(1, "Calling "),
            tool(2, "t1", "notes__add"),
            tool(3, "", "notes__now"),
            text(1, "tools."),
            input(2, "{\"x\":"),
            input(2, " 1}"),
            StreamEvent::Usage(UsageReport {
                input_tokens: Some(5),
                ..Default::default()
            }),
            StreamEvent::Usage(UsageReport {
                output_tokens: Some(9),
                ..Default::default()
            }),
            StreamEvent::Stop(StopReason::EndTurn),
            StreamEvent::End,
        ])
        .unwrap();
        assert_eq!(
            r.stop_reason,
            StopReason::ToolUse,
            "tools win over end_turn"
        );
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (5, 9));
        assert_eq!(
            r.message.content,
            vec![
                ContentBlock::Reasoning(Reasoning {
                    text: "hm".into(),
                    signature: Some("sig".into()),
                    redacted: None
                }),
                ContentBlock::Text("Calling tools.".into()),
                ContentBlock::ToolUse(ToolUse {
                    id: "t1".into(),
                    name: "notes__add".into(),
                    input: json!({"x": 1})
                }),
                ContentBlock::ToolUse(ToolUse {
                    id: "call_3".into(),
                    name: "notes__now".into(),
                    input: json!({})
                }),
            ]
        );
    }

    #[test]
    fn cut_off_and_malformed_streams_are_errors() {
        assert_eq!(
            TurnAssembler::assemble([text(0, "partial")]).unwrap_err(),
            AssemblyError::CutOff
        );
        assert!(matches!(
            TurnAssembler::assemble([input(0, "{}")]),
            Err(AssemblyError::Malformed(_))
        ));
        let bad = TurnAssembler::assemble([tool(0, "t", "x"), input(0, "{not"), StreamEvent::End]);
        assert!(matches!(bad, Err(AssemblyError::Malformed(m)) if m.contains("not valid JSON")));
        assert!(matches!(
            TurnAssembler::assemble([tool(0, "t", "x"), text(0, "hi")]),
            Err(AssemblyError::Malformed(_))
        ));
    }
}

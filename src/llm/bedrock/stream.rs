//! ConverseStream: assembling the event stream into one [`Response`] and forwarding text
//! deltas as they arrive.
//!
//! Blocks are keyed by `contentBlockIndex`, so several tool calls in one turn, tool input
//! split over many deltas and reasoning text/signature deltas all land in the right block.
//! A tool whose input arrived as no deltas at all took no arguments: its input is `{}`.

use std::collections::BTreeMap;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;

use super::*;

/// One content block while its deltas arrive.
#[derive(Debug)]
enum Partial {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: String,
    },
    Reasoning {
        text: String,
        signature: Option<String>,
        redacted: Option<Vec<u8>>,
    },
}

/// Collects ConverseStream events into a complete assistant turn.
#[derive(Debug, Default)]
pub(super) struct StreamAssembler {
    blocks: BTreeMap<i32, Partial>,
    stop_reason: Option<bt::StopReason>,
    usage: Usage,
    pub latency_ms: Option<i64>,
    /// Guardrail / prompt-router trace from the `metadata` event, for logging.
    pub trace: Option<String>,
}

fn protocol_error(what: impl std::fmt::Display) -> LlmError {
    LlmError::Service {
        message: format!("the ConverseStream response was malformed: {what}; retry the call"),
    }
}

impl StreamAssembler {
    /// Applies one event. Text deltas are also sent to `sink`.
    pub fn push(
        &mut self,
        event: bt::ConverseStreamOutput,
        sink: Option<&TextSink>,
    ) -> Result<(), LlmError> {
        match event {
            bt::ConverseStreamOutput::MessageStart(_) => {}
            bt::ConverseStreamOutput::ContentBlockStart(start) => {
                if let Some(bt::ContentBlockStart::ToolUse(tool)) = start.start {
                    self.blocks.insert(
                        start.content_block_index,
                        Partial::ToolUse {
                            id: tool.tool_use_id,
                            name: tool.name,
                            input: String::new(),
                        },
                    );
                }
            }
            bt::ConverseStreamOutput::ContentBlockDelta(delta) => {
                let index = delta.content_block_index;
                match delta.delta {
                    Some(bt::ContentBlockDelta::Text(text)) => {
                        match self
                            .blocks
                            .entry(index)
                            .or_insert_with(|| Partial::Text(String::new()))
                        {
                            Partial::Text(t) => t.push_str(&text),
                            other => {
                                return Err(protocol_error(format!(
                                    "text delta for block {index}, which is {other:?}"
                                )));
                            }
                        }
                        if let Some(sink) = sink
                            && !text.is_empty()
                        {
                            let _ = sink.send(text);
                        }
                    }
                    Some(bt::ContentBlockDelta::ToolUse(d)) => match self.blocks.get_mut(&index) {
                        Some(Partial::ToolUse { input, .. }) => input.push_str(&d.input),
                        _ => {
                            return Err(protocol_error(format!(
                                "tool input delta for block {index} without a toolUse start"
                            )));
                        }
                    },
                    Some(bt::ContentBlockDelta::ReasoningContent(r)) => {
                        let entry = self.blocks.entry(index).or_insert(Partial::Reasoning {
                            text: String::new(),
                            signature: None,
                            redacted: None,
                        });
                        let Partial::Reasoning {
                            text,
                            signature,
                            redacted,
                        } = entry
                        else {
                            return Err(protocol_error(format!(
                                "reasoning delta for block {index}, which is not reasoning"
                            )));
                        };
                        match r {
                            bt::ReasoningContentBlockDelta::Text(t) => text.push_str(&t),
                            bt::ReasoningContentBlockDelta::Signature(s) => {
                                signature.get_or_insert_with(String::new).push_str(&s)
                            }
                            bt::ReasoningContentBlockDelta::RedactedContent(b) => redacted
                                .get_or_insert_with(Vec::new)
                                .extend_from_slice(b.as_ref()),
                            _ => {}
                        }
                    }
                    // Citations, images and tool-result deltas have no neutral form yet.
                    _ => {}
                }
            }
            bt::ConverseStreamOutput::ContentBlockStop(_) => {}
            bt::ConverseStreamOutput::MessageStop(stop) => {
                self.stop_reason = Some(stop.stop_reason)
            }
            bt::ConverseStreamOutput::Metadata(meta) => {
                if let Some(u) = meta.usage {
                    self.usage = Usage {
                        input_tokens: u.input_tokens.max(0) as u64,
                        output_tokens: u.output_tokens.max(0) as u64,
                        cache_read_tokens: u.cache_read_input_tokens.unwrap_or(0).max(0) as u64,
                        cache_write_tokens: u.cache_write_input_tokens.unwrap_or(0).max(0) as u64,
                    };
                }
                self.latency_ms = meta.metrics.map(|m| m.latency_ms);
                self.trace = meta.trace.map(|t| format!("{t:?}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// The complete turn; an error when the stream ended before `messageStop`.
    pub fn finish(self) -> Result<Response, LlmError> {
        let Some(stop) = self.stop_reason else {
            return Err(LlmError::Service {
                message: "the ConverseStream response ended before messageStop (connection closed mid-answer); retry the call".into(),
            });
        };
        let mut content = Vec::with_capacity(self.blocks.len());
        for partial in self.blocks.into_values() {
            content.push(match partial {
                Partial::Text(t) if t.is_empty() => continue,
                Partial::Text(t) => ContentBlock::Text(t),
                Partial::ToolUse { id, name, input } => {
                    let input = if input.trim().is_empty() {
                        Value::Object(Default::default())
                    } else {
                        serde_json::from_str(&input).map_err(|e| {
                            protocol_error(format!("tool '{name}' input is not JSON ({e})"))
                        })?
                    };
                    ContentBlock::ToolUse(ToolUse { id, name, input })
                }
                Partial::Reasoning {
                    text,
                    signature,
                    redacted,
                } => ContentBlock::Reasoning(Reasoning {
                    text,
                    signature,
                    redacted,
                }),
            });
        }
        Ok(Response {
            message: Message {
                role: Role::Assistant,
                content,
            },
            stop_reason: translate::stop_reason(&stop),
            usage: self.usage,
        })
    }
}

/// A failure reported inside the stream (after HTTP 200) as a clear error, and whether
/// retrying the call may help (everything but a validation error).
pub(super) fn mid_stream_error(
    err: SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>,
    endpoint: &str,
) -> (LlmError, bool) {
    let Some(service) = err.as_service_error() else {
        let e = LlmError::Transport {
            endpoint: endpoint.to_string(),
            message: format!("the answer stream broke off: {}", DisplayErrorContext(&err)),
        };
        return (e, true);
    };
    let retryable = !matches!(service, ConverseStreamOutputError::ValidationException(_));
    let message = service.message().unwrap_or("no message").to_string();
    let error = match service {
        ConverseStreamOutputError::ThrottlingException(_) => LlmError::Throttled {
            attempts: 1,
            message: format!("{message} (mid-stream)"),
        },
        ConverseStreamOutputError::ValidationException(_) => LlmError::Validation { message },
        ConverseStreamOutputError::ModelStreamErrorException(_) => LlmError::Service {
            message: format!(
                "the answer stream broke off: the model failed while streaming its answer: {message}; retry the call"
            ),
        },
        other => LlmError::Service {
            message: format!(
                "the answer stream broke off: {message} ({}); retry the call",
                other.code().unwrap_or("unknown")
            ),
        },
    };
    (error, retryable)
}

/// Whether a ValidationException says this model cannot stream when tools are offered.
pub(super) fn rejects_streaming_with_tools(err: &LlmError) -> bool {
    let LlmError::Validation { message } = err else {
        return false;
    };
    let m = message.to_lowercase();
    m.contains("stream") && m.contains("tool")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_tool(index: i32, id: &str, name: &str) -> bt::ConverseStreamOutput {
        bt::ConverseStreamOutput::ContentBlockStart(
            bt::ContentBlockStartEvent::builder()
                .content_block_index(index)
                .start(bt::ContentBlockStart::ToolUse(
                    bt::ToolUseBlockStart::builder()
                        .tool_use_id(id)
                        .name(name)
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        )
    }

    fn delta(index: i32, d: bt::ContentBlockDelta) -> bt::ConverseStreamOutput {
        bt::ConverseStreamOutput::ContentBlockDelta(
            bt::ContentBlockDeltaEvent::builder()
                .content_block_index(index)
                .delta(d)
                .build()
                .unwrap(),
        )
    }

    fn input(index: i32, s: &str) -> bt::ConverseStreamOutput {
        delta(
            index,
            bt::ContentBlockDelta::ToolUse(
                bt::ToolUseBlockDelta::builder().input(s).build().unwrap(),
            ),
        )
    }

    fn stop(reason: bt::StopReason) -> bt::ConverseStreamOutput {
        bt::ConverseStreamOutput::MessageStop(
            bt::MessageStopEvent::builder()
                .stop_reason(reason)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn assembles_reasoning_text_and_two_tool_calls_with_split_and_empty_input() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut a = StreamAssembler::default();
        let events = vec![
            delta(
                0,
                bt::ContentBlockDelta::ReasoningContent(bt::ReasoningContentBlockDelta::Text(
                    "Let me ".into(),
                )),
            ),
            delta(
                0,
                bt::ContentBlockDelta::ReasoningContent(bt::ReasoningContentBlockDelta::Text(
                    "think.".into(),
                )),
            ),
            delta(
                0,
                bt::ContentBlockDelta::ReasoningContent(bt::ReasoningContentBlockDelta::Signature(
                    "sig-1".into(),
                )),
            ),
            delta(1, bt::ContentBlockDelta::Text("Calling ".into())),
            delta(1, bt::ContentBlockDelta::Text("tools.".into())),
            start_tool(2, "t1", "notes__add_note"),
            input(2, "{\"te"),
            input(2, "xt\": \"a"),
            input(2, "b\"}"),
            start_tool(3, "t2", "notes__now"),
            stop(bt::StopReason::ToolUse),
            bt::ConverseStreamOutput::Metadata(
                bt::ConverseStreamMetadataEvent::builder()
                    .usage(
                        bt::TokenUsage::builder()
                            .input_tokens(10)
                            .output_tokens(5)
                            .total_tokens(15)
                            .cache_read_input_tokens(7)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ),
        ];
        for e in events {
            a.push(e, Some(&tx)).unwrap();
        }
        let r = a.finish().unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(r.usage.cache_read_tokens, 7);
        assert_eq!(
            r.message.content,
            vec![
                ContentBlock::Reasoning(Reasoning {
                    text: "Let me think.".into(),
                    signature: Some("sig-1".into()),
                    redacted: None
                }),
                ContentBlock::Text("Calling tools.".into()),
                ContentBlock::ToolUse(ToolUse {
                    id: "t1".into(),
                    name: "notes__add_note".into(),
                    input: serde_json::json!({"text": "ab"})
                }),
                ContentBlock::ToolUse(ToolUse {
                    id: "t2".into(),
                    name: "notes__now".into(),
                    input: serde_json::json!({})
                }),
            ]
        );
        drop(tx);
        let mut forwarded = Vec::new();
        while let Ok(t) = rx.try_recv() {
            forwarded.push(t);
        }
        assert_eq!(
            forwarded,
            vec!["Calling ", "tools."],
            "only text is forwarded"
        );
    }

    #[test]
    fn truncated_streams_and_bad_deltas_are_errors() {
        let mut a = StreamAssembler::default();
        a.push(
            delta(0, bt::ContentBlockDelta::Text("partial".into())),
            None,
        )
        .unwrap();
        assert!(
            a.finish()
                .unwrap_err()
                .to_string()
                .contains("before messageStop")
        );

        let mut a = StreamAssembler::default();
        assert!(
            a.push(input(0, "{}"), None).is_err(),
            "input without a start"
        );

        let mut a = StreamAssembler::default();
        a.push(start_tool(0, "t", "x"), None).unwrap();
        a.push(input(0, "{not json"), None).unwrap();
        a.push(stop(bt::StopReason::ToolUse), None).unwrap();
        assert!(a.finish().unwrap_err().to_string().contains("not JSON"));
    }

    #[test]
    fn recognises_the_streaming_with_tools_rejection() {
        assert!(rejects_streaming_with_tools(&LlmError::Validation {
            message: "This model doesn't support tool use in streaming mode.".into()
        }));
        assert!(!rejects_streaming_with_tools(&LlmError::Validation {
            message: "messages.0: blank text".into()
        }));
    }
}

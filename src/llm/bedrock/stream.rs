//! ConverseStream events → neutral [`StreamEvent`]s for the shared assembler, and the
//! failures Bedrock reports inside a stream (after HTTP 200) as errors of the one taxonomy.

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;

use super::*;
use crate::llm::stream_event::{ReasoningDelta, StreamEvent, UsageReport};

/// Decodes one ConverseStream. Keeps the stop reason so a guardrail intervention can be
/// logged with the trace that arrives after it in the `metadata` event.
#[derive(Debug)]
pub(super) struct ConverseStreamDecoder {
    pub model_id: String,
    pub guardrail: Option<String>,
    stop: Option<StopReason>,
}

impl ConverseStreamDecoder {
    pub fn new(model_id: &str, guardrail: Option<String>) -> Self {
        ConverseStreamDecoder {
            model_id: model_id.to_string(),
            guardrail,
            stop: None,
        }
    }

    pub fn decode(&mut self, event: bt::ConverseStreamOutput) -> Vec<StreamEvent> {
        let index = |i: i32| i.max(0) as usize;
        match event {
            bt::ConverseStreamOutput::ContentBlockStart(start) => match start.start {
                Some(bt::ContentBlockStart::ToolUse(tool)) => vec![StreamEvent::ToolStart {
                    index: index(start.content_block_index),
                    id: tool.tool_use_id,
                    name: tool.name,
                }],
                _ => Vec::new(),
            },
            bt::ConverseStreamOutput::ContentBlockDelta(delta) => {
                let index = index(delta.content_block_index);
                let reasoning = |delta| vec![StreamEvent::Reasoning { index, delta }];
                match delta.delta {
                    Some(bt::ContentBlockDelta::Text(text)) => {
                        vec![StreamEvent::Text { index, text }]
                    }
                    Some(bt::ContentBlockDelta::ToolUse(d)) => vec![StreamEvent::ToolInput {
                        index,
                        json: d.input,
                    }],
                    Some(bt::ContentBlockDelta::ReasoningContent(r)) => match r {
                        bt::ReasoningContentBlockDelta::Text(t) => {
                            reasoning(ReasoningDelta::Text(t))
                        }
                        bt::ReasoningContentBlockDelta::Signature(s) => {
                            reasoning(ReasoningDelta::Signature(s))
                        }
                        bt::ReasoningContentBlockDelta::RedactedContent(b) => {
                            reasoning(ReasoningDelta::Redacted(b.into_inner()))
                        }
                        _ => Vec::new(),
                    },
                    // Citations, images and tool-result deltas have no neutral form yet.
                    _ => Vec::new(),
                }
            }
            bt::ConverseStreamOutput::ContentBlockStop(stop) => vec![StreamEvent::BlockStop {
                index: index(stop.content_block_index),
            }],
            bt::ConverseStreamOutput::MessageStop(stop) => {
                let reason = translate::stop_reason(&stop.stop_reason);
                self.stop = Some(reason);
                vec![StreamEvent::Stop(reason), StreamEvent::End]
            }
            bt::ConverseStreamOutput::Metadata(meta) => {
                let trace = meta.trace.map(|t| format!("{t:?}"));
                if let Some(stop) = self.stop {
                    warn_if_blocked(
                        &self.model_id,
                        stop,
                        self.guardrail.as_deref(),
                        trace.as_deref(),
                    );
                }
                meta.usage
                    .map(|u| {
                        let n = |v: i32| Some(v.max(0) as u64);
                        StreamEvent::Usage(UsageReport {
                            input_tokens: n(u.input_tokens),
                            output_tokens: n(u.output_tokens),
                            cache_read_tokens: n(u.cache_read_input_tokens.unwrap_or(0)),
                            cache_write_tokens: n(u.cache_write_input_tokens.unwrap_or(0)),
                        })
                    })
                    .into_iter()
                    .collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Logs an answer a guardrail or content filter blocked, with the guardrail's trace.
pub(super) fn warn_if_blocked(
    model_id: &str,
    stop: StopReason,
    guardrail: Option<&str>,
    trace: Option<&str>,
) {
    if matches!(
        stop,
        StopReason::GuardrailIntervened | StopReason::ContentFiltered
    ) {
        tracing::warn!(
            model = %model_id,
            stop_reason = ?stop,
            guardrail = ?guardrail,
            trace = trace.unwrap_or("(no trace; set bedrock.guardrail.trace: enabled)"),
            "the answer was blocked by a guardrail or content filter"
        );
    }
}

/// A failure reported inside the stream (after HTTP 200) as an error of the taxonomy; the
/// runtime retries the transient ones once (everything but a validation error).
pub(super) fn mid_stream_error(
    err: SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>,
) -> LlmError {
    let Some(service) = err.as_service_error() else {
        return LlmError::stream_broke_off(DisplayErrorContext(&err));
    };
    let message = service.message().unwrap_or("no message").to_string();
    match service {
        ConverseStreamOutputError::ThrottlingException(_) => {
            errors::throttled(1, &format!("{message} (mid-stream)"))
        }
        ConverseStreamOutputError::ValidationException(_) => LlmError::new(
            ErrorKind::InvalidRequest,
            format!("request rejected: {message}"),
        ),
        ConverseStreamOutputError::ModelStreamErrorException(_) => LlmError::stream_broke_off(
            format!("the model failed while streaming its answer: {message}"),
        ),
        other => {
            LlmError::stream_broke_off(format!("{message} ({})", other.code().unwrap_or("unknown")))
        }
    }
}

/// Whether a ValidationException says this model cannot stream when tools are offered.
pub(super) fn rejects_streaming_with_tools(err: &LlmError) -> bool {
    let m = err.message.to_lowercase();
    err.kind == ErrorKind::InvalidRequest && m.contains("stream") && m.contains("tool")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::assembler::{AssemblyError, TurnAssembler};

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

    /// 10 tokens in, 5 out, and the cache reads given.
    fn usage(cache_read: Option<i32>) -> bt::ConverseStreamOutput {
        bt::ConverseStreamOutput::Metadata(
            bt::ConverseStreamMetadataEvent::builder()
                .usage(
                    bt::TokenUsage::builder()
                        .input_tokens(10)
                        .output_tokens(5)
                        .total_tokens(15)
                        .set_cache_read_input_tokens(cache_read)
                        .build()
                        .unwrap(),
                )
                .build(),
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

    fn assemble(events: Vec<bt::ConverseStreamOutput>) -> Result<Response, AssemblyError> {
        let mut d = ConverseStreamDecoder::new("m", None);
        TurnAssembler::assemble(events.into_iter().flat_map(|e| d.decode(e)))
    }

    #[test]
    fn assembles_reasoning_text_and_two_tool_calls_with_split_and_empty_input() {
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
            usage(Some(7)),
        ];
        let r = assemble(events).unwrap();
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
    }

    #[test]
    fn truncated_streams_and_bad_deltas_are_errors() {
        let cut = assemble(vec![delta(
            0,
            bt::ContentBlockDelta::Text("partial".into()),
        )]);
        assert_eq!(cut.unwrap_err(), AssemblyError::CutOff, "no messageStop");
        assert!(
            matches!(
                assemble(vec![input(0, "{}")]),
                Err(AssemblyError::Malformed(_))
            ),
            "input without a start"
        );
        let bad = assemble(vec![
            start_tool(0, "t", "x"),
            input(0, "{not json"),
            stop(bt::StopReason::ToolUse),
        ]);
        assert!(bad.unwrap_err().to_string().contains("not valid JSON"));
    }

    #[test]
    fn recognises_the_streaming_with_tools_rejection() {
        let rejected = |m: &str| LlmError::new(ErrorKind::InvalidRequest, m);
        assert!(rejects_streaming_with_tools(&rejected(
            "This model doesn't support tool use in streaming mode."
        )));
        assert!(!rejects_streaming_with_tools(&rejected(
            "messages.0: blank text"
        )));
    }

    /// One turn (text, a tool call with split arguments, one without) as each provider's
    /// wire sends it: the shared assembler makes the same message of all three.
    #[test]
    fn every_provider_stream_assembles_to_the_same_turn() {
        use crate::llm::anthropic::MessagesDecoder;
        use crate::llm::http::SseDecoder;
        use crate::llm::openai::ChunkDecoder;

        let bedrock = assemble(vec![
            delta(0, bt::ContentBlockDelta::Text("Calling ".into())),
            delta(0, bt::ContentBlockDelta::Text("tools.".into())),
            start_tool(1, "t1", "notes__add_note"),
            input(1, "{\"text\":"),
            input(1, " \"ab\"}"),
            start_tool(2, "t2", "notes__now"),
            stop(bt::StopReason::ToolUse),
            usage(None),
        ])
        .unwrap();

        let sse = |decoder: &mut dyn SseDecoder, events: &[&str]| {
            let mut out: Vec<StreamEvent> = events
                .iter()
                .flat_map(|e| decoder.event("message", e).unwrap())
                .collect();
            out.extend(decoder.end());
            TurnAssembler::assemble(out).unwrap()
        };
        let anthropic = sse(
            &mut MessagesDecoder,
            &[
                r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}"#,
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Calling "}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"tools."}}"#,
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"notes__add_note","input":{}}}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"text\":"}}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"ab\"}"}}"#,
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"notes__now","input":{}}}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}"#,
                r#"{"type":"message_stop"}"#,
            ],
        );
        let openai = sse(
            &mut ChunkDecoder::default(),
            &[
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Calling "}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"tools."}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","function":{"name":"notes__add_note","arguments":"{\"text\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \"ab\"}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"t2","function":{"name":"notes__now","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#,
                "[DONE]",
            ],
        );
        for other in [&anthropic, &openai] {
            assert_eq!(other.message, bedrock.message);
            assert_eq!(other.stop_reason, bedrock.stop_reason);
            assert_eq!(other.usage, bedrock.usage);
        }
        assert_eq!(bedrock.stop_reason, StopReason::ToolUse);
        assert_eq!(bedrock.message.text(), "Calling tools.");
    }
}

//! Neutral conversation types to and from Converse types.

use super::*;
/// Named apart from Smithy's `Document` (JSON values), which this file also uses.
use crate::llm::conversation::{Document as FileDocument, DocumentFormat};

pub(super) fn build_err(e: impl std::fmt::Display) -> LlmError {
    LlmError::new(
        ErrorKind::InvalidRequest,
        format!("request rejected: could not build the Converse request: {e}"),
    )
}

pub(super) fn to_bedrock_message(m: &Message) -> Result<bt::Message, LlmError> {
    let role = match m.role {
        Role::User => bt::ConversationRole::User,
        Role::Assistant => bt::ConversationRole::Assistant,
    };
    let content = m
        .content
        .iter()
        .map(to_bedrock_block)
        .collect::<Result<Vec<_>, _>>()?;
    bt::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(build_err)
}

pub(super) fn to_bedrock_block(b: &ContentBlock) -> Result<bt::ContentBlock, LlmError> {
    Ok(match b {
        ContentBlock::Text(t) => bt::ContentBlock::Text(t.clone()),
        ContentBlock::Image(img) => bt::ContentBlock::Image(to_bedrock_image(img)?),
        ContentBlock::Document(doc) => bt::ContentBlock::Document(to_bedrock_document(doc)?),
        ContentBlock::ToolUse(u) => bt::ContentBlock::ToolUse(
            bt::ToolUseBlock::builder()
                .tool_use_id(&u.id)
                .name(&u.name)
                .input(json_to_document(&u.input))
                .build()
                .map_err(build_err)?,
        ),
        ContentBlock::ToolResult(r) => {
            let content = r
                .content
                .iter()
                .map(|c| {
                    Ok(match c {
                        ToolResultContent::Text(t) => bt::ToolResultContentBlock::Text(t.clone()),
                        ToolResultContent::Json(v) => {
                            bt::ToolResultContentBlock::Json(json_to_document(v))
                        }
                        ToolResultContent::Image(img) => {
                            bt::ToolResultContentBlock::Image(to_bedrock_image(img)?)
                        }
                        ToolResultContent::Document(doc) => {
                            bt::ToolResultContentBlock::Document(to_bedrock_document(doc)?)
                        }
                    })
                })
                .collect::<Result<Vec<_>, LlmError>>()?;
            bt::ContentBlock::ToolResult(
                bt::ToolResultBlock::builder()
                    .tool_use_id(&r.tool_use_id)
                    .set_content(Some(content))
                    .status(if r.is_error {
                        bt::ToolResultStatus::Error
                    } else {
                        bt::ToolResultStatus::Success
                    })
                    .build()
                    .map_err(build_err)?,
            )
        }
        ContentBlock::Reasoning(r) => bt::ContentBlock::ReasoningContent(match &r.redacted {
            Some(bytes) => bt::ReasoningContentBlock::RedactedContent(Blob::new(bytes.clone())),
            None => bt::ReasoningContentBlock::ReasoningText(
                bt::ReasoningTextBlock::builder()
                    .text(&r.text)
                    .set_signature(r.signature.clone())
                    .build()
                    .map_err(build_err)?,
            ),
        }),
    })
}

pub(super) fn to_bedrock_image(img: &Image) -> Result<bt::ImageBlock, LlmError> {
    let format = match img.mime_type.as_str() {
        "image/png" => bt::ImageFormat::Png,
        "image/jpeg" | "image/jpg" => bt::ImageFormat::Jpeg,
        "image/gif" => bt::ImageFormat::Gif,
        "image/webp" => bt::ImageFormat::Webp,
        other => {
            return Err(LlmError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "request rejected: image type {other} is not accepted by Bedrock (png, jpeg, gif, webp)"
                ),
            ));
        }
    };
    bt::ImageBlock::builder()
        .format(format)
        .source(bt::ImageSource::Bytes(Blob::new(img.data.clone())))
        .build()
        .map_err(build_err)
}

pub(super) fn to_bedrock_document(doc: &FileDocument) -> Result<bt::DocumentBlock, LlmError> {
    // Converse names its formats as Pallas does.
    bt::DocumentBlock::builder()
        .format(bt::DocumentFormat::from(doc.format.as_str()))
        .name(&doc.name)
        .source(bt::DocumentSource::Bytes(Blob::new(doc.data.clone())))
        .build()
        .map_err(build_err)
}

/// Bedrock rejects a history holding tool blocks without a `toolConfig`, which happens when
/// every downstream server has gone away mid-conversation; a placeholder tool keeps it valid.
pub(super) fn tool_config(request: &Request) -> Result<Option<bt::ToolConfiguration>, LlmError> {
    let history_has_tools = request.messages.iter().any(|m| {
        m.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)))
    });
    let mut tools = request
        .tools
        .iter()
        .map(|t| {
            bt::ToolSpecification::builder()
                .name(&t.name)
                .description(&t.description)
                .input_schema(bt::ToolInputSchema::Json(json_to_document(&t.input_schema)))
                .build()
                .map(bt::Tool::ToolSpec)
                .map_err(build_err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if tools.is_empty() {
        if !history_has_tools {
            return Ok(None);
        }
        tools.push(bt::Tool::ToolSpec(
            bt::ToolSpecification::builder()
                .name("no_tools_available")
                .description("Placeholder: no tools are available right now. Do not call it.")
                .input_schema(bt::ToolInputSchema::Json(json_to_document(
                    &serde_json::json!({"type": "object", "properties": {}}),
                )))
                .build()
                .map_err(build_err)?,
        ));
    }
    bt::ToolConfiguration::builder()
        .set_tools(Some(tools))
        .build()
        .map(Some)
        .map_err(build_err)
}

// ---- translation: Converse → neutral --------------------------------------------------

pub(super) fn from_bedrock_output(output: ConverseOutput) -> Result<Response, LlmError> {
    let usage = output
        .usage()
        .map(|u| Usage {
            input_tokens: u.input_tokens().max(0) as u64,
            output_tokens: u.output_tokens().max(0) as u64,
            cache_read_tokens: u.cache_read_input_tokens().unwrap_or(0).max(0) as u64,
            cache_write_tokens: u.cache_write_input_tokens().unwrap_or(0).max(0) as u64,
        })
        .unwrap_or_default();
    let stop_reason = stop_reason(output.stop_reason());
    let Some(bt::ConverseOutput::Message(message)) = output.output else {
        return Err(
            LlmError::new(ErrorKind::Protocol, "Converse returned no message")
                .with_advice("retry the call"),
        );
    };
    let content = message
        .content
        .into_iter()
        .filter_map(from_bedrock_block)
        .collect();
    Ok(Response {
        message: Message {
            role: Role::Assistant,
            content,
        },
        stop_reason,
        usage,
    })
}

pub(super) fn stop_reason(reason: &bt::StopReason) -> StopReason {
    match reason {
        bt::StopReason::EndTurn => StopReason::EndTurn,
        bt::StopReason::ToolUse => StopReason::ToolUse,
        bt::StopReason::MaxTokens => StopReason::MaxTokens,
        bt::StopReason::StopSequence => StopReason::StopSequence,
        bt::StopReason::GuardrailIntervened => StopReason::GuardrailIntervened,
        bt::StopReason::ContentFiltered => StopReason::ContentFiltered,
        bt::StopReason::ModelContextWindowExceeded => StopReason::ContextWindowExceeded,
        _ => StopReason::Other,
    }
}

pub(super) fn from_bedrock_block(b: bt::ContentBlock) -> Option<ContentBlock> {
    Some(match b {
        bt::ContentBlock::Text(t) => ContentBlock::Text(t),
        bt::ContentBlock::ToolUse(u) => ContentBlock::ToolUse(ToolUse {
            id: u.tool_use_id,
            name: u.name,
            input: document_to_json(&u.input),
        }),
        bt::ContentBlock::ReasoningContent(r) => ContentBlock::Reasoning(match r {
            bt::ReasoningContentBlock::ReasoningText(t) => Reasoning {
                text: t.text,
                signature: t.signature,
                redacted: None,
            },
            bt::ReasoningContentBlock::RedactedContent(blob) => Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some(blob.into_inner()),
            },
            _ => return None,
        }),
        bt::ContentBlock::Image(img) => {
            let bt::ImageSource::Bytes(blob) = img.source? else {
                return None;
            };
            ContentBlock::Image(Image {
                mime_type: format!("image/{}", img.format.as_str()),
                data: blob.into_inner(),
            })
        }
        bt::ContentBlock::Document(doc) => {
            let bt::DocumentSource::Bytes(blob) = doc.source? else {
                return None;
            };
            ContentBlock::Document(FileDocument {
                format: DocumentFormat::from_name(doc.format.as_str())?,
                name: doc.name,
                data: blob.into_inner(),
            })
        }
        // Assistant turns carry no tool results; other blocks have no neutral form yet.
        _ => return None,
    })
}

// ---- JSON ↔ Smithy Document ------------------------------------------------------------

pub fn json_to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(json_to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

pub fn document_to_json(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(document_to_json).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), document_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_document_round_trip_keeps_types() {
        let v = serde_json::json!({"a": [1, -2, 2.5, "x", true, null], "b": {"c": {}}});
        assert_eq!(document_to_json(&json_to_document(&v)), v);
    }

    #[test]
    fn history_with_tool_blocks_but_no_tools_gets_a_placeholder_tool() {
        let request = Request {
            system: String::new(),
            messages: vec![Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse(ToolUse {
                    id: "t1".into(),
                    name: "gone__tool".into(),
                    input: serde_json::json!({}),
                })],
            }],
            tools: vec![],
            max_tokens: 100,
            options: Default::default(),
        };
        let config = tool_config(&request).unwrap().expect("a tool config");
        assert_eq!(config.tools().len(), 1);
        let plain = Request {
            messages: vec![Message::user_text("hi")],
            ..request
        };
        assert!(tool_config(&plain).unwrap().is_none());
    }
}

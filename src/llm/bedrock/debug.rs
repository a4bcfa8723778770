//! `bedrock.raw_debug: true`: full request and response bodies at debug level, read by an
//! SDK interceptor so what is logged is exactly what went over the wire. Only bodies are
//! logged (never headers, which carry the signature or bearer token), and base64 payloads
//! (images, documents, redacted reasoning) are replaced by their size.

use aws_sdk_bedrockruntime::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Strings longer than this that look like base64 are payloads, not prose.
const LONG_BASE64: usize = 256;

#[derive(Debug)]
pub(super) struct RawBodyLogger {
    model: String,
}

impl RawBodyLogger {
    pub fn new(model: &str) -> Self {
        RawBodyLogger {
            model: model.to_string(),
        }
    }
}

fn body_text(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "(streamed body; logged after assembly)".to_string(),
        Some(b) => match serde_json::from_slice::<Value>(b) {
            Ok(v) => redact_json(&v),
            Err(_) => format!("({} bytes, not JSON)", b.len()),
        },
    }
}

impl Intercept for RawBodyLogger {
    fn name(&self) -> &'static str {
        "PallasRawBodyLogger"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        tracing::debug!(
            model = %self.model,
            uri = %request.uri(),
            body = %body_text(request.body().bytes()),
            "bedrock request"
        );
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        tracing::debug!(
            model = %self.model,
            status = response.status().as_u16(),
            body = %body_text(response.body().bytes()),
            "bedrock response"
        );
        Ok(())
    }
}

/// A streamed answer after assembly, in Converse's response shape.
pub(super) fn assembled_json(r: &crate::llm::conversation::Response) -> Value {
    use crate::llm::conversation::ContentBlock;
    use serde_json::json;
    let content: Vec<Value> = r
        .message
        .content
        .iter()
        .map(|b| match b {
            ContentBlock::Text(t) => json!({"text": t}),
            ContentBlock::ToolUse(u) => {
                json!({"toolUse": {"toolUseId": u.id, "name": u.name, "input": u.input}})
            }
            ContentBlock::Reasoning(x) => json!({"reasoningContent": {
                "reasoningText": {"text": x.text, "signature": x.signature},
                "redactedContent": x.redacted.as_ref().map(|b| format!("<{} bytes>", b.len())),
            }}),
            ContentBlock::Image(i) => {
                json!({"image": {"format": i.mime_type, "bytes": i.data.len()}})
            }
            ContentBlock::Document(d) => {
                json!({"document": {"format": d.format, "name": d.name, "bytes": d.data.len()}})
            }
            ContentBlock::ToolResult(_) => json!({"toolResult": "(not in assistant turns)"}),
        })
        .collect();
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": format!("{:?}", r.stop_reason),
        "usage": r.usage,
    })
}

fn looks_like_base64(s: &str) -> bool {
    s.len() > LONG_BASE64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

/// The JSON as one line with `bytes` members and long base64 strings replaced by
/// `<base64, N chars>`, and anything named like a credential replaced by `<redacted>`.
pub(super) fn redact_json(v: &Value) -> String {
    fn walk(v: &Value, key: Option<&str>) -> Value {
        match v {
            Value::String(s)
                if key.is_some_and(|k| {
                    let k = k.to_ascii_lowercase();
                    k.contains("secret")
                        || k.contains("password")
                        || k.contains("token") && !k.contains("tokens")
                        || k == "authorization"
                        || k.contains("api_key")
                        || k.contains("apikey")
                }) =>
            {
                Value::String("<redacted>".into())
            }
            Value::String(s) if key == Some("bytes") || looks_like_base64(s) => {
                Value::String(format!("<base64, {} chars>", s.len()))
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, None)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), walk(x, Some(k))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    walk(v, None).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_payloads_and_secrets_but_keeps_text_and_token_counts() {
        let v = serde_json::json!({
            "messages": [{"content": [
                {"text": "hello"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                {"text": "A".repeat(300)}
            ]}],
            "sessionToken": "abc",
            "usage": {"inputTokens": 3}
        });
        let out = redact_json(&v);
        assert!(out.contains("hello"));
        assert!(out.contains("<base64, 12 chars>"), "{out}");
        assert!(out.contains("<base64, 300 chars>"), "{out}");
        assert!(!out.contains("abc"), "{out}");
        assert!(out.contains("\"inputTokens\":3"), "{out}");
    }
}

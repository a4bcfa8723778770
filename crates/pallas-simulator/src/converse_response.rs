//! The Converse response body, and the token usage it (and ConverseStream's metadata event)
//! reports.

use serde_json::{Map, Value, json};

/// Token accounting reported in `usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_write_input_tokens: u64,
}

impl Usage {
    pub fn to_json(self) -> Value {
        let mut usage = Map::new();
        usage.insert("inputTokens".into(), json!(self.input_tokens));
        usage.insert("outputTokens".into(), json!(self.output_tokens));
        let total = self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_write_input_tokens;
        usage.insert("totalTokens".into(), json!(total));
        if self.cache_read_input_tokens > 0 || self.cache_write_input_tokens > 0 {
            usage.insert(
                "cacheReadInputTokens".into(),
                json!(self.cache_read_input_tokens),
            );
            usage.insert(
                "cacheWriteInputTokens".into(),
                json!(self.cache_write_input_tokens),
            );
        }
        Value::Object(usage)
    }
}

/// A complete Converse response body.
pub(crate) fn response_body(
    content: Vec<Value>,
    stop_reason: &str,
    usage: Usage,
    latency_ms: u64,
) -> Value {
    json!({
        "output": { "message": { "role": "assistant", "content": content } },
        "stopReason": stop_reason,
        "usage": usage.to_json(),
        "metrics": { "latencyMs": latency_ms },
    })
}

//! HTTP failures of the Anthropic and OpenAI-style providers as messages a person can act
//! on: which provider, which endpoint, what went wrong and what to change. Mantle gets its
//! own wording because its key, its model names and its fixes differ from the direct APIs.

use reqwest::StatusCode;
use serde_json::Value;

use super::error::{ErrorKind, LlmError};
use super::retry::SendError;

/// Who was called, for the message.
#[derive(Debug, Clone)]
pub struct ApiContext {
    /// `anthropic`, `openai`, `generic`.
    pub provider: &'static str,
    /// Mantle (Bedrock's gateway) rather than the vendor's own API.
    pub mantle: bool,
    /// The model name as sent on the wire.
    pub wire_model: String,
    /// Where the key comes from, e.g. `anthropic.api_key or ANTHROPIC_API_KEY`.
    pub key_hint: &'static str,
}

/// What went wrong and how to fix it, without the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ErrorKind,
    pub message: String,
    pub fix: String,
}

impl ApiContext {
    pub fn error(&self, endpoint: &str, problem: Problem) -> LlmError {
        LlmError::new(problem.kind, problem.message)
            .with_origin(self.origin(endpoint))
            .with_advice(problem.fix)
    }

    /// `anthropic at https://…/v1/messages`: who was called, for every message.
    pub fn origin(&self, endpoint: &str) -> String {
        format!("{} at {endpoint}", self.provider)
    }

    pub fn send_error(&self, endpoint: &str, error: SendError) -> LlmError {
        self.error(endpoint, self.problem(&error))
    }

    pub fn problem(&self, error: &SendError) -> Problem {
        match error {
            SendError::Status {
                status,
                body,
                attempts,
            } => self.status_problem(*status, &error_text(body), *attempts),
            SendError::Connection {
                message,
                timeout: true,
                ..
            } => Problem {
                kind: ErrorKind::Transport,
                message: format!("no answer in time ({message})"),
                fix: "check base_url and the network path to it; if the server is just slow, retry"
                    .to_string(),
            },
            SendError::Connection { message, .. } => Problem {
                kind: ErrorKind::Transport,
                message: format!("cannot connect: {message}"),
                fix: "check base_url (host, port, http/https) and that the server is running and reachable".to_string(),
            },
        }
    }

    pub fn status_problem(&self, status: StatusCode, detail: &str, attempts: u32) -> Problem {
        let code = status.as_u16();
        let detail = if detail.is_empty() {
            status.canonical_reason().unwrap_or("").to_string()
        } else {
            detail.to_string()
        };
        let (kind, message, fix) = match (code, self.mantle) {
            (401, true) => (
                ErrorKind::Unauthorized,
                format!("Mantle 401: the Bedrock API key is invalid or expired ({detail})"),
                "regenerate it in the Bedrock console (API keys → long-term) and update BEDROCK_API_KEY".to_string(),
            ),
            (401, false) => (
                ErrorKind::Unauthorized,
                format!("401: the API key was rejected ({detail})"),
                format!("set a valid key in {}", self.key_hint),
            ),
            (403, true) => (
                ErrorKind::AccessDenied,
                format!("Mantle 403: the Bedrock API key may not use '{}' ({detail})", self.wire_model),
                "enable model access for this model in the Bedrock console for this region, and allow bedrock-mantle:* (CreateInference, GetModel, ListModels) in the key's policy".to_string(),
            ),
            (403, false) => (
                ErrorKind::AccessDenied,
                format!("403: access to '{}' was refused ({detail})", self.wire_model),
                format!("check that the key in {} may use this model", self.key_hint),
            ),
            (404, true) => (
                ErrorKind::NotFound,
                format!("Mantle 404: the model '{}' does not exist on this endpoint ({detail})", self.wire_model),
                "check the model id and region; Mantle names Claude models with the anthropic. prefix, and Claude Sonnet 4.6 has no Mantle endpoint (use the bedrock provider)".to_string(),
            ),
            (404, false) => (
                ErrorKind::NotFound,
                format!("404: model '{}' or the endpoint was not found ({detail})", self.wire_model),
                "check the model id and base_url".to_string(),
            ),
            (429, _) => (
                ErrorKind::Throttled,
                format!("throttled (429) after {attempts} attempt(s): {detail}"),
                "retry later, lower the request rate, or ask for a higher rate limit".to_string(),
            ),
            (408, _) => (
                ErrorKind::Transport,
                format!("request timeout (408) after {attempts} attempt(s): {detail}"),
                "the server did not receive the request in time; check the network path and retry".to_string(),
            ),
            (c, _) if c >= 500 => (
                ErrorKind::Service,
                format!("service error {c} after {attempts} attempt(s): {detail}"),
                "the service is overloaded or failing; retry later".to_string(),
            ),
            (c, _) => (
                if is_context_overflow(&detail) {
                    ErrorKind::ContextTooLong
                } else {
                    ErrorKind::InvalidRequest
                },
                format!("request rejected ({c}): {detail}"),
                "check the model's limits and the provider options in fastagent.config.yaml".to_string(),
            ),
        };
        Problem { kind, message, fix }
    }
}

/// Whether a provider's rejection says the conversation outgrew the context window.
pub fn is_context_overflow(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("too long")
        || lower.contains("context window")
        || lower.contains("context length")
        || lower.contains("too many input tokens")
        || lower.contains("input length")
        || lower.contains("prompt is too long")
}

/// The human part of an error body: `error.message` (Anthropic, OpenAI), `message`, or the
/// text itself, shortened.
pub fn error_text(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let error = v.get("error").unwrap_or(&v);
        let message = error
            .get("message")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)?;
        Some(match error.get("type").and_then(Value::as_str) {
            Some(kind) if kind != "error" => format!("{kind}: {message}"),
            _ => message.to_string(),
        })
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mantle_and_direct_messages_say_what_to_do() {
        let mantle = ApiContext {
            provider: "anthropic",
            mantle: true,
            wire_model: "anthropic.claude-opus-4-7".into(),
            key_hint: "anthropic.api_key or ANTHROPIC_API_KEY",
        };
        let p = mantle.status_problem(StatusCode::UNAUTHORIZED, "", 1);
        assert!(
            p.message
                .starts_with("Mantle 401: the Bedrock API key is invalid or expired"),
            "{p:?}"
        );
        assert!(p.fix.contains("BEDROCK_API_KEY"), "{p:?}");
        let direct = ApiContext {
            mantle: false,
            ..mantle
        };
        let p = direct.status_problem(StatusCode::UNAUTHORIZED, "invalid x-api-key", 1);
        assert!(p.fix.contains("ANTHROPIC_API_KEY"), "{p:?}");
        assert_eq!(
            error_text(
                r#"{"type":"error","error":{"type":"not_found_error","message":"no such model"}}"#
            ),
            "not_found_error: no such model"
        );
        assert_eq!(error_text("plain text\n"), "plain text");
    }
}

//! One failure taxonomy for every provider. Each provider maps its own errors (AWS error
//! codes, HTTP statuses, stream error events) into an [`ErrorKind`]; the runtime decides what
//! to retry from the kind alone, and the text keeps the service's own words plus our advice.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No credentials or API key could be found.
    NoCredentials,
    /// The credentials or key were rejected (HTTP 401).
    Unauthorized,
    /// The caller may not use this model (IAM, model access, HTTP 403).
    AccessDenied,
    /// The model or endpoint does not exist.
    NotFound,
    /// Rate or quota limits (Bedrock ThrottlingException, HTTP 429).
    Throttled,
    /// The service refused the request as written.
    InvalidRequest,
    /// The conversation no longer fits the model's context window.
    ContextTooLong,
    /// The provider cannot do what was asked (a request field it has no place for).
    Unsupported,
    /// The service failed or is overloaded (5xx, model not ready); transient.
    Service,
    /// The answer stream broke off after the call was accepted; transient.
    StreamBroken,
    /// The answer could not be understood (malformed events or tool arguments).
    Protocol,
    /// No answer at all: connection refused, DNS, TLS, timeouts.
    Transport,
}

impl ErrorKind {
    /// Whether trying the same call again may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled
                | ErrorKind::Service
                | ErrorKind::StreamBroken
                | ErrorKind::Transport
        )
    }
}

/// What a provider call can fail with. Every message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmError {
    pub kind: ErrorKind,
    /// Who failed, e.g. `anthropic at https://…/v1/messages`, when the message does not say.
    pub origin: Option<String>,
    /// What went wrong, including the service's own words.
    pub message: String,
    /// What to do about it.
    pub advice: Option<String>,
}

impl LlmError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> LlmError {
        LlmError {
            kind,
            origin: None,
            message: message.into(),
            advice: None,
        }
    }

    pub fn with_advice(mut self, advice: impl Into<String>) -> LlmError {
        self.advice = Some(advice.into());
        self
    }

    pub fn with_origin(mut self, origin: impl Into<String>) -> LlmError {
        self.origin = Some(origin.into());
        self
    }

    /// A broken answer stream, worded the same for every provider.
    pub fn stream_broke_off(detail: impl std::fmt::Display) -> LlmError {
        LlmError::new(
            ErrorKind::StreamBroken,
            format!("the answer stream broke off: {detail}"),
        )
        .with_advice("retry the call; if it keeps happening the service is overloaded or failing")
    }
}

impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(advice) = &self.advice {
            write!(f, " — {advice}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LlmError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_origin_message_and_advice() {
        let e = LlmError::new(ErrorKind::Throttled, "throttled (429)")
            .with_origin("openai at http://x/v1/chat/completions")
            .with_advice("retry later");
        assert_eq!(
            e.to_string(),
            "openai at http://x/v1/chat/completions: throttled (429) — retry later"
        );
        assert!(e.kind.is_transient());
        assert!(!ErrorKind::InvalidRequest.is_transient());
    }
}

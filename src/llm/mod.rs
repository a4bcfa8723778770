//! LLM providers behind one trait. Each provider is a [`runtime::Dialect`] that only
//! translates the neutral [`conversation`] types to and from its wire API and moves bytes;
//! the shared [`runtime::Runtime`] owns streaming, stream retries and assembly. The agent
//! loop never sees a wire type.

pub mod anthropic;
pub mod assembler;
pub mod bedrock;
pub mod conversation;
pub mod error;
pub mod events;
pub mod http;
pub mod http_errors;
pub mod limits;
pub mod mantle;
pub mod openai;
pub mod probe;
pub mod reasoning;
pub mod retry;
pub mod runtime;
mod simulated;
pub mod stream_event;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::config::Settings;
use crate::model::{ModelSpec, Provider};
pub use conversation::{Request, Response};
pub use error::{ErrorKind, LlmError};
pub use events::{AgentEvent, EventSink};
pub use limits::MediaLimits;
use runtime::Runtime;

/// The cached, token-free answer to "could this agent reach its model right now?".
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub provider: String,
    pub model: String,
    pub status: PreflightStatus,
    pub message: String,
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PreflightStatus {
    Ok,
    Error,
}

/// One model behind one provider API.
pub trait LlmProvider: Send + Sync {
    fn provider(&self) -> Provider;
    /// The id sent on the wire.
    fn model_id(&self) -> &str;
    /// One model call. A streamed answer's text goes to `events` as it is generated (with
    /// any notices); the returned response is always the complete turn.
    fn complete<'a>(
        &'a self,
        request: &'a Request,
        events: Option<&'a EventSink>,
    ) -> BoxFuture<'a, Result<Response, LlmError>>;
    /// Checks what can be checked without spending tokens (credentials, endpoint).
    fn preflight(&self) -> BoxFuture<'_, Preflight>;
    /// The attachments this provider accepts in one request.
    fn limits(&self) -> MediaLimits;
}

/// Settings the CLI or tests may impose on top of the config files, e.g. `--simulate`.
#[derive(Debug, Clone, Default)]
pub struct ProviderOverrides {
    pub bedrock_endpoint_url: Option<String>,
    /// Static credentials replacing the default chain (dummy ones for the simulator).
    pub bedrock_static_credentials: Option<aws_credential_types::Credentials>,
    /// The simulator's root URL: the anthropic, openai and generic providers call its
    /// matching surface instead of their configured base URL.
    pub http_simulator_url: Option<String>,
}

/// Builds the provider for a model spec.
pub async fn build_provider(
    spec: &ModelSpec,
    settings: &Settings,
    overrides: &ProviderOverrides,
) -> Arc<dyn LlmProvider> {
    let sim = overrides.http_simulator_url.as_deref();
    match spec.provider {
        Provider::Bedrock => Arc::new(Runtime::new(
            bedrock::BedrockDialect::new(&spec.model_id, &settings.bedrock, overrides)
                .await
                .with_features(spec, settings),
        )),
        Provider::Anthropic => Arc::new(Runtime::new(anthropic::AnthropicDialect::new(
            spec,
            &simulated::anthropic(&settings.anthropic, sim),
        ))),
        Provider::OpenAi => Arc::new(Runtime::new(openai::ChatDialect::openai(
            spec,
            &simulated::openai(&settings.openai, sim),
        ))),
        Provider::Generic => Arc::new(Runtime::new(openai::ChatDialect::generic(
            spec,
            &simulated::generic(&settings.generic, sim),
        ))),
    }
}

/// One connection pool per provider. No overall timeout: a long answer streams for
/// minutes; a connection that goes silent for `READ_TIMEOUT` is dead.
fn http_client() -> reqwest::Client {
    const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
    const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("pallas/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// `default_headers` from the config; names or values that are not valid HTTP are skipped
/// with a warning rather than failing every call.
fn header_map(headers: &std::collections::BTreeMap<String, String>) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        match (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                map.insert(n, v);
            }
            _ => {
                tracing::warn!(header = %name, "default_headers entry is not a valid HTTP header; it is not sent")
            }
        }
    }
    map
}

//! LLM providers behind one trait. Each provider file only translates the neutral
//! [`conversation`] types to and from its wire API; the agent loop never sees a wire type.

pub mod bedrock;
pub mod conversation;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::config::Settings;
use crate::model::{ModelSpec, Provider};
pub use conversation::{Request, Response};

/// What a provider call can fail with. Every message says what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("{0}")]
    NoCredentials(String),
    #[error("access denied: {message}. {hint}")]
    AccessDenied { message: String, hint: String },
    #[error("model '{model}' not found: {message}. {hint}")]
    ModelNotFound {
        model: String,
        message: String,
        hint: String,
    },
    #[error(
        "throttled after {attempts} attempts: {message}. Retry later, request a quota increase, or use a cross-region inference profile (us., eu., global.)"
    )]
    Throttled { attempts: u32, message: String },
    #[error("request rejected: {message}")]
    Validation { message: String },
    #[error("service error: {message}")]
    Service { message: String },
    #[error("could not reach {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    #[error(
        "provider '{provider}' is not available yet in this version of Pallas; use a bedrock.<model-id> model"
    )]
    Unsupported { provider: String },
}

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
    /// One model call. Streaming providers send text to `text_sink` as it is generated (the
    /// agent forwards it as progress); the returned response is always the complete turn.
    fn complete<'a>(
        &'a self,
        request: &'a Request,
        text_sink: Option<&'a TextSink>,
    ) -> BoxFuture<'a, Result<Response, LlmError>>;
    /// Checks what can be checked without spending tokens (credentials, endpoint).
    fn preflight(&self) -> BoxFuture<'_, Preflight>;
}

/// Receives generated text as it streams in.
pub type TextSink = tokio::sync::mpsc::UnboundedSender<String>;

/// Settings the CLI or tests may impose on top of the config files, e.g. `--simulate`.
#[derive(Debug, Clone, Default)]
pub struct ProviderOverrides {
    pub bedrock_endpoint_url: Option<String>,
    /// Static credentials replacing the default chain (dummy ones for the simulator).
    pub bedrock_static_credentials: Option<aws_credential_types::Credentials>,
}

/// Builds the provider for a model spec. Providers other than Bedrock are parsed and
/// validated today but answer every call with [`LlmError::Unsupported`].
pub async fn build_provider(
    spec: &ModelSpec,
    settings: &Settings,
    overrides: &ProviderOverrides,
) -> Arc<dyn LlmProvider> {
    match spec.provider {
        Provider::Bedrock => Arc::new(
            bedrock::BedrockProvider::new(&spec.model_id, &settings.bedrock, overrides)
                .await
                .with_features(spec, settings),
        ),
        other => Arc::new(UnsupportedProvider {
            provider: other,
            model: spec.model_id.clone(),
        }),
    }
}

struct UnsupportedProvider {
    provider: Provider,
    model: String,
}

impl LlmProvider for UnsupportedProvider {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn model_id(&self) -> &str {
        &self.model
    }

    fn complete<'a>(
        &'a self,
        _: &'a Request,
        _: Option<&'a TextSink>,
    ) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(async move {
            Err(LlmError::Unsupported {
                provider: self.provider.to_string(),
            })
        })
    }

    fn preflight(&self) -> BoxFuture<'_, Preflight> {
        Box::pin(async move {
            Preflight {
                provider: self.provider.to_string(),
                model: self.model.clone(),
                status: PreflightStatus::Error,
                message: LlmError::Unsupported {
                    provider: self.provider.to_string(),
                }
                .to_string(),
                checked_at: chrono::Utc::now(),
            }
        })
    }
}

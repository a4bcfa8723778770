//! Path 1: Bedrock Converse through `aws-sdk-bedrockruntime`. The SDK does signing, bearer
//! tokens (`AWS_BEARER_TOKEN_BEDROCK`), the credential chain, endpoints and retries; this
//! dialect only translates conversations and turns AWS errors into advice a person can act
//! on. Streaming policy and assembly are the shared runtime's.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as bt;
use aws_smithy_types::{Document, Number};
use futures::future::BoxFuture;
use serde_json::Value;

use super::conversation::{
    ContentBlock, Image, Message, Reasoning, Request, Response, Role, StopReason,
    ToolResultContent, ToolUse, Usage,
};
use super::error::{ErrorKind, LlmError};
use super::runtime::{Dialect, Opened};
use super::{Preflight, ProviderOverrides};
use crate::config::BedrockSettings;
use crate::model::ModelCapabilities;
use crate::model::Provider;
use crate::model::cross_region::effective_model_id;

mod attempts;
mod call;
mod credentials;
mod debug;
mod errors;
mod request;
mod stream;
mod translate;

use crate::config::Settings;
pub use crate::llm::reasoning;
pub use credentials::no_credentials_message;
pub use translate::{document_to_json, json_to_document};

/// Attempts per call for throttling, 5xx and dropped connections (the SDK's standard mode,
/// jittered exponential backoff) unless `bedrock.max_attempts` says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Resolving credentials may touch IMDS or an SSO endpoint; health must not hang on it.
const CREDENTIAL_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct BedrockDialect {
    client: aws_sdk_bedrockruntime::Client,
    /// The id sent on the wire (after `bedrock.cross_region`).
    model_id: String,
    /// The id as configured, for messages when `cross_region: auto` changed it.
    configured_model_id: String,
    max_attempts: u32,
    region: String,
    endpoint: String,
    credentials: Option<SharedCredentialsProvider>,
    static_credentials: bool,
    profile: Option<String>,
    /// Caching, guardrail, reasoning and debug options for every call.
    features: request::Features,
    /// Set when the model rejected ConverseStream with tools; Converse is used from then on.
    stream_tools_rejected: std::sync::atomic::AtomicBool,
}

/// Region precedence as fast-agent and the AWS CLI use it, resolved here so the SDK never
/// falls through to an IMDS region lookup.
pub fn resolve_region(settings: &BedrockSettings) -> String {
    settings
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string())
}

impl BedrockDialect {
    pub async fn new(
        model_id: &str,
        settings: &BedrockSettings,
        overrides: &ProviderOverrides,
    ) -> BedrockDialect {
        let region = resolve_region(settings);
        let max_attempts = settings.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
        let capabilities = ModelCapabilities::resolve(model_id, &Default::default());
        let wire_model_id =
            effective_model_id(model_id, &region, settings.cross_region, &capabilities);
        if wire_model_id != model_id {
            tracing::info!(configured = %model_id, sent = %wire_model_id, "bedrock.cross_region: auto uses the region's inference profile");
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(max_attempts))
            // Reasoning models can pause for long stretches; only a connection that stays
            // silent for minutes is dead.
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .grace_period(Duration::from_secs(300))
                    .build(),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        let endpoint = overrides
            .bedrock_endpoint_url
            .clone()
            .or_else(|| settings.endpoint_url.clone());
        if let Some(url) = &endpoint {
            loader = loader.endpoint_url(url);
        }
        if let Some(creds) = &overrides.bedrock_static_credentials {
            loader = loader.credentials_provider(creds.clone());
        }
        let sdk_config = loader.load().await;
        let endpoint = sdk_config
            .endpoint_url()
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        BedrockDialect {
            client: aws_sdk_bedrockruntime::Client::from_conf(
                aws_sdk_bedrockruntime::config::Builder::from(&sdk_config)
                    .interceptor(attempts::CountAttempts)
                    .build(),
            ),
            model_id: wire_model_id,
            configured_model_id: model_id.to_string(),
            max_attempts,
            region,
            endpoint,
            credentials: sdk_config.credentials_provider(),
            static_credentials: overrides.bedrock_static_credentials.is_some(),
            profile: settings.profile.clone(),
            features: request::Features::default(),
            stream_tools_rejected: Default::default(),
        }
    }

    /// Applies the model spec's reasoning and the settings' caching, guardrail and debug
    /// options. Kept apart from [`BedrockDialect::new`], which sets up the client only.
    pub fn with_features(mut self, spec: &crate::model::ModelSpec, settings: &Settings) -> Self {
        self.features = request::Features::resolve(spec, settings);
        self
    }
}

impl Dialect for BedrockDialect {
    fn provider(&self) -> Provider {
        Provider::Bedrock
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn origin(&self) -> String {
        format!("bedrock at {}", self.endpoint)
    }

    fn can_stream(&self, request: &Request) -> bool {
        self.can_stream_with(request)
    }

    fn complete<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(self.converse(request))
    }

    fn open_stream<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Opened<'a>, LlmError>> {
        Box::pin(self.converse_stream(request))
    }

    fn limits(&self) -> super::MediaLimits {
        super::MediaLimits::CONVERSE
    }

    fn on_response(&self, response: &Response, streamed: bool) {
        if self.features.raw_debug && streamed {
            tracing::debug!(
                model = %self.model_id,
                response = %debug::redact_json(&debug::assembled_json(response)),
                "bedrock ConverseStream response (assembled)"
            );
        }
    }

    fn preflight(&self) -> BoxFuture<'_, Preflight> {
        Box::pin(async move {
            let outcome = self.check_credentials().await.map(|source| {
                format!(
                    "{source}; region {}; endpoint {}{}",
                    self.region,
                    self.endpoint,
                    self.cross_region_note()
                )
            });
            super::probe::preflight(Provider::Bedrock.as_str(), &self.model_id, outcome)
        })
    }
}

impl BedrockDialect {
    /// Says when `bedrock.cross_region: auto` changed the configured id.
    fn cross_region_note(&self) -> String {
        if self.model_id == self.configured_model_id {
            String::new()
        } else {
            format!(
                "; model id {} (bedrock.cross_region: auto added the inference profile prefix for {}; configured {})",
                self.model_id, self.region, self.configured_model_id
            )
        }
    }
}

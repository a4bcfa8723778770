//! Path 1: Bedrock Converse through `aws-sdk-bedrockruntime`. The SDK does signing, bearer
//! tokens (`AWS_BEARER_TOKEN_BEDROCK`), the credential chain, endpoints and retries; this file
//! only translates conversations and turns AWS errors into advice a person can act on.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as bt;
use aws_smithy_types::{Document, Number};
use futures::future::BoxFuture;
use serde_json::Value;

use super::conversation::{
    ContentBlock, Image, Message, Reasoning, Request, Response, Role, StopReason,
    ToolResultContent, ToolUse, Usage,
};
use super::{LlmError, LlmProvider, Preflight, PreflightStatus, ProviderOverrides, TextSink};
use crate::config::BedrockSettings;
use crate::model::Provider;
use crate::model::capabilities::GEO_PREFIXES;

/// Attempts per call for throttling, 5xx and dropped connections (the SDK's standard mode).
const MAX_ATTEMPTS: u32 = 3;
/// Resolving credentials may touch IMDS or an SSO endpoint; health must not hang on it.
const CREDENTIAL_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct BedrockProvider {
    client: aws_sdk_bedrockruntime::Client,
    model_id: String,
    region: String,
    endpoint: String,
    credentials: Option<SharedCredentialsProvider>,
    static_credentials: bool,
    profile: Option<String>,
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

impl BedrockProvider {
    pub async fn new(
        model_id: &str,
        settings: &BedrockSettings,
        overrides: &ProviderOverrides,
    ) -> BedrockProvider {
        let region = resolve_region(settings);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
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
        BedrockProvider {
            client: aws_sdk_bedrockruntime::Client::new(&sdk_config),
            model_id: model_id.to_string(),
            region,
            endpoint,
            credentials: sdk_config.credentials_provider(),
            static_credentials: overrides.bedrock_static_credentials.is_some(),
            profile: settings.profile.clone(),
        }
    }

    async fn converse(&self, request: &Request) -> Result<Response, LlmError> {
        let messages = request
            .messages
            .iter()
            .map(to_bedrock_message)
            .collect::<Result<Vec<_>, _>>()?;
        let mut call = self
            .client
            .converse()
            .model_id(&self.model_id)
            .set_messages(Some(messages))
            .inference_config(
                bt::InferenceConfiguration::builder()
                    .max_tokens(request.max_tokens.min(i32::MAX as u32) as i32)
                    .build(),
            );
        if !request.system.trim().is_empty() {
            call = call.system(bt::SystemContentBlock::Text(request.system.clone()));
        }
        if let Some(tool_config) = tool_config(request)? {
            call = call.tool_config(tool_config);
        }
        let output = call.send().await.map_err(|e| self.map_error(e))?;
        from_bedrock_output(output)
    }

    fn map_error(&self, err: SdkError<ConverseError>) -> LlmError {
        let geo = GEO_PREFIXES.iter().any(|p| self.model_id.starts_with(p));
        let Some(service) = err.as_service_error() else {
            let detail = DisplayErrorContext(&err).to_string();
            if detail.contains("credentials") || detail.contains("identity") {
                return LlmError::NoCredentials(no_credentials_message(self.profile.as_deref()));
            }
            return LlmError::Transport {
                endpoint: self.endpoint.clone(),
                message: detail,
            };
        };
        let message = service.meta().message().unwrap_or("no message").to_string();
        match service {
            ConverseError::AccessDeniedException(_) => LlmError::AccessDenied {
                hint: access_denied_hint(&self.model_id, &self.region, geo),
                message,
            },
            ConverseError::ResourceNotFoundException(_) => LlmError::ModelNotFound {
                model: self.model_id.clone(),
                hint: format!(
                    "Check the model id is offered in region {} (aws bedrock list-foundation-models --region {}) and that model access is enabled in the Bedrock console",
                    self.region, self.region
                ),
                message,
            },
            ConverseError::ThrottlingException(_) => LlmError::Throttled {
                attempts: MAX_ATTEMPTS,
                message,
            },
            ConverseError::ValidationException(_) => {
                let lower = message.to_lowercase();
                if lower.contains("on-demand throughput") {
                    LlmError::Validation {
                        message: format!(
                            "{message}. This model needs an inference profile: use bedrock.us.{id} (or eu./apac./global. for your region)",
                            id = self.model_id
                        ),
                    }
                } else if lower.contains("too long") || lower.contains("context") {
                    LlmError::Validation {
                        message: format!(
                            "{message}. The conversation exceeds the model's context window: shorten the input or use instance_scope: request"
                        ),
                    }
                } else {
                    LlmError::Validation { message }
                }
            }
            _ => LlmError::Service {
                message: format!(
                    "{} ({})",
                    message,
                    service.meta().code().unwrap_or("unknown")
                ),
            },
        }
    }

    async fn check_credentials(&self) -> Result<String, String> {
        if std::env::var_os("AWS_BEARER_TOKEN_BEDROCK").is_some_and(|v| !v.is_empty()) {
            return Ok("Bedrock API key from AWS_BEARER_TOKEN_BEDROCK".to_string());
        }
        let Some(provider) = &self.credentials else {
            return Err(no_credentials_message(self.profile.as_deref()));
        };
        match tokio::time::timeout(CREDENTIAL_PROBE_TIMEOUT, provider.provide_credentials()).await {
            Ok(Ok(creds)) => {
                let source = if self.static_credentials {
                    "static credentials".to_string()
                } else {
                    describe_credential_source(self.profile.as_deref())
                };
                let session = if creds.session_token().is_some() {
                    ", temporary (session token)"
                } else {
                    ""
                };
                Ok(format!("AWS credentials from {source}{session}"))
            }
            // "Not loaded" just means every source was empty: the list of places we looked
            // is the useful part. Other errors (bad profile, failing credential_process)
            // carry their own cause, which is what the person needs to see.
            Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => {
                Err(no_credentials_message(self.profile.as_deref()))
            }
            Ok(Err(e)) => Err(format!(
                "AWS credentials could not be loaded: {}",
                DisplayErrorContext(&e)
            )),
            Err(_) => Err(format!(
                "resolving AWS credentials took longer than {}s; {}",
                CREDENTIAL_PROBE_TIMEOUT.as_secs(),
                no_credentials_message(self.profile.as_deref())
            )),
        }
    }
}

impl LlmProvider for BedrockProvider {
    fn provider(&self) -> Provider {
        Provider::Bedrock
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
        _text_sink: Option<&'a TextSink>,
    ) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(self.converse(request))
    }

    fn preflight(&self) -> BoxFuture<'_, Preflight> {
        Box::pin(async move {
            let (status, message) = match self.check_credentials().await {
                Ok(source) => (
                    PreflightStatus::Ok,
                    format!(
                        "{source}; region {}; endpoint {}",
                        self.region, self.endpoint
                    ),
                ),
                Err(problem) => (PreflightStatus::Error, problem),
            };
            Preflight {
                provider: Provider::Bedrock.to_string(),
                model: self.model_id.clone(),
                status,
                message,
                checked_at: chrono::Utc::now(),
            }
        })
    }
}

/// Names where the chain found credentials, never the credentials themselves.
fn describe_credential_source(profile: Option<&str>) -> String {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID") {
        "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".to_string()
    } else if let Some(p) = profile {
        format!("profile '{p}'")
    } else if let Ok(p) = std::env::var("AWS_PROFILE") {
        format!("profile '{p}' (AWS_PROFILE)")
    } else if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        "web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string()
    } else if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    {
        "the ECS container credentials endpoint".to_string()
    } else {
        "the default profile or the EC2 instance role".to_string()
    }
}

fn no_credentials_message(profile: Option<&str>) -> String {
    let profile = profile
        .map(|p| format!("profile '{p}'"))
        .unwrap_or_else(|| "the default profile (or AWS_PROFILE)".to_string());
    format!(
        "no AWS credentials found. Looked at: AWS_BEARER_TOKEN_BEDROCK; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); {profile} in ~/.aws/credentials and ~/.aws/config (incl. SSO and credential_process); AWS_WEB_IDENTITY_TOKEN_FILE; the ECS container endpoint; the EC2 instance role. Set AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key) in .env, or configure one of the others"
    )
}

fn access_denied_hint(model_id: &str, region: &str, geo: bool) -> String {
    let mut resources = "arn:aws:bedrock:*::foundation-model/*".to_string();
    if geo {
        resources
            .push_str(" and arn:aws:bedrock:*:*:inference-profile/* (needed for geo ids like us.)");
    }
    format!(
        "The IAM principal needs bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on {resources}, and model access for '{model_id}' must be enabled in the Bedrock console for {region}"
    )
}

// ---- translation: neutral → Converse --------------------------------------------------

fn build_err(e: impl std::fmt::Display) -> LlmError {
    LlmError::Validation {
        message: format!("could not build the Converse request: {e}"),
    }
}

fn to_bedrock_message(m: &Message) -> Result<bt::Message, LlmError> {
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

fn to_bedrock_block(b: &ContentBlock) -> Result<bt::ContentBlock, LlmError> {
    Ok(match b {
        ContentBlock::Text(t) => bt::ContentBlock::Text(t.clone()),
        ContentBlock::Image(img) => bt::ContentBlock::Image(to_bedrock_image(img)?),
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

fn to_bedrock_image(img: &Image) -> Result<bt::ImageBlock, LlmError> {
    let format = match img.mime_type.as_str() {
        "image/png" => bt::ImageFormat::Png,
        "image/jpeg" | "image/jpg" => bt::ImageFormat::Jpeg,
        "image/gif" => bt::ImageFormat::Gif,
        "image/webp" => bt::ImageFormat::Webp,
        other => {
            return Err(LlmError::Validation {
                message: format!(
                    "image type {other} is not accepted by Bedrock (png, jpeg, gif, webp)"
                ),
            });
        }
    };
    bt::ImageBlock::builder()
        .format(format)
        .source(bt::ImageSource::Bytes(Blob::new(img.data.clone())))
        .build()
        .map_err(build_err)
}

/// Bedrock rejects a history holding tool blocks without a `toolConfig`, which happens when
/// every downstream server has gone away mid-conversation; a placeholder tool keeps it valid.
fn tool_config(request: &Request) -> Result<Option<bt::ToolConfiguration>, LlmError> {
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

fn from_bedrock_output(output: ConverseOutput) -> Result<Response, LlmError> {
    let usage = output
        .usage()
        .map(|u| Usage {
            input_tokens: u.input_tokens().max(0) as u64,
            output_tokens: u.output_tokens().max(0) as u64,
            cache_read_tokens: u.cache_read_input_tokens().unwrap_or(0).max(0) as u64,
            cache_write_tokens: u.cache_write_input_tokens().unwrap_or(0).max(0) as u64,
        })
        .unwrap_or_default();
    let stop_reason = match output.stop_reason() {
        bt::StopReason::EndTurn => StopReason::EndTurn,
        bt::StopReason::ToolUse => StopReason::ToolUse,
        bt::StopReason::MaxTokens => StopReason::MaxTokens,
        bt::StopReason::StopSequence => StopReason::StopSequence,
        bt::StopReason::GuardrailIntervened => StopReason::GuardrailIntervened,
        bt::StopReason::ContentFiltered => StopReason::ContentFiltered,
        bt::StopReason::ModelContextWindowExceeded => StopReason::ContextWindowExceeded,
        _ => StopReason::Other,
    };
    let Some(bt::ConverseOutput::Message(message)) = output.output else {
        return Err(LlmError::Service {
            message: "Converse returned no message".to_string(),
        });
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

fn from_bedrock_block(b: bt::ContentBlock) -> Option<ContentBlock> {
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

    #[test]
    fn access_denied_hint_names_inference_profiles_for_geo_ids() {
        assert!(access_denied_hint("us.x", "us-east-1", true).contains("inference-profile/*"));
        assert!(!access_denied_hint("x", "us-east-1", false).contains("inference-profile"));
    }
}

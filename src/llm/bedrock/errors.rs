//! Turns SDK errors into advice a person can act on.
//!
//! Classification goes by the error code (`x-amzn-ErrorType`) and message rather than by an
//! operation's error enum, so Converse and ConverseStream errors read the same. By the time
//! an error arrives here the SDK's standard retry has already spent `max_attempts` on the
//! retryable kinds (throttling, 5xx, `ModelNotReadyException`, dropped connections).

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;

use super::credentials::no_credentials_message;
use super::*;
use crate::model::cross_region::{geo_prefix_of, geos_for_region, is_profile_arn, profile_id_for};

impl BedrockDialect {
    pub(super) fn map_error<E, R>(&self, err: SdkError<E, R>) -> LlmError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        let attempts = super::attempts::attempts_of(&err).unwrap_or(self.max_attempts);
        let Some(service) = err.as_service_error() else {
            let detail = DisplayErrorContext(&err).to_string();
            if detail.contains("credentials") || detail.contains("identity") {
                return LlmError::new(
                    ErrorKind::NoCredentials,
                    no_credentials_message(self.profile.as_deref()),
                );
            }
            return LlmError::new(
                ErrorKind::Transport,
                format!(
                    "could not reach {}: {detail} (gave up after {} attempt(s))",
                    self.endpoint, self.max_attempts
                ),
            )
            .with_advice("check the network path to the endpoint, or raise bedrock.max_attempts");
        };
        let code = service.code().unwrap_or("unknown");
        let message = service.message().unwrap_or("no message").to_string();
        self.classify(code, message, attempts)
    }

    /// The advice for one service error code and message.
    /// `attempts`: how many the SDK made (the retry quota can stop it before max_attempts).
    fn classify(&self, code: &str, message: String, attempts: u32) -> LlmError {
        let lower = message.to_lowercase();
        match code {
            // Bedrock words both causes alike at times, so the IAM advice follows.
            "AccessDeniedException" if is_model_access_message(&lower) => access_denied(
                message,
                format!(
                    "Model access for '{}' is probably not enabled in {}: request it on the Bedrock console's Model access page (https://console.aws.amazon.com/bedrock/home?region={}#/modelaccess) for the region (and, for a geo profile, every region of its geography). If it is enabled: {}",
                    self.base_model(),
                    self.region,
                    self.region,
                    access_denied_hint(&self.model_id, &self.region)
                ),
            ),
            "AccessDeniedException" => {
                access_denied(message, access_denied_hint(&self.model_id, &self.region))
            }
            "ResourceNotFoundException" => self.not_found(message),
            "ValidationException" if lower.contains("model identifier is invalid") => {
                self.not_found(message)
            }
            "ValidationException" if lower.contains("on-demand throughput") => {
                rejected(ErrorKind::InvalidRequest, message).with_advice(self.on_demand_hint())
            }
            "ValidationException" if crate::llm::http_errors::is_context_overflow(&lower) => {
                let window =
                    ModelCapabilities::resolve(&self.model_id, &Default::default()).context_window;
                rejected(ErrorKind::ContextTooLong, message).with_advice(format!(
                    "The conversation is longer than the model's context window (about {window} tokens for {}): start a new conversation, use instance_scope: request, or pick a model with a larger window",
                    self.model_id
                ))
            }
            "ValidationException" => rejected(ErrorKind::InvalidRequest, message),
            "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
                LlmError::new(
                    ErrorKind::Unauthorized,
                    format!("the credentials were rejected: {message} ({code})"),
                )
                .with_advice(
                    "refresh or replace the AWS credentials (an expired session token, a wrong secret key or a revoked AWS_BEARER_TOKEN_BEDROCK); `pallas check` shows which source is used",
                )
            }
            "ThrottlingException" | "ServiceQuotaExceededException" => throttled(attempts, &message),
            "ModelNotReadyException" => LlmError::new(
                ErrorKind::Service,
                format!(
                    "service error: {message} (ModelNotReadyException, still not ready after {attempts} attempts)"
                ),
            )
            .with_advice("The model is being loaded: wait a minute and retry, or raise bedrock.max_attempts"),
            "InternalServerException" | "ServiceUnavailableException" | "ModelTimeoutException" => {
                LlmError::new(
                    ErrorKind::Service,
                    format!("service error: {message} ({code}, failed {attempts} attempts)"),
                )
                .with_advice(format!(
                    "Bedrock had a transient problem: retry later, raise bedrock.max_attempts, or use a cross-region profile (e.g. {})",
                    self.suggested_profile()
                ))
            }
            other => LlmError::new(ErrorKind::Service, format!("service error: {message} ({other})")),
        }
    }

    /// The configured id without any geo prefix, for console and listing hints.
    fn base_model(&self) -> &str {
        crate::model::capabilities::base_model_id(&self.configured_model_id)
    }

    fn not_found(&self, message: String) -> LlmError {
        LlmError::new(
            ErrorKind::NotFound,
            format!("model '{}' not found: {message}", self.model_id),
        )
        .with_advice(format!(
            "Check that the id is spelled exactly as Bedrock lists it and is offered in region {region} (run `pallas models --region {region}`), or set bedrock.region to a region that has it",
            region = self.region
        ))
    }

    /// Names the exact inference profile id to use instead of the on-demand id.
    fn on_demand_hint(&self) -> String {
        let caps = ModelCapabilities::resolve(&self.configured_model_id, &Default::default());
        if is_profile_arn(&self.model_id) || geo_prefix_of(&self.model_id).is_some() {
            return format!(
                "'{}' already names an inference profile: check that the profile exists in region {} (run `pallas models --region {}`)",
                self.model_id, self.region, self.region
            );
        }
        if let Some(profile) =
            profile_id_for(&self.configured_model_id, &self.region, caps.geo_prefixes)
        {
            return format!(
                "This model is only served through a cross-region inference profile: use model `bedrock.{profile}` for region {} (or keep the id and set bedrock.cross_region: auto)",
                self.region
            );
        }
        if caps.geo_prefixes.is_empty() {
            format!(
                "This model is only served through an inference profile: run `pallas models --region {}` to find the profile id for it and use `bedrock.<profile id>`",
                self.region
            )
        } else {
            format!(
                "This model is only served through an inference profile, and Bedrock offers it in {} — none of them covers region {}: set bedrock.region to a region in one of those geographies and use model `bedrock.<prefix>.{}`",
                caps.geo_prefixes
                    .iter()
                    .map(|g| format!("{g}."))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.region,
                self.base_model()
            )
        }
    }

    fn suggested_profile(&self) -> String {
        if is_profile_arn(&self.model_id) || geo_prefix_of(&self.model_id).is_some() {
            return self.model_id.clone();
        }
        let caps = ModelCapabilities::resolve(&self.model_id, &Default::default());
        profile_id_for(&self.model_id, &self.region, caps.geo_prefixes).unwrap_or_else(|| {
            let geo = geos_for_region(&self.region).first().unwrap_or(&"us");
            format!("{geo}.{}", self.model_id)
        })
    }
}

fn access_denied(message: String, hint: String) -> LlmError {
    LlmError::new(ErrorKind::AccessDenied, format!("access denied: {message}")).with_advice(hint)
}

fn rejected(kind: ErrorKind, message: String) -> LlmError {
    LlmError::new(kind, format!("request rejected: {message}"))
}

/// Throttling, in the call or in the middle of its stream.
pub(super) fn throttled(attempts: u32, message: &str) -> LlmError {
    LlmError::new(
        ErrorKind::Throttled,
        format!("throttled after {attempts} attempts: {message}"),
    )
    .with_advice("Retry later, request a quota increase, or use a cross-region inference profile (us., eu., global.)")
}

/// Bedrock's wording when the account has not been granted the model (as opposed to an IAM
/// policy that denies the action, which names `bedrock:InvokeModel`).
fn is_model_access_message(lower: &str) -> bool {
    !lower.contains("not authorized to perform")
        && (lower.contains("access to the model") || lower.contains("model access"))
}

fn access_denied_hint(model_id: &str, region: &str) -> String {
    let mut resources = "arn:aws:bedrock:*::foundation-model/*".to_string();
    if is_profile_arn(model_id) {
        resources.push_str(&format!(
            " and the profile itself ({model_id}) plus bedrock:GetInferenceProfile on it"
        ));
    } else if geo_prefix_of(model_id).is_some() {
        resources.push_str(
            " and arn:aws:bedrock:*:*:inference-profile/* (geo ids such as us. route through a system inference profile)",
        );
    }
    format!(
        "The IAM principal needs bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on {resources}; model access for '{model_id}' must also be enabled in the Bedrock console for {region}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn provider(model: &str, region: &str) -> BedrockDialect {
        let settings = BedrockSettings {
            region: Some(region.into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            max_attempts: Some(4),
            ..Default::default()
        };
        let overrides = ProviderOverrides {
            bedrock_endpoint_url: None,
            bedrock_static_credentials: Some(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "test",
            )),
            ..Default::default()
        };
        BedrockDialect::new(model, &settings, &overrides).await
    }

    #[test]
    fn access_denied_hint_names_inference_profiles_for_geo_ids() {
        assert!(access_denied_hint("us.x", "us-east-1").contains("inference-profile/*"));
        assert!(!access_denied_hint("x", "us-east-1").contains("inference-profile"));
        let arn = "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc";
        assert!(access_denied_hint(arn, "us-east-1").contains("bedrock:GetInferenceProfile"));
    }

    #[tokio::test]
    async fn on_demand_error_names_the_profile_for_the_region() {
        let id = "anthropic.claude-haiku-4-5-20251001-v1:0";
        let off = BedrockSettings {
            region: Some("eu-west-1".into()),
            cross_region: crate::model::CrossRegion::Off,
            ..Default::default()
        };
        let p = BedrockDialect::new(id, &off, &ProviderOverrides::default()).await;
        assert_eq!(p.model_id, id, "cross_region: off keeps the id");
        let text = p
            .classify(
                "ValidationException",
                "Invocation of model ID anthropic.claude-haiku-4-5-20251001-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.".into(),
                1,
            )
            .to_string();
        assert!(text.contains(&format!("bedrock.eu.{id}")), "{text}");
        assert!(text.contains("eu-west-1"), "{text}");
    }

    #[tokio::test]
    async fn each_error_kind_says_what_to_do() {
        let p = provider("us.anthropic.claude-sonnet-4-6", "us-east-1").await;
        let throttled = p
            .classify("ThrottlingException", "Too many requests".into(), 4)
            .to_string();
        assert!(throttled.contains("after 4 attempts"), "{throttled}");
        let access = p
            .classify(
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.".into(),
                4,
            )
            .to_string();
        assert!(access.contains("Model access"), "{access}");
        let iam = p
            .classify(
                "AccessDeniedException",
                "User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:InvokeModel"
                    .into(),
                4,
            )
            .to_string();
        assert!(iam.contains("inference-profile/*"), "{iam}");
        let missing = p
            .classify(
                "ValidationException",
                "The provided model identifier is invalid.".into(),
                4,
            )
            .to_string();
        assert!(
            missing.contains("pallas models --region us-east-1"),
            "{missing}"
        );
        let long = p
            .classify(
                "ValidationException",
                "Input is too long for requested model.".into(),
                4,
            )
            .to_string();
        assert!(long.contains("context window"), "{long}");
        let not_ready = p
            .classify("ModelNotReadyException", "Model is not ready".into(), 4)
            .to_string();
        assert!(not_ready.contains("after 4 attempts"), "{not_ready}");
        let five = p
            .classify("ServiceUnavailableException", "Try later".into(), 4)
            .to_string();
        assert!(five.contains("failed 4 attempts"), "{five}");
    }

    /// Bedrock's error codes and the HTTP providers' statuses land on the same kinds, so
    /// the runtime treats a throttled Bedrock call and an HTTP 429 alike.
    #[tokio::test]
    async fn bedrock_and_http_errors_share_one_taxonomy() {
        use crate::llm::http_errors::ApiContext;
        use reqwest::StatusCode;
        let p = provider("us.anthropic.claude-sonnet-4-6", "us-east-1").await;
        let cases = [
            (
                "ThrottlingException",
                "Too many requests",
                429,
                ErrorKind::Throttled,
            ),
            (
                "ExpiredTokenException",
                "The security token included in the request is expired",
                401,
                ErrorKind::Unauthorized,
            ),
            (
                "AccessDeniedException",
                "not authorized to perform",
                403,
                ErrorKind::AccessDenied,
            ),
            (
                "ResourceNotFoundException",
                "no such model",
                404,
                ErrorKind::NotFound,
            ),
            (
                "ValidationException",
                "Input is too long for requested model.",
                400,
                ErrorKind::ContextTooLong,
            ),
            (
                "ValidationException",
                "messages.0: blank text",
                400,
                ErrorKind::InvalidRequest,
            ),
            (
                "ServiceUnavailableException",
                "Try later",
                503,
                ErrorKind::Service,
            ),
        ];
        for (code, message, status, kind) in cases {
            assert_eq!(
                p.classify(code, message.into(), 1).kind,
                kind,
                "bedrock {code}"
            );
            for (provider, mantle) in [
                ("anthropic", false),
                ("anthropic", true),
                ("openai", true),
                ("generic", false),
            ] {
                let ctx = ApiContext {
                    provider,
                    mantle,
                    wire_model: "m".into(),
                    key_hint: "k",
                };
                let problem = ctx.status_problem(StatusCode::from_u16(status).unwrap(), message, 1);
                assert_eq!(problem.kind, kind, "{provider} (mantle: {mantle}) {status}");
            }
        }
        assert!(ErrorKind::Throttled.is_transient() && !ErrorKind::ContextTooLong.is_transient());
    }
}

//! Turns SDK errors into advice a person can act on.

use super::credentials::no_credentials_message;
use super::*;

impl BedrockProvider {
    pub(super) fn map_error(&self, err: SdkError<ConverseError>) -> LlmError {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_hint_names_inference_profiles_for_geo_ids() {
        assert!(access_denied_hint("us.x", "us-east-1", true).contains("inference-profile/*"));
        assert!(!access_denied_hint("x", "us-east-1", false).contains("inference-profile"));
    }
}

//! Bedrock error responses: status code, `x-amzn-ErrorType` header and JSON body.
//!
//! The REST-JSON protocol puts the error code in the `x-amzn-ErrorType` header
//! (`<Name>:<namespace url>`) and the human readable text in `{"message": …}`;
//! the SDK reads both (`aws_sdk_bedrockruntime::json_errors`).

use axum::http::StatusCode;

use super::InjectedError;

const BEDROCK_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazon.bedrock/";
const CORAL_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

/// An error the simulator answers with instead of a model response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// Error shape name, e.g. `ValidationException`.
    pub code: &'static str,
    /// Namespace URL appended to the code in `x-amzn-ErrorType`; `None` sends the bare name.
    pub namespace: Option<&'static str>,
    pub message: String,
}

impl ApiError {
    fn bedrock(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            namespace: Some(BEDROCK_NAMESPACE),
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::bedrock(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// What Bedrock answers for a body that is not the JSON it expects.
    pub fn malformed_input() -> Self {
        Self::validation("Malformed input request, please reformat your input and try again.")
    }

    pub fn missing_authentication() -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "MissingAuthenticationTokenException",
            namespace: None,
            message: "Missing Authentication Token".into(),
        }
    }

    pub fn incomplete_signature() -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "IncompleteSignatureException",
            namespace: None,
            message:
                "Authorization header requires an AWS4-HMAC-SHA256 signature or a Bearer token."
                    .into(),
        }
    }

    pub fn unknown_operation() -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "UnknownOperationException",
            namespace: Some(CORAL_NAMESPACE),
            message: "The requested operation is not supported by this endpoint.".into(),
        }
    }

    /// Value of the `x-amzn-ErrorType` header.
    pub fn error_type_header(&self) -> String {
        match self.namespace {
            Some(ns) => format!("{}:{}", self.code, ns),
            None => self.code.to_string(),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "message": self.message })
    }
}

impl From<InjectedError> for ApiError {
    fn from(error: InjectedError) -> Self {
        use InjectedError::*;
        match error {
            Throttling => ApiError::bedrock(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ),
            AccessDenied => ApiError::bedrock(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            ),
            ModelNotFound => ApiError::bedrock(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "The provided model identifier is invalid.",
            ),
            Validation => ApiError::validation(
                "The provided request is not valid. Check the request parameters and try again.",
            ),
            InternalServer => ApiError::bedrock(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "The system encountered an unexpected error during processing. Try your request again.",
            ),
            ServiceUnavailable => ApiError::bedrock(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                "The service is temporarily unable to handle the request. Try again later.",
            ),
            ModelNotReady => ApiError::bedrock(
                StatusCode::TOO_MANY_REQUESTS,
                "ModelNotReadyException",
                "Model is not ready for inference. Wait and try your request again.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_errors_map_to_documented_status_codes() {
        let cases = [
            (InjectedError::Throttling, 429, "ThrottlingException"),
            (InjectedError::AccessDenied, 403, "AccessDeniedException"),
            (
                InjectedError::ModelNotFound,
                404,
                "ResourceNotFoundException",
            ),
            (InjectedError::Validation, 400, "ValidationException"),
            (
                InjectedError::InternalServer,
                500,
                "InternalServerException",
            ),
            (
                InjectedError::ServiceUnavailable,
                503,
                "ServiceUnavailableException",
            ),
            (InjectedError::ModelNotReady, 429, "ModelNotReadyException"),
        ];
        for (injected, status, code) in cases {
            let e = ApiError::from(injected);
            assert_eq!(e.status.as_u16(), status);
            assert_eq!(e.code, code);
            assert_eq!(e.error_type_header(), format!("{code}:{BEDROCK_NAMESPACE}"));
        }
    }
}

//! Paths 3 and 5: OpenAI Chat Completions over `reqwest`, for the `openai` provider
//! (api.openai.com, or Mantle's `https://bedrock-mantle.{region}.api.aws/v1`) and the
//! `generic` provider (Ollama, llama.cpp, vLLM …). Streams with `include_usage`; falls back
//! to a plain JSON answer for servers that do not stream or refuse the streaming options.

mod decode;
mod wire;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::Value;

use super::MediaLimits;
use super::conversation::Request;
use super::error::{ErrorKind, LlmError};
use super::http::{HttpDialect, HttpTransport, merge_additional_fields, read_answer};
use super::http_errors::{ApiContext, Problem};
use super::mantle::is_mantle_url;
use super::probe::probe;
use super::retry::SendError;
use super::runtime::Opened;
use crate::config::{GenericSettings, OpenAiSettings, Secret};
use crate::model::{ModelSpec, Provider};
pub use decode::{ChunkDecoder, response_events};
pub use wire::{WireOptions, request_body};

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
const OPENAI_KEY_HINT: &str = "openai.api_key (e.g. \"${OPENAI_API_KEY}\", or \"${BEDROCK_API_KEY}\" for Mantle) or the OPENAI_API_KEY environment variable";
const GENERIC_KEY_HINT: &str = "generic.api_key";
/// Body fields that carry the conversation; `additional_model_request_fields` may not set them.
const RESERVED_FIELDS: [&str; 5] = ["model", "messages", "tools", "stream", "stream_options"];

/// The Chat Completions dialect, for the `openai` and `generic` providers.
pub struct ChatDialect {
    provider: Provider,
    model: String,
    base_url: String,
    has_key: bool,
    reasoning_effort: Option<String>,
    max_tokens_field: &'static str,
    http: HttpTransport,
}

impl ChatDialect {
    pub fn openai(spec: &ModelSpec, settings: &OpenAiSettings) -> ChatDialect {
        let base_url = settings
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_string());
        // The spec's own `?reasoning=` wins over `openai.reasoning_effort`.
        let reasoning_effort = match &spec.reasoning {
            Some(r) => super::reasoning::effort(&spec.model_id, r),
            None => settings.reasoning_effort.clone(),
        };
        let mut d = ChatDialect::build(
            Provider::OpenAi,
            spec,
            base_url,
            settings.api_key.as_ref(),
            super::header_map(&settings.default_headers),
            OPENAI_KEY_HINT,
        );
        d.reasoning_effort = reasoning_effort;
        // OpenAI renamed the field; Mantle and compatible servers read the old one.
        if d.base_url.contains("api.openai.com") {
            d.max_tokens_field = "max_completion_tokens";
        }
        d
    }

    pub fn generic(spec: &ModelSpec, settings: &GenericSettings) -> ChatDialect {
        ChatDialect::build(
            Provider::Generic,
            spec,
            settings.base_url.clone(),
            settings.api_key.as_ref(),
            HeaderMap::new(),
            GENERIC_KEY_HINT,
        )
    }

    fn build(
        provider: Provider,
        spec: &ModelSpec,
        base_url: String,
        api_key: Option<&Secret>,
        headers: HeaderMap,
        key_hint: &'static str,
    ) -> ChatDialect {
        let base_url = base_url.trim_end_matches('/').to_string();
        let ctx = ApiContext {
            provider: provider.as_str(),
            mantle: is_mantle_url(&base_url),
            wire_model: spec.model_id.clone(),
            key_hint,
        };
        let auth = api_key.map(|k| (AUTHORIZATION, format!("Bearer {}", k.expose())));
        ChatDialect {
            provider,
            model: spec.model_id.clone(),
            base_url,
            has_key: api_key.is_some(),
            reasoning_effort: None,
            max_tokens_field: "max_tokens",
            http: HttpTransport::new(ctx, headers, auth),
        }
    }

    fn completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    /// The OpenAI API needs a key; a local `generic` server usually does not.
    fn missing_key(&self) -> Option<Problem> {
        (self.provider == Provider::OpenAi && !self.has_key).then(|| Problem {
            kind: ErrorKind::NoCredentials,
            message: if self.http.ctx.mantle {
                "no Bedrock API key is configured for Mantle".to_string()
            } else {
                "no API key is configured".to_string()
            },
            fix: format!("set {OPENAI_KEY_HINT}"),
        })
    }

    pub fn body(&self, request: &Request, stream: bool) -> Result<Value, LlmError> {
        let mut body = request_body(
            request,
            &WireOptions {
                model: self.model.clone(),
                stream,
                max_tokens_field: self.max_tokens_field,
                reasoning_effort: self.reasoning_effort.clone(),
            },
        );
        merge_additional_fields(&mut body, request, &RESERVED_FIELDS)?;
        Ok(body)
    }
}

impl HttpDialect for ChatDialect {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn model_id(&self) -> &str {
        &self.model
    }

    fn origin(&self) -> String {
        self.http.ctx.origin(&self.completions_url())
    }

    async fn send<'a>(
        &'a self,
        request: &'a Request,
        stream: bool,
    ) -> Result<Opened<'a>, LlmError> {
        let url = self.completions_url();
        if let Some(problem) = self.missing_key() {
            return Err(self.http.ctx.error(&url, problem));
        }
        let url = &url;
        let post = |stream: bool| async move {
            let body = self.body(request, stream)?;
            Ok::<_, LlmError>(self.http.post(url, &body, stream).await)
        };
        let response = match post(stream).await? {
            // Servers that cannot stream (or do not know `stream_options`) say so with a 400.
            Err(SendError::Status { status, body, .. })
                if stream && status == StatusCode::BAD_REQUEST && body.contains("stream") =>
            {
                tracing::debug!(provider = %self.provider, "streaming refused; retrying without");
                post(false).await?
            }
            other => other,
        }
        .map_err(|e| self.http.error(url, e))?;
        read_answer(
            response,
            ChunkDecoder::default(),
            response_events,
            self.origin(),
        )
        .await
    }

    async fn check(&self) -> Result<String, String> {
        let url = format!("{}/models", self.base_url);
        if let Some(p) = self.missing_key() {
            return Err(format!("{} — {}", p.message, p.fix));
        }
        let response = probe(self.http.get(&url), &self.http.ctx, &url).await?;
        if self.provider == Provider::Generic {
            // llama.cpp's listing is not strictly OpenAI-shaped and local servers load
            // models by name on demand: answering is enough.
            return Ok(format!("the server answers (GET {url})"));
        }
        let listing: Value = response
            .json()
            .await
            .map_err(|e| format!("GET {url} did not return a JSON model list ({e}) — check base_url (it should end in /v1)"))?;
        let ids: Vec<&str> = listing
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .collect();
        if ids.contains(&self.model.as_str()) {
            return Ok(format!("model '{}' is listed (GET {url})", self.model));
        }
        let mut shown: Vec<&str> = ids.iter().take(10).copied().collect();
        if ids.len() > shown.len() {
            shown.push("…");
        }
        Err(format!(
            "model '{}' is not listed by GET {url} (available: {}) — check the model id in default_model or the agent's model, and that it is enabled for this key and region",
            self.model,
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(", ")
            }
        ))
    }

    fn limits(&self) -> MediaLimits {
        MediaLimits::CHAT_COMPLETIONS
    }
}

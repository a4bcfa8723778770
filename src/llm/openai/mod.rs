//! Paths 3 and 5: OpenAI Chat Completions over `reqwest`, for the `openai` provider
//! (api.openai.com, or Mantle's `https://bedrock-mantle.{region}.api.aws/v1`) and the
//! `generic` provider (Ollama, llama.cpp, vLLM …). Streams with `include_usage`; falls back
//! to a plain JSON answer for servers that do not stream or refuse the streaming options.

mod wire;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::conversation::{Request, Response};
use super::http_errors::{ApiContext, Problem};
use super::mantle::is_mantle_url;
use super::probe::{preflight, probe};
use super::retry::{RetryPolicy, SendError, send_with_retry};
use super::sse::read_answer;
use super::{LlmError, LlmProvider, Preflight, TextSink};
use crate::config::{GenericSettings, OpenAiSettings, Secret};
use crate::model::{ModelSpec, Provider, Reasoning};
pub use wire::{StreamAssembler, WireOptions, request_body, response_from_json};

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
const OPENAI_KEY_HINT: &str = "openai.api_key (e.g. \"${OPENAI_API_KEY}\", or \"${BEDROCK_API_KEY}\" for Mantle) or the OPENAI_API_KEY environment variable";
const GENERIC_KEY_HINT: &str = "generic.api_key";

pub struct OpenAiProvider {
    provider: Provider,
    client: reqwest::Client,
    model: String,
    base_url: String,
    api_key: Option<Secret>,
    headers: HeaderMap,
    reasoning_effort: Option<String>,
    max_tokens_field: &'static str,
    retry: RetryPolicy,
    ctx: ApiContext,
}

impl OpenAiProvider {
    pub fn openai(spec: &ModelSpec, settings: &OpenAiSettings) -> OpenAiProvider {
        let base_url = settings
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_string());
        let reasoning_effort = match &spec.reasoning {
            Some(Reasoning::Level(level)) => Some(level.clone()),
            _ => settings.reasoning_effort.clone(),
        };
        let mut p = OpenAiProvider::build(
            Provider::OpenAi,
            spec,
            base_url,
            settings.api_key.clone(),
            OPENAI_KEY_HINT,
        );
        p.headers = super::header_map(&settings.default_headers);
        p.reasoning_effort = reasoning_effort;
        // OpenAI renamed the field; Mantle and compatible servers read the old one.
        if p.base_url.contains("api.openai.com") {
            p.max_tokens_field = "max_completion_tokens";
        }
        p
    }

    pub fn generic(spec: &ModelSpec, settings: &GenericSettings) -> OpenAiProvider {
        OpenAiProvider::build(
            Provider::Generic,
            spec,
            settings.base_url.clone(),
            settings.api_key.clone(),
            GENERIC_KEY_HINT,
        )
    }

    fn build(
        provider: Provider,
        spec: &ModelSpec,
        base_url: String,
        api_key: Option<Secret>,
        key_hint: &'static str,
    ) -> OpenAiProvider {
        let base_url = base_url.trim_end_matches('/').to_string();
        OpenAiProvider {
            provider,
            client: super::http_client(),
            model: spec.model_id.clone(),
            ctx: ApiContext {
                provider: provider.as_str(),
                mantle: is_mantle_url(&base_url),
                wire_model: spec.model_id.clone(),
                key_hint,
            },
            base_url,
            api_key,
            headers: HeaderMap::new(),
            reasoning_effort: None,
            max_tokens_field: "max_tokens",
            retry: RetryPolicy::default(),
        }
    }

    /// Test hook: a provider whose retries do not wait long.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut builder = builder.headers(self.headers.clone());
        if let Some(key) = &self.api_key
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        {
            value.set_sensitive(true);
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        builder
    }

    /// The OpenAI API needs a key; a local `generic` server usually does not.
    fn missing_key(&self) -> Option<Problem> {
        (self.provider == Provider::OpenAi && self.api_key.is_none()).then(|| Problem {
            message: if self.ctx.mantle {
                "no Bedrock API key is configured for Mantle".to_string()
            } else {
                "no API key is configured".to_string()
            },
            fix: format!("set {OPENAI_KEY_HINT}"),
        })
    }

    pub fn body(&self, request: &Request, stream: bool) -> Value {
        request_body(
            request,
            &WireOptions {
                model: self.model.clone(),
                stream,
                max_tokens_field: self.max_tokens_field,
                reasoning_effort: self.reasoning_effort.clone(),
            },
        )
    }

    async fn call(&self, request: &Request, sink: Option<&TextSink>) -> Result<Response, LlmError> {
        let url = format!("{}/chat/completions", self.base_url);
        if let Some(problem) = self.missing_key() {
            return Err(self.ctx.error(&url, problem));
        }
        let send = |stream: bool| {
            let body = self.body(request, stream);
            let url = url.clone();
            async move {
                send_with_retry(self.retry, || {
                    self.authorized(self.client.post(&url)).json(&body)
                })
                .await
            }
        };
        let response = match send(true).await {
            // Servers that cannot stream (or do not know `stream_options`) say so with a 400.
            Err(SendError::Status { status, body, .. })
                if status == StatusCode::BAD_REQUEST && body.contains("stream") =>
            {
                tracing::debug!(provider = %self.provider, "streaming refused; retrying without");
                send(false).await
            }
            other => other,
        }
        .map_err(|e| self.ctx.send_error(&url, e))?;
        let broke_off = |detail: String| {
            self.ctx.error(
                &url,
                Problem {
                    message: format!("the response stream broke off: {detail}"),
                    fix: "retry the request; if it keeps happening the server is overloaded or failing".to_string(),
                },
            )
        };
        read_answer::<StreamAssembler>(response, sink, response_from_json, broke_off).await
    }

    async fn check(&self) -> Result<String, String> {
        let url = format!("{}/models", self.base_url);
        if let Some(p) = self.missing_key() {
            return Err(format!("{} — {}", p.message, p.fix));
        }
        let response = probe(self.authorized(self.client.get(&url)), &self.ctx, &url).await?;
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
}

impl LlmProvider for OpenAiProvider {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn model_id(&self) -> &str {
        &self.model
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
        text_sink: Option<&'a TextSink>,
    ) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(self.call(request, text_sink))
    }

    fn preflight(&self) -> BoxFuture<'_, Preflight> {
        Box::pin(async move { preflight(self.provider.as_str(), &self.model, self.check().await) })
    }
}

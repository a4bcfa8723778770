//! Paths 2 and 4: the Anthropic Messages API over `reqwest`, against api.anthropic.com or
//! Bedrock Mantle (`https://bedrock-mantle.{region}.api.aws/anthropic`). Always streams, so
//! text reaches the caller as it is generated; a JSON answer is accepted too.

mod wire;

use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::conversation::{Request, Response};
use super::http_errors::{ApiContext, Problem};
use super::mantle;
use super::probe::{preflight, probe};
use super::retry::{RetryPolicy, send_with_retry};
use super::sse::read_answer;
use super::{LlmError, LlmProvider, Preflight, TextSink};
use crate::config::{AnthropicSettings, Secret};
use crate::model::{ModelSpec, Provider, Reasoning};
pub use wire::{CachePlacement, StreamAssembler, WireOptions, request_body, response_from_json};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";
const KEY_HINT: &str = "anthropic.api_key (e.g. \"${ANTHROPIC_API_KEY}\", or \"${BEDROCK_API_KEY}\" for Mantle) or the ANTHROPIC_API_KEY environment variable";

/// Smallest thinking budget the API accepts.
const MIN_THINKING_BUDGET: u32 = 1024;

pub struct AnthropicProvider {
    client: reqwest::Client,
    model: String,
    wire_model: String,
    base_url: String,
    mantle: bool,
    api_key: Option<Secret>,
    headers: HeaderMap,
    thinking_budget: Option<u32>,
    cache: Option<CachePlacement>,
    retry: RetryPolicy,
    ctx: ApiContext,
}

impl AnthropicProvider {
    pub fn new(spec: &ModelSpec, settings: &AnthropicSettings) -> AnthropicProvider {
        let mantle = mantle::anthropic_mantle_mode(settings);
        let base_url = settings
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        let wire_model = if mantle {
            mantle::wire_model(&spec.model_id)
        } else {
            spec.model_id.clone()
        };
        let reasoning = spec.reasoning.clone().or_else(|| {
            settings
                .reasoning
                .as_deref()
                .and_then(|r| r.parse::<Reasoning>().ok())
        });
        let mut thinking_budget = reasoning.and_then(|r| thinking_budget(&r));
        let cache_mode = settings
            .cache_mode
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| "auto".to_string());
        let mut cache = match cache_mode.as_str() {
            "off" | "none" | "false" => None,
            mode => {
                let mut control = json!({"type": "ephemeral"});
                if let Some(ttl) = &settings.cache_ttl {
                    control["ttl"] = json!(ttl);
                }
                Some(CachePlacement {
                    control,
                    conversation: mode != "prompt",
                })
            }
        };
        if mantle {
            // Mantle has neither extended thinking nor prompt caching.
            if thinking_budget.take().is_some() {
                tracing::warn!(model = %spec.model_id, "reasoning is configured but Bedrock Mantle has no extended thinking; it is left off");
            }
            if cache.take().is_some() && settings.cache_mode.is_some() {
                tracing::warn!(model = %spec.model_id, "anthropic.cache_mode is set but Bedrock Mantle has no prompt caching; it is left off");
            }
        }
        AnthropicProvider {
            client: super::http_client(),
            model: spec.model_id.clone(),
            ctx: ApiContext {
                provider: "anthropic",
                mantle,
                wire_model: wire_model.clone(),
                key_hint: KEY_HINT,
            },
            wire_model,
            base_url,
            mantle,
            api_key: settings.api_key.clone(),
            headers: super::header_map(&settings.default_headers),
            thinking_budget,
            cache,
            retry: RetryPolicy::default(),
        }
    }

    /// Test hook: a provider whose retries do not wait long.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether requests follow Mantle's rules (prefixed model, no nulls, no thinking/caching).
    pub fn is_mantle(&self) -> bool {
        self.mantle
    }

    pub fn wire_model(&self) -> &str {
        &self.wire_model
    }

    fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.base_url)
    }

    fn model_url(&self) -> String {
        let root = if self.mantle {
            mantle::region_root(&self.base_url)
        } else {
            self.base_url.clone()
        };
        format!("{root}/v1/models/{}", self.wire_model)
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut builder = builder
            .header("anthropic-version", API_VERSION)
            .headers(self.headers.clone());
        if let Some(key) = &self.api_key
            && let Ok(mut value) = HeaderValue::from_str(key.expose())
        {
            value.set_sensitive(true);
            builder = builder.header("x-api-key", value);
        }
        builder
    }

    fn missing_key(&self) -> Problem {
        Problem {
            message: if self.mantle {
                "no Bedrock API key is configured for Mantle".to_string()
            } else {
                "no API key is configured".to_string()
            },
            fix: format!("set {KEY_HINT}"),
        }
    }

    /// The request body exactly as sent.
    pub fn body(&self, request: &Request) -> Value {
        let thinking_budget = self.thinking_budget.and_then(|b| {
            let b = b.min(request.max_tokens.saturating_sub(1));
            (b >= MIN_THINKING_BUDGET).then_some(b)
        });
        let mut body = request_body(
            request,
            &WireOptions {
                model: self.wire_model.clone(),
                stream: true,
                thinking_budget,
                cache: self.cache.clone(),
            },
        );
        if self.mantle {
            mantle::strip_nulls(&mut body);
        }
        body
    }

    async fn call(&self, request: &Request, sink: Option<&TextSink>) -> Result<Response, LlmError> {
        let url = self.messages_url();
        if self.api_key.is_none() {
            return Err(self.ctx.error(&url, self.missing_key()));
        }
        let body = self.body(request);
        let response = send_with_retry(self.retry, || {
            self.authorized(self.client.post(&url))
                .header("accept", "text/event-stream")
                .json(&body)
        })
        .await
        .map_err(|e| self.ctx.send_error(&url, e))?;
        let broke_off = |detail: String| {
            self.ctx.error(
                &url,
                Problem {
                    message: format!("the response stream broke off: {detail}"),
                    fix: "retry the request; if it keeps happening the service is overloaded or failing".to_string(),
                },
            )
        };
        read_answer::<StreamAssembler>(response, sink, response_from_json, broke_off).await
    }

    async fn check(&self) -> Result<String, String> {
        let url = self.model_url();
        if self.api_key.is_none() {
            let p = self.missing_key();
            return Err(format!("{} — {}", p.message, p.fix));
        }
        probe(self.authorized(self.client.get(&url)), &self.ctx, &url).await?;
        Ok(if self.mantle {
            format!("Mantle serves '{}' (GET {url})", self.wire_model)
        } else {
            format!("model '{}' is available (GET {url})", self.wire_model)
        })
    }
}

/// Tokens of extended thinking for a reasoning setting.
fn thinking_budget(r: &Reasoning) -> Option<u32> {
    match r {
        Reasoning::Off => None,
        Reasoning::Budget(0) => None,
        Reasoning::Budget(n) => Some((*n).max(MIN_THINKING_BUDGET)),
        Reasoning::Adaptive => Some(8192),
        Reasoning::Level(level) => Some(match level.as_str() {
            "minimal" => 1024,
            "low" => 2048,
            "medium" => 8192,
            "high" => 16384,
            _ => 32000,
        }),
    }
}

impl LlmProvider for AnthropicProvider {
    fn provider(&self) -> Provider {
        Provider::Anthropic
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
        Box::pin(async move { preflight("anthropic", &self.model, self.check().await) })
    }
}

impl std::fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("model", &self.model)
            .field("wire_model", &self.wire_model)
            .field("base_url", &self.base_url)
            .field("mantle", &self.mantle)
            .finish_non_exhaustive()
    }
}

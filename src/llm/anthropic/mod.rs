//! Paths 2 and 4: the Anthropic Messages API over `reqwest`, against api.anthropic.com or
//! Bedrock Mantle (`https://bedrock-mantle.{region}.api.aws/anthropic`). Always streams, so
//! text reaches the caller as it is generated; a JSON answer is accepted too.

mod decode;
mod wire;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::MediaLimits;
use super::conversation::Request;
use super::error::{ErrorKind, LlmError};
use super::http::{HttpDialect, HttpTransport, merge_additional_fields, read_answer};
use super::http_errors::{ApiContext, Problem};
use super::mantle;
use super::probe::probe;
use super::reasoning::ReasoningSetting;
use super::runtime::Opened;
use crate::config::AnthropicSettings;
use crate::model::{ModelSpec, Provider};
pub use decode::{MessagesDecoder, response_events};
pub use wire::{CachePlacement, WireOptions, request_body};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";
const KEY_HINT: &str = "anthropic.api_key (e.g. \"${ANTHROPIC_API_KEY}\", or \"${BEDROCK_API_KEY}\" for Mantle) or the ANTHROPIC_API_KEY environment variable";
/// Body fields that carry the conversation; `additional_model_request_fields` may not set them.
const RESERVED_FIELDS: [&str; 5] = ["model", "messages", "system", "tools", "stream"];

/// The Messages API dialect: request and answer translation plus its transport.
pub struct AnthropicDialect {
    model: String,
    wire_model: String,
    base_url: String,
    mantle: bool,
    has_key: bool,
    reasoning: Option<ReasoningSetting>,
    cache: Option<CachePlacement>,
    http: HttpTransport,
}

impl AnthropicDialect {
    pub fn new(spec: &ModelSpec, settings: &AnthropicSettings) -> AnthropicDialect {
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
        let mut reasoning =
            ReasoningSetting::resolve(spec.reasoning.as_ref(), settings.reasoning.as_deref());
        let mut cache = cache_placement(settings);
        if mantle {
            // Mantle has neither extended thinking nor prompt caching.
            if reasoning.take().is_some() {
                tracing::warn!(model = %spec.model_id, "reasoning is configured but Bedrock Mantle has no extended thinking; it is left off");
            }
            if cache.take().is_some() && settings.cache_mode.is_some() {
                tracing::warn!(model = %spec.model_id, "anthropic.cache_mode is set but Bedrock Mantle has no prompt caching; it is left off");
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        headers.extend(super::header_map(&settings.default_headers));
        let auth = settings
            .api_key
            .as_ref()
            .map(|k| (HeaderName::from_static("x-api-key"), k.expose().to_string()));
        let ctx = ApiContext {
            provider: "anthropic",
            mantle,
            wire_model: wire_model.clone(),
            key_hint: KEY_HINT,
        };
        AnthropicDialect {
            model: spec.model_id.clone(),
            wire_model,
            base_url,
            mantle,
            has_key: settings.api_key.is_some(),
            reasoning,
            cache,
            http: HttpTransport::new(ctx, headers, auth),
        }
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

    fn missing_key(&self) -> Problem {
        Problem {
            kind: ErrorKind::NoCredentials,
            message: if self.mantle {
                "no Bedrock API key is configured for Mantle".to_string()
            } else {
                "no API key is configured".to_string()
            },
            fix: format!("set {KEY_HINT}"),
        }
    }

    /// The request body exactly as sent.
    pub fn body(&self, request: &Request, stream: bool) -> Result<Value, LlmError> {
        let reasoning = match &self.reasoning {
            // Any Claude model the API serves may think; it refuses the ones that cannot.
            Some(setting) => setting.plan(&self.wire_model, request.max_tokens, true)?,
            None => None,
        };
        let mut body = request_body(
            request,
            &WireOptions {
                model: self.wire_model.clone(),
                stream,
                reasoning,
                cache: self.cache.clone(),
            },
        );
        merge_additional_fields(&mut body, request, &RESERVED_FIELDS)?;
        if self.mantle {
            mantle::strip_nulls(&mut body);
        }
        Ok(body)
    }
}

/// `anthropic.cache_mode`: `off`, `prompt` (system and tools) or `auto` (also the history).
fn cache_placement(settings: &AnthropicSettings) -> Option<CachePlacement> {
    let mode = settings
        .cache_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "auto".to_string());
    if matches!(mode.as_str(), "off" | "none" | "false") {
        return None;
    }
    let mut control = json!({"type": "ephemeral"});
    if let Some(ttl) = &settings.cache_ttl {
        control["ttl"] = json!(ttl);
    }
    Some(CachePlacement {
        control,
        conversation: mode != "prompt",
    })
}

impl HttpDialect for AnthropicDialect {
    fn provider(&self) -> Provider {
        Provider::Anthropic
    }

    fn model_id(&self) -> &str {
        &self.model
    }

    fn origin(&self) -> String {
        self.http.ctx.origin(&self.messages_url())
    }

    async fn send<'a>(
        &'a self,
        request: &'a Request,
        stream: bool,
    ) -> Result<Opened<'a>, LlmError> {
        let url = self.messages_url();
        if !self.has_key {
            return Err(self.http.ctx.error(&url, self.missing_key()));
        }
        let body = self.body(request, stream)?;
        let response = self
            .http
            .post(&url, &body, stream)
            .await
            .map_err(|e| self.http.error(&url, e))?;
        read_answer(
            response,
            MessagesDecoder,
            response_events,
            HttpDialect::origin(self),
        )
        .await
    }

    async fn check(&self) -> Result<String, String> {
        let url = self.model_url();
        if !self.has_key {
            let p = self.missing_key();
            return Err(format!("{} — {}", p.message, p.fix));
        }
        probe(self.http.get(&url), &self.http.ctx, &url).await?;
        Ok(if self.mantle {
            format!("Mantle serves '{}' (GET {url})", self.wire_model)
        } else {
            format!("model '{}' is available (GET {url})", self.wire_model)
        })
    }

    fn limits(&self) -> MediaLimits {
        MediaLimits::MESSAGES
    }
}

impl std::fmt::Debug for AnthropicDialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicDialect")
            .field("model", &self.model)
            .field("wire_model", &self.wire_model)
            .field("base_url", &self.base_url)
            .field("mantle", &self.mantle)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::Message;
    use crate::llm::reasoning;

    fn body(spec: &str, max_tokens: u32) -> Value {
        let spec: ModelSpec = spec.parse().unwrap();
        let request = Request {
            system: String::new(),
            messages: vec![Message::user_text("hi")],
            tools: vec![],
            max_tokens,
            options: Default::default(),
        };
        AnthropicDialect::new(&spec, &AnthropicSettings::default())
            .body(&request, true)
            .unwrap()
    }

    /// The planner Bedrock uses decides the budget here too: levels up to 64000 tokens,
    /// capped to leave a quarter of max_tokens for the answer.
    #[test]
    fn reasoning_budgets_match_bedrock() {
        let level = |l: &str| crate::model::Reasoning::Level(l.into());
        for (l, max_tokens) in [("high", 8000), ("max", 128000), ("minimal", 64000)] {
            let bedrock = reasoning::fields(
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                &level(l),
                max_tokens,
                true,
            )
            .unwrap()
            .unwrap();
            let sent = body(
                &format!("anthropic.claude-haiku-4-5?reasoning={l}"),
                max_tokens,
            );
            assert_eq!(sent["thinking"], bedrock.fields["thinking"], "{l}");
        }
        assert_eq!(
            body("anthropic.claude-haiku-4-5?reasoning=high", 8000)["thinking"]["budget_tokens"],
            6000
        );
        assert_eq!(
            body("anthropic.claude-haiku-4-5?reasoning=max", 128000)["thinking"]["budget_tokens"],
            64000
        );
        let adaptive = body("anthropic.claude-opus-4-7?reasoning=high", 64000);
        assert_eq!(adaptive["thinking"]["type"], "adaptive");
    }
}

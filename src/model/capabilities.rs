//! What a model can do, from a built-in table keyed by model id (geo prefix stripped), with
//! `model_capabilities` from the config layered on top.
//!
//! The table is deliberately a best effort: Bedrock adds models and regions every month, so
//! every value can be overridden per agent or config-wide, and an unknown model gets
//! conservative defaults rather than an error. `pallas models` shows the live catalogue.

use serde::{Deserialize, Serialize};

/// Resolved capabilities of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelCapabilities {
    pub vision: bool,
    pub context_window: u32,
    pub max_output_tokens: u32,
    pub reasoning: bool,
    /// A prompt prefix can be cached between calls (Bedrock places `cachePoint`s, the
    /// Anthropic API `cache_control`).
    pub prompt_caching: bool,
    /// The model can stream its answer while tools are offered (otherwise it is asked for
    /// the whole answer at once when tools are present).
    pub streaming_with_tools: bool,
    /// Documents (PDF, spreadsheets, text) can be attached.
    pub documents: bool,
    /// Bedrock routing only: on-demand (in-region) throughput is not offered, so calls must
    /// name a cross-region inference profile such as `us.<model-id>`.
    pub requires_inference_profile: bool,
    /// Bedrock routing only: geo prefixes (without the dot) of the system inference
    /// profiles offered for this model, e.g. `["us", "eu", "global"]`.
    pub geo_prefixes: &'static [&'static str],
    /// False when the model was not in the table and conservative defaults were used.
    pub known: bool,
}

/// `model_capabilities` as written in YAML; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct CapabilityOverrides {
    pub vision: Option<bool>,
    pub context_window: Option<u32>,
    pub max_output_tokens: Option<u32>,
    pub reasoning: Option<bool>,
    pub prompt_caching: Option<bool>,
    pub streaming_with_tools: Option<bool>,
    pub documents: Option<bool>,
}

impl CapabilityOverrides {
    /// `self` wins over `base` key by key (agent overrides over config-wide ones).
    pub fn over(&self, base: &CapabilityOverrides) -> CapabilityOverrides {
        CapabilityOverrides {
            vision: self.vision.or(base.vision),
            context_window: self.context_window.or(base.context_window),
            max_output_tokens: self.max_output_tokens.or(base.max_output_tokens),
            reasoning: self.reasoning.or(base.reasoning),
            prompt_caching: self.prompt_caching.or(base.prompt_caching),
            streaming_with_tools: self.streaming_with_tools.or(base.streaming_with_tools),
            documents: self.documents.or(base.documents),
        }
    }
}

/// Geo prefixes of Bedrock cross-region inference profiles.
pub const GEO_PREFIXES: [&str; 7] = ["us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "global."];

/// The model id without a geo inference-profile prefix, for table look-ups.
pub fn base_model_id(model_id: &str) -> &str {
    GEO_PREFIXES
        .iter()
        .find_map(|p| model_id.strip_prefix(p))
        .unwrap_or(model_id)
}

struct Row {
    /// Matched against the start of the base model id (and the id with any provider
    /// namespace such as `anthropic.` removed, so `anthropic.claude-…` and `claude-…` match).
    prefix: &'static str,
    vision: bool,
    context_window: u32,
    max_output_tokens: u32,
    reasoning: bool,
    prompt_caching: bool,
    streaming_with_tools: bool,
    documents: bool,
    requires_inference_profile: bool,
    geo_prefixes: &'static [&'static str],
}

/// A text-only model reachable on demand in-region, streaming with tools; the builder
/// methods below add what it can do beyond that.
const fn model(prefix: &'static str, context_window: u32, max_output_tokens: u32) -> Row {
    Row {
        prefix,
        vision: false,
        context_window,
        max_output_tokens,
        reasoning: false,
        prompt_caching: false,
        streaming_with_tools: true,
        documents: false,
        requires_inference_profile: false,
        geo_prefixes: &[],
    }
}

impl Row {
    /// Image input; every model on Bedrock with image input also takes documents.
    const fn vision(mut self) -> Row {
        self.vision = true;
        self.documents = true;
        self
    }
    const fn documents(mut self) -> Row {
        self.documents = true;
        self
    }
    const fn reasoning(mut self) -> Row {
        self.reasoning = true;
        self
    }
    const fn caching(mut self) -> Row {
        self.prompt_caching = true;
        self
    }
    /// ConverseStream rejects `toolConfig` for this family (the Converse feature table).
    const fn no_streaming_tools(mut self) -> Row {
        self.streaming_with_tools = false;
        self
    }
    /// Cross-region profiles exist, and in-region on-demand calls work too.
    const fn geo(mut self, prefixes: &'static [&'static str]) -> Row {
        self.geo_prefixes = prefixes;
        self
    }
    /// Only reachable through a cross-region inference profile.
    const fn profile_only(mut self, prefixes: &'static [&'static str]) -> Row {
        self.geo_prefixes = prefixes;
        self.requires_inference_profile = true;
        self
    }
}

const CLAUDE_LATEST_GEOS: &[&str] = &["us", "eu", "apac", "jp", "au", "global"];
const US: &[&str] = &["us"];
const US_EU: &[&str] = &["us", "eu"];
const US_EU_APAC: &[&str] = &["us", "eu", "apac"];

/// Longest prefix wins, so specific rows can sit beside family rows. Values follow the
/// Bedrock model cards and the Converse "supported models and features" table; the seeds'
/// capability reference (Haiku 4.5, Sonnet 4.6, Opus 4.7, MiniMax M2.5) is authoritative.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // Anthropic Claude
    model("claude-opus-4-7", 1_000_000, 128_000).vision().reasoning().caching().geo(CLAUDE_LATEST_GEOS),
    model("claude-opus-4-6", 1_000_000, 128_000).vision().reasoning().caching().geo(CLAUDE_LATEST_GEOS),
    model("claude-opus-4-5", 200_000, 64_000).vision().reasoning().caching().profile_only(&["us", "eu", "global"]),
    model("claude-opus-4-1", 200_000, 32_000).vision().reasoning().caching().profile_only(US),
    model("claude-opus-4", 200_000, 32_000).vision().reasoning().caching().profile_only(US),
    model("claude-sonnet-4-6", 1_000_000, 64_000).vision().reasoning().caching().geo(CLAUDE_LATEST_GEOS),
    model("claude-sonnet-4-5", 200_000, 64_000).vision().reasoning().caching().profile_only(&["us", "eu", "jp", "au", "global"]),
    model("claude-sonnet-4", 200_000, 64_000).vision().reasoning().caching().profile_only(&["us", "eu", "apac", "global"]),
    model("claude-haiku-4-5", 200_000, 64_000).vision().reasoning().caching().profile_only(CLAUDE_LATEST_GEOS),
    model("claude-3-7-sonnet", 200_000, 64_000).vision().reasoning().caching().profile_only(US_EU_APAC),
    model("claude-3-5-sonnet", 200_000, 8_192).vision().geo(US_EU_APAC),
    model("claude-3-5-haiku", 200_000, 8_192).documents().caching().geo(US),
    model("claude-3-haiku", 200_000, 4_096).vision().geo(US_EU_APAC),
    model("claude-3-sonnet", 200_000, 4_096).vision().geo(US_EU_APAC),
    model("claude-3-opus", 200_000, 4_096).vision().geo(US),
    // Amazon Nova
    model("nova-premier", 1_000_000, 32_000).vision().caching().profile_only(US),
    model("nova-pro", 300_000, 10_000).vision().caching().geo(US_EU_APAC),
    model("nova-lite", 300_000, 10_000).vision().caching().geo(US_EU_APAC),
    model("nova-micro", 128_000, 10_000).documents().caching().geo(US_EU_APAC),
    model("nova-2-lite", 1_000_000, 64_000).vision().reasoning().caching().profile_only(&["us", "eu", "jp", "global"]),
    // Meta Llama
    model("llama4", 1_000_000, 8_192).vision().no_streaming_tools().profile_only(US),
    model("llama3-3", 128_000, 8_192).documents().no_streaming_tools().profile_only(US),
    model("llama3-2-90b", 128_000, 8_192).vision().no_streaming_tools().profile_only(US),
    model("llama3-2-11b", 128_000, 8_192).vision().no_streaming_tools().profile_only(US),
    model("llama3-2", 128_000, 8_192).documents().no_streaming_tools().profile_only(US_EU),
    model("llama3-1", 128_000, 8_192).documents().no_streaming_tools().geo(US),
    model("llama3-70b", 8_000, 2_048).documents().no_streaming_tools(),
    model("llama3-8b", 8_000, 2_048).documents().no_streaming_tools(),
    // Mistral AI
    model("mistral-large", 128_000, 8_192).documents().no_streaming_tools(),
    model("mistral-small", 32_000, 8_192).documents().no_streaming_tools(),
    model("pixtral-large", 128_000, 8_192).vision().no_streaming_tools().profile_only(US_EU),
    // Cohere
    model("command-r-plus", 128_000, 4_096).documents().no_streaming_tools(),
    model("command-r", 128_000, 4_096).documents().no_streaming_tools(),
    // OpenAI open-weight
    model("gpt-oss", 128_000, 16_384).reasoning().no_streaming_tools(),
    // DeepSeek
    model("deepseek.r1", 128_000, 32_768).reasoning().no_streaming_tools().profile_only(US),
    model("deepseek.v3", 128_000, 8_192).no_streaming_tools(),
    // MiniMax
    model("minimax-m2", 196_000, 8_000).reasoning().no_streaming_tools(),
];

const CONSERVATIVE: ModelCapabilities = ModelCapabilities {
    vision: false,
    context_window: 32_000,
    max_output_tokens: 4_096,
    reasoning: false,
    prompt_caching: false,
    streaming_with_tools: true,
    documents: false,
    requires_inference_profile: false,
    geo_prefixes: &[],
    known: false,
};

impl ModelCapabilities {
    /// Table look-up by model id (any provider), then `overrides` applied.
    pub fn resolve(model_id: &str, overrides: &CapabilityOverrides) -> ModelCapabilities {
        let base = Self::from_table(model_id).unwrap_or(CONSERVATIVE);
        ModelCapabilities {
            vision: overrides.vision.unwrap_or(base.vision),
            context_window: overrides.context_window.unwrap_or(base.context_window),
            max_output_tokens: overrides
                .max_output_tokens
                .unwrap_or(base.max_output_tokens),
            reasoning: overrides.reasoning.unwrap_or(base.reasoning),
            prompt_caching: overrides.prompt_caching.unwrap_or(base.prompt_caching),
            streaming_with_tools: overrides
                .streaming_with_tools
                .unwrap_or(base.streaming_with_tools),
            documents: overrides.documents.unwrap_or(base.documents),
            requires_inference_profile: base.requires_inference_profile,
            geo_prefixes: base.geo_prefixes,
            known: base.known,
        }
    }

    fn from_table(model_id: &str) -> Option<ModelCapabilities> {
        let base = base_model_id(model_id);
        // `anthropic.claude-…`, `meta.llama3-…`: drop the vendor namespace as well.
        let unvendored = base.split_once('.').map(|(_, rest)| rest).unwrap_or(base);
        TABLE
            .iter()
            .filter(|r| base.starts_with(r.prefix) || unvendored.starts_with(r.prefix))
            .max_by_key(|r| r.prefix.len())
            .map(|r| ModelCapabilities {
                vision: r.vision,
                context_window: r.context_window,
                max_output_tokens: r.max_output_tokens,
                reasoning: r.reasoning,
                prompt_caching: r.prompt_caching,
                streaming_with_tools: r.streaming_with_tools,
                documents: r.documents,
                requires_inference_profile: r.requires_inference_profile,
                geo_prefixes: r.geo_prefixes,
                known: true,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_models_match_the_guide_with_any_geo_prefix() {
        let none = CapabilityOverrides::default();
        let sonnet = ModelCapabilities::resolve("us.anthropic.claude-sonnet-4-6", &none);
        assert!(sonnet.known && sonnet.vision);
        assert_eq!(
            (sonnet.context_window, sonnet.max_output_tokens),
            (1_000_000, 64_000)
        );
        let haiku =
            ModelCapabilities::resolve("eu.anthropic.claude-haiku-4-5-20251001-v1:0", &none);
        assert_eq!(haiku.context_window, 200_000);
        let opus = ModelCapabilities::resolve("claude-opus-4-7", &none);
        assert_eq!(opus.max_output_tokens, 128_000);
        let minimax = ModelCapabilities::resolve("minimax.minimax-m2.5", &none);
        assert!(!minimax.vision);
        assert_eq!(minimax.context_window, 196_000);
    }

    #[test]
    fn unknown_models_get_conservative_defaults_and_overrides_win() {
        let unknown =
            ModelCapabilities::resolve("acme.mystery-v9", &CapabilityOverrides::default());
        assert!(!unknown.known);
        assert_eq!(unknown.max_output_tokens, 4_096);
        let o = CapabilityOverrides {
            vision: Some(true),
            max_output_tokens: Some(1234),
            ..Default::default()
        };
        let c = ModelCapabilities::resolve("acme.mystery-v9", &o);
        assert!(c.vision);
        assert_eq!(c.max_output_tokens, 1234);
    }
}

//! What a model can do, from a built-in table keyed by model id (geo prefix stripped), with
//! `model_capabilities` from the config layered on top.

use serde::{Deserialize, Serialize};

/// Resolved capabilities of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelCapabilities {
    pub vision: bool,
    pub context_window: u32,
    pub max_output_tokens: u32,
    pub reasoning: bool,
    pub prompt_caching: bool,
    pub streaming_with_tools: bool,
    pub documents: bool,
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
}

const fn row(
    prefix: &'static str,
    vision: bool,
    context_window: u32,
    max_output_tokens: u32,
    reasoning: bool,
    prompt_caching: bool,
) -> Row {
    Row {
        prefix,
        vision,
        context_window,
        max_output_tokens,
        reasoning,
        prompt_caching,
        streaming_with_tools: true,
        documents: vision,
    }
}

/// Longest prefix wins, so specific rows can sit beside family rows.
const TABLE: &[Row] = &[
    row("claude-opus-4-7", true, 1_000_000, 128_000, true, true),
    row("claude-opus-4-6", true, 1_000_000, 128_000, true, true),
    row("claude-opus-4-5", true, 200_000, 64_000, true, true),
    row("claude-opus-4-1", true, 200_000, 32_000, true, true),
    row("claude-opus-4", true, 200_000, 32_000, true, true),
    row("claude-sonnet-4-6", true, 1_000_000, 64_000, true, true),
    row("claude-sonnet-4-5", true, 200_000, 64_000, true, true),
    row("claude-sonnet-4", true, 200_000, 64_000, true, true),
    row("claude-haiku-4-5", true, 200_000, 64_000, true, true),
    row("claude-3-7-sonnet", true, 200_000, 64_000, true, true),
    row("claude-3-5-sonnet", true, 200_000, 8_192, false, false),
    row("claude-3-5-haiku", false, 200_000, 8_192, false, true),
    row("claude-3-haiku", true, 200_000, 4_096, false, false),
    row("claude-3-opus", true, 200_000, 4_096, false, false),
    row("nova-premier", true, 1_000_000, 10_000, false, true),
    row("nova-pro", true, 300_000, 10_000, false, true),
    row("nova-lite", true, 300_000, 10_000, false, true),
    row("nova-micro", false, 128_000, 10_000, false, true),
    row("nova-2-lite", true, 1_000_000, 64_000, true, true),
    row("llama4", true, 1_000_000, 8_192, false, false),
    row("llama3-3", false, 128_000, 8_192, false, false),
    row("llama3-2-90b", true, 128_000, 8_192, false, false),
    row("llama3-2-11b", true, 128_000, 8_192, false, false),
    row("llama3-2", false, 128_000, 8_192, false, false),
    row("llama3-1", false, 128_000, 8_192, false, false),
    row("mistral-large", false, 128_000, 8_192, false, false),
    row("pixtral-large", true, 128_000, 8_192, false, false),
    row("command-r-plus", false, 128_000, 4_096, false, false),
    row("command-r", false, 128_000, 4_096, false, false),
    row("gpt-oss", false, 128_000, 16_384, true, false),
    row("deepseek.r1", false, 128_000, 32_768, true, false),
    row("r1", false, 128_000, 32_768, true, false),
    row("deepseek.v3", false, 128_000, 8_192, false, false),
    row("minimax-m2", false, 196_000, 8_000, true, false),
];

const CONSERVATIVE: ModelCapabilities = ModelCapabilities {
    vision: false,
    context_window: 32_000,
    max_output_tokens: 4_096,
    reasoning: false,
    prompt_caching: false,
    streaming_with_tools: true,
    documents: false,
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

//! Everything a Converse / ConverseStream call carries besides the model id: messages,
//! system prompt and tools with `cachePoint`s, inference parameters, tool choice, reasoning
//! and pass-through `additionalModelRequestFields`. Both operations are built from one
//! [`CallParts`] so streaming and non-streaming calls can never drift apart.

use serde_json::{Map, Value};

use super::translate::{build_err, to_bedrock_message, tool_config};
use super::*;
use crate::config::{CacheMode, CacheTtl};
use crate::llm::conversation::ToolChoice;
use crate::llm::reasoning::ReasoningSetting;

/// Bedrock's limit of cache points per request.
const MAX_CACHE_POINTS: usize = 4;

/// Per-provider request features, resolved once from the model spec and settings.
#[derive(Debug, Clone)]
pub(super) struct Features {
    pub cache_mode: CacheMode,
    pub cache_ttl: Option<CacheTtl>,
    pub guardrail: Option<crate::config::GuardrailSettings>,
    pub raw_debug: bool,
    /// The reasoning setting in effect, planned per call by the shared planner.
    pub reasoning: Option<ReasoningSetting>,
    pub capabilities: crate::model::ModelCapabilities,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            cache_mode: CacheMode::Off,
            cache_ttl: None,
            guardrail: None,
            raw_debug: false,
            reasoning: None,
            capabilities: crate::model::ModelCapabilities::resolve("", &Default::default()),
        }
    }
}

/// The parts shared by Converse and ConverseStream.
pub(super) struct CallParts {
    pub messages: Vec<bt::Message>,
    pub system: Option<Vec<bt::SystemContentBlock>>,
    pub inference: bt::InferenceConfiguration,
    pub tool_config: Option<bt::ToolConfiguration>,
    pub additional: Option<aws_smithy_types::Document>,
}

fn cache_point(ttl: Option<CacheTtl>) -> Result<bt::CachePointBlock, LlmError> {
    bt::CachePointBlock::builder()
        .r#type(bt::CachePointType::Default)
        .set_ttl(ttl.map(|t| match t {
            CacheTtl::FiveMinutes => bt::CacheTtl::FiveMinutes,
            CacheTtl::OneHour => bt::CacheTtl::OneHour,
        }))
        .build()
        .map_err(build_err)
}

fn is_claude(model_id: &str) -> bool {
    model_id.contains("anthropic.") || model_id.contains("claude")
}

pub(super) fn build(
    model_id: &str,
    request: &Request,
    features: &Features,
) -> Result<CallParts, LlmError> {
    let options = &request.options;
    let reasoning = match &features.reasoning {
        None => None,
        Some(setting) => setting.plan(
            model_id,
            request.max_tokens,
            features.capabilities.reasoning,
        )?,
    };
    let thinking = reasoning.as_ref().is_some_and(|r| r.claude_thinking);

    // Tool choice `none` offers no tools (Converse has no "none" choice).
    let tools_request;
    let request = if options.tool_choice == ToolChoice::None && !request.tools.is_empty() {
        tools_request = Request {
            tools: vec![],
            ..request.clone()
        };
        &tools_request
    } else {
        request
    };

    let mut cache_points = 0usize;
    let caching = features.cache_mode != CacheMode::Off;
    let mut take_point = || {
        let ok = caching && cache_points < MAX_CACHE_POINTS;
        cache_points += usize::from(ok);
        ok
    };

    let system = if request.system.trim().is_empty() {
        None
    } else {
        let mut blocks = vec![bt::SystemContentBlock::Text(request.system.clone())];
        if take_point() {
            blocks.push(bt::SystemContentBlock::CachePoint(cache_point(
                features.cache_ttl,
            )?));
        }
        Some(blocks)
    };

    let mut tool_config = tool_config(request)?;
    if let Some(config) = tool_config.take() {
        let mut builder = bt::ToolConfiguration::builder().set_tools(Some(config.tools.clone()));
        // Only Claude accepts a cache point among the tools (Nova caches system and
        // messages only).
        if !request.tools.is_empty() && is_claude(model_id) && take_point() {
            builder = builder.tools(bt::Tool::CachePoint(cache_point(features.cache_ttl)?));
        }
        let choice = match &options.tool_choice {
            _ if request.tools.is_empty() => None,
            // Claude rejects forced tool use while thinking.
            ToolChoice::Any | ToolChoice::Tool(_) if thinking => {
                tracing::debug!(
                    model = model_id,
                    "tool_choice relaxed to auto: thinking is on"
                );
                None
            }
            ToolChoice::Any => Some(bt::ToolChoice::Any(bt::AnyToolChoice::builder().build())),
            ToolChoice::Tool(name) if request.tools.iter().any(|t| &t.name == name) => {
                Some(bt::ToolChoice::Tool(
                    bt::SpecificToolChoice::builder()
                        .name(name)
                        .build()
                        .map_err(build_err)?,
                ))
            }
            ToolChoice::Tool(name) => {
                tracing::warn!(
                    model = model_id,
                    tool = %name,
                    "tool_choice names a tool that is not offered right now; letting the model choose"
                );
                None
            }
            ToolChoice::Auto | ToolChoice::None => None,
        };
        tool_config = Some(builder.set_tool_choice(choice).build().map_err(build_err)?);
    }

    let mut messages = request
        .messages
        .iter()
        .map(to_bedrock_message)
        .collect::<Result<Vec<_>, _>>()?;
    if features.cache_mode == CacheMode::Auto
        && let Some(last) = messages.pop()
    {
        let mut content = last.content.clone();
        if take_point() {
            content.push(bt::ContentBlock::CachePoint(cache_point(
                features.cache_ttl,
            )?));
        }
        messages.push(
            bt::Message::builder()
                .role(last.role.clone())
                .set_content(Some(content))
                .build()
                .map_err(build_err)?,
        );
    }

    let mut inference = bt::InferenceConfiguration::builder()
        .max_tokens(request.max_tokens.min(i32::MAX as u32) as i32)
        .set_stop_sequences(
            (!options.stop_sequences.is_empty()).then(|| options.stop_sequences.clone()),
        );
    if thinking {
        if options.temperature.is_some() || options.top_p.is_some() {
            tracing::debug!(
                model = model_id,
                "temperature/top_p left unset: Claude thinking does not accept them"
            );
        }
    } else {
        inference = inference
            .set_temperature(options.temperature)
            .set_top_p(options.top_p);
    }

    let mut additional = Map::new();
    if let Some(r) = &reasoning
        && let Value::Object(fields) = &r.fields
    {
        additional.extend(fields.clone());
    }
    // The agent's own fields win: they are the operator's explicit choice.
    if let Some(Value::Object(fields)) = &options.additional_model_request_fields {
        additional.extend(fields.clone());
    }

    Ok(CallParts {
        messages,
        system,
        inference: inference.build(),
        tool_config,
        additional: (!additional.is_empty()).then(|| json_to_document(&Value::Object(additional))),
    })
}

impl Features {
    pub fn resolve(spec: &crate::model::ModelSpec, settings: &Settings) -> Features {
        let capabilities =
            crate::model::ModelCapabilities::resolve(&spec.model_id, &settings.model_capabilities);
        let f = &settings.bedrock.features;
        let cache_mode = f.cache_mode.unwrap_or(if capabilities.prompt_caching {
            CacheMode::Auto
        } else {
            CacheMode::Off
        });
        // fast-agent's Bedrock default `reasoning: minimal` means "off"; configs written
        // for it must not start paying for thinking.
        let config_wide = settings
            .bedrock
            .reasoning
            .as_deref()
            .filter(|text| !text.trim().eq_ignore_ascii_case("minimal"));
        let reasoning = ReasoningSetting::resolve(spec.reasoning.as_ref(), config_wide);
        Features {
            cache_mode,
            cache_ttl: f.cache_ttl,
            guardrail: f.guardrail.clone(),
            raw_debug: f.raw_debug,
            reasoning,
            capabilities,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{GenerationOptions, ToolSpec};

    fn request(options: GenerationOptions) -> Request {
        Request {
            system: "You are terse.".into(),
            messages: vec![Message::user_text("hi")],
            tools: vec![ToolSpec {
                name: "notes__now".into(),
                description: "time".into(),
                input_schema: serde_json::json!({"type": "object"}),
            }],
            max_tokens: 4000,
            options,
        }
    }

    fn features(cache_mode: CacheMode, reasoning: Option<crate::model::Reasoning>) -> Features {
        Features {
            cache_mode,
            reasoning: reasoning.map(|reasoning| ReasoningSetting {
                reasoning,
                explicit: true,
            }),
            capabilities: crate::model::ModelCapabilities::resolve(
                "anthropic.claude-sonnet-4-5",
                &Default::default(),
            ),
            ..Features::default()
        }
    }

    const CLAUDE: &str = "anthropic.claude-sonnet-4-5";

    #[test]
    fn cache_points_follow_the_mode() {
        let auto = build(
            CLAUDE,
            &request(Default::default()),
            &features(CacheMode::Auto, None),
        )
        .unwrap();
        let system = auto.system.unwrap();
        assert!(matches!(system[1], bt::SystemContentBlock::CachePoint(_)));
        let tools = auto.tool_config.unwrap().tools;
        assert!(matches!(tools.last(), Some(bt::Tool::CachePoint(_))));
        assert!(matches!(
            auto.messages[0].content.last(),
            Some(bt::ContentBlock::CachePoint(_))
        ));

        let prompt = build(
            CLAUDE,
            &request(Default::default()),
            &features(CacheMode::Prompt, None),
        )
        .unwrap();
        assert_eq!(
            prompt.messages[0].content.len(),
            1,
            "no point on the prefix"
        );
        let off = build(
            CLAUDE,
            &request(Default::default()),
            &features(CacheMode::Off, None),
        )
        .unwrap();
        assert_eq!(off.system.unwrap().len(), 1);
        // Nova takes no cache point among tools.
        let nova = build(
            "amazon.nova-pro-v1:0",
            &request(Default::default()),
            &features(CacheMode::Prompt, None),
        )
        .unwrap();
        assert_eq!(nova.tool_config.unwrap().tools.len(), 1);
    }

    #[test]
    fn thinking_unsets_sampling_and_forced_tools_and_merges_fields() {
        let options = GenerationOptions {
            temperature: Some(0.5),
            top_p: Some(0.9),
            tool_choice: ToolChoice::Any,
            additional_model_request_fields: Some(serde_json::json!({"top_k": 5})),
            ..Default::default()
        };
        let parts = build(
            CLAUDE,
            &request(options.clone()),
            &features(CacheMode::Off, Some(crate::model::Reasoning::Budget(2048))),
        )
        .unwrap();
        assert_eq!(parts.inference.temperature(), None);
        assert_eq!(parts.inference.top_p(), None);
        assert!(parts.tool_config.unwrap().tool_choice.is_none());
        let fields = document_to_json(&parts.additional.unwrap());
        assert_eq!(
            fields,
            serde_json::json!({"thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 5})
        );

        let plain = build(CLAUDE, &request(options), &features(CacheMode::Off, None)).unwrap();
        assert_eq!(plain.inference.temperature(), Some(0.5));
        assert!(matches!(
            plain.tool_config.unwrap().tool_choice,
            Some(bt::ToolChoice::Any(_))
        ));
    }

    #[test]
    fn config_wide_reasoning_skips_models_without_it_and_minimal_means_off() {
        let mut settings = Settings::default();
        settings.bedrock.reasoning = Some("high".into());
        let nova: crate::model::ModelSpec = "bedrock.amazon.nova-pro-v1:0".parse().unwrap();
        let f = Features::resolve(&nova, &settings);
        let parts = build("amazon.nova-pro-v1:0", &request(Default::default()), &f).unwrap();
        assert!(parts.additional.is_none());
        let claude: crate::model::ModelSpec = format!("bedrock.{CLAUDE}").parse().unwrap();
        let f = Features::resolve(&claude, &settings);
        let parts = build(CLAUDE, &request(Default::default()), &f).unwrap();
        assert!(parts.additional.is_some());
        settings.bedrock.reasoning = Some("minimal".into());
        assert!(Features::resolve(&claude, &settings).reasoning.is_none());
        // A spec's own ?reasoning= wins and fails loudly where it cannot apply.
        let explicit: crate::model::ModelSpec = "bedrock.amazon.nova-pro-v1:0?reasoning=high"
            .parse()
            .unwrap();
        let f = Features::resolve(&explicit, &settings);
        assert!(build("amazon.nova-pro-v1:0", &request(Default::default()), &f).is_err());
    }

    #[test]
    fn tool_choice_none_offers_no_tools() {
        let options = GenerationOptions {
            tool_choice: ToolChoice::None,
            ..Default::default()
        };
        let parts = build(CLAUDE, &request(options), &features(CacheMode::Off, None)).unwrap();
        assert!(parts.tool_config.is_none());
    }
}

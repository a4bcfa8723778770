//! `provider.model-id[?reasoning=…]` model specs, as fast-agent users already write them.

use std::fmt;
use std::str::FromStr;

/// The LLM providers Pallas knows. Only `bedrock` drives the loop today; the others parse so
/// configs written for them are validated now and work when their providers land.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Bedrock,
    Anthropic,
    OpenAi,
    Generic,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Bedrock,
        Provider::Anthropic,
        Provider::OpenAi,
        Provider::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Bedrock => "bedrock",
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Generic => "generic",
        }
    }

    fn valid_names() -> String {
        Provider::ALL
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How hard the model should think. Budgets are tokens; levels map per model family later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reasoning {
    Off,
    Adaptive,
    Level(String),
    Budget(u32),
}

impl FromStr for Reasoning {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = s.trim().to_ascii_lowercase();
        Ok(match v.as_str() {
            "none" | "false" | "off" | "no" | "disable" | "disabled" | "0" => Reasoning::Off,
            "auto" | "adaptive" | "true" | "on" | "yes" | "enable" | "enabled" | "1" => {
                Reasoning::Adaptive
            }
            "minimal" | "low" | "medium" | "high" | "xhigh" | "max" => Reasoning::Level(v),
            other => match other.parse::<u32>() {
                Ok(n) => Reasoning::Budget(n),
                Err(_) => {
                    return Err(format!(
                        "reasoning '{s}' is not one of none, auto, minimal, low, medium, high, xhigh, max or a token budget"
                    ));
                }
            },
        })
    }
}

/// A parsed model spec. `model_id` is exactly what the provider is sent (Bedrock ids keep
/// their `:0` suffix and any geo prefix such as `us.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub provider: Provider,
    pub model_id: String,
    pub reasoning: Option<Reasoning>,
    /// The spec as written, for messages.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelSpecError {
    #[error(
        "model spec is empty; write it as provider.model-id, e.g. bedrock.us.anthropic.claude-sonnet-4-6"
    )]
    Empty,
    #[error(
        "model spec '{spec}' has no provider; write it as provider.model-id (providers: {valid}), e.g. bedrock.{spec}"
    )]
    MissingProvider { spec: String, valid: String },
    #[error("unknown provider '{provider}' in '{spec}'; valid providers are: {valid}")]
    UnknownProvider {
        provider: String,
        spec: String,
        valid: String,
    },
    #[error("model spec '{spec}' names provider '{provider}' but no model id after it")]
    MissingModel { spec: String, provider: String },
    #[error("model spec '{spec}': {message}")]
    BadQuery { spec: String, message: String },
}

impl FromStr for ModelSpec {
    type Err = ModelSpecError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let spec = raw.trim();
        if spec.is_empty() {
            return Err(ModelSpecError::Empty);
        }
        let (head, query) = match spec.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (spec, None),
        };
        let Some(sep) = head.find(['.', '/']) else {
            return Err(ModelSpecError::MissingProvider {
                spec: spec.to_string(),
                valid: Provider::valid_names(),
            });
        };
        let (provider_name, model_id) = (&head[..sep], &head[sep + 1..]);
        let provider = Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(provider_name))
            .ok_or_else(|| ModelSpecError::UnknownProvider {
                provider: provider_name.to_string(),
                spec: spec.to_string(),
                valid: Provider::valid_names(),
            })?;
        if model_id.is_empty() {
            return Err(ModelSpecError::MissingModel {
                spec: spec.to_string(),
                provider: provider_name.to_string(),
            });
        }
        let mut reasoning = None;
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == "reasoning" {
                reasoning = Some(value.parse().map_err(|message| ModelSpecError::BadQuery {
                    spec: spec.to_string(),
                    message,
                })?);
            }
            // Other fast-agent query keys (temperature, transport, …) are accepted and ignored
            // here, as fast-agent ignores keys a provider does not use.
        }
        Ok(ModelSpec {
            provider,
            model_id: model_id.to_string(),
            reasoning,
            raw: spec.to_string(),
        })
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ModelSpec {
        s.parse().unwrap()
    }

    #[test]
    fn provider_and_model_split_at_first_dot() {
        let s = parse("bedrock.us.anthropic.claude-sonnet-4-6");
        assert_eq!(s.provider, Provider::Bedrock);
        assert_eq!(s.model_id, "us.anthropic.claude-sonnet-4-6");
        assert_eq!(
            parse("anthropic.claude-opus-4-7").model_id,
            "claude-opus-4-7"
        );
        assert_eq!(
            parse("openai.minimax.minimax-m2.5").model_id,
            "minimax.minimax-m2.5"
        );
        assert_eq!(parse("generic.llama3.2:latest").model_id, "llama3.2:latest");
        assert_eq!(
            parse("bedrock/amazon.nova-lite-v1:0").model_id,
            "amazon.nova-lite-v1:0"
        );
    }

    #[test]
    fn bedrock_ids_keep_version_suffix_and_reasoning_query() {
        let s = parse("bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0?reasoning=high");
        assert_eq!(s.model_id, "us.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert_eq!(s.reasoning, Some(Reasoning::Level("high".into())));
        assert_eq!(
            parse("bedrock.x.y?reasoning=4096").reasoning,
            Some(Reasoning::Budget(4096))
        );
    }

    #[test]
    fn unknown_provider_names_the_valid_ones() {
        let err = "bedrok.anthropic.claude".parse::<ModelSpec>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown provider 'bedrok'"), "{msg}");
        assert!(msg.contains("bedrock, anthropic, openai, generic"), "{msg}");
        assert!(matches!(
            "claude".parse::<ModelSpec>(),
            Err(ModelSpecError::MissingProvider { .. })
        ));
        assert!(matches!(
            "bedrock.x?reasoning=lots".parse::<ModelSpec>(),
            Err(ModelSpecError::BadQuery { .. })
        ));
    }
}

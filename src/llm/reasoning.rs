//! The one reasoning planner: `?reasoning=` / `<provider>.reasoning` → the request fields
//! each model family accepts, for every provider that serves it. Families differ: Claude
//! takes `thinking` (a token budget, or adaptive thinking on the newest models) in the same
//! shape on Bedrock (`additionalModelRequestFields`) and on the Anthropic API (the body),
//! gpt-oss takes `reasoning_effort`, Nova 2 takes `reasoningConfig`, and DeepSeek R1 /
//! MiniMax M2 always reason and accept no control.

use serde_json::{Value, json};

use super::error::{ErrorKind, LlmError};
use crate::model::Reasoning;
use crate::model::capabilities::base_model_id;

/// Smallest thinking budget Claude accepts.
pub const MIN_CLAUDE_BUDGET: u32 = 1024;

/// What to add to a request for reasoning.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasoningFields {
    /// Merged into `additionalModelRequestFields`.
    pub fields: Value,
    /// Claude thinking forbids `temperature`/`top_p` and forced tool choice.
    pub claude_thinking: bool,
}

/// The model id without geo prefix and provider namespace (`anthropic.`, `openai.`, …).
fn family_id(model_id: &str) -> String {
    let base = base_model_id(model_id).to_ascii_lowercase();
    // Application inference profile ARNs carry no family; treat them as unknown.
    base.split_once('.')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(base)
}

/// Claude models on which only adaptive thinking is accepted (manual budgets rejected).
fn claude_adaptive_only(id: &str) -> bool {
    id.starts_with("claude-opus-4-7")
}

/// Claude models that accept `thinking: {type: adaptive}` besides budgets.
fn claude_adaptive(id: &str) -> bool {
    claude_adaptive_only(id)
        || id.starts_with("claude-opus-4-6")
        || id.starts_with("claude-sonnet-4-6")
}

fn level_budget(level: &str) -> u32 {
    match level {
        "minimal" => 1024,
        "low" => 2048,
        "medium" => 8192,
        "high" => 16384,
        "xhigh" => 32000,
        _ => 64000, // max
    }
}

/// Effort names for models that take low/medium/high.
fn three_levels(r: &Reasoning) -> &'static str {
    match r {
        Reasoning::Level(l) if l == "minimal" || l == "low" => "low",
        Reasoning::Level(l) if l == "medium" => "medium",
        Reasoning::Level(_) => "high",
        Reasoning::Budget(n) if *n < 2048 => "low",
        Reasoning::Budget(n) if *n < 16384 => "medium",
        Reasoning::Budget(_) => "high",
        Reasoning::Adaptive | Reasoning::Off => "medium",
    }
}

/// The `reasoning_effort` a Chat Completions model takes for a setting: gpt-oss knows only
/// low/medium/high; OpenAI's own models take the level's name; a token budget becomes the
/// level it is closest to. `None`: leave the model's default (adaptive, off).
pub fn effort(model_id: &str, reasoning: &Reasoning) -> Option<String> {
    match reasoning {
        Reasoning::Off | Reasoning::Adaptive => None,
        _ if family_id(model_id).starts_with("gpt-oss") => Some(three_levels(reasoning).into()),
        Reasoning::Level(level) => Some(level.clone()),
        Reasoning::Budget(_) => Some(three_levels(reasoning).into()),
    }
}

/// The request fields for `reasoning` on `model_id` with `max_tokens` output tokens, or a
/// message saying why this model cannot do it. `has_reasoning` is the capability flag.
pub fn fields(
    model_id: &str,
    reasoning: &Reasoning,
    max_tokens: u32,
    has_reasoning: bool,
) -> Result<Option<ReasoningFields>, String> {
    if *reasoning == Reasoning::Off {
        return Ok(None);
    }
    let id = family_id(model_id);
    let plain = |fields: Value| {
        Ok(Some(ReasoningFields {
            fields,
            claude_thinking: false,
        }))
    };
    if id.starts_with("claude") {
        if !has_reasoning {
            return Err(no_reasoning(model_id));
        }
        let thinking = |fields: Value| {
            Ok(Some(ReasoningFields {
                fields,
                claude_thinking: true,
            }))
        };
        if claude_adaptive_only(&id) {
            return match reasoning {
                Reasoning::Adaptive => thinking(json!({"thinking": {"type": "adaptive"}})),
                Reasoning::Level(l) => {
                    let effort = match l.as_str() {
                        "minimal" => "low",
                        other => other,
                    };
                    thinking(json!({
                        "thinking": {"type": "adaptive"},
                        "output_config": {"effort": effort}
                    }))
                }
                Reasoning::Budget(n) => Err(format!(
                    "model '{model_id}' only supports adaptive thinking, not a token budget ({n}); use reasoning=auto or a level (low, medium, high, max)"
                )),
                Reasoning::Off => Ok(None),
            };
        }
        let budget = match reasoning {
            Reasoning::Adaptive if claude_adaptive(&id) => {
                return thinking(json!({"thinking": {"type": "adaptive"}}));
            }
            Reasoning::Adaptive => level_budget("medium"),
            Reasoning::Level(l) => level_budget(l),
            Reasoning::Budget(n) => {
                if *n < MIN_CLAUDE_BUDGET {
                    return Err(format!(
                        "reasoning budget {n} is below Claude's minimum of {MIN_CLAUDE_BUDGET} tokens; use reasoning={MIN_CLAUDE_BUDGET} or more"
                    ));
                }
                if *n >= max_tokens {
                    return Err(format!(
                        "reasoning budget {n} must be below max_tokens ({max_tokens}); lower the budget or raise the agent's max_tokens"
                    ));
                }
                *n
            }
            Reasoning::Off => return Ok(None),
        };
        if max_tokens <= MIN_CLAUDE_BUDGET {
            return Err(format!(
                "thinking needs max_tokens above {MIN_CLAUDE_BUDGET}, but it is {max_tokens}; raise the agent's max_tokens"
            ));
        }
        // A level's budget is a target: keep a quarter of the output limit for the answer
        // itself (thinking tokens count against max_tokens).
        let ceiling = max_tokens
            .saturating_sub((max_tokens / 4).max(1))
            .max(MIN_CLAUDE_BUDGET);
        let budget = match reasoning {
            Reasoning::Budget(_) => budget,
            _ => budget.min(ceiling),
        };
        return thinking(json!({"thinking": {"type": "enabled", "budget_tokens": budget}}));
    }
    if id.starts_with("gpt-oss") {
        return plain(json!({"reasoning_effort": three_levels(reasoning)}));
    }
    if id.starts_with("nova-2") {
        return plain(json!({
            "reasoningConfig": {"type": "enabled", "maxReasoningEffort": three_levels(reasoning)}
        }));
    }
    if id.starts_with("r1") || id.starts_with("deepseek-r1") || id.starts_with("minimax-m2") {
        // These reason on every call and take no reasoning parameter.
        return Ok(None);
    }
    if has_reasoning {
        // A reasoning model Pallas has no mapping for: pass nothing rather than guess.
        return Ok(None);
    }
    Err(no_reasoning(model_id))
}

/// The reasoning setting in effect for one model and whether it was asked for on this model
/// explicitly (`?reasoning=`): explicit ones that cannot apply are errors, a config-wide
/// setting is skipped for models without reasoning.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasoningSetting {
    pub reasoning: Reasoning,
    pub explicit: bool,
}

impl ReasoningSetting {
    /// A spec's own `?reasoning=` wins over the provider's config-wide text.
    pub fn resolve(spec: Option<&Reasoning>, config: Option<&str>) -> Option<ReasoningSetting> {
        if let Some(r) = spec {
            return Some(ReasoningSetting {
                reasoning: r.clone(),
                explicit: true,
            });
        }
        match config?.parse::<Reasoning>() {
            Ok(reasoning) => Some(ReasoningSetting {
                reasoning,
                explicit: false,
            }),
            Err(e) => {
                tracing::warn!("reasoning setting ignored: {e}");
                None
            }
        }
    }

    /// The fields for one call, applying the explicit / config-wide rule.
    pub fn plan(
        &self,
        model_id: &str,
        max_tokens: u32,
        has_reasoning: bool,
    ) -> Result<Option<ReasoningFields>, LlmError> {
        match fields(model_id, &self.reasoning, max_tokens, has_reasoning) {
            Ok(fields) => Ok(fields),
            Err(message) if self.explicit => Err(LlmError::new(ErrorKind::InvalidRequest, message)),
            Err(message) => {
                tracing::debug!(
                    model = model_id,
                    "config-wide reasoning left off: {message}"
                );
                Ok(None)
            }
        }
    }
}

fn no_reasoning(model_id: &str) -> String {
    format!(
        "model '{model_id}' has no reasoning (extended thinking); remove the reasoning setting or use a reasoning model such as us.anthropic.claude-sonnet-4-6, openai.gpt-oss-120b-1:0 or amazon.nova-2-lite-v1:0 (or set model_capabilities.reasoning: true if the table is out of date)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(l: &str) -> Reasoning {
        Reasoning::Level(l.into())
    }

    #[test]
    fn claude_budgets_stay_in_bounds_and_adaptive_where_required() {
        let f = fields(
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            &level("high"),
            8000,
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            f.fields,
            json!({"thinking": {"type": "enabled", "budget_tokens": 6000}})
        );
        assert!(f.claude_thinking);
        let f = fields(
            "anthropic.claude-sonnet-4-5",
            &Reasoning::Budget(2000),
            64000,
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(f.fields["thinking"]["budget_tokens"], 2000);
        assert!(
            fields(
                "anthropic.claude-sonnet-4-5",
                &Reasoning::Budget(500),
                64000,
                true
            )
            .unwrap_err()
            .contains("minimum of 1024")
        );
        assert!(
            fields(
                "anthropic.claude-sonnet-4-5",
                &Reasoning::Budget(9000),
                4000,
                true
            )
            .unwrap_err()
            .contains("below max_tokens")
        );
        let f = fields(
            "global.anthropic.claude-opus-4-7",
            &level("medium"),
            64000,
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(f.fields["thinking"]["type"], "adaptive");
        assert_eq!(f.fields["output_config"]["effort"], "medium");
        assert!(
            fields(
                "anthropic.claude-opus-4-7",
                &Reasoning::Budget(4096),
                64000,
                true
            )
            .is_err()
        );
        assert_eq!(
            fields(
                "anthropic.claude-sonnet-4-6",
                &Reasoning::Adaptive,
                64000,
                true
            )
            .unwrap()
            .unwrap()
            .fields,
            json!({"thinking": {"type": "adaptive"}})
        );
    }

    #[test]
    fn chat_completions_efforts_follow_the_family() {
        assert_eq!(
            effort("gpt-oss-120b", &level("max")).as_deref(),
            Some("high")
        );
        assert_eq!(
            effort("gpt-5", &level("minimal")).as_deref(),
            Some("minimal")
        );
        assert_eq!(
            effort("gpt-5", &Reasoning::Budget(8000)).as_deref(),
            Some("medium")
        );
        assert_eq!(effort("gpt-5", &Reasoning::Adaptive), None);
    }

    #[test]
    fn other_families_and_models_without_reasoning() {
        assert_eq!(
            fields("openai.gpt-oss-120b-1:0", &level("minimal"), 8000, true)
                .unwrap()
                .unwrap()
                .fields,
            json!({"reasoning_effort": "low"})
        );
        assert_eq!(
            fields("us.amazon.nova-2-lite-v1:0", &level("high"), 8000, true)
                .unwrap()
                .unwrap()
                .fields["reasoningConfig"]["maxReasoningEffort"],
            "high"
        );
        assert_eq!(
            fields("us.deepseek.r1-v1:0", &level("high"), 8000, true),
            Ok(None)
        );
        let err = fields("amazon.nova-pro-v1:0", &level("high"), 8000, false).unwrap_err();
        assert!(err.contains("has no reasoning"), "{err}");
        assert_eq!(
            fields("amazon.nova-pro-v1:0", &Reasoning::Off, 8000, false),
            Ok(None)
        );
    }
}

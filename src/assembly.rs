//! One agent of a loaded [`Project`] → the parts that run it: its resolved capabilities and
//! its LLM provider.
//!
//! `pallas serve` ([`crate::fleet`]) and `pallas check` ([`crate::cli`]) both go through
//! [`assemble_agent`], so check validates exactly what serve runs. Provider-specific rules
//! (a model Mantle cannot serve, reasoning a model cannot do) are checked here rather than
//! in `config`: they belong to the providers, and `config` stays free of `llm`.

use std::sync::Arc;

use crate::config::{AgentConfig, AgentError, Diagnostic, Project, Settings};
use crate::llm::{LlmProvider, ProviderOverrides, build_provider};
use crate::model::{ModelCapabilities, Provider};

/// An agent that passed the provider checks, with its capabilities resolved (once).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPlan {
    pub config: AgentConfig,
    pub capabilities: ModelCapabilities,
}

/// An agent ready to serve or to preflight.
pub struct AssembledAgent {
    pub plan: AgentPlan,
    pub llm: Arc<dyn LlmProvider>,
}

/// Resolves the agent's capabilities and applies the provider rules. `Err` is this agent's
/// problem, worded like every config message (`{file}:{line}: {field}: {problem}; {fix}`).
pub fn plan_agent(project: &Project, config: &AgentConfig) -> Result<AgentPlan, Diagnostic> {
    let fail = |problem: String| config.model_at.diagnostic(&problem).for_agent(&config.name);
    if let Some(problem) = crate::llm::mantle::startup_problem(&config.model, &project.settings) {
        return Err(fail(problem));
    }
    let capabilities =
        ModelCapabilities::resolve(&config.model.model_id, &config.capability_overrides);
    // An explicit `?reasoning=` the model cannot honour fails here, not on the first call.
    if let (Provider::Bedrock, Some(reasoning)) = (config.model.provider, &config.model.reasoning) {
        let max_tokens = config
            .options
            .max_tokens
            .unwrap_or(capabilities.max_output_tokens);
        crate::llm::reasoning::fields(
            &config.model.model_id,
            reasoning,
            max_tokens,
            capabilities.reasoning,
        )
        .map_err(fail)?;
    }
    Ok(AgentPlan {
        config: config.clone(),
        capabilities,
    })
}

/// Moves every agent that fails [`plan_agent`] from `agents` to `agent_errors`, so a
/// loaded project reports provider problems the way it reports config problems.
pub fn validate_project(project: &mut Project) {
    let agents = std::mem::take(&mut project.agents);
    for config in agents {
        match plan_agent(project, &config) {
            Ok(_) => project.agents.push(config),
            Err(problem) => {
                project.agent_errors.push(AgentError::from(&problem));
                project.diagnostics.push(problem);
            }
        }
    }
}

/// Plans the agent and builds its provider (once). Both `serve` and `check` call this.
pub async fn assemble_agent(
    project: &Project,
    config: &AgentConfig,
    overrides: &ProviderOverrides,
) -> Result<AssembledAgent, Diagnostic> {
    let plan = plan_agent(project, config)?;
    let llm = build_provider(
        &plan.config.model,
        &provider_settings(&project.settings, &plan.config),
        overrides,
    )
    .await;
    Ok(AssembledAgent { plan, llm })
}

/// The settings a provider sees for this agent: the agent's own capability overrides
/// (already layered over the config-wide ones), e.g. `streaming_with_tools: false` or
/// `prompt_caching: false` for this agent's model only.
fn provider_settings(settings: &Settings, config: &AgentConfig) -> Settings {
    Settings {
        model_capabilities: config.capability_overrides.clone(),
        ..settings.clone()
    }
}

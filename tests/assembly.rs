//! `pallas check` and `pallas serve` assemble agents through one function, so what check
//! validates is what serve runs: same capabilities, same options, same provider settings.

mod common;

use common::*;
use pallas::assembly::AgentPlan;

const AGENTS: &str = r#"
name: assembly
host: 127.0.0.1
registry_port: 0
agents:
  plain:
    port: 0
    instruction: "PLAIN agent."
  own:
    port: 0
    instruction: "OWN agent."
    max_tokens: 2048
    model_capabilities: {prompt_caching: false, context_window: 1234}
"#;

const CONFIG: &str = r#"
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
model_capabilities: {vision: false}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_serve_assemble_the_same_agents_and_honour_agent_overrides() {
    let run = start(AGENTS, CONFIG).await;
    let project = load(&run.dir.path().join("agents.yaml"));
    let overrides = pallas::cli::simulator_overrides(&run.sim);

    let checked = pallas::check::report(&project, &overrides).await;
    assert!(checked.ok(), "{:?}", checked.errors);
    let checked: Vec<AgentPlan> = checked.agents.into_iter().map(|(plan, _)| plan).collect();
    let served: Vec<AgentPlan> = run
        .fleet
        .agents
        .iter()
        .map(|a| AgentPlan {
            config: a.runtime.agent.config.clone(),
            capabilities: a.runtime.agent.capabilities.clone(),
        })
        .collect();
    assert_eq!(checked, served);

    let own = &served[1];
    assert_eq!(own.config.name, "own");
    assert_eq!(own.capabilities.context_window, 1234);
    assert!(!own.capabilities.prompt_caching);
    assert!(
        !own.capabilities.vision,
        "config-wide override still applies"
    );
    assert_eq!(own.config.options.max_tokens, Some(2048));
    assert!(served[0].capabilities.prompt_caching);

    // The provider sees the agent's own overrides too: no cache points for `own`.
    for agent in ["plain", "own"] {
        let (client, _) = connect(&run.url(agent)).await;
        ask(&client, agent, "hello").await;
        client.cancel().await.unwrap();
    }
    let bodies: Vec<String> = run
        .converse_requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    let body = |marker: &str| {
        bodies
            .iter()
            .find(|b| b.contains(marker))
            .unwrap_or_else(|| panic!("no request with {marker}: {bodies:?}"))
            .clone()
    };
    assert!(body("PLAIN agent.").contains("cachePoint"));
    assert!(!body("OWN agent.").contains("cachePoint"));
    assert!(body("OWN agent.").contains("\"maxTokens\":2048"));
    run.fleet.shutdown().await;
}

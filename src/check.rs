//! `pallas check`: every agent assembled exactly as `pallas serve` assembles it
//! ([`crate::assembly::assemble_agent`]), its provider preflighted, the result printed.

use std::process::ExitCode;

use crate::assembly::{AgentPlan, assemble_agent};
use crate::config::{AgentError, BedrockSettings, Project};
use crate::llm::{Preflight, PreflightStatus, ProviderOverrides};
use crate::model::ModelCapabilities;
use crate::redact::redact_text;

/// What `pallas check` found, before it is printed.
pub struct CheckReport {
    /// Agents that assembled, in file order, with their provider's preflight.
    pub agents: Vec<(AgentPlan, Preflight)>,
    /// Config problems, then provider problems found while assembling.
    pub errors: Vec<AgentError>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
            && self
                .agents
                .iter()
                .all(|(_, p)| p.status == PreflightStatus::Ok)
    }
}

/// Assembles and preflights every agent of `project`.
pub async fn report(project: &Project, overrides: &ProviderOverrides) -> CheckReport {
    let mut report = CheckReport {
        agents: Vec::new(),
        errors: project.agent_errors.clone(),
    };
    for config in &project.agents {
        match assemble_agent(project, config, overrides).await {
            Ok(assembled) => {
                let preflight = assembled.llm.preflight().await;
                report.agents.push((assembled.plan, preflight));
            }
            Err(problem) => report.errors.push(AgentError::from(&problem)),
        }
    }
    report
}

/// Runs the check and prints it; failure when any agent has an error or a failed preflight.
pub async fn run(project: &Project) -> ExitCode {
    println!(
        "{} {} — {} (registry port {}, bind {}, host {})",
        project.name,
        project.version,
        project.agents_file.display(),
        project.registry_port,
        project.bind,
        project.host
    );
    if let Some(f) = &project.settings.config_file {
        println!("config:  {}", f.display());
    }
    if let Some(f) = &project.settings.secrets_file {
        println!("secrets: {}", f.display());
    }
    for w in &project.warnings {
        println!("warning: {}", redact_text(w));
    }
    let registry_auth = project
        .auth
        .as_ref()
        .map_or_else(|| "none (not configured)".to_string(), |p| p.describe());
    println!("registry auth: {registry_auth}");
    let report = report(project, &ProviderOverrides::default()).await;
    let servers = probe_servers(project, &report).await;
    for (plan, preflight) in &report.agents {
        print_agent(project, plan, preflight, &servers);
    }
    for e in &report.errors {
        println!("\nerror: agent {}: {}", e.agent, redact_text(&e.message));
    }
    if let Err(exposed) = crate::fleet::check_exposure(project) {
        println!("\nerror: {exposed}");
        return ExitCode::FAILURE;
    }
    let servers_ok = servers.values().all(|h| h.status == "ok");
    if report.ok() && servers_ok {
        println!("\nall {} agent(s) ok", report.agents.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts (or connects to) each downstream server the assembled agents use, once, and asks
/// it for its tools, so a command that does not exist or a URL that does not answer fails
/// the check instead of passing it.
async fn probe_servers(
    project: &Project,
    report: &CheckReport,
) -> std::collections::BTreeMap<String, crate::downstream::ServerHealth> {
    let used: std::collections::BTreeSet<&String> = report
        .agents
        .iter()
        .flat_map(|(plan, _)| &plan.config.servers)
        .collect();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let timings = crate::downstream::Timings {
        handshake: std::time::Duration::from_secs(15),
        ..Default::default()
    };
    let pool = crate::fleet::start_servers(project, used.iter().copied(), &shutdown, timings);
    pool.settle(std::time::Duration::from_secs(20)).await;
    let mut health = std::collections::BTreeMap::new();
    for name in used {
        if let Some(server) = pool.get(name) {
            health.insert(name.clone(), server.probe().await);
        }
    }
    shutdown.cancel();
    pool.closed(std::time::Duration::from_secs(5)).await;
    health
}

fn print_agent(
    project: &Project,
    plan: &AgentPlan,
    preflight: &Preflight,
    servers: &std::collections::BTreeMap<String, crate::downstream::ServerHealth>,
) {
    let (agent, caps) = (&plan.config, &plan.capabilities);
    println!("\nagent {} ({})", agent.name, agent.title);
    println!("  port:         {}", agent.port);
    println!("  tool:         {}", agent.tool_name);
    let auth = project
        .auth_for(agent)
        .map_or_else(|| "none (not configured)".to_string(), |p| p.describe());
    println!("  auth:         {auth}");
    println!(
        "  model:        {} (provider {}, id {})",
        agent.model, agent.model.provider, agent.model.model_id
    );
    println!(
        "  capabilities: vision={} context_window={} max_output_tokens={} reasoning={} prompt_caching={} streaming_with_tools={} documents={}{}{}",
        caps.vision,
        caps.context_window,
        caps.max_output_tokens,
        caps.reasoning,
        caps.prompt_caching,
        caps.streaming_with_tools,
        caps.documents,
        profile_note(caps),
        if caps.known {
            ""
        } else {
            " (model not in the built-in table: conservative defaults; set model_capabilities)"
        }
    );
    if let Some(advice) = profile_advice(agent, &project.settings.bedrock, caps) {
        println!("  warning:      {advice}");
    }
    for s in &agent.servers {
        let transport = project
            .settings
            .mcp_servers
            .get(s)
            .map(|c| c.transport.kind())
            .unwrap_or("?");
        let state = match servers.get(s) {
            Some(h) if h.status == "ok" => format!("ok, answers initialize, {} tools", h.tools),
            Some(h) => format!(
                "ERROR: {}",
                crate::redact::redact_text(h.error.as_deref().unwrap_or("not connected"))
            ),
            None => "not checked".to_string(),
        };
        println!("  server:       {s} ({transport}): {state}");
    }
    let label = match preflight.status {
        PreflightStatus::Ok => "ok",
        PreflightStatus::Error => "ERROR",
    };
    println!(
        "  preflight:    {label}: {}",
        redact_text(&preflight.message)
    );
}

/// `inference_profile=required (us. eu.)` for `pallas check`.
fn profile_note(caps: &ModelCapabilities) -> String {
    let geos: Vec<String> = caps.geo_prefixes.iter().map(|g| format!("{g}.")).collect();
    match (caps.requires_inference_profile, geos.is_empty()) {
        (true, _) => format!(" inference_profile=required ({})", geos.join(" ")),
        (false, false) => format!(" inference_profile=optional ({})", geos.join(" ")),
        (false, true) => String::new(),
    }
}

/// With `cross_region: off`, a plain id of a profile-only model cannot work: say so before
/// the first call fails, naming the profile id to use.
fn profile_advice(
    agent: &crate::config::AgentConfig,
    bedrock: &BedrockSettings,
    caps: &ModelCapabilities,
) -> Option<String> {
    use crate::model::cross_region::{CrossRegion, profile_id_for};
    if agent.model.provider != crate::model::Provider::Bedrock
        || bedrock.cross_region != CrossRegion::Off
        || !caps.requires_inference_profile
    {
        return None;
    }
    let region = crate::llm::bedrock::resolve_region(bedrock);
    let id = &agent.model.model_id;
    let profile = profile_id_for(id, &region, caps.geo_prefixes)?;
    Some(format!(
        "'{id}' is only served through an inference profile and bedrock.cross_region is off: calls will fail with \"on-demand throughput isn't supported\"; use model bedrock.{profile} for {region}, or set cross_region: auto"
    ))
}

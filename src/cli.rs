//! `pallas serve | check | models | conversations | simulate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Project, load_project};
use crate::fleet::Fleet;
use crate::llm::ProviderOverrides;
use pallas_simulator::Simulator;

#[derive(Parser)]
#[command(
    name = "pallas",
    version,
    about = "Serve a fleet of MCP agents from agents.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every agent and the registry; runs until SIGINT/SIGTERM.
    Serve {
        /// Path to agents.yaml.
        #[arg(long, default_value = "agents.yaml")]
        config: PathBuf,
        /// Run against the built-in Bedrock simulator (offline, dummy credentials).
        #[arg(long)]
        simulate: bool,
        /// With --simulate: how long the simulated model takes, e.g.
        /// `first_token=800ms,tokens_per_second=60,jitter=200ms` (default: no delay).
        #[arg(long, value_name = "PROFILE", requires = "simulate")]
        simulate_latency: Option<pallas_simulator::LatencyProfile>,
    },
    /// Validate the configuration and run the LLM preflight; non-zero exit on any error.
    Check {
        #[arg(long, default_value = "agents.yaml")]
        config: PathBuf,
    },
    /// List the Bedrock foundation models and inference profiles of a region (cached for a
    /// day; `--refresh` fetches again).
    Models {
        /// Region to list (default: bedrock.region from --config, AWS_REGION,
        /// AWS_DEFAULT_REGION, then us-east-1).
        #[arg(long)]
        region: Option<String>,
        /// Only these providers, comma-separated (e.g. anthropic,amazon).
        #[arg(long, value_delimiter = ',')]
        provider: Vec<String>,
        /// Ignore the cache and fetch the listing again.
        #[arg(long)]
        refresh: bool,
        /// Print the listing as JSON.
        #[arg(long)]
        json: bool,
        /// agents.yaml whose fastagent.config.yaml supplies bedrock.region / profile.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List, show or delete stored conversations (the store `conversations:` names).
    Conversations {
        #[arg(long, default_value = "agents.yaml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: crate::conversations_cli::ConversationsCommand,
    },
    /// Run the Bedrock simulator on its own.
    Simulate {
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// How long the simulated model takes, e.g.
        /// `first_token=800ms,tokens_per_second=60,jitter=200ms` (default: no delay).
        #[arg(long, value_name = "PROFILE", default_value = "")]
        latency: pallas_simulator::LatencyProfile,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let project = match &cli.command {
        Command::Serve { config, .. }
        | Command::Check { config }
        | Command::Conversations { config, .. } => match load(config) {
            Ok(p) => Some(p),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        },
        Command::Models {
            config: Some(config),
            ..
        } => match load(config) {
            Ok(p) => Some(p),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        },
        Command::Simulate { .. } | Command::Models { .. } => None,
    };
    if let Some(project) = &project {
        // SAFETY: no other thread exists yet (the runtime starts below), so changing the
        // environment cannot race a reader. `.env` only fills variables that are unset.
        for (key, value) in &project.dotenv {
            unsafe { std::env::set_var(key, value) };
        }
    }
    init_tracing(
        project
            .as_ref()
            .and_then(|p| p.settings.log_level.as_deref()),
        project
            .as_ref()
            .map(|p| p.settings.log_format)
            .unwrap_or_default(),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match (cli.command, project) {
            (
                Command::Serve {
                    simulate,
                    simulate_latency,
                    ..
                },
                Some(project),
            ) => {
                serve(
                    project,
                    simulate.then(|| simulate_latency.unwrap_or_default()),
                )
                .await
            }
            (Command::Check { .. }, Some(project)) => crate::check::run(&project).await,
            (Command::Conversations { command, .. }, Some(project)) => {
                crate::conversations_cli::run(&project, command).await
            }
            (
                Command::Models {
                    region,
                    provider,
                    refresh,
                    json,
                    ..
                },
                project,
            ) => {
                let mut settings = project.map(|p| p.settings.bedrock).unwrap_or_default();
                if region.is_some() {
                    settings.region = region;
                }
                models(&settings, &provider, refresh, json).await
            }
            (Command::Simulate { port, latency }, _) => {
                match pallas_simulator::run_standalone(port, latency).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: simulator: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            _ => unreachable!("serve and check always load a project"),
        }
    })
}

fn load(path: &Path) -> Result<Project, String> {
    load_project(path).map_err(|e| e.to_string())
}

fn init_tracing(logger_level: Option<&str>, format: crate::config::LogFormat) {
    let level = match logger_level.map(str::to_ascii_lowercase).as_deref() {
        Some("debug") => "debug",
        Some("warning" | "warn") => "warn",
        Some("error") => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},rmcp=warn,aws_config=warn,aws_smithy_runtime=warn,hyper=warn"
        ))
    });
    use std::io::IsTerminal;
    if format == crate::config::LogFormat::Json {
        // One object per line: timestamp, level, target, and the event's fields (agent, …)
        // at the top level, so log shippers can index them without parsing the message.
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(crate::redact::RedactingStderr)
        .try_init();
}

/// `simulate`: the built-in simulator's latency profile, when `--simulate` was given.
async fn serve(project: Project, simulate: Option<pallas_simulator::LatencyProfile>) -> ExitCode {
    for w in &project.warnings {
        tracing::warn!("{w}");
    }
    let mut overrides = ProviderOverrides::default();
    let simulator = if let Some(latency) = simulate {
        match Simulator::start(([127, 0, 0, 1], 0).into()).await {
            Ok(sim) => {
                sim.set_latency_profile(latency);
                tracing::info!("Bedrock simulator at {}", sim.endpoint_url());
                overrides = simulator_overrides(&sim);
                Some(sim)
            }
            Err(e) => {
                eprintln!("error: cannot start the Bedrock simulator: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let fleet = match Fleet::start(&project, &overrides).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for failed in &fleet.failed {
        eprintln!(
            "error: agent '{}' is not serving: {}",
            failed.name, failed.error
        );
    }
    if fleet.agents.is_empty() && !fleet.failed.is_empty() {
        eprintln!("error: no agent could start; fix the errors above");
        fleet.shutdown().await;
        return ExitCode::FAILURE;
    }
    println!("pallas ready: registry=http://{}", fleet.registry_addr);
    for a in &fleet.agents {
        let c = &a.runtime.agent.config;
        println!(
            "  agent {:<16} http://{}/mcp  tool={}  model={}",
            a.name, a.addr, c.tool_name, c.model
        );
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    fleet.shutdown().await;
    if let Some(sim) = simulator {
        sim.shutdown();
    }
    ExitCode::SUCCESS
}

/// `--simulate`: the Bedrock provider talks to the in-process simulator with dummy
/// credentials, through the same SDK code path as production.
pub fn simulator_overrides(sim: &Simulator) -> ProviderOverrides {
    ProviderOverrides {
        bedrock_endpoint_url: Some(sim.endpoint_url()),
        bedrock_static_credentials: Some(aws_credential_types::Credentials::new(
            "AKIDSIMULATOR",
            "simulator-secret",
            None,
            None,
            "pallas-simulator",
        )),
        http_simulator_url: Some(sim.endpoint_url()),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `pallas models`.
async fn models(
    settings: &crate::config::BedrockSettings,
    providers: &[String],
    refresh: bool,
    json: bool,
) -> ExitCode {
    match crate::catalogue::load(settings, refresh).await {
        Ok((mut catalogue, from_cache)) => {
            catalogue.filter_providers(providers);
            if json {
                match serde_json::to_string_pretty(&catalogue) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", catalogue.render(from_cache));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

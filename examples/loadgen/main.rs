//! `loadgen`: a load generator for any MCP agent tool, and Pallas's end-to-end benchmark.
//!
//! Two targets:
//! - **Pallas, started here** (the default): runs `pallas serve --simulate --config CONFIG`
//!   (the built-in Bedrock simulator stands in for the LLM), waits for its ready line and
//!   drives the first agent the registry lists. The bench config's agent calls the
//!   downstream tool `notes__now` once per request, so every call is a full round trip:
//!   `client ─MCP─▶ agent ─▶ simulated LLM ─▶ notes__now (stdio) ─▶ LLM ─▶ reply`.
//!   The server's peak RSS and CPU time per request are reported.
//! - **Any running MCP server**: `--url URL --tool NAME [--message TEXT] [--expect TEXT]`
//!   (fast-agent, another Pallas, …); `--server-pid PID` adds its RSS and CPU figures.
//!
//! Load shapes: a closed loop of `--clients N` clients each calling back to back, or an open
//! loop (`--rate R`) that starts R calls per second whatever the latency, spread over
//! `--clients` connections. Clients speak the 2025-11-25 session protocol or the stateless
//! 2026-07-28 one (`--protocol`). Calls started during the warm-up are not counted; if every
//! warm-up call fails, loadgen stops and quotes the first error instead of measuring errors.
//! At the end it prints requests/s, latency percentiles, errors by kind and one JSON line.
//!
//! ```text
//! cargo build --release --bin pallas --examples   # pallas + notes_server + loadgen
//! target/release/examples/loadgen                 # Pallas, 16 session clients, 20 s
//! target/release/examples/loadgen --protocol stateless --clients 64
//! target/release/examples/loadgen --rate 200 --clients 8
//! target/release/examples/loadgen --url http://127.0.0.1:8201/mcp --tool jarvis
//! ```

mod client;
mod server;
mod stats;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;

use client::{CallSpec, Client, ErrorKind, Protocol};
use stats::{Recorder, ReportSetup};

/// The message sent by default: naming `notes__now` makes the simulated model call it.
const MESSAGE: &str = "Please call notes__now and tell me the time";
/// A successful reply of the simulated model to that message contains this text.
const OK_MARKER: &str = "Tool results";

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Load generator for an MCP agent tool (Pallas by default)"
)]
struct Cli {
    /// Drive this already running MCP endpoint instead of starting Pallas (needs --tool).
    #[arg(long, value_name = "URL", requires = "tool")]
    url: Option<String>,
    /// The tool to call (default with a started Pallas: its first agent's tool).
    #[arg(long)]
    tool: Option<String>,
    /// The `message` argument of every call.
    #[arg(long, default_value = MESSAGE)]
    message: String,
    /// A reply must contain this text to count as ok (default with a started Pallas:
    /// "Tool results"; with --url: any reply that is not an error result).
    #[arg(long)]
    expect: Option<String>,
    /// Session (2025-11-25) or stateless (2026-07-28) clients.
    #[arg(long, value_enum, default_value_t = Protocol::Session)]
    protocol: Protocol,
    /// Concurrent clients (closed loop), or connections the open loop spreads calls over.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Open loop: start this many calls per second, whatever the latency.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Open loop: a call due while this many are in flight is not sent and counts as an error.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: usize,
    /// Measured duration, in seconds (after the warm-up).
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Warm-up, in seconds; calls started during it are not counted.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Per-call timeout in seconds; a call that takes longer counts as an error.
    #[arg(long, default_value_t = 60.0)]
    call_timeout: f64,
    /// Bearer token sent with every request.
    #[arg(long, env = "LOADGEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// With --url: the server's process id, for its peak RSS and CPU per request.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// The pallas binary to start.
    #[arg(long, default_value = "target/release/pallas")]
    pallas: PathBuf,
    /// The agents.yaml the started Pallas serves.
    #[arg(long, default_value = "examples/bench/agents.yaml")]
    config: PathBuf,
    /// Passed to the started Pallas as NOTES_SERVER (the bench config's downstream command).
    #[arg(long, value_name = "PATH")]
    notes_server: Option<PathBuf>,
    /// The conversation store of the started Pallas (default: what --config says).
    #[arg(long, value_enum)]
    store: Option<store::StoreChoice>,
    /// PostgreSQL URL for --store postgres.
    #[arg(long, env = "LOADGEN_POSTGRES_URL", hide_env_values = true)]
    store_url: Option<String>,
    /// Every client continues its own conversation (the `conversation` argument) for N
    /// turns, then starts a new one; the report adds the latency at turn 1 and at turn N.
    #[arg(long, value_name = "N")]
    turns: Option<u32>,
    /// Write the started Pallas's stderr to this file (default: discarded).
    #[arg(long, value_name = "PATH")]
    server_log: Option<PathBuf>,
}

fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    if !value.is_finite() || value < 0.0 {
        bail!("--{what} must be a non-negative number of seconds, got {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

/// The target of the load, however it was found.
struct Target {
    url: String,
    tool: String,
    expect: Option<String>,
    pid: Option<u32>,
}

/// The timing of one run, shared by every client.
#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    deadline: Instant,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = match &cli.url {
        Some(url) => {
            let target = Target {
                url: url.clone(),
                tool: cli.tool.clone().context("--url needs --tool")?,
                expect: cli.expect.clone(),
                pid: cli.server_pid,
            };
            run(&cli, &target).await?
        }
        None => {
            let project = cli
                .store
                .map(|s| {
                    store::project_with_store(
                        &cli.config,
                        s,
                        cli.store_url.as_deref(),
                        cli.notes_server.as_deref(),
                    )
                })
                .transpose()?;
            let launch = server::Launch {
                pallas: &cli.pallas,
                config: project.as_ref().map_or(&cli.config, |p| &p.config),
                notes_server: project
                    .as_ref()
                    .map(|p| p.notes_server.as_path())
                    .or(cli.notes_server.as_deref()),
                server_log: cli.server_log.as_deref(),
            };
            let mut child = server::spawn(&launch)?;
            let outcome = async {
                let (registry, took) = server::wait_ready(&mut child).await?;
                eprintln!(
                    "pallas ready after {:.3} s, registry {registry}",
                    took.as_secs_f64()
                );
                let agent = server::first_agent(&registry).await?;
                eprintln!(
                    "agent '{}' at {} (tool '{}', model {})",
                    agent.name,
                    agent.url,
                    agent.tool,
                    agent.model.as_deref().unwrap_or("?")
                );
                let target = Target {
                    url: agent.url,
                    tool: cli.tool.clone().unwrap_or(agent.tool),
                    expect: Some(cli.expect.clone().unwrap_or_else(|| OK_MARKER.into())),
                    pid: child.id(),
                };
                run(&cli, &target).await
            }
            .await;
            server::stop(&mut child).await;
            outcome?
        }
    };
    report.print();
    if report.requests_ok == 0 {
        bail!("no request succeeded");
    }
    Ok(())
}

async fn run(cli: &Cli, target: &Target) -> anyhow::Result<stats::Report> {
    let warmup = seconds(cli.warmup, "warmup")?;
    let duration = seconds(cli.duration, "duration")?;
    if duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    if let Some(rate) = cli.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of calls per second, got {rate}");
    }
    let clients = cli.clients.max(1);
    if cli.turns.is_some() && cli.rate.is_some() {
        bail!("--turns works with the closed loop only (drop --rate)");
    }
    if cli.turns == Some(0) {
        bail!("--turns must be at least 1");
    }
    let mut arguments = serde_json::Map::new();
    arguments.insert("message".into(), cli.message.clone().into());
    let spec = Arc::new(CallSpec {
        tool: target.tool.clone(),
        arguments,
        expect: target.expect.clone(),
        timeout: seconds(cli.call_timeout, "call-timeout")?,
    });

    let connecting = std::iter::repeat_with(|| {
        let url = target.url.clone();
        let token = cli.token.clone();
        let protocol = cli.protocol;
        tokio::spawn(async move { client::connect(&url, protocol, token.as_deref()).await })
    })
    .take(clients)
    .collect::<Vec<_>>();
    let t_connect = Instant::now();
    let mut connections = Vec::with_capacity(clients);
    for task in connecting {
        connections.push(Arc::new(task.await.context("connect task panicked")??));
    }
    eprintln!(
        "{clients} {:?} connection(s) to {} in {:.2} s; warm-up {:.1} s, measuring {:.1} s",
        cli.protocol,
        target.url,
        t_connect.elapsed().as_secs_f64(),
        warmup.as_secs_f64(),
        duration.as_secs_f64()
    );

    let recorder = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let window = Window {
        measure_from: start + warmup,
        deadline: start + warmup + duration,
    };
    let load = match cli.rate {
        None => tokio::spawn(closed_loop(
            connections.clone(),
            spec.clone(),
            recorder.clone(),
            stop.clone(),
            window,
            cli.turns,
        )),
        Some(rate) => tokio::spawn(open_loop(
            connections.clone(),
            spec.clone(),
            recorder.clone(),
            stop.clone(),
            window,
            rate,
            cli.max_in_flight,
        )),
    };

    tokio::time::sleep_until(window.measure_from.into()).await;
    if !warmup.is_zero()
        && let Err(e) = check_warmup(&recorder, spec.timeout).await
    {
        stop.store(true, Ordering::Relaxed);
        let _ = load.await;
        return Err(e);
    }
    let cpu_before = target.pid.and_then(server::cpu_seconds);
    load.await.context("load task panicked")?;
    let cpu_after = target.pid.and_then(server::cpu_seconds);

    for connection in connections {
        if let Ok(client) = Arc::try_unwrap(connection)
            && let Err(e) = client.cancel().await
        {
            eprintln!("warning: closing a connection: {e}");
        }
    }
    Ok(recorder.report(
        ReportSetup {
            target: target.url.clone(),
            mode: if cli.rate.is_some() { "open" } else { "closed" },
            protocol: match cli.protocol {
                Protocol::Session => "session",
                Protocol::Stateless => "stateless",
            },
            clients,
            rate: cli.rate,
            warmup,
            server_peak_rss_mib: target.pid.and_then(server::peak_rss_mib),
            server_cpu_s: cpu_before.zip(cpu_after).map(|(b, a)| a - b),
        },
        window.measure_from,
        window.deadline,
    ))
}

/// Stops the run when every warm-up call failed: measuring errors helps nobody. Waits (up
/// to one call timeout) for a first answer when none came back during the warm-up.
async fn check_warmup(recorder: &Recorder, call_timeout: Duration) -> anyhow::Result<()> {
    let patience = Instant::now() + call_timeout;
    loop {
        let warmup = recorder.warmup();
        if warmup.ok > 0 {
            return Ok(());
        }
        if warmup.errors > 0 {
            bail!(
                "every call of the warm-up failed ({} calls); nothing was measured. First error: {}",
                warmup.errors,
                warmup.first_error.unwrap_or_default()
            );
        }
        if Instant::now() >= patience {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn closed_loop(
    connections: Vec<Arc<Client>>,
    spec: Arc<CallSpec>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    window: Window,
    turns: Option<u32>,
) {
    // Conversation ids unique to this run, so a persistent store never continues an
    // earlier run's conversations.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let run = format!(
        "{:x}",
        now.map_or(0, |d| d.as_millis()) ^ u128::from(std::process::id())
    );
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(n, client)| {
            let (spec, recorder, stop) = (spec.clone(), recorder.clone(), stop.clone());
            let run = run.clone();
            tokio::spawn(async move {
                for call in 0u64.. {
                    let started = Instant::now();
                    if started >= window.deadline || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(turns) = turns else {
                        let outcome = client::call(&client, &spec).await;
                        recorder.record(started, Instant::now(), window.measure_from, outcome);
                        continue;
                    };
                    let turn = (call % u64::from(turns)) as u32 + 1;
                    let mut on_conversation = (*spec).clone();
                    on_conversation.arguments.insert(
                        "conversation".into(),
                        format!("loadgen-{run}-{n}-{}", call / u64::from(turns)).into(),
                    );
                    let outcome = client::call(&client, &on_conversation).await;
                    let ended = Instant::now();
                    // Every conversation's first turn counts, warm-up or not: the first
                    // conversations start in the warm-up, and turn N comes long after.
                    if outcome.is_ok() {
                        recorder.record_turn(turn, turns, ended - started);
                    }
                    recorder.record(started, ended, window.measure_from, outcome);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

async fn open_loop(
    connections: Vec<Arc<Client>>,
    spec: Arc<CallSpec>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    window: Window,
    rate: f64,
    max_in_flight: usize,
) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // Calls due while the process was busy are started late, not skipped: the offered load
    // stays the configured rate.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut calls = tokio::task::JoinSet::new();
    for n in 0usize.. {
        let due = ticks.tick().await;
        let started = due.into_std();
        if started >= window.deadline || stop.load(Ordering::Relaxed) {
            break;
        }
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            let text = format!("not sent: {max_in_flight} calls already in flight");
            recorder.record(
                started,
                Instant::now(),
                window.measure_from,
                Err((ErrorKind::NotSent, text)),
            );
            continue;
        }
        let client = connections[n % connections.len()].clone();
        let (spec, recorder, in_flight) = (spec.clone(), recorder.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::Relaxed);
        calls.spawn(async move {
            let outcome = client::call(&client, &spec).await;
            // Latency counts from when the call was due, so queueing in the generator shows.
            recorder.record(started, Instant::now(), window.measure_from, outcome);
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        while calls.try_join_next().is_some() {}
    }
    while calls.join_next().await.is_some() {}
}

//! `loadgen`: end-to-end benchmark of one Pallas agent.
//!
//! It starts `pallas serve --simulate --config CONFIG` (the built-in Bedrock simulator
//! stands in for the LLM, so no AWS access is needed), waits for the
//! `pallas ready: registry=URL` line on its stdout, looks the first agent up in
//! `GET URL/agents`, and then runs N concurrent MCP clients against that agent's
//! Streamable HTTP endpoint. Each client owns one MCP session and calls the agent
//! tool in a loop with a message that makes the simulated model call the downstream
//! tool `notes__now` once, so every request is a full round trip:
//!
//! ```text
//! client ─MCP─▶ agent ─▶ simulated LLM ─▶ notes__now (stdio notes_server) ─▶ LLM ─▶ reply
//! ```
//!
//! A call is ok when the result is not an error and its text contains `Tool results`.
//! Calls started during the warm-up are not counted; when every warm-up call that finished
//! failed (no credentials, a broken downstream server, …) loadgen stops there with exit code
//! 1 and the first error rather than measuring errors. At the end it prints a summary,
//! the server's peak RSS (`VmHWM` from `/proc/<pid>/status`), and one JSON line with
//! the same numbers.
//!
//! Run from the repository root:
//!
//! ```text
//! cargo build --release --bin pallas --examples   # pallas + notes_server + loadgen
//! target/release/examples/loadgen                 # defaults below
//! target/release/examples/loadgen --clients 32 --duration 30 --warmup 3
//! ```
//!
//! Defaults: `--pallas target/release/pallas`, `--config examples/bench/agents.yaml`,
//! `--clients 16`, `--duration 20`, `--warmup 2`. The bench config runs the downstream
//! server as `../../target/release/examples/notes_server` relative to
//! `examples/bench/` (override with `NOTES_SERVER=/abs/path` or `--notes-server`,
//! e.g. when `CARGO_TARGET_DIR` points elsewhere).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The prefix of the line `pallas serve` prints once every listener is bound.
const READY_PREFIX: &str = "pallas ready: registry=";
/// How long to wait for that line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one client may take to open its MCP session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The message each call sends; naming `notes__now` makes the simulator call it.
const MESSAGE: &str = "Please call notes__now and tell me the time";
/// A successful agent reply from the simulator contains this text.
const OK_MARKER: &str = "Tool results";

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Benchmark a Pallas agent end to end (simulated LLM)"
)]
struct Cli {
    /// The pallas binary.
    #[arg(long, default_value = "target/release/pallas")]
    pallas: PathBuf,
    /// Concurrent MCP clients (one session each).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Measured duration, in seconds (after the warm-up).
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Warm-up, in seconds; calls started during it are not counted.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// The agents.yaml to serve.
    #[arg(long, default_value = "examples/bench/agents.yaml")]
    config: PathBuf,
    /// Passed to the server as NOTES_SERVER (the bench config's downstream command).
    #[arg(long, value_name = "PATH")]
    notes_server: Option<PathBuf>,
    /// Write the server's stderr to this file (default: discarded).
    #[arg(long, value_name = "PATH")]
    server_log: Option<PathBuf>,
    /// Per-call timeout in seconds; a call that takes longer counts as an error.
    #[arg(long, default_value_t = 60.0)]
    call_timeout: f64,
}

/// One entry of `GET /agents`.
#[derive(Debug, Deserialize)]
struct AgentEntry {
    name: String,
    /// The agent's MCP endpoint, e.g. `http://127.0.0.1:41235/mcp`.
    url: String,
    /// The agent tool's name.
    tool: String,
    #[serde(default)]
    model: Option<String>,
}

/// What one client measured.
#[derive(Debug, Default)]
struct ClientStats {
    /// Latencies of counted ok calls.
    latencies: Vec<Duration>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    /// When the client's last counted call finished.
    last_end: Option<Instant>,
}

/// How the warm-up went, shared by the clients: when no warm-up call succeeded the run
/// stops with the first error instead of measuring a broken setup.
#[derive(Debug, Default)]
struct Warmup {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::OnceLock<String>,
    /// Set when the run is abandoned after the warm-up; clients stop calling.
    abandoned: AtomicBool,
}

impl Warmup {
    fn record(&self, verdict: &Result<(), String>) {
        match verdict {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(text) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let _ = self.first_error.set(text.clone());
            }
        }
    }

    /// `Some(message)` when the warm-up made calls and every finished one failed.
    fn all_failed(&self) -> Option<String> {
        let failed = self.failed.load(Ordering::Relaxed);
        if self.ok.load(Ordering::Relaxed) > 0 || failed == 0 {
            return None;
        }
        let first = self.first_error.get().map_or("", String::as_str);
        Some(format!(
            "all {failed} warm-up calls failed, so nothing was measured; first error: {first}"
        ))
    }
}

/// The machine-readable summary (also the source of the human one).
#[derive(Debug, Serialize)]
struct Report {
    agent: String,
    clients: usize,
    warmup_s: f64,
    duration_s: f64,
    requests_ok: u64,
    requests_error: u64,
    requests_per_s: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    peak_rss_mib: Option<f64>,
}

fn positive_secs(value: f64, what: &str) -> anyhow::Result<Duration> {
    if !value.is_finite() || value < 0.0 {
        bail!("--{what} must be a non-negative number of seconds, got {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

/// Starts `pallas serve --simulate --config CONFIG` with stdout piped.
fn spawn_server(cli: &Cli) -> anyhow::Result<Child> {
    if !cli.pallas.exists() {
        bail!(
            "{} not found: build it first (cargo build --release --bin pallas --examples) \
             or pass --pallas PATH",
            cli.pallas.display()
        );
    }
    let stderr = match &cli.server_log {
        Some(path) => Stdio::from(
            std::fs::File::create(path)
                .with_context(|| format!("creating server log {}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(&cli.pallas);
    cmd.arg("serve")
        .arg("--simulate")
        .arg("--config")
        .arg(&cli.config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    if let Some(notes) = &cli.notes_server {
        let notes =
            std::path::absolute(notes).with_context(|| format!("resolving {}", notes.display()))?;
        cmd.env("NOTES_SERVER", notes);
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", cli.pallas.display()))
}

/// Reads the child's stdout until the ready line and returns the registry URL. The
/// rest of stdout is drained in the background so the child never blocks on a full pipe.
async fn wait_ready(child: &mut Child) -> anyhow::Result<String> {
    let stdout = child.stdout.take().context("child stdout is not piped")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(STARTUP_TIMEOUT, async {
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.trim().strip_prefix(READY_PREFIX) {
                return Ok(url.trim().trim_end_matches('/').to_string());
            }
            if seen.len() < 20 {
                seen.push(line);
            }
        }
        Err(anyhow!(
            "pallas closed its stdout without printing '{READY_PREFIX}…'; it printed:\n{}",
            seen.join("\n")
        ))
    })
    .await;
    let url = match found {
        Ok(result) => result?,
        Err(_) => bail!(
            "pallas did not print '{READY_PREFIX}…' within {} s (use --server-log FILE to see why)",
            STARTUP_TIMEOUT.as_secs()
        ),
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(url)
}

async fn fetch_agent(registry: &str) -> anyhow::Result<AgentEntry> {
    let url = format!("{registry}/agents");
    let agents: Vec<AgentEntry> = reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("decoding GET {url}"))?;
    agents
        .into_iter()
        .next()
        .with_context(|| format!("GET {url} listed no agents"))
}

fn result_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks one call's outcome; `Err` carries the error text.
fn judge(
    outcome: Result<Result<CallToolResult, rmcp::ServiceError>, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Result<(), String> {
    let result = match outcome {
        Err(_) => return Err(format!("timed out after {:.1} s", timeout.as_secs_f64())),
        Ok(Err(e)) => return Err(format!("MCP error: {e}")),
        Ok(Ok(result)) => result,
    };
    let text = result_text(&result);
    if result.is_error == Some(true) {
        Err(format!("error result: {text}"))
    } else if !text.contains(OK_MARKER) {
        Err(format!("reply lacks '{OK_MARKER}': {text}"))
    } else {
        Ok(())
    }
}

/// One client: connects, waits for the common start, then calls until the deadline.
async fn run_client(
    url: String,
    tool: String,
    start: Arc<tokio::sync::Barrier>,
    window: Arc<std::sync::OnceLock<(Instant, Instant)>>,
    warmup: Arc<Warmup>,
    call_timeout: Duration,
) -> anyhow::Result<ClientStats> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()),
    );
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, ().serve(transport)).await;
    // Reach the barrier even on failure, so the other clients are not left waiting.
    start.wait().await;
    let client = connected
        .map_err(|_| anyhow!("connecting to {url}: no MCP handshake within {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to {url}"))?;
    let &(measure_from, deadline) = window.get().context("start window not set")?;

    let mut arguments = serde_json::Map::new();
    arguments.insert("message".into(), MESSAGE.into());
    let mut stats = ClientStats::default();
    loop {
        let t0 = Instant::now();
        if t0 >= deadline || warmup.abandoned.load(Ordering::Relaxed) {
            break;
        }
        let params = CallToolRequestParams::new(tool.clone()).with_arguments(arguments.clone());
        let outcome = tokio::time::timeout(call_timeout, client.call_tool(params)).await;
        let end = Instant::now();
        let verdict = judge(outcome, call_timeout);
        if t0 < measure_from {
            warmup.record(&verdict);
            continue;
        }
        stats.last_end = Some(end);
        match verdict {
            Ok(()) => {
                stats.ok += 1;
                stats.latencies.push(end - t0);
            }
            Err(text) => {
                stats.errors += 1;
                stats.first_error.get_or_insert(text);
            }
        }
    }
    if let Err(e) = client.cancel().await {
        eprintln!("warning: closing a client session: {e}");
    }
    Ok(stats)
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Peak resident set size of a process (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Asks the server to stop (SIGTERM, so it can close its downstream servers), then
/// kills it if it is still running after five seconds.
async fn stop_server(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

async fn run(cli: &Cli, child: &mut Child) -> anyhow::Result<Report> {
    let warmup = positive_secs(cli.warmup, "warmup")?;
    let duration = positive_secs(cli.duration, "duration")?;
    let call_timeout = positive_secs(cli.call_timeout, "call-timeout")?;
    if duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    let clients = cli.clients.max(1);

    let t_spawn = Instant::now();
    let registry = wait_ready(child).await?;
    eprintln!(
        "pallas ready after {:.2} s, registry {registry}",
        t_spawn.elapsed().as_secs_f64()
    );
    let agent = fetch_agent(&registry).await?;
    eprintln!(
        "agent '{}' at {} (tool '{}', model {})",
        agent.name,
        agent.url,
        agent.tool,
        agent.model.as_deref().unwrap_or("?")
    );

    // Every client connects first; the clock starts when all have (tried to).
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let window = Arc::new(std::sync::OnceLock::new());
    let warmup_outcome = Arc::new(Warmup::default());
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(run_client(
                agent.url.clone(),
                agent.tool.clone(),
                barrier.clone(),
                window.clone(),
                warmup_outcome.clone(),
                call_timeout,
            ))
        })
        .collect();
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + duration;
    window
        .set((measure_from, deadline))
        .expect("window is set once");
    barrier.wait().await;
    eprintln!(
        "{clients} clients connected in {:.2} s; warm-up {:.1} s, measuring {:.1} s",
        start.elapsed().as_secs_f64(),
        warmup.as_secs_f64(),
        duration.as_secs_f64()
    );
    tokio::time::sleep_until(measure_from.into()).await;
    let warmup_failure = warmup_outcome.all_failed();
    if warmup_failure.is_some() {
        warmup_outcome.abandoned.store(true, Ordering::Relaxed);
    }

    let mut latencies = Vec::new();
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut first_error: Option<String> = None;
    let mut last_end = deadline;
    for task in tasks {
        let stats = task.await.context("client task panicked")??;
        latencies.extend(stats.latencies);
        ok += stats.ok;
        errors += stats.errors;
        if first_error.is_none() {
            first_error = stats.first_error;
        }
        if let Some(end) = stats.last_end {
            last_end = last_end.max(end);
        }
    }
    if let Some(message) = warmup_failure {
        bail!("{message}");
    }
    // The window runs until the last counted call finished (calls in flight at the
    // deadline are completed and counted).
    let measured = last_end.saturating_duration_since(measure_from);
    latencies.sort_unstable();

    if let Some(text) = &first_error {
        eprintln!("first error: {text}");
    }
    let peak_rss_mib = child.id().and_then(peak_rss_mib);
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Ok(Report {
        agent: agent.name,
        clients,
        warmup_s: round(warmup.as_secs_f64()),
        duration_s: round(measured.as_secs_f64()),
        requests_ok: ok,
        requests_error: errors,
        requests_per_s: round(ok as f64 / measured.as_secs_f64().max(1e-9)),
        p50_ms: round(percentile_ms(&latencies, 50.0)),
        p90_ms: round(percentile_ms(&latencies, 90.0)),
        p99_ms: round(percentile_ms(&latencies, 99.0)),
        max_ms: round(latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)),
        peak_rss_mib: peak_rss_mib.map(round),
    })
}

fn print_report(report: &Report) {
    println!("agent          {}", report.agent);
    println!("clients        {}", report.clients);
    println!(
        "duration       {:.2} s (after {:.1} s warm-up)",
        report.duration_s, report.warmup_s
    );
    println!(
        "requests       {} ok, {} errors",
        report.requests_ok, report.requests_error
    );
    println!("throughput     {:.1} requests/s", report.requests_per_s);
    println!(
        "latency ms     p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        report.p50_ms, report.p90_ms, report.p99_ms, report.max_ms
    );
    match report.peak_rss_mib {
        Some(mib) => println!("server peak RSS {mib:.1} MiB"),
        None => println!("server peak RSS unknown (no /proc/<pid>/status)"),
    }
    match serde_json::to_string(report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("encoding the JSON report: {e}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !Path::new(&cli.config).exists() {
        bail!(
            "{} not found (run from the repository root or pass --config)",
            cli.config.display()
        );
    }
    let mut child = spawn_server(&cli)?;
    let outcome = run(&cli, &mut child).await;
    stop_server(&mut child).await;
    let report = outcome?;
    print_report(&report);
    if report.requests_ok == 0 {
        bail!("no request succeeded");
    }
    Ok(())
}

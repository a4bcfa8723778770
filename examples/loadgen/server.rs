//! The server under test when loadgen starts it itself: `pallas serve --simulate`, its ready
//! line, its first agent, and what the process used (peak RSS, CPU time from `/proc`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The prefix of the line `pallas serve` prints once every listener is bound.
const READY_PREFIX: &str = "pallas ready: registry=";
/// How long to wait for that line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How to start the server.
pub struct Launch<'a> {
    pub pallas: &'a Path,
    pub config: &'a Path,
    pub notes_server: Option<&'a Path>,
    pub server_log: Option<&'a Path>,
}

/// One entry of the registry's `GET /agents`.
#[derive(Debug, Deserialize)]
pub struct AgentEntry {
    pub name: String,
    /// The agent's MCP endpoint, e.g. `http://127.0.0.1:41235/mcp`.
    pub url: String,
    /// The agent tool's name.
    pub tool: String,
    #[serde(default)]
    pub model: Option<String>,
}

/// Starts `pallas serve --simulate --config CONFIG` with stdout piped.
pub fn spawn(launch: &Launch) -> anyhow::Result<Child> {
    if !launch.pallas.exists() {
        bail!(
            "{} not found: build it first (cargo build --release --bin pallas --examples) \
             or pass --pallas PATH",
            launch.pallas.display()
        );
    }
    if !launch.config.exists() {
        bail!(
            "{} not found (run from the repository root or pass --config)",
            launch.config.display()
        );
    }
    let stderr = match launch.server_log {
        Some(path) => Stdio::from(
            std::fs::File::create(path)
                .with_context(|| format!("creating server log {}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(launch.pallas);
    cmd.arg("serve")
        .arg("--simulate")
        .arg("--config")
        .arg(launch.config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    if let Some(notes) = launch.notes_server {
        let notes: PathBuf =
            std::path::absolute(notes).with_context(|| format!("resolving {}", notes.display()))?;
        cmd.env("NOTES_SERVER", notes);
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", launch.pallas.display()))
}

/// Reads the child's stdout until the ready line and returns the registry URL and how long
/// the start took. The rest of stdout is drained in the background so the child never
/// blocks on a full pipe.
pub async fn wait_ready(child: &mut Child) -> anyhow::Result<(String, Duration)> {
    let started = Instant::now();
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
    let took = started.elapsed();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((url, took))
}

/// The first agent the registry lists.
pub async fn first_agent(registry: &str) -> anyhow::Result<AgentEntry> {
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

/// Asks the server to stop (SIGTERM, so it can close its downstream servers), then kills it
/// if it is still running after five seconds.
pub async fn stop(child: &mut Child) {
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

/// Peak resident set size of a process (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
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

/// User plus system CPU seconds a process has used so far (`/proc/<pid>/stat`), children
/// not included: the server's own cost, not its downstream servers'.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are space separated.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

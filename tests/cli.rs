//! CLI-level tests: the `pallas` binary run as a subprocess, as a person or a supervisor
//! runs it. Projects live in temporary folders; everything listens on loopback port 0.
//!
//! Every child runs with a cleared environment (only `PATH`, a private `HOME` and
//! `AWS_EC2_METADATA_DISABLED=true`, plus what a test sets on purpose), so no real AWS
//! credential, profile or the instance-metadata endpoint is ever used.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::binary::hermetic_command;

/// Upper bound for a `pallas check` run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for `pallas serve` to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `pallas serve` may take to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the downstream child may take to disappear after `pallas serve` exited.
const CHILD_GONE_TIMEOUT: Duration = Duration::from_secs(10);

const MODEL: &str = "bedrock.us.anthropic.claude-sonnet-4-6";
/// A model id with the `:0` version suffix Bedrock ids carry.
const MODEL_WITH_SUFFIX: &str = "bedrock.anthropic.claude-3-5-sonnet-20240620-v1:0";
const MODEL_ID_WITH_SUFFIX: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
/// Distinctive so any leak of it into the output is found by a plain substring search.
const SECRET: &str = "secret-Zq7vXw93pLk";

// ---- helpers -------------------------------------------------------------------------

/// `target/debug/examples/notes_server`, next to the folder holding this test binary.
fn notes_server() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent() // deps
        .and_then(Path::parent) // debug
        .expect("test binary is in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("notes_server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it; with a target filter run `cargo build --example notes_server` first",
        path.display()
    );
    path
}

/// A project folder: `agents.yaml` plus `fastagent.config.yaml`.
struct Project {
    dir: tempfile::TempDir,
    agents_yaml: String,
}

impl Project {
    fn new(agents_yaml: &str, config_yaml: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("agents.yaml"), agents_yaml).expect("write agents.yaml");
        std::fs::write(dir.path().join("fastagent.config.yaml"), config_yaml)
            .expect("write fastagent.config.yaml");
        std::fs::create_dir(dir.path().join("home")).expect("create home");
        Project {
            dir,
            agents_yaml: agents_yaml.to_string(),
        }
    }

    fn agents_file(&self) -> PathBuf {
        self.dir.path().join("agents.yaml")
    }

    /// `pallas <sub> --config <agents.yaml>` with a hermetic environment.
    fn command(&self, sub: &str) -> Command {
        let mut cmd = hermetic_command(&self.dir.path().join("home"));
        cmd.arg(sub).arg("--config").arg(self.agents_file());
        cmd
    }

    /// 1-based line of the `occurrence`-th (1-based) line of agents.yaml containing `needle`.
    fn line_of(&self, needle: &str, occurrence: usize) -> usize {
        self.agents_yaml
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .nth(occurrence - 1)
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| panic!("{needle:?} #{occurrence} not in agents.yaml"))
    }
}

fn config_yaml(mcp_servers: &str) -> String {
    format!("default_model: {MODEL}\nbedrock:\n  region: us-east-1\n{mcp_servers}")
}

fn notes_config() -> String {
    config_yaml(&format!(
        "mcp:\n  servers:\n    notes:\n      command: {}\n",
        notes_server().display()
    ))
}

/// Config with a `notes` server that is never started (for `check` tests).
fn static_notes_config() -> String {
    config_yaml("mcp:\n  servers:\n    notes:\n      command: /bin/true\n")
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    fn describe(&self) -> String {
        format!(
            "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Kills (and reaps) the child when dropped, so no test path leaves a process behind.
struct ChildGuard {
    child: Option<Child>,
    /// Grandchildren to kill too if the test fails before `pallas` could stop them.
    extra_pids: Vec<u32>,
}

impl ChildGuard {
    fn new(child: Child) -> ChildGuard {
        ChildGuard {
            child: Some(child),
            extra_pids: Vec::new(),
        }
    }

    fn id(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .expect("child")
            .try_wait()
            .expect("try_wait")
    }

    /// Waits up to `timeout` for the child to exit.
    fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            for pid in &self.extra_pids {
                if process_alive(*pid) {
                    let _ = Command::new("kill")
                        .arg("-KILL")
                        .arg(pid.to_string())
                        .status();
                }
            }
        }
    }
}

/// Reads a pipe to the end on a thread, into a shared string.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = out.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    out
}

/// Runs a command to completion, killing it after `timeout`.
fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pallas");
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));
    let mut guard = ChildGuard::new(child);
    let status = guard.wait_timeout(timeout).unwrap_or_else(|| {
        panic!(
            "pallas did not finish within {timeout:?}\n--- stdout\n{}\n--- stderr\n{}",
            stdout.lock().unwrap(),
            stderr.lock().unwrap()
        )
    });
    // The pipes close when the process exits; give the reader threads a moment to drain.
    let drained = Instant::now() + Duration::from_secs(5);
    let output = loop {
        let (o, e) = (
            stdout.lock().unwrap().clone(),
            stderr.lock().unwrap().clone(),
        );
        if (Arc::strong_count(&stdout) == 1 && Arc::strong_count(&stderr) == 1)
            || Instant::now() >= drained
        {
            break (o, e);
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: output.0,
        stderr: output.1,
    }
}

/// `{file}:{line}:` appears in `text` with exactly this line.
fn assert_points_at(text: &str, file: &Path, line: usize) {
    let at = format!("{}:{line}:", file.display());
    assert!(text.contains(&at), "expected `{at}` in:\n{text}");
}

// ---- `pallas check` ------------------------------------------------------------------

#[test]
fn check_valid_project_with_env_credentials() {
    let agents = "\
name: cli-check
registry_port: 0
agents:
  scribe:
    port: 18431
    model: MODEL
    servers: [notes]
"
    .replace("MODEL", MODEL_WITH_SUFFIX);
    // `check` starts each downstream server once, so this one must be a real MCP server.
    let project = Project::new(&agents, &notes_config());
    let mut cmd = project.command("check");
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let out = run(cmd, CHECK_TIMEOUT);
    let text = out.describe();
    assert_eq!(out.code(), Some(0), "{text}");
    assert!(out.stdout.contains("agent scribe"), "{text}");
    assert!(out.stdout.contains("provider bedrock"), "{text}");
    assert!(
        out.stdout.contains(&format!("id {MODEL_ID_WITH_SUFFIX})")),
        "model id must keep its :0 suffix\n{text}"
    );
    assert!(out.stdout.contains("port:         18431"), "{text}");
    assert!(out.stdout.contains("server:       notes (stdio)"), "{text}");
    assert!(out.stdout.contains("capabilities:"), "{text}");
    assert!(out.stdout.contains("preflight:    ok"), "{text}");
    assert!(out.stdout.contains("all 1 agent(s) ok"), "{text}");
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "the secret access key leaked into the output\n{text}"
    );
}

#[test]
fn check_without_credentials_fails_preflight() {
    let agents = "\
name: cli-check
registry_port: 0
agents:
  scribe:
    port: 18432
";
    let project = Project::new(agents, &config_yaml(""));
    let out = run(project.command("check"), CHECK_TIMEOUT);
    let text = out.describe();
    assert_eq!(out.code(), Some(1), "{text}");
    let preflight = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("preflight:"))
        .unwrap_or_else(|| panic!("no preflight line\n{text}"));
    assert!(preflight.contains("ERROR"), "{preflight}");
    assert!(
        preflight.contains("no AWS credentials found"),
        "{preflight}"
    );
    assert!(
        preflight.contains("AWS_BEARER_TOKEN_BEDROCK"),
        "{preflight}"
    );
}

#[test]
fn check_reports_yaml_syntax_error_with_file_and_line() {
    let agents = "\
name: cli-check
registry_port: 0
agents:
  scribe:
    port: 18433
    servers: [notes
";
    let project = Project::new(agents, &static_notes_config());
    let out = run(project.command("check"), CHECK_TIMEOUT);
    let text = out.describe();
    assert_eq!(out.code(), Some(1), "{text}");
    let err = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line on stderr\n{text}"));
    let prefix = format!("error: {}:", project.agents_file().display());
    let rest = err
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("error does not start with `{prefix}`: {err}"));
    let line: usize = rest
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number after the file name: {err}"));
    assert!(
        (project.line_of("servers: [notes", 1)..=project.agents_yaml.lines().count() + 1)
            .contains(&line),
        "line {line} is not at the unclosed bracket: {err}"
    );
    assert!(err.contains("invalid YAML"), "{err}");
    assert!(
        !out.stdout.contains("agent scribe"),
        "nothing is checked after a fatal error\n{text}"
    );
}

#[test]
fn check_reports_unknown_provider() {
    let agents = "\
name: cli-check
registry_port: 0
agents:
  scribe:
    port: 18434
    model: bedrok.anthropic.x
";
    let project = Project::new(agents, &config_yaml(""));
    let (_, err) = check_agent_error(&project, "scribe");
    let err = err.as_str();
    assert_points_at(
        err,
        &project.agents_file(),
        project.line_of("model: bedrok", 1),
    );
    assert!(err.contains("agents.scribe.model"), "{err}");
    assert!(err.contains("'bedrok'"), "{err}");
    assert!(err.contains("bedrock, anthropic, openai, generic"), "{err}");
}

#[test]
fn check_reports_unknown_server() {
    let agents = "\
name: cli-check
registry_port: 0
agents:
  scribe:
    port: 18435
    servers: [nope]
";
    let project = Project::new(agents, &static_notes_config());
    let (_, err) = check_agent_error(&project, "scribe");
    let err = err.as_str();
    assert_points_at(
        err,
        &project.agents_file(),
        project.line_of("servers: [nope]", 1),
    );
    assert!(err.contains("agents.scribe.servers"), "{err}");
    assert!(err.contains("'nope'"), "{err}");
    assert!(err.contains("(defined: notes)"), "{err}");
}

#[test]
fn check_reports_duplicate_port_at_the_second_agent() {
    let agents = "\
name: cli-check
registry_port: 0
agents:
  first:
    port: 18436
  second:
    title: Second
    port: 18436
";
    let project = Project::new(agents, &config_yaml(""));
    let (out, err) = check_agent_error(&project, "second");
    let err = err.as_str();
    assert_points_at(
        err,
        &project.agents_file(),
        project.line_of("port: 18436", 2),
    );
    assert!(err.contains("agents.second.port"), "{err}");
    assert!(
        err.contains("18436 is already used by agents.first"),
        "{err}"
    );
    assert!(
        !out.stdout.contains("error: agent first:"),
        "the first agent is fine\n{}",
        out.describe()
    );
}

/// Runs `check` with credentials set, expects exit 1, and returns the output with the
/// `error: agent NAME: …` line.
fn check_agent_error(project: &Project, agent: &str) -> (Output, String) {
    let mut cmd = project.command("check");
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let out = run(cmd, CHECK_TIMEOUT);
    let text = out.describe();
    assert_eq!(out.code(), Some(1), "{text}");
    let err = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("error: agent {agent}:")))
        .unwrap_or_else(|| panic!("no error for agent {agent}\n{text}"))
        .to_string();
    (out, err)
}

#[test]
fn check_reports_missing_agents_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere").join("agents.yaml");
    let mut cmd = hermetic_command(dir.path());
    cmd.arg("check").arg("--config").arg(&missing);
    let out = run(cmd, CHECK_TIMEOUT);
    let text = out.describe();
    assert_eq!(out.code(), Some(1), "{text}");
    assert!(
        out.stderr.contains(&format!(
            "error: agents file {} not found",
            missing.display()
        )),
        "{text}"
    );
    assert!(out.stdout.is_empty(), "{text}");
}

// ---- `pallas serve` ------------------------------------------------------------------

/// A running `pallas serve`: its stdout lines arrive on a channel, stderr is collected.
struct Served {
    guard: ChildGuard,
    lines: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    registry: String,
}

impl Served {
    /// Starts `pallas serve --simulate` and waits for the ready line.
    fn start(project: &Project) -> Served {
        Served::spawn(project.command("serve"))
    }

    /// Starts `cmd` (a `pallas serve` command line) with `--simulate` and waits for the
    /// ready line.
    fn spawn(mut cmd: Command) -> Served {
        cmd.arg("--simulate")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn pallas serve");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = collect(child.stderr.take().expect("stderr"));
        let guard = ChildGuard::new(child);
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            guard,
            lines,
            stdout_seen: Vec::new(),
            stderr,
            registry: String::new(),
        };
        let ready = served.wait_line(READY_TIMEOUT, |l| l.starts_with("pallas ready: "));
        served.registry = ready
            .strip_prefix("pallas ready: registry=")
            .unwrap_or_else(|| panic!("unexpected ready line: {ready}"))
            .trim()
            .to_string();
        served
    }

    /// The next stdout line matching `pred`, within `timeout`.
    fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout_seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no matching stdout line within {timeout:?}\n{}",
                        self.dump()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.guard.wait_timeout(Duration::from_secs(5));
                    panic!(
                        "pallas closed stdout (status {status:?}) before the expected line\n{}",
                        self.dump()
                    )
                }
            }
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn dump(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout_seen.join("\n"),
            self.stderr()
        )
    }

    /// Waits up to `timeout` for stderr to contain every one of `needles`.
    fn wait_stderr(&self, timeout: Duration, needles: &[&str]) {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.stderr();
            if needles.iter().all(|n| text.contains(n)) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("stderr lacks one of {needles:?}\n{}", self.dump());
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sends SIGTERM and expects a clean exit (status 0) within [`EXIT_TIMEOUT`].
    fn terminate(&mut self) {
        let pid = self.guard.id();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = self.guard.wait_timeout(EXIT_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "pallas did not exit within {EXIT_TIMEOUT:?} of SIGTERM\n{}",
                self.dump()
            )
        });
        assert_eq!(
            status.code(),
            Some(0),
            "pallas must exit 0 after SIGTERM\n{}",
            self.dump()
        );
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// Reachable as an MCP endpoint: an `initialize` POST to the advertised url succeeds.
async fn assert_mcp_reachable(client: &reqwest::Client, url: &str) {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-03-26",
            "capabilities": {},
            "clientInfo": {"name": "pallas-cli-test", "version": "0"}
        }
    });
    let response = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert!(
        response.status().is_success(),
        "POST initialize to {url}: {}",
        response.status()
    );
}

fn process_alive(pid: u32) -> bool {
    // A zombie has exited; it only waits to be reaped by whoever adopted it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn serve_simulate_end_to_end_and_sigterm() {
    let agents = "\
name: cli-serve
registry_port: 0
agents:
  good:
    port: 0
    description: Keeps notes
    servers: [notes]
  bad:
    port: 0
    servers: [nope]
";
    let project = Project::new(agents, &notes_config());
    let mut served = Served::start(&project);
    let registry = served.registry.clone();
    assert!(
        registry.starts_with("http://127.0.0.1:") && !registry.ends_with(":0"),
        "{registry}"
    );
    let agent_line = served.wait_line(Duration::from_secs(10), |l| {
        l.trim_start().starts_with("agent ")
    });
    assert!(agent_line.contains("agent good"), "{agent_line}");
    assert!(agent_line.contains("tool=good"), "{agent_line}");
    served.wait_stderr(
        Duration::from_secs(10),
        &["error: agent 'bad' is not serving:", "'nope'"],
    );

    let client = http_client();
    let list = get_json(&client, &format!("{registry}/agents")).await;
    let list = list.as_array().expect("/agents is a list");
    assert_eq!(list.len(), 1, "only the good agent serves: {list:?}");
    let good = &list[0];
    assert_eq!(good["name"], "good", "{good}");
    assert_eq!(good["provider"], "bedrock", "{good}");
    assert_eq!(good["model"], "us.anthropic.claude-sonnet-4-6", "{good}");
    assert_eq!(good["tool"], "good", "{good}");
    assert_eq!(good["description"], "Keeps notes", "{good}");
    let port = good["port"].as_u64().expect("port");
    assert_ne!(port, 0, "{good}");
    let url = good["url"].as_str().expect("url");
    assert!(url.ends_with(&format!(":{port}/mcp")), "{good}");
    assert!(agent_line.contains(&format!(":{port}/mcp")), "{agent_line}");
    assert_mcp_reachable(&client, url).await;

    // The downstream server connects in the background: poll until it is up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (health, notes_pid) = loop {
        let health = get_json(&client, &format!("{registry}/health")).await;
        let notes = &health["agents"]["good"]["servers"]["notes"];
        if notes["status"] == "ok"
            && let Some(pid) = notes["pid"].as_u64()
        {
            break (health, u32::try_from(pid).expect("pid"));
        }
        assert!(
            Instant::now() < deadline,
            "notes server not up within 30 s: {health:#}\n{}",
            served.dump()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    served.guard.extra_pids.push(notes_pid);
    assert_eq!(health["status"], "degraded", "{health:#}");
    assert_eq!(health["agents"]["bad"]["status"], "error", "{health:#}");
    let bad_message = health["agents"]["bad"]["message"].as_str().unwrap_or("");
    assert!(bad_message.contains("'nope'"), "{health:#}");
    assert_eq!(health["agents"]["good"]["status"], "ok", "{health:#}");
    assert!(
        process_alive(notes_pid),
        "notes_server {notes_pid} not running"
    );

    served.terminate();

    let deadline = Instant::now() + CHILD_GONE_TIMEOUT;
    while process_alive(notes_pid) {
        assert!(
            Instant::now() < deadline,
            "notes_server (pid {notes_pid}) still running {CHILD_GONE_TIMEOUT:?} after pallas exited\n{}",
            served.dump()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn serve_reports_taken_port_and_serves_the_rest() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let taken_port = taken.local_addr().expect("local_addr").port();
    let agents = format!(
        "\
name: cli-serve
registry_port: 0
agents:
  blocked:
    port: {taken_port}
  open:
    port: 0
"
    );
    let project = Project::new(&agents, &config_yaml(""));
    let mut served = Served::start(&project);
    let registry = served.registry.clone();
    served.wait_stderr(
        Duration::from_secs(10),
        &[
            "error: agent 'blocked' is not serving:",
            &format!("agents.blocked.port: cannot listen on 127.0.0.1:{taken_port}"),
        ],
    );
    let agent_line = served.wait_line(Duration::from_secs(10), |l| {
        l.trim_start().starts_with("agent ")
    });
    assert!(agent_line.contains("agent open"), "{agent_line}");

    let client = http_client();
    let list = get_json(&client, &format!("{registry}/agents")).await;
    let names: Vec<&str> = list
        .as_array()
        .expect("/agents is a list")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["open"], "{list:#}");
    let url = list[0]["url"].as_str().expect("url");
    assert_mcp_reachable(&client, url).await;

    let health = get_json(&client, &format!("{registry}/health")).await;
    assert_eq!(health["agents"]["blocked"]["status"], "error", "{health:#}");
    assert_eq!(health["agents"]["open"]["status"], "ok", "{health:#}");
    assert_eq!(health["status"], "degraded", "{health:#}");

    served.terminate();
    drop(taken);
}

/// loadgen's default setup: `--config examples/bench/agents.yaml` (relative, from the
/// repository root) and `command: ../../target/.../notes_server` (relative to the config's
/// folder). The program must resolve once, against that folder, not twice.
#[tokio::test]
async fn serve_with_relative_config_starts_a_relative_stdio_command() {
    let root = tempfile::tempdir().expect("tempdir");
    let project_dir = root.path().join("examples").join("bench");
    let bin_dir = root.path().join("target").join("bin");
    std::fs::create_dir_all(&project_dir).expect("create project folder");
    std::fs::create_dir_all(&bin_dir).expect("create bin folder");
    std::fs::create_dir(root.path().join("home")).expect("create home");
    std::fs::copy(notes_server(), bin_dir.join("notes_server")).expect("copy notes_server");
    std::fs::write(
        project_dir.join("agents.yaml"),
        "name: rel\nregistry_port: 0\nagents:\n  a:\n    port: 0\n    servers: [notes]\n",
    )
    .expect("write agents.yaml");
    std::fs::write(
        project_dir.join("fastagent.config.yaml"),
        config_yaml("mcp:\n  servers:\n    notes:\n      command: ../../target/bin/notes_server\n"),
    )
    .expect("write fastagent.config.yaml");

    let mut cmd = hermetic_command(&root.path().join("home"));
    cmd.current_dir(root.path())
        .arg("serve")
        .arg("--config")
        .arg("examples/bench/agents.yaml");
    let mut served = Served::spawn(cmd);
    let registry = served.registry.clone();
    let client = http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = get_json(&client, &format!("{registry}/health")).await;
        let notes = &health["agents"]["a"]["servers"]["notes"];
        if notes["status"] == "ok" {
            if let Some(pid) = notes["pid"].as_u64() {
                served
                    .guard
                    .extra_pids
                    .push(u32::try_from(pid).expect("pid"));
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "notes server not up within 30 s: {health:#}\n{}",
            served.dump()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !served.stderr().contains("cannot start"),
        "{}",
        served.dump()
    );
    served.terminate();
}

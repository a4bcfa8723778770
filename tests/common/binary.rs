//! The `pallas` binary started as a person or a supervisor starts it, but hermetically: a
//! cleared environment with only `PATH`, a private `HOME` (so no `~/.aws` files),
//! `AWS_EC2_METADATA_DISABLED=true` (no instance-metadata endpoint), `NO_COLOR=1` and no
//! stdin. So no real AWS credential or profile is ever used; tests add what they need.

use std::path::Path;
use std::process::{Command, Stdio};

/// The binary Cargo built for these tests.
pub fn pallas_exe() -> &'static str {
    env!("CARGO_BIN_EXE_pallas")
}

/// `pallas` with the hermetic environment and `home` as `HOME`.
pub fn hermetic_command(home: &Path) -> Command {
    let mut cmd = Command::new(pallas_exe());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// [`hermetic_command`] for async tests; the child is killed if the test drops it.
pub fn hermetic_tokio_command(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::from(hermetic_command(home));
    cmd.kill_on_drop(true);
    cmd
}

/// `pallas serve --simulate` started from a project folder, with its ready banner read: the
/// registry and each agent's MCP URL. Killed (by its own PID) when dropped.
pub struct ServedBinary {
    pub child: tokio::process::Child,
    pub registry: String,
    /// `(agent, MCP url)` in banner order.
    pub agents: Vec<(String, String)>,
    /// Everything the process wrote to stderr so far (filled in the background).
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServedBinary {
    /// Waits for the ready line and `expected_agents` agent lines.
    pub async fn start(project: &Path, expected_agents: usize) -> ServedBinary {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
        let mut cmd = hermetic_tokio_command(project);
        cmd.arg("serve")
            .arg("--config")
            .arg(project.join("agents.yaml"))
            .arg("--simulate")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("pallas starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut registry, mut agents) = (String::new(), Vec::new());
        let banner = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("pallas ready: registry=") {
                    registry = url.trim().to_string();
                } else if let Some(rest) = line.trim_start().strip_prefix("agent ") {
                    let mut words = rest.split_whitespace();
                    if let (Some(name), Some(url)) = (words.next(), words.next()) {
                        agents.push((name.to_string(), url.to_string()));
                    }
                }
                if !registry.is_empty() && agents.len() == expected_agents {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(120), banner).await;
        // Keep reading so a later write to stdout never meets a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        assert!(
            !registry.is_empty(),
            "pallas did not print its ready line; stderr:\n{}",
            stderr.lock().unwrap()
        );
        ServedBinary {
            child,
            registry,
            agents,
            stderr,
        }
    }

    pub fn agent_url(&self, name: &str) -> &str {
        &self
            .agents
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("agent {name} is not in the banner: {:?}", self.agents))
            .1
    }

    /// Stops the process by its PID (SIGTERM, then kill after a grace period).
    pub async fn stop(mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(15), self.child.wait()).await;
        if waited.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

//! Starting a stdio server ourselves (not through rmcp's child-process transport) so Pallas
//! keeps what a user needs when the server misbehaves: its exit status, the last lines of its
//! stderr, the first line it wrote to stdout that is not JSON-RPC, and the moment a line on
//! stdout grows past the transport's limit (rmcp drops such a line silently, which would
//! leave the caller waiting for `read_timeout_seconds`).

use std::collections::VecDeque;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::Notify;

/// rmcp's stdio line limit ([`rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH`]).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Enough lines to show the error a failing program prints before it exits.
const STDERR_TAIL_LINES: usize = 8;
/// A failing program's last stderr lines arrive just after it exits; wait this long for them.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// What the stdio streams showed, shared between the readers and the connection.
#[derive(Default)]
pub(super) struct StdioWatch {
    stderr_tail: Mutex<VecDeque<String>>,
    /// The first stdout line that does not start like a JSON-RPC message.
    garbage: Mutex<Option<String>>,
    /// Wakes calls in flight when a line on stdout passed [`MAX_LINE_BYTES`].
    pub(super) oversized: Notify,
    stderr_done: Notify,
}

impl StdioWatch {
    /// The last lines of stderr, joined for a one-line message; `None` when it was silent.
    pub(super) fn stderr_tail(&self) -> Option<String> {
        let tail = self.stderr_tail.lock().expect("stderr tail lock");
        (!tail.is_empty()).then(|| tail.iter().cloned().collect::<Vec<_>>().join(" | "))
    }

    pub(super) fn garbage(&self) -> Option<String> {
        self.garbage.lock().expect("garbage lock").clone()
    }
}

pub(super) struct StdioChild {
    pub(super) child: Child,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: WatchedStdout,
    pub(super) watch: Arc<StdioWatch>,
}

/// Starts the program with piped stdio; stderr is forwarded to the log and its tail kept.
pub(super) fn spawn(
    server: &str,
    program: &Path,
    args: &[String],
    env: &std::collections::BTreeMap<String, String>,
    cwd: &Path,
) -> std::io::Result<StdioChild> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let watch = Arc::new(StdioWatch::default());
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(read_stderr(server.to_string(), stderr, watch.clone()));
    }
    Ok(StdioChild {
        child,
        stdin,
        stdout: WatchedStdout {
            inner: stdout,
            lines: LineWatch::new(watch.clone()),
        },
        watch,
    })
}

async fn read_stderr(server: String, stderr: tokio::process::ChildStderr, watch: Arc<StdioWatch>) {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "pallas::downstream", server = %server, "{line}");
        let mut tail = watch.stderr_tail.lock().expect("stderr tail lock");
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(truncate_line(&line, 300));
    }
    watch.stderr_done.notify_waiters();
    watch.stderr_done.notify_one();
}

fn truncate_line(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_string();
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// Why a stdio server that did not complete its handshake failed, in words: exit status,
/// stderr tail and stray stdout output, whichever are known.
pub(super) async fn explain_failure(
    command: &str,
    child: &mut Child,
    watch: &StdioWatch,
    what: &str,
    grace: Duration,
) -> String {
    let status = match child.try_wait() {
        Ok(Some(status)) => Ok(Ok(status)),
        _ if grace.is_zero() => Ok(Err(())),
        _ => tokio::time::timeout(grace, child.wait())
            .await
            .map(|r| r.map_err(|_| ())),
    };
    let mut message = match status {
        Ok(Ok(status)) => {
            // The process is gone, so its stderr ends; give the reader a moment to finish.
            let _ = tokio::time::timeout(EXIT_GRACE, watch.stderr_done.notified()).await;
            format!("'{command}' {} {what}", describe_exit(status))
        }
        _ => format!("'{command}' is running but {what}"),
    };
    if let Some(line) = watch.garbage() {
        message.push_str(&format!(
            "; it wrote output that is not JSON-RPC to stdout: \"{line}\" (a stdio MCP server must write only JSON-RPC to stdout and its logs to stderr)"
        ));
    }
    match watch.stderr_tail() {
        Some(tail) => message.push_str(&format!("; last stderr lines: {tail}")),
        None => message.push_str("; it wrote nothing to stderr"),
    }
    message.push_str(". Run the command by hand to see why");
    message
}

pub(super) fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "exited".to_string(),
    }
}

/// The server's stdout as rmcp reads it, watched for the two faults rmcp would swallow.
pub(super) struct WatchedStdout {
    inner: ChildStdout,
    lines: LineWatch,
}

struct LineWatch {
    watch: Arc<StdioWatch>,
    /// Bytes of the current line so far.
    line_len: usize,
    /// The current line's first bytes, to quote it if it is not JSON-RPC.
    line_start: Vec<u8>,
    /// The current line has already been reported as oversized.
    reported: bool,
}

const QUOTE_BYTES: usize = 120;

impl LineWatch {
    fn new(watch: Arc<StdioWatch>) -> LineWatch {
        LineWatch {
            watch,
            line_len: 0,
            line_start: Vec::new(),
            reported: false,
        }
    }

    fn observe(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let ends_line = chunk.last() == Some(&b'\n');
            let body = if ends_line {
                &chunk[..chunk.len() - 1]
            } else {
                chunk
            };
            if self.line_start.len() < QUOTE_BYTES {
                let room = QUOTE_BYTES - self.line_start.len();
                self.line_start
                    .extend_from_slice(&body[..body.len().min(room)]);
            }
            self.line_len += body.len();
            if self.line_len > MAX_LINE_BYTES && !self.reported {
                self.reported = true;
                self.watch.oversized.notify_waiters();
            }
            if ends_line {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        let text = String::from_utf8_lossy(&self.line_start);
        let trimmed = text.trim();
        if !trimmed.is_empty() && !looks_like_json_rpc(trimmed) {
            let mut garbage = self.watch.garbage.lock().expect("garbage lock");
            if garbage.is_none() {
                *garbage = Some(truncate_line(trimmed, 80));
            }
        }
        self.line_len = 0;
        self.line_start.clear();
        self.reported = false;
    }
}

fn looks_like_json_rpc(start: &str) -> bool {
    start.starts_with('{') && (start.contains("\"jsonrpc\"") || start.len() >= QUOTE_BYTES - 1)
}

impl AsyncRead for WatchedStdout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let new = buf.filled()[before..].to_vec();
            this.lines.observe(&new);
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_stdout_lines_are_kept_and_json_rpc_lines_are_not() {
        let watch = Arc::new(StdioWatch::default());
        let mut lines = LineWatch::new(watch.clone());
        lines.observe(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
        assert_eq!(watch.garbage(), None);
        lines.observe(b"starting up");
        lines.observe(b" the server\n{\"jsonrpc\"");
        assert_eq!(watch.garbage().as_deref(), Some("starting up the server"));
    }
}

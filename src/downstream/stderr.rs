//! A stdio server's stderr goes to Pallas's log, line by line and tagged with the server's
//! name, so its own error messages are where the operator already looks.

use tokio::io::AsyncBufReadExt;

pub(super) async fn forward_stderr(server: String, stderr: tokio::process::ChildStderr) {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "pallas::downstream", server = %server, "{line}");
    }
}

//! The task that keeps one downstream server connected: it connects, notices when the
//! connection dies, and reconnects on the [`Timings::backoff`] schedule, so a crashed server
//! shows up in health and comes back on its own instead of hanging calls or stopping the agent.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::connect::{Opened, list_tools, stop_child};
use super::server::{Connection, Downstream, State};
use super::stdio::describe_exit;

/// How long a closing connection may take to shut down cleanly.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl Downstream {
    pub(super) async fn supervise(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = self.timings.backoff();
        loop {
            self.connect_attempts.fetch_add(1, Ordering::Relaxed);
            // `connect` bounds itself by the handshake limit and explains a late server.
            let connected = tokio::select! {
                r = self.connect() => r,
                _ = shutdown.cancelled() => return,
            };
            let wait = match connected {
                Ok(opened) => {
                    backoff = self.timings.backoff();
                    let Some(reason) = self.stay_connected(opened, &shutdown).await else {
                        return;
                    };
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    // A ping or call that found the connection dead already recorded why.
                    if !reason.is_empty() {
                        tracing::warn!(server = %self.name(), "{}; reconnecting", crate::redact::redact_text(&reason));
                        self.state.send_replace(State::Down(reason));
                    } else {
                        self.state.send_if_modified(|state| {
                            let up = matches!(state, State::Up(_));
                            if up {
                                *state = State::Down("connection lost".into());
                            }
                            up
                        });
                    }
                    next_wait(&mut backoff, self.timings.backoff_max)
                }
                Err(reason) => {
                    // A failed attempt is a reconnect too: a server that dies at start-up
                    // must not look like one that never needed a second try.
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    let wait = next_wait(&mut backoff, self.timings.backoff_max);
                    tracing::warn!(server = %self.name(), "cannot connect: {}; retrying in {wait:?}", crate::redact::redact_text(&reason));
                    self.state.send_replace(State::Down(reason));
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Serves one open connection until it ends: `Some(reason)` when it was lost (empty if a
    /// ping or call already said why), `None` on shutdown. Refreshes the tool list whenever
    /// the server says it changed.
    async fn stay_connected(&self, opened: Opened, shutdown: &CancellationToken) -> Option<String> {
        let Opened {
            running,
            conn,
            mut child,
        } = opened;
        tracing::info!(server = %self.name(), tools = conn.tools.len(), "downstream server connected");
        let conn = Arc::new(conn);
        self.state.send_replace(State::Up(conn.clone()));
        let stop = running.cancellation_token();
        let waiting = running.waiting();
        tokio::pin!(waiting);
        let reason = loop {
            tokio::select! {
                r = &mut waiting => break Some(format!("connection closed ({})", match r {
                    Ok(reason) => format!("{reason:?}"),
                    Err(e) => e.to_string(),
                })),
                _ = self.tools_changed.notified() => self.refresh_tools(&conn).await,
                _ = self.reconnect.notified() => {
                    stop.cancel();
                    let _ = tokio::time::timeout(CLOSE_GRACE, &mut waiting).await;
                    break Some(String::new());
                }
                _ = shutdown.cancelled() => {
                    stop.cancel();
                    let _ = tokio::time::timeout(CLOSE_GRACE, &mut waiting).await;
                    break None;
                }
            }
        };
        if let Some(child) = child.as_mut() {
            // A process that is already gone died by itself: say how, in place of the
            // transport's "connection closed".
            let died = child.try_wait().ok().flatten();
            stop_child(child, CLOSE_GRACE).await;
            if let (Some(status), Some(_)) = (died, &reason) {
                let tail = conn
                    .stdio
                    .as_ref()
                    .and_then(|w| w.stderr_tail())
                    .map(|t| format!("; last stderr lines: {t}"))
                    .unwrap_or_default();
                return Some(format!(
                    "the server process {}{tail}",
                    describe_exit(status)
                ));
            }
        }
        reason
    }

    /// Fetches the tool list again after `tools/list_changed`; the agents' next turn sees it.
    async fn refresh_tools(&self, conn: &Connection) {
        match list_tools(&conn.peer, self.config.read_timeout).await {
            Ok(tools) => {
                tracing::info!(server = %self.name(), tools = tools.len(), "tool list changed");
                self.state.send_if_modified(|state| match state {
                    State::Up(current) => {
                        *state = State::Up(Arc::new(current.with_tools(tools)));
                        true
                    }
                    _ => false,
                });
            }
            Err(e) => tracing::warn!(server = %self.name(), "cannot refresh the tool list: {e}"),
        }
    }
}

/// The schedule is endless; the cap is only a fallback should it ever end.
fn next_wait(backoff: &mut impl Iterator<Item = Duration>, max: Duration) -> Duration {
    backoff.next().unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::config::{McpServerConfig, McpTransport};
    use crate::downstream::{ServerPool, Timings};

    /// A server whose program does not exist fails every attempt at once, so only the
    /// backoff decides when the next one happens.
    fn dead_server() -> McpServerConfig {
        McpServerConfig {
            name: "dead".into(),
            transport: McpTransport::Stdio {
                command: "/nonexistent/pallas-test-server".into(),
                args: Vec::new(),
                env: BTreeMap::new(),
                cwd: None,
            },
            read_timeout: Duration::from_secs(60),
            max_tool_result_bytes: crate::config::DEFAULT_MAX_TOOL_RESULT_BYTES,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_server_is_retried_after_half_a_second_doubling_to_ten() {
        let shutdown = CancellationToken::new();
        let pool = ServerPool::start_with(
            [dead_server()],
            Path::new("/"),
            &shutdown,
            Timings::default(),
        );
        let server = pool.get("dead").expect("the pool holds the server");
        let start = tokio::time::Instant::now();
        // Attempts at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 25.5 and 35.5 s: waits of 0.5, 1, 2, 4, 8,
        // then 10 s each. Each check sits a quarter second either side of an attempt.
        let schedule = [
            (0.25, 1),
            (0.75, 2),
            (1.25, 2),
            (1.75, 3),
            (3.25, 3),
            (3.75, 4),
            (7.25, 4),
            (7.75, 5),
            (15.25, 5),
            (15.75, 6),
            (25.25, 6),
            (25.75, 7),
            (35.25, 7),
            (35.75, 8),
        ];
        for (at, attempts) in schedule {
            tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
            assert_eq!(server.connect_attempts(), attempts, "attempts after {at} s");
        }
        let health = server.probe().await;
        assert_eq!(health.status, "error");
        assert!(
            health
                .error
                .as_deref()
                .unwrap_or("")
                .contains("cannot start"),
            "{health:?}"
        );
        shutdown.cancel();
        pool.closed(Duration::from_secs(5)).await;
    }
}

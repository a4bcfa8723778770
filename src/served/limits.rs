//! What one agent's callers can make it hold: open MCP sessions and running turns.
//!
//! Sessions: rmcp's [`LocalSessionManager`] closes a session after `keep_alive` of
//! inactivity (and one that never sends `initialize` after `init_timeout`), but has no cap
//! and treats a session that never called anything like a busy one. [`SessionGate`] adds
//! both: a new session beyond `max_sessions` gets 503 + `Retry-After` before rmcp creates
//! it, and a session that has made no tool call within `session_idle` is closed, so
//! abandoned handshakes (scanners, crashed clients) do not hold memory for minutes.
//!
//! Turns: [`TurnLimiter`] lets `max_concurrent_turns` agent calls run and
//! `max_queued_turns` wait; the next caller gets an immediate "busy, retry in N s" result
//! instead of an unbounded wait, and every call is bounded by `turn_timeout`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::common::server_side_http::SessionId;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::ServeLimits;

/// How long a client refused for the session cap is asked to wait.
pub const SESSION_RETRY_SECONDS: u64 = 10;
/// How long a caller refused as busy is told to wait.
pub const BUSY_RETRY_SECONDS: u64 = 5;
/// A session that never completes `initialize` is closed after this long.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

const SESSION_HEADER: &str = "mcp-session-id";
/// After this many sessions have closed, freed memory is handed back to the OS.
const TRIM_AFTER_CLOSED: usize = 64;

/// glibc's allocator keeps freed small blocks in its arenas, so without this the memory of
/// thousands of expired sessions stays in the process's RSS (measured: docs/exposing.md).
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of the heaps and free pages
    // inside them; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The session cap and the idle sweep of one agent's `/mcp`.
pub struct SessionGate {
    manager: Arc<LocalSessionManager>,
    max_sessions: usize,
    idle: Duration,
    /// Sessions that have not called a tool yet, with when they were created.
    fresh: Mutex<HashMap<SessionId, Instant>>,
    /// Sessions that have called a tool (kept out of the short sweep).
    used: Mutex<HashSet<SessionId>>,
}

impl SessionGate {
    /// A session manager configured for `limits`, and the gate in front of it.
    pub fn new(limits: &ServeLimits) -> Arc<Self> {
        let mut manager = LocalSessionManager::default();
        manager.session_config.init_timeout = Some(INIT_TIMEOUT);
        Arc::new(Self {
            manager: Arc::new(manager),
            max_sessions: limits.max_sessions as usize,
            idle: limits.session_idle,
            fresh: Mutex::new(HashMap::new()),
            used: Mutex::new(HashSet::new()),
        })
    }

    pub fn manager(&self) -> Arc<LocalSessionManager> {
        self.manager.clone()
    }

    pub async fn open_sessions(&self) -> usize {
        self.manager.sessions.read().await.len()
    }

    /// Called by the agent when a session calls a tool: it is in use, not abandoned.
    pub fn mark_used(&self, session: &str) {
        let id: SessionId = session.into();
        if self.fresh.lock().expect("fresh").remove(&id).is_some() {
            self.used.lock().expect("used").insert(id);
        }
    }

    /// Closes sessions that made no tool call within `idle`, until `shutdown`.
    pub async fn sweep(self: Arc<Self>, shutdown: CancellationToken) {
        let period = (self.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
        let mut peak = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.cancelled() => return,
            }
            let now = Instant::now();
            let expired: Vec<SessionId> = self
                .fresh
                .lock()
                .expect("fresh")
                .iter()
                .filter(|(_, created)| now.duration_since(**created) >= self.idle)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                self.fresh.lock().expect("fresh").remove(id);
                let _ = self.manager.close_session(id).await;
            }
            if !expired.is_empty() {
                tracing::debug!(closed = expired.len(), "closed sessions that made no call");
            }
            // Forget used sessions rmcp has closed (keep_alive, DELETE, shutdown).
            let open = self.manager.sessions.read().await;
            self.used
                .lock()
                .expect("used")
                .retain(|id| open.contains_key(id));
            let now_open = open.len();
            drop(open);
            if now_open + TRIM_AFTER_CLOSED <= peak {
                return_freed_memory();
                peak = now_open;
            }
            peak = peak.max(now_open);
        }
    }
}

/// Middleware on the agent's `/mcp`: the session cap before rmcp creates a session, and
/// new sessions recorded for the idle sweep.
pub async fn gate_sessions(
    State(gate): State<Arc<SessionGate>>,
    request: Request,
    next: Next,
) -> Response {
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    // An unknown session is refused before rmcp reads the body (rmcp would read it first).
    if let Some(id) = &session
        && !gate.manager.sessions.read().await.contains_key(id.as_str())
    {
        return (
            StatusCode::NOT_FOUND,
            "Not Found: session not found or expired; send initialize again\n",
        )
            .into_response();
    }
    let opens_session = request.method() == Method::POST && session.is_none();
    if opens_session && gate.open_sessions().await >= gate.max_sessions {
        tracing::warn!(
            max = gate.max_sessions,
            "session cap reached; new session refused"
        );
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this agent already has its maximum of {} open sessions; retry in {SESSION_RETRY_SECONDS} s \
                 (or raise max_sessions)\n",
                gate.max_sessions
            ),
        )
            .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(SESSION_RETRY_SECONDS),
        );
        return response;
    }
    let response = next.run(request).await;
    if opens_session
        && let Some(id) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
    {
        gate.fresh
            .lock()
            .expect("fresh")
            .insert(id.into(), Instant::now());
    }
    response
}

/// Why a turn did not run to completion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnRefusal {
    #[error(
        "busy: {agent} is already running {running} call(s) with {queued} waiting; retry in {BUSY_RETRY_SECONDS} s"
    )]
    Busy {
        agent: String,
        running: u32,
        queued: u32,
    },
    #[error(
        "timed out: the call to {agent} took longer than turn_timeout_seconds ({seconds} s) and was stopped"
    )]
    TimedOut { agent: String, seconds: u64 },
}

/// Concurrency, queue and time bounds on one agent's calls.
pub struct TurnLimiter {
    agent: String,
    slots: Semaphore,
    /// Calls holding or waiting for a slot.
    admitted: AtomicUsize,
    limits: ServeLimits,
}

impl TurnLimiter {
    pub fn new(agent: &str, limits: &ServeLimits) -> Self {
        Self {
            agent: agent.to_string(),
            slots: Semaphore::new(limits.max_concurrent_turns as usize),
            admitted: AtomicUsize::new(0),
            limits: *limits,
        }
    }

    /// Runs `turn` when a slot is free, refusing at once when the queue is full and
    /// stopping it (dropping the future) after `turn_timeout`, queue time included.
    pub async fn run<T>(&self, turn: impl Future<Output = T>) -> Result<T, TurnRefusal> {
        let capacity = (self.limits.max_concurrent_turns + self.limits.max_queued_turns) as usize;
        let admitted = self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(TurnRefusal::Busy {
                agent: self.agent.clone(),
                running: self.limits.max_concurrent_turns,
                queued: self.limits.max_queued_turns,
            });
        }
        let _admission = Admission(&self.admitted);
        let timeout = self.limits.turn_timeout;
        let bounded = async {
            let _permit = self
                .slots
                .acquire()
                .await
                .expect("semaphore is never closed");
            turn.await
        };
        tokio::time::timeout(timeout, bounded)
            .await
            .map_err(|_| TurnRefusal::TimedOut {
                agent: self.agent.clone(),
                seconds: timeout.as_secs(),
            })
    }
}

/// Gives the admission back however the call ends (done, timed out, cancelled).
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrent: u32, queued: u32, timeout: u64) -> ServeLimits {
        ServeLimits {
            max_concurrent_turns: concurrent,
            max_queued_turns: queued,
            turn_timeout: Duration::from_secs(timeout),
            ..ServeLimits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_slots_and_queue_are_refused_at_once() {
        let limiter = Arc::new(TurnLimiter::new("jarvis", &limits(1, 1, 600)));
        let release = Arc::new(tokio::sync::Notify::new());
        let spawn = |limiter: Arc<TurnLimiter>, release: Arc<tokio::sync::Notify>| {
            tokio::spawn(async move { limiter.run(release.notified()).await })
        };
        let first = spawn(limiter.clone(), release.clone());
        let second = spawn(limiter.clone(), release.clone());
        tokio::task::yield_now().await;
        let refused = limiter.run(async {}).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "busy: jarvis is already running 1 call(s) with 1 waiting; retry in 5 s"
        );
        release.notify_one();
        first.await.unwrap().unwrap();
        release.notify_one();
        second.await.unwrap().unwrap();
        assert!(limiter.run(async {}).await.is_ok(), "slots are given back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_longer_than_the_timeout_is_stopped() {
        let limiter = TurnLimiter::new("jarvis", &limits(1, 0, 3));
        let refused = limiter
            .run(tokio::time::sleep(Duration::from_secs(4)))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("turn_timeout_seconds (3 s)"),
            "{refused}"
        );
        assert!(limiter.run(async {}).await.is_ok());
    }
}

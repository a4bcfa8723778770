//! `/livez` and `/readyz`: open to anyone (orchestrators probe without credentials, and
//! with the pod IP as `Host`), so they answer one status word and nothing else.
//!
//! Live: the process answers HTTP. Ready: every downstream server has finished its first
//! connection attempt (up or down — a down server is reported by `/health`, it does not
//! keep the agent out of rotation) and the LLM preflight has run once (it runs before the
//! listener starts, so a listening agent has it).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;

use crate::downstream::Downstream;

/// Whether a server (an agent, or the registry over all agents) is ready.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

/// Readiness of an agent using `servers`.
pub fn servers_ready(servers: Vec<Arc<Downstream>>) -> Readiness {
    Arc::new(move || servers.iter().all(|s| s.first_attempt_done()))
}

/// The two probe routes, to merge into a server's router.
pub fn routes(ready: Readiness) -> axum::Router {
    axum::Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
                    }
                }
            }),
        )
}

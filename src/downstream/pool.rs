//! Every downstream server of the fleet, started once and shared by the agents that list it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Timings;
use super::server::{Downstream, State};
use crate::config::McpServerConfig;

/// Every downstream server of the fleet, each connected once and shared by its agents.
#[derive(Clone, Default)]
pub struct ServerPool {
    servers: BTreeMap<String, Arc<Downstream>>,
    supervisors: TaskTracker,
}

impl ServerPool {
    /// Starts a supervisor per server; returns at once (connections come up in the background).
    pub fn start(
        configs: impl IntoIterator<Item = McpServerConfig>,
        root: &Path,
        shutdown: &CancellationToken,
    ) -> ServerPool {
        ServerPool::start_with(configs, root, shutdown, Timings::default())
    }

    /// [`ServerPool::start`] with other backoff, probe and handshake limits.
    pub fn start_with(
        configs: impl IntoIterator<Item = McpServerConfig>,
        root: &Path,
        shutdown: &CancellationToken,
        timings: Timings,
    ) -> ServerPool {
        let supervisors = TaskTracker::new();
        let servers = configs
            .into_iter()
            .map(|config| {
                let server = Arc::new(Downstream::new(config, root.to_path_buf(), timings));
                supervisors.spawn(server.clone().supervise(shutdown.child_token()));
                (server.name().to_string(), server)
            })
            .collect();
        supervisors.close();
        ServerPool {
            servers,
            supervisors,
        }
    }

    /// Waits (bounded) for every supervisor to close its connection after shutdown, so
    /// child processes are terminated before the process exits.
    pub async fn closed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.supervisors.wait()).await;
    }

    pub fn get(&self, name: &str) -> Option<Arc<Downstream>> {
        self.servers.get(name).cloned()
    }

    /// Waits until every server has left the connecting state (up or down), for startup
    /// summaries and tests; bounded by `timeout`.
    pub async fn settle(&self, timeout: Duration) {
        let all = futures::future::join_all(self.servers.values().map(|server| {
            let mut rx = server.state.subscribe();
            async move {
                let _ = rx.wait_for(|s| !matches!(s, State::Connecting)).await;
            }
        }));
        let _ = tokio::time::timeout(timeout, all).await;
    }
}

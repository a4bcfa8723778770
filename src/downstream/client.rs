//! Pallas as an MCP client of a downstream server: who it says it is, and what it does with
//! the server's notifications. `tools/list_changed` wakes the supervisor, which fetches the
//! new list, so a tool a server adds is offered on the next turn and a removed one is not.

use std::sync::Arc;

use rmcp::handler::client::ClientHandler;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RoleClient};
use tokio::sync::Notify;

pub(super) struct DownstreamClient {
    pub(super) tools_changed: Arc<Notify>,
}

impl ClientHandler for DownstreamClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("pallas", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        // notify_one keeps a permit, so a change that arrives mid-refresh is not lost.
        self.tools_changed.notify_one();
    }
}

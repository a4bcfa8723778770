//! The served side: each agent as a streamable-HTTP MCP server, its health report, and the
//! registry that lists the fleet for orchestrators.

pub mod agent_server;
pub mod health;
pub mod limits;
pub mod listen;
pub mod preflight_schedule;
pub mod probes;
pub mod registry;
pub mod status_page;
pub mod turns;

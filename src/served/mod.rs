//! MCP on both sides: clients to the downstream servers an agent uses, and the server each
//! agent is exposed as.

pub mod agent_server;
pub mod downstream;
pub mod tool_names;

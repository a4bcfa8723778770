//! Clients to the downstream MCP servers the agents use: one supervised connection per
//! server, shared by every agent that lists it, and the tool names agents see.

mod client;
mod connect;
mod errors;
mod pool;
mod result_size;
mod server;
mod stdio;
mod supervisor;
mod timings;
pub mod tool_names;

pub use pool::ServerPool;
pub use server::{Downstream, DownstreamError, ServerHealth};
pub use timings::Timings;

//! Pallas turns an `agents.yaml` into a fleet of MCP-served agents, each driving an LLM
//! tool-use loop (AWS Bedrock first) over the downstream MCP servers it is given.
//!
//! The modules follow the path of a request: [`config`] says what to run, [`model`] resolves
//! which model and what it can do, [`llm`] talks to the provider, [`mcp`] connects downstream
//! servers and serves each agent, [`agent`] runs the loop, [`health`] and [`registry`] tell
//! orchestrators what is up, and [`simulator`] stands in for Bedrock when there is no AWS.

pub mod agent;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod fleet;
pub mod health;
pub mod llm;
pub mod mcp;
pub mod model;
pub mod registry;
pub mod simulator;
pub mod store;

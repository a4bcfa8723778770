//! Pallas turns an `agents.yaml` into a fleet of MCP-served agents, each driving an LLM
//! tool-use loop (AWS Bedrock first) over the downstream MCP servers it is given.
//!
//! The modules follow the path of a request: [`config`] says what to run, [`model`] resolves
//! which model and what it can do, [`llm`] talks to the provider, [`downstream`] connects the
//! downstream MCP servers, [`agent`] runs the loop, and [`served`] exposes each agent, its
//! health and the registry to clients and orchestrators. The `pallas-simulator` crate stands
//! in for Bedrock when there is no AWS.

pub mod agent;
pub mod assembly;
pub mod auth;
pub mod catalogue;
pub mod check;
pub mod cli;
pub mod config;
pub mod conversations_cli;
pub mod downstream;
pub mod fleet;
pub mod http_guard;
pub mod llm;
pub mod model;
pub mod redact;
pub mod served;
pub mod store;

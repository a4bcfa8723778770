//! `fault_server`: a downstream MCP server (stdio) that misbehaves on request, so tests can
//! reproduce every downstream fault Pallas must survive and report clearly.
//!
//! Start-up faults, chosen with flags:
//!
//! ```text
//! fault_server                          # a well-behaved server with the tools below
//! fault_server --exit-at-start 3        # prints a few stderr lines, exits with status 3
//! fault_server --garbage                # writes lines that are not JSON-RPC to stdout, then hangs
//! fault_server --silent                 # never answers `initialize`
//! ```
//!
//! Tools (faults during a call):
//!
//! | tool          | arguments        | what happens                                              |
//! |---------------|------------------|-----------------------------------------------------------|
//! | `echo`        | `text`           | answers `echo: <text>`                                    |
//! | `crash`       | `code` (int)     | the process exits with `code` (default 3) mid-call        |
//! | `hang`        | —                | never answers                                             |
//! | `huge`        | `megabytes`      | answers a text result of that many MiB                    |
//! | `error`       | `message`        | answers an error result carrying `message`                |
//! | `add_tool`    | `name`           | adds a tool `name` (answers `added <name>`) and sends `notifications/tools/list_changed` |
//! | `remove_tool` | `name`           | removes a tool added with `add_tool`, and notifies        |
//!
//! A tool added with `add_tool` answers `<name> was called`. Logs go to stderr.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use clap::Parser;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServiceExt};
use serde_json::{Map, Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "fault_server",
    about = "A downstream MCP server that fails on request"
)]
struct Cli {
    /// Exit with this status before the MCP handshake, after a few lines on stderr.
    #[arg(long, value_name = "CODE")]
    exit_at_start: Option<i32>,
    /// Write lines that are not JSON-RPC to stdout instead of speaking MCP, then hang.
    #[arg(long)]
    garbage: bool,
    /// Read stdin but never answer `initialize`.
    #[arg(long)]
    silent: bool,
}

/// The tools added at run time with `add_tool`, shared by the one stdio session.
#[derive(Clone, Default)]
struct FaultServer {
    added: Arc<Mutex<BTreeSet<String>>>,
}

fn tool(name: &str, description: &str, properties: Value) -> Tool {
    let schema = json!({"type": "object", "properties": properties});
    let Value::Object(schema) = schema else {
        unreachable!("a json! object literal is an object")
    };
    Tool::new(name.to_string(), description.to_string(), Arc::new(schema))
}

fn builtin_tools() -> Vec<Tool> {
    vec![
        tool(
            "echo",
            "Answers with the text it is given",
            json!({"text": {"type": "string"}}),
        ),
        tool(
            "crash",
            "Exits the server process mid-call",
            json!({"code": {"type": "integer"}}),
        ),
        tool("hang", "Never answers", json!({})),
        tool(
            "huge",
            "Answers a text result of the given size in MiB",
            json!({"megabytes": {"type": "number"}}),
        ),
        tool(
            "error",
            "Answers an error result",
            json!({"message": {"type": "string"}}),
        ),
        tool(
            "add_tool",
            "Adds a tool and notifies tools/list_changed",
            json!({"name": {"type": "string"}}),
        ),
        tool(
            "remove_tool",
            "Removes an added tool and notifies tools/list_changed",
            json!({"name": {"type": "string"}}),
        ),
    ]
}

fn text(s: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(s.into())]).into()
}

fn arg_str(args: &Map<String, Value>, key: &str) -> String {
    args.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl FaultServer {
    fn tools(&self) -> Vec<Tool> {
        let mut tools = builtin_tools();
        let added = self.added.lock().expect("tool set lock");
        tools.extend(
            added
                .iter()
                .map(|name| tool(name, "A tool added at run time", json!({}))),
        );
        tools
    }

    async fn change_tools(
        &self,
        context: &RequestContext<RoleServer>,
        change: impl FnOnce(&mut BTreeSet<String>) -> bool,
    ) -> bool {
        let changed = change(&mut self.added.lock().expect("tool set lock"));
        if changed && let Err(e) = context.peer.notify_tool_list_changed().await {
            eprintln!("fault_server: could not send tools/list_changed: {e}");
        }
        changed
    }
}

impl ServerHandler for FaultServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new(
            "fault_server",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.clone().unwrap_or_default();
        match request.name.as_ref() {
            "echo" => Ok(text(format!("echo: {}", arg_str(&args, "text")))),
            "crash" => {
                let code = args.get("code").and_then(Value::as_i64).unwrap_or(3);
                eprintln!("fault_server: crashing mid-call with status {code}");
                std::process::exit(code as i32)
            }
            "hang" => std::future::pending().await,
            "huge" => {
                let mib = args.get("megabytes").and_then(Value::as_f64).unwrap_or(1.0);
                let bytes = (mib.max(0.0) * 1024.0 * 1024.0) as usize;
                Ok(text("x".repeat(bytes)))
            }
            "error" => Ok(CallToolResult::error(vec![ContentBlock::text(arg_str(
                &args, "message",
            ))])
            .into()),
            "add_tool" => {
                let name = arg_str(&args, "name");
                let added = name.clone();
                self.change_tools(&context, move |set| set.insert(added))
                    .await;
                Ok(text(format!("added {name}")))
            }
            "remove_tool" => {
                let name = arg_str(&args, "name");
                let removed = name.clone();
                if self
                    .change_tools(&context, move |set| set.remove(&removed))
                    .await
                {
                    Ok(text(format!("removed {name}")))
                } else {
                    Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                        "no added tool named '{name}'"
                    ))])
                    .into())
                }
            }
            other if self.added.lock().expect("tool set lock").contains(other) => {
                Ok(text(format!("{other} was called")))
            }
            other => Err(McpError::invalid_params(
                format!("unknown tool '{other}'"),
                None,
            )),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(code) = cli.exit_at_start {
        eprintln!("fault_server: reading configuration");
        eprintln!("fault_server: error: the configuration file is missing");
        std::process::exit(code);
    }
    if cli.garbage {
        println!("this is not JSON-RPC");
        println!("{{\"neither\": \"is this\"}}");
        return hang().await;
    }
    if cli.silent {
        return hang().await;
    }
    eprintln!("fault_server ready (stdio)");
    let service = FaultServer::default()
        .serve((tokio::io::stdin(), tokio::io::stdout()))
        .await?;
    service.waiting().await?;
    Ok(())
}

/// Keeps the process alive (and stdin open) until it is killed.
async fn hang() -> anyhow::Result<()> {
    std::future::pending::<()>().await;
    Ok(())
}

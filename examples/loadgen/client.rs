//! One MCP client of the load: connects in session or stateless mode and judges each call.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, Value};

/// How long one client may take to open its connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The protocol generation a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// 2025-11-25: `initialize`, then every call inside one `Mcp-Session-Id` session.
    Session,
    /// 2026-07-28: `server/discover`, then self-contained requests with no session.
    Stateless,
}

pub type Client = RunningService<RoleClient, ()>;

pub async fn connect(
    url: &str,
    protocol: Protocol,
    bearer: Option<&str>,
) -> anyhow::Result<Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = bearer {
        config = config.auth_header(token.to_string());
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let connecting = async {
        match protocol {
            Protocol::Session => ().serve(transport).await.map_err(anyhow::Error::from),
            Protocol::Stateless => ()
                .serve_with_lifecycle(
                    transport,
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await
                .map_err(anyhow::Error::from),
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| anyhow!("connecting to {url}: no answer within {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to {url}"))
}

/// Why a call did not count as ok; the report groups errors by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    Timeout,
    Protocol,
    ErrorResult,
    UnexpectedReply,
    /// Open loop only: the call was due while too many were in flight.
    NotSent,
}

impl ErrorKind {
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::ErrorResult => "error result",
            ErrorKind::UnexpectedReply => "unexpected reply",
            ErrorKind::NotSent => "not sent",
        }
    }
}

/// What each call sends and how its answer is judged.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub tool: String,
    pub arguments: Map<String, Value>,
    /// A reply must contain this text to count as ok (any non-error reply when `None`).
    pub expect: Option<String>,
    pub timeout: Duration,
}

/// Makes one call; `Err` carries the kind and a one-line description.
pub async fn call(client: &Client, spec: &CallSpec) -> Result<(), (ErrorKind, String)> {
    let params =
        CallToolRequestParams::new(spec.tool.clone()).with_arguments(spec.arguments.clone());
    let result = match tokio::time::timeout(spec.timeout, client.call_tool(params)).await {
        Err(_) => {
            return Err((
                ErrorKind::Timeout,
                format!("no answer within {:.1} s", spec.timeout.as_secs_f64()),
            ));
        }
        Ok(Err(e)) => return Err((ErrorKind::Protocol, format!("MCP error: {e}"))),
        Ok(Ok(result)) => result,
    };
    let text = result_text(&result);
    if result.is_error == Some(true) {
        return Err((
            ErrorKind::ErrorResult,
            format!("error result: {}", clip(&text)),
        ));
    }
    match &spec.expect {
        Some(marker) if !text.contains(marker.as_str()) => Err((
            ErrorKind::UnexpectedReply,
            format!("reply lacks '{marker}': {}", clip(&text)),
        )),
        _ => Ok(()),
    }
}

fn result_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Error texts are quoted in the report; a huge reply is cut to a readable line.
fn clip(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

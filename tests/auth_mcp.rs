//! The auth, Host/Origin and body-limit layers in front of rmcp's Streamable HTTP service,
//! wired the way the agent servers are meant to wire them, with rmcp's own client.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use pallas::auth::{AuthPolicy, Authenticator, BodyLimit, protect};
use pallas::http_guard::HostOriginGuard;
use rmcp::ErrorData as McpError;
use rmcp::ServiceExt;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

const TOKEN: &str = "pallas-mcp-test-token-0123456789";
const MIB: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Measure;

impl Measure {
    fn tool() -> Tool {
        let mut schema = serde_json::Map::new();
        schema.insert("type".into(), "object".into());
        schema.insert("properties".into(), json!({"text": {"type": "string"}}));
        Tool::new("measure", "Length of `text`.", schema)
    }
}

impl ServerHandler for Measure {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("measure", "1"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![Self::tool()]))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == "measure").then(Self::tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let length = request
            .arguments
            .as_ref()
            .and_then(|args| args.get("text"))
            .and_then(|text| text.as_str())
            .map_or(0, str::len);
        Ok(CallToolResult::structured(json!({ "length": length })).into())
    }
}

struct Served {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(policy: AuthPolicy) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}/mcp");
    let mcp = StreamableHttpService::new(
        || Ok(Measure),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default()
            // The guard layer checks Host and Origin for every route; rmcp's copy is off.
            .disable_allowed_hosts()
            .with_max_request_body_bytes(64 * MIB),
    );
    let app = axum::Router::new()
        .route("/livez", get(|| async { "ok" }))
        .nest_service("/mcp", mcp);
    let guard = HostOriginGuard::new(["127.0.0.1", "localhost"], [""; 0]).unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let auth = Authenticator::new(&policy, &url, http).unwrap();
    let limits = BodyLimit::new(64 * 1024).authenticated("/mcp", 4 * MIB, false);
    let app = protect(app, Arc::new(guard), Arc::new(auth), limits);
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served { url, task }
}

async fn connect(
    url: &str,
    token: Option<&str>,
) -> Result<rmcp::service::RunningService<rmcp::RoleClient, ()>, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    tokio::time::timeout(TIMEOUT, ().serve(transport))
        .await
        .expect("handshake in time")
        .map_err(|e| e.to_string())
}

fn tokens() -> AuthPolicy {
    serde_yaml::from_str(&format!("tokens: [{TOKEN}]")).unwrap()
}

#[tokio::test]
async fn rmcp_client_needs_the_token_and_gets_the_large_limit_with_it() {
    let served = serve(tokens()).await;
    assert!(connect(&served.url, None).await.is_err());
    assert!(
        connect(&served.url, Some("wrong-token-0123456789"))
            .await
            .is_err()
    );

    let client = connect(&served.url, Some(TOKEN)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    // 2 MiB of arguments: over the 64 KiB default, within the authenticated 4 MiB.
    let text = "a".repeat(2 * MIB);
    let mut args = serde_json::Map::new();
    args.insert("text".into(), json!(text));
    let result = tokio::time::timeout(
        TIMEOUT,
        client.call_tool(CallToolRequestParams::new("measure").with_arguments(args)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(result.structured_content, Some(json!({"length": 2 * MIB})));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413_from_rmcp_too() {
    let served = serve(tokens()).await;
    // Exactly one byte over the limit, then the client keeps the request open: everything
    // sent is read, so the answer cannot be lost to a connection reset, and it can only
    // come from enforcement while streaming (there is no Content-Length).
    let chunks = over_the_limit_then_wait(4 * MIB);
    let result = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(&served.url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // rmcp answers a failed body read with 500; the layer turns it into the 413 it is.
    let response = result.expect("the server answers before the client finishes sending");
    assert_eq!(response.status(), 413);
}

fn over_the_limit_then_wait(
    limit: usize,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    use futures::StreamExt;
    let chunk = 64 * 1024;
    futures::stream::iter((0..limit / chunk).map(move |_| Ok(vec![b' '; chunk])))
        .chain(futures::stream::once(async { Ok(vec![b' ']) }))
        .chain(futures::stream::pending())
}

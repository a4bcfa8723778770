//! The agent's view of its downstream tools: which are offered to the model this turn, and
//! how a model's tool call becomes an MCP call and back into a tool result.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock as McpContent, ResourceContents};

use super::media::{self, Media, MediaSupport};
use crate::downstream::Downstream;
use crate::downstream::tool_names::{ToolNameMap, normalize_schema};
use crate::llm::conversation::{ToolResult, ToolResultContent, ToolSpec, ToolUse, base64};

/// Tools of the servers that are up right now. Rebuilt every turn, so a server that died
/// drops out of the model's list and one that came back reappears.
pub struct Toolbox {
    pub specs: Vec<ToolSpec>,
    names: ToolNameMap,
    servers: Vec<Arc<Downstream>>,
}

impl Toolbox {
    pub async fn collect(servers: &[Arc<Downstream>]) -> Toolbox {
        let mut names = ToolNameMap::default();
        let mut specs = Vec::new();
        for server in servers {
            let Some(tools) = server.tools().await else {
                continue;
            };
            for tool in tools {
                let exposed = names.insert(server.name(), &tool.name);
                let description = tool
                    .description
                    .as_deref()
                    .filter(|d| !d.trim().is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("Tool {} of server {}", tool.name, server.name()));
                specs.push(ToolSpec {
                    name: exposed,
                    description,
                    input_schema: normalize_schema(&serde_json::Value::Object(
                        (*tool.input_schema).clone(),
                    )),
                });
            }
        }
        Toolbox {
            specs,
            names,
            servers: servers.to_vec(),
        }
    }

    /// Runs one tool call. Every failure becomes an error result with a non-empty message,
    /// because an empty error result poisons the history for some models.
    pub async fn run(&self, call: &ToolUse, support: MediaSupport) -> ToolResult {
        let outcome = match self.names.resolve(&call.name) {
            None => Err(self.unknown_tool_message(&call.name)),
            Some(target) => {
                let server = self.servers.iter().find(|s| s.name() == target.server);
                let arguments = match &call.input {
                    serde_json::Value::Object(o) => o.clone(),
                    serde_json::Value::Null => serde_json::Map::new(),
                    other => {
                        let mut m = serde_json::Map::new();
                        m.insert("input".into(), other.clone());
                        m
                    }
                };
                match server {
                    None => Err(self.unknown_tool_message(&call.name)),
                    Some(server) => server
                        .call(&target.tool, arguments)
                        .await
                        .map_err(|e| e.to_string()),
                }
            }
        };
        match outcome {
            Ok(result) => convert_result(&call.id, result, support),
            Err(message) => ToolResult {
                tool_use_id: call.id.clone(),
                content: vec![ToolResultContent::Text(message)],
                is_error: true,
            },
        }
    }

    /// The downstream server that offers the tool the model calls `name`.
    pub fn server_of(&self, name: &str) -> Option<&str> {
        let target = self.names.resolve(name)?;
        self.servers
            .iter()
            .map(|s| s.name())
            .find(|s| *s == target.server)
    }

    fn unknown_tool_message(&self, name: &str) -> String {
        let mut available: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        available.sort_unstable();
        if available.is_empty() {
            format!("Tool '{name}' is not available. No tools are available right now.")
        } else {
            format!(
                "Tool '{name}' is not available. Available tools: {}",
                available.join(", ")
            )
        }
    }
}

/// An image or file from a tool, as the model can take it. A file Bedrock would refuse is
/// replaced by a note saying why: the tool's output is not the caller's fault, and the
/// model can still answer from the rest.
fn media_content(
    mime_type: &str,
    name: Option<&str>,
    base64_data: &str,
    support: MediaSupport,
) -> ToolResultContent {
    let label = name.unwrap_or(mime_type);
    let data = match base64::decode(base64_data) {
        Ok(data) => data,
        Err(e) => {
            return ToolResultContent::Text(format!("[{label} omitted: invalid base64: {e}]"));
        }
    };
    match media::classify(mime_type, name, data, support) {
        Ok(Media::Image(img)) => ToolResultContent::Image(img),
        Ok(Media::Document(doc)) => ToolResultContent::Document(doc),
        Ok(Media::Note(note)) => ToolResultContent::Text(note),
        Err(problem) => ToolResultContent::Text(format!("[file omitted: {problem}]")),
    }
}

/// The last path segment of a resource URI, which is the file name a person would give.
fn file_name(uri: &str) -> &str {
    uri.rsplit('/').find(|s| !s.is_empty()).unwrap_or(uri)
}

fn convert_result(tool_use_id: &str, result: CallToolResult, support: MediaSupport) -> ToolResult {
    let is_error = result.is_error.unwrap_or(false);
    let mut content = Vec::new();
    for block in &result.content {
        match block {
            McpContent::Text(t) => content.push(ToolResultContent::Text(t.text.clone())),
            McpContent::Image(img) => {
                content.push(media_content(&img.mime_type, None, &img.data, support))
            }
            McpContent::Resource(r) => content.push(match &r.resource {
                ResourceContents::TextResourceContents { uri, text, .. } => {
                    ToolResultContent::Text(format!("[{uri}]\n{text}"))
                }
                ResourceContents::BlobResourceContents {
                    uri,
                    mime_type,
                    blob,
                    ..
                } => media_content(
                    mime_type.as_deref().unwrap_or("application/octet-stream"),
                    Some(file_name(uri)),
                    blob,
                    support,
                ),
                _ => ToolResultContent::Text("[resource of an unknown kind omitted]".to_string()),
            }),
            McpContent::ResourceLink(link) => content.push(ToolResultContent::Text(format!(
                "[resource link {}]",
                link.uri
            ))),
            McpContent::Audio(a) => content.push(ToolResultContent::Text(format!(
                "[audio {} omitted]",
                a.mime_type
            ))),
            _ => content.push(ToolResultContent::Text(
                "[content of an unknown kind omitted]".into(),
            )),
        }
    }
    if content.is_empty()
        && let Some(structured) = result.structured_content
    {
        content.push(ToolResultContent::Json(structured));
    }
    let all_blank = content
        .iter()
        .all(|c| matches!(c, ToolResultContent::Text(t) if t.trim().is_empty()));
    if all_blank {
        content = vec![ToolResultContent::Text(
            if is_error {
                "The tool reported an error without a message."
            } else {
                "(the tool returned no output)"
            }
            .to_string(),
        )];
    }
    ToolResult {
        tool_use_id: tool_use_id.to_string(),
        content,
        is_error,
    }
}

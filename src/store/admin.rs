//! What `pallas conversations list | show | delete` print, as rows the CLI writes line by
//! line. Ids are unique per agent, so `show` and `delete` ask for the agent only when an id is
//! used by several.

use std::fmt;
use std::time::Duration;

use super::error::StoreError;
use super::turn::Conversations;
use super::types::{ConversationInfo, ConversationKey};
use crate::llm::conversation::{ContentBlock, Message, Role, ToolResultContent};

/// How long `delete` waits for a turn running on the conversation.
const DELETE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no conversation '{id}'{}; `pallas conversations list` shows the stored ones", agent_note(.agent))]
    NotFound { id: String, agent: Option<String> },
    #[error("conversation '{id}' exists for several agents ({}); add --agent to choose one", .agents.join(", "))]
    Ambiguous { id: String, agents: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn agent_note(agent: &Option<String>) -> String {
    agent
        .as_ref()
        .map(|a| format!(" for agent '{a}'"))
        .unwrap_or_default()
}

/// One line of `conversations list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow(pub ConversationInfo);

impl ListRow {
    pub const HEADER: &'static str =
        "AGENT                ID                                 MESSAGES  UPDATED (UTC)";
}

impl fmt::Display for ListRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        write!(
            f,
            "{:<20} {:<34} {:>8}  {}",
            c.key.agent,
            c.key.id,
            c.messages,
            c.updated_at.format("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// One line of `conversations show`: a header line, then one per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShowRow {
    Header(ConversationInfo),
    Summary {
        covers: usize,
        text: String,
    },
    Message {
        index: usize,
        role: Role,
        text: String,
    },
}

impl fmt::Display for ShowRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShowRow::Header(c) => write!(
                f,
                "conversation '{}' of agent '{}': {} messages in {} turns, started {}, updated {} (UTC)",
                c.key.id,
                c.key.agent,
                c.messages,
                c.version,
                c.created_at.format("%Y-%m-%d %H:%M:%S"),
                c.updated_at.format("%Y-%m-%d %H:%M:%S")
            ),
            ShowRow::Summary { covers, text } => {
                write!(f, "summary of the first {covers} messages: {text}")
            }
            ShowRow::Message { index, role, text } => {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                write!(f, "#{index} {role}: {text}")
            }
        }
    }
}

pub async fn list(
    conversations: &Conversations,
    agent: Option<&str>,
) -> Result<Vec<ListRow>, AdminError> {
    Ok(conversations
        .list(agent)
        .await?
        .into_iter()
        .map(ListRow)
        .collect())
}

pub async fn show(
    conversations: &Conversations,
    id: &str,
    agent: Option<&str>,
) -> Result<Vec<ShowRow>, AdminError> {
    let key = find(conversations, id, agent).await?;
    let Some(stored) = conversations.load(&key.agent, &key.id).await? else {
        return Err(not_found(id, agent));
    };
    let mut rows = vec![ShowRow::Header(stored.info())];
    if let Some(summary) = &stored.summary {
        rows.push(ShowRow::Summary {
            covers: summary.covers,
            text: summary.text.clone(),
        });
    }
    rows.extend(
        stored
            .messages
            .iter()
            .enumerate()
            .map(|(index, message)| ShowRow::Message {
                index: index + 1,
                role: message.role,
                text: describe(message),
            }),
    );
    Ok(rows)
}

/// Deletes the conversation (after a turn running on it, if any) and says what was deleted.
pub async fn delete(
    conversations: &Conversations,
    id: &str,
    agent: Option<&str>,
) -> Result<String, AdminError> {
    let key = find(conversations, id, agent).await?;
    if conversations
        .delete(&key.agent, &key.id, DELETE_WAIT)
        .await?
    {
        Ok(format!(
            "deleted conversation '{}' of agent '{}'",
            key.id, key.agent
        ))
    } else {
        Err(not_found(id, agent))
    }
}

async fn find(
    conversations: &Conversations,
    id: &str,
    agent: Option<&str>,
) -> Result<ConversationKey, AdminError> {
    let matches: Vec<ConversationKey> = conversations
        .list(agent)
        .await?
        .into_iter()
        .map(|c| c.key)
        .filter(|k| k.id == id)
        .collect();
    match matches.as_slice() {
        [] => Err(not_found(id, agent)),
        [one] => Ok(one.clone()),
        several => Err(AdminError::Ambiguous {
            id: id.to_string(),
            agents: several.iter().map(|k| k.agent.clone()).collect(),
        }),
    }
}

fn not_found(id: &str, agent: Option<&str>) -> AdminError {
    AdminError::NotFound {
        id: id.to_string(),
        agent: agent.map(str::to_string),
    }
}

/// A message on one line: text as is, everything else named briefly.
fn describe(message: &Message) -> String {
    let parts: Vec<String> = message
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(t) => t.replace('\n', " "),
            ContentBlock::Image(i) => format!("[image {}, {} bytes]", i.mime_type, i.data.len()),
            ContentBlock::Document(d) => format!("[document {} ({})]", d.name, d.format),
            ContentBlock::ToolUse(u) => format!("[calls {} {}]", u.name, u.input),
            ContentBlock::ToolResult(r) => {
                let text: Vec<String> = r
                    .content
                    .iter()
                    .map(|c| match c {
                        ToolResultContent::Text(t) => t.replace('\n', " "),
                        ToolResultContent::Json(v) => v.to_string(),
                        ToolResultContent::Image(_) => "[image]".into(),
                        ToolResultContent::Document(_) => "[document]".into(),
                    })
                    .collect();
                let error = if r.is_error { " (error)" } else { "" };
                format!("[result{error}: {}]", text.join(" "))
            }
            ContentBlock::Reasoning(_) => "[reasoning]".into(),
        })
        .collect();
    parts.join(" ")
}

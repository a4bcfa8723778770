//! One call of an agent tool as a turn on a stored conversation: which conversation the call
//! is on (its `conversation` argument, else the agent's `instance_scope`), waiting its turn on
//! it, running the loop on the stored history, and storing the turn only when it completed.
//!
//! Conversations are keyed by id rather than by MCP session because MCP 2026-07-28 clients
//! have no session: an id the caller sends back is the one thing every client can keep.

use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, ContentBlock as McpContent, JsonObject};
use serde_json::{Value, json};

use crate::agent::{Agent, AgentError, EventSink, History, TurnOutcome};
use crate::config::InstanceScope;
use crate::llm::conversation::Message;
use crate::store::{
    Conversations, ConversationsConfig, StoreError, check_conversation_id, memory::MemoryStore,
};

/// The id of an agent's one conversation under `instance_scope: shared`.
pub const SHARED_CONVERSATION: &str = "shared";

/// The store as every agent of a fleet uses it, and how long a call waits for a busy
/// conversation before it is told so.
#[derive(Clone, Debug)]
pub struct TurnStore {
    pub conversations: Conversations,
    pub busy_timeout: Duration,
}

impl TurnStore {
    pub fn new(conversations: Conversations, busy_timeout: Duration) -> TurnStore {
        TurnStore {
            conversations,
            busy_timeout,
        }
    }

    /// A store that lives as long as the process, for agents served without a fleet.
    pub fn in_memory() -> TurnStore {
        TurnStore::new(
            Conversations::new(std::sync::Arc::new(MemoryStore::new()), 0),
            ConversationsConfig::default().busy_timeout,
        )
    }
}

/// Which conversation a call is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Stored under this id: continued when it exists, created otherwise.
    Stored(String),
    /// `instance_scope: request` without an id: a fresh conversation nobody can continue.
    Unstored,
}

impl Target {
    pub fn id(&self) -> Option<&str> {
        match self {
            Target::Stored(id) => Some(id),
            Target::Unstored => None,
        }
    }
}

/// The `conversation` argument, checked: absent (or null) is None; anything but a valid id is
/// an invalid-params error that says what an id may be.
pub fn conversation_argument(arguments: Option<&JsonObject>) -> Result<Option<String>, McpError> {
    match arguments.and_then(|a| a.get("conversation")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => check_conversation_id(id)
            .map(|()| Some(id.clone()))
            .map_err(|problem| {
                McpError::invalid_params(format!("argument 'conversation': {problem}"), None)
            }),
        Some(other) => Err(McpError::invalid_params(
            format!(
                "argument 'conversation' must be a string id (1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'), not {other}"
            ),
            None,
        )),
    }
}

/// The conversation of a call: the id it names, else what `instance_scope` says. `session`
/// is the id this MCP session's conversation is stored under (a client without a session
/// gets a new one on every call).
pub fn resolve(given: Option<String>, scope: InstanceScope, session: &str) -> Target {
    match (given, scope) {
        (Some(id), _) => Target::Stored(id),
        (None, InstanceScope::Connection) => Target::Stored(session.to_string()),
        (None, InstanceScope::Shared) => Target::Stored(SHARED_CONVERSATION.to_string()),
        (None, InstanceScope::Request) => Target::Unstored,
    }
}

/// A new, unguessable conversation id for one MCP session: whoever knows an id can read and
/// continue that conversation.
pub fn new_session_id() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // Practically unreachable; the clock and address still keep sessions apart.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes.copy_from_slice(&now.to_le_bytes());
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("session-{hex}")
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// Waiting for the conversation, reading it or storing the turn failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl TurnError {
    /// The `outcome` label of the turns metric: the agent's error kind, `busy` for a
    /// conversation another call holds, `store_error` otherwise.
    pub fn outcome(&self) -> String {
        match self {
            TurnError::Agent(e) => e.outcome(),
            TurnError::Store(StoreError::Busy { .. }) => "busy".to_string(),
            TurnError::Store(_) => "store_error".to_string(),
        }
    }
}

/// A completed turn as the caller sees it.
#[derive(Debug, Clone)]
pub struct TurnReport {
    pub outcome: TurnOutcome,
    pub conversation: Option<String>,
}

impl TurnReport {
    /// The `structuredContent` of the result; [`output_schema`] describes it.
    pub fn structured(&self) -> Value {
        let usage = &self.outcome.usage;
        json!({
            "answer": self.outcome.answer,
            "conversation": self.conversation,
            "stop_reason": serde_json::to_value(self.outcome.stop_reason).unwrap_or(Value::Null),
            "usage": {
                "input_tokens": usage.tokens.input_tokens,
                "output_tokens": usage.tokens.output_tokens,
                "cache_read_tokens": usage.tokens.cache_read_tokens,
                "cache_write_tokens": usage.tokens.cache_write_tokens,
                "model_calls": usage.model_calls,
                "tool_calls": usage.tool_calls,
                "cost_usd": usage.cost_usd,
            }
        })
    }

    /// The answer as text (what existing callers read) plus the structured result.
    pub fn into_result(self) -> CallToolResult {
        let structured = self.structured();
        let mut result = CallToolResult::success(vec![McpContent::text(self.outcome.answer)]);
        result.structured_content = Some(structured);
        result
    }
}

/// The result of ending a conversation, in the same shape as an answer so that clients
/// checking results against the declared `outputSchema` accept it.
pub fn ended_result(id: &str, existed: bool) -> CallToolResult {
    let answer = if existed {
        format!("Conversation '{id}' ended and deleted.")
    } else {
        format!("There was no stored conversation '{id}'; nothing to end.")
    };
    let mut result = CallToolResult::success(vec![McpContent::text(answer.clone())]);
    result.structured_content = Some(json!({
        "answer": answer,
        "conversation": id,
        "stop_reason": "conversation_ended",
        "usage": {
            "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
            "cache_write_tokens": 0, "model_calls": 0, "tool_calls": 0
        }
    }));
    result
}

/// Runs one message as a turn on `target`. A stored conversation is held for the whole turn
/// (other calls on it wait, in arrival order) and written only when the turn completed; a
/// turn that fails or is dropped (the caller cancelled) leaves it as it was.
pub async fn run_turn(
    agent: &Agent,
    store: &TurnStore,
    target: &Target,
    message: Message,
    events: Option<&EventSink>,
) -> Result<TurnReport, TurnError> {
    let Target::Stored(id) = target else {
        let outcome = agent.run_on(History::default(), message, events).await?;
        return Ok(TurnReport {
            outcome,
            conversation: None,
        });
    };
    let mut guard = store
        .conversations
        .begin_turn(&agent.config.name, id, store.busy_timeout)
        .await?;
    let history = History::new(guard.history().to_vec(), guard.summary().cloned());
    let outcome = agent.run_on(history, message, events).await?;
    if let Some(summary) = outcome.summary.clone() {
        guard.set_summary(summary);
    }
    guard.commit(outcome.new_messages.clone()).await?;
    Ok(TurnReport {
        outcome,
        conversation: Some(id.clone()),
    })
}

/// Deletes a conversation once the turn running on it (if any) is done; true when it existed.
pub async fn end(store: &TurnStore, agent: &str, id: &str) -> Result<bool, StoreError> {
    store
        .conversations
        .delete(agent, id, store.busy_timeout)
        .await
}

/// The stored messages of a conversation (empty when it is not stored).
pub async fn history(store: &TurnStore, agent: &str, id: &str) -> Result<Vec<Message>, StoreError> {
    Ok(store
        .conversations
        .load(agent, id)
        .await?
        .map(|c| c.messages)
        .unwrap_or_default())
}

/// The agent tool's `outputSchema`: what [`TurnReport::structured`] produces.
pub fn output_schema() -> JsonObject {
    let count = || json!({"type": "integer", "minimum": 0});
    let schema = json!({
        "type": "object",
        "properties": {
            "answer": {"type": "string", "description": "The agent's answer (also the text content)"},
            "conversation": {
                "type": ["string", "null"],
                "description": "The conversation id: pass it as `conversation` to continue; null for instance_scope: request"
            },
            "stop_reason": {"type": "string", "description": "Why the last model call stopped (end_turn, max_tokens, ...)"},
            "usage": {
                "type": "object",
                "description": "This turn's tokens and calls",
                "properties": {
                    "input_tokens": count(),
                    "output_tokens": count(),
                    "cache_read_tokens": count(),
                    "cache_write_tokens": count(),
                    "model_calls": count(),
                    "tool_calls": count(),
                    "cost_usd": {
                        "description": "USD at the configured prices, or \"no price\" when the model has none",
                        "oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "const": "no price"}]
                    }
                },
                "required": ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "model_calls", "tool_calls", "cost_usd"]
            }
        },
        "required": ["answer", "conversation", "stop_reason", "usage"]
    });
    match schema {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

/// The `conversation` and `end_conversation` properties of the agent tool's input schema.
pub fn input_properties() -> [(&'static str, Value); 2] {
    [
        (
            "conversation",
            json!({
                "type": "string",
                "pattern": "^[A-Za-z0-9._:-]{1,128}$",
                "description": "Continue this conversation (created when new). Omit for the default of this agent; every result says which conversation it was in."
            }),
        ),
        (
            "end_conversation",
            json!({
                "type": "boolean",
                "description": "With `conversation` and no message: end that conversation and delete its history."
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn ids_are_checked_and_explained() {
        assert_eq!(conversation_argument(None).unwrap(), None);
        let ok = args(json!({"conversation": "user-7:thread.1"}));
        assert_eq!(
            conversation_argument(Some(&ok)).unwrap().as_deref(),
            Some("user-7:thread.1")
        );
        for bad in [json!("a b"), json!(""), json!("x".repeat(129)), json!(7)] {
            let err = conversation_argument(Some(&args(json!({"conversation": bad})))).unwrap_err();
            assert!(
                err.message.contains("1 to 128 characters"),
                "{}",
                err.message
            );
            assert!(err.message.contains("conversation"), "{}", err.message);
        }
    }

    #[test]
    fn scope_decides_when_no_id_is_given() {
        let s = "session-1";
        assert_eq!(
            resolve(None, InstanceScope::Connection, s),
            Target::Stored(s.into())
        );
        assert_eq!(
            resolve(None, InstanceScope::Shared, s),
            Target::Stored("shared".into())
        );
        assert_eq!(resolve(None, InstanceScope::Request, s), Target::Unstored);
        assert_eq!(
            resolve(Some("mine".into()), InstanceScope::Request, s),
            Target::Stored("mine".into())
        );
    }

    #[test]
    fn session_ids_are_valid_and_distinct() {
        let (a, b) = (new_session_id(), new_session_id());
        assert_ne!(a, b);
        assert!(check_conversation_id(&a).is_ok());
    }
}

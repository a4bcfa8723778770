//! What a stored conversation is, independent of where it is stored.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::llm::conversation::Message;

/// Conversations belong to an agent: two agents may use the same id without meeting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversationKey {
    pub agent: String,
    pub id: String,
}

impl ConversationKey {
    pub fn new(agent: impl Into<String>, id: impl Into<String>) -> Self {
        ConversationKey {
            agent: agent.into(),
            id: id.into(),
        }
    }

    /// The name PostgreSQL hashes into the advisory-lock key. The agent's length makes it
    /// unambiguous whatever the names contain (hashes may still collide, which only
    /// serializes two unrelated turns).
    pub(crate) fn lock_name(&self) -> String {
        format!("pallas/{}/{}/{}", self.agent.len(), self.agent, self.id)
    }
}

impl std::fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conversation '{}' of agent '{}'", self.id, self.agent)
    }
}

/// Conversation ids callers choose: 1–128 characters of `[A-Za-z0-9._:-]`, safe in logs,
/// URLs and file names alike.
pub fn check_conversation_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if (1..=128).contains(&id.len()) && id.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "conversation id '{}' is not valid: use 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
            id.chars().take(140).collect::<String>()
        ))
    }
}

/// Which state of a conversation a copy shows. The creation time is part of it so that a
/// conversation deleted and started again is never mistaken for the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub created_at_ms: i64,
    pub version: i64,
}

/// Turns left out of what the model is sent, condensed by the agent's model. Stored so it is
/// computed once, not on every call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub text: String,
    /// How many leading messages of the history the summary stands for.
    pub covers: usize,
}

/// A conversation with its whole stored history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConversation {
    pub key: ConversationKey,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Number of committed turns; every commit adds one.
    pub version: i64,
    pub summary: Option<Summary>,
    pub messages: Vec<Message>,
}

impl StoredConversation {
    pub fn stamp(&self) -> Stamp {
        Stamp {
            created_at_ms: self.created_at.timestamp_millis(),
            version: self.version,
        }
    }

    pub fn info(&self) -> ConversationInfo {
        ConversationInfo {
            key: self.key.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            messages: self.messages.len(),
        }
    }
}

/// A conversation without its messages: what listings show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationInfo {
    pub key: ConversationKey,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub messages: usize,
}

/// Times are stored as milliseconds since the epoch: one integer type both databases index
/// the same way, and precise enough to order turns.
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Now, rounded to what the store keeps, so a value read back equals the one written.
pub(crate) fn now_millis() -> DateTime<Utc> {
    from_millis(Utc::now().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::check_conversation_id;

    #[test]
    fn conversation_ids_are_checked() {
        for good in ["a", "user-42:thread.7_x", &"x".repeat(128)] {
            assert!(check_conversation_id(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "ünï", "a/b", &"x".repeat(129)] {
            let err = check_conversation_id(bad).unwrap_err();
            assert!(err.contains("1 to 128 characters"), "{err}");
        }
    }
}

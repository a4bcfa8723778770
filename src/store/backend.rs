//! The contract every storage backend meets. Locking between calls of one process, caching and
//! the turn guard live above it in [`super::Conversations`], so a backend only stores — and,
//! where several processes share it, keeps their turns apart.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;
use super::types::{ConversationInfo, ConversationKey, Stamp, StoredConversation, Summary};
use crate::llm::conversation::Message;

#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Says which store this is in errors and logs (a path, or a URL without its password).
    fn describe(&self) -> String;

    /// Starts a turn on one conversation. A backend shared between processes waits here (at
    /// most `wait`, then [`StoreError::Busy`]) until no other process has a turn open on it,
    /// and keeps it that way until the returned turn is committed or abandoned.
    async fn begin(
        &self,
        key: &ConversationKey,
        wait: Duration,
    ) -> Result<Box<dyn TurnTx>, StoreError>;

    /// The conversation as stored now, outside any turn.
    async fn load(&self, key: &ConversationKey) -> Result<Option<StoredConversation>, StoreError>;

    /// Conversations without their messages, most recently updated first.
    async fn list(&self, agent: Option<&str>) -> Result<Vec<ConversationInfo>, StoreError>;

    /// Deletes outside any turn; true when there was something to delete.
    async fn delete(&self, key: &ConversationKey) -> Result<bool, StoreError>;

    /// Deletes every conversation last updated before `cutoff` and says which. A backend
    /// shared between processes skips conversations with a turn open elsewhere.
    async fn sweep(&self, cutoff: DateTime<Utc>) -> Result<Vec<ConversationKey>, StoreError>;
}

/// One open turn on one conversation, as the backend holds it.
#[async_trait]
pub trait TurnTx: Send {
    /// Which state the conversation is in now (None: not stored), cheaper than loading it.
    async fn stamp(&mut self) -> Result<Option<Stamp>, StoreError>;

    async fn load(&mut self) -> Result<Option<StoredConversation>, StoreError>;

    /// Appends the turn in one transaction, if the stored conversation is still in the state
    /// `commit.expected` names; otherwise [`StoreError::Changed`] and nothing is written.
    async fn commit(self: Box<Self>, commit: Commit<'_>) -> Result<(), StoreError>;

    /// Deletes the conversation and ends the turn; true when there was something to delete.
    async fn delete(self: Box<Self>) -> Result<bool, StoreError>;

    /// Ends the turn without writing anything.
    async fn abandon(self: Box<Self>);
}

/// One completed turn, as it is written.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The state the turn started from; None when the conversation is new.
    pub expected: Option<Stamp>,
    /// Messages already stored, so the new ones are numbered after them.
    pub stored_messages: usize,
    pub append: &'a [Message],
    /// Replaces the stored summary when set; otherwise it is kept.
    pub summary: Option<&'a Summary>,
    pub now: DateTime<Utc>,
}

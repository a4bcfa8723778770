//! Conversations kept in this process only: for tests, demos and `store: memory`, where a
//! restart is allowed to forget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backend::{Commit, ConversationStore, TurnTx};
use super::error::StoreError;
use super::types::{ConversationInfo, ConversationKey, Stamp, StoredConversation};

type Table = HashMap<ConversationKey, StoredConversation>;

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    table: Arc<Mutex<Table>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // A panic while holding the lock cannot leave a half-written conversation: every change
    // is a single insert or remove.
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl ConversationStore for MemoryStore {
    fn describe(&self) -> String {
        "in memory".to_string()
    }

    async fn begin(
        &self,
        key: &ConversationKey,
        _wait: Duration,
    ) -> Result<Box<dyn TurnTx>, StoreError> {
        Ok(Box::new(MemoryTurn {
            table: self.table.clone(),
            key: key.clone(),
        }))
    }

    async fn load(&self, key: &ConversationKey) -> Result<Option<StoredConversation>, StoreError> {
        Ok(self.table().get(key).cloned())
    }

    async fn list(&self, agent: Option<&str>) -> Result<Vec<ConversationInfo>, StoreError> {
        let mut rows: Vec<ConversationInfo> = self
            .table()
            .values()
            .filter(|c| agent.is_none_or(|a| c.key.agent == a))
            .map(StoredConversation::info)
            .collect();
        rows.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(&b.key)));
        Ok(rows)
    }

    async fn delete(&self, key: &ConversationKey) -> Result<bool, StoreError> {
        Ok(self.table().remove(key).is_some())
    }

    async fn sweep(&self, cutoff: DateTime<Utc>) -> Result<Vec<ConversationKey>, StoreError> {
        let mut table = self.table();
        let expired: Vec<ConversationKey> = table
            .values()
            .filter(|c| c.updated_at < cutoff)
            .map(|c| c.key.clone())
            .collect();
        for key in &expired {
            table.remove(key);
        }
        Ok(expired)
    }
}

struct MemoryTurn {
    table: Arc<Mutex<Table>>,
    key: ConversationKey,
}

#[async_trait]
impl TurnTx for MemoryTurn {
    async fn stamp(&mut self) -> Result<Option<Stamp>, StoreError> {
        Ok(lock(&self.table)
            .get(&self.key)
            .map(StoredConversation::stamp))
    }

    async fn load(&mut self) -> Result<Option<StoredConversation>, StoreError> {
        Ok(lock(&self.table).get(&self.key).cloned())
    }

    async fn commit(self: Box<Self>, commit: Commit<'_>) -> Result<(), StoreError> {
        let mut table = lock(&self.table);
        let current = table.get(&self.key).map(StoredConversation::stamp);
        if current != commit.expected {
            return Err(StoreError::Changed { key: self.key });
        }
        let conversation = table
            .entry(self.key.clone())
            .or_insert_with(|| StoredConversation {
                key: self.key.clone(),
                created_at: commit.now,
                updated_at: commit.now,
                version: 0,
                summary: None,
                messages: Vec::new(),
            });
        conversation.version += 1;
        conversation.updated_at = commit.now;
        conversation.messages.extend_from_slice(commit.append);
        if let Some(summary) = commit.summary {
            conversation.summary = Some(summary.clone());
        }
        Ok(())
    }

    async fn delete(self: Box<Self>) -> Result<bool, StoreError> {
        Ok(lock(&self.table).remove(&self.key).is_some())
    }

    async fn abandon(self: Box<Self>) {}
}

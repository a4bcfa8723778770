//! The store as the agent loop sees it: one turn at a time per conversation, history handed
//! out at the start, the turn written at the end or not at all.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

use super::backend::{Commit, ConversationStore, TurnTx};
use super::cache::Lru;
use super::config::{ConversationsConfig, StoreKind};
use super::error::StoreError;
use super::locks::TurnLocks;
use super::memory::MemoryStore;
use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::types::{ConversationInfo, ConversationKey, StoredConversation, Summary, now_millis};
use crate::llm::conversation::Message;

/// Cheap to clone; clones share the store, the turn queue and the cache.
#[derive(Clone)]
pub struct Conversations {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ConversationStore>,
    locks: TurnLocks,
    cache: Mutex<Lru<ConversationKey, StoredConversation>>,
}

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations")
            .field("store", &self.inner.store.describe())
            .finish_non_exhaustive()
    }
}

impl Conversations {
    /// `cache_size` conversations at most are kept in memory between turns.
    pub fn new(store: Arc<dyn ConversationStore>, cache_size: usize) -> Self {
        Conversations {
            inner: Arc::new(Inner {
                store,
                locks: TurnLocks::default(),
                cache: Mutex::new(Lru::new(cache_size)),
            }),
        }
    }

    /// Opens the store the configuration names; relative paths are taken from `base_dir`
    /// (the directory of `agents.yaml`).
    pub async fn open(config: &ConversationsConfig, base_dir: &Path) -> Result<Self, StoreError> {
        let (store, cache_size): (Arc<dyn ConversationStore>, usize) = match config.store {
            // The memory store is its own cache.
            StoreKind::Memory => (Arc::new(MemoryStore::new()), 0),
            StoreKind::Sqlite => (
                Arc::new(SqliteStore::open(&config.sqlite_path(base_dir)).await?),
                config.cache_size,
            ),
            StoreKind::Postgres => {
                let url = config.url.as_deref().ok_or(StoreError::Open {
                    target: "PostgreSQL".into(),
                    reason: "conversations.url is not set".into(),
                    hint: "add url: postgres://user:password@host:5432/database",
                })?;
                (Arc::new(PostgresStore::open(url).await?), config.cache_size)
            }
        };
        Ok(Conversations::new(store, cache_size))
    }

    /// Which store this is, for logs (never with a password).
    pub fn describe(&self) -> String {
        self.inner.store.describe()
    }

    /// Waits (at most `wait`, then [`StoreError::Busy`]) until no other turn on this
    /// conversation runs, in this process or another one sharing the store, and returns its
    /// stored history. Others wait behind the guard until it is committed or dropped.
    pub async fn begin_turn(
        &self,
        agent: &str,
        id: &str,
        wait: Duration,
    ) -> Result<TurnGuard, StoreError> {
        let key = ConversationKey::new(agent, id);
        let started = Instant::now();
        let busy = || StoreError::Busy {
            key: key.clone(),
            waited: wait,
        };
        let local = tokio::time::timeout(wait, self.inner.locks.lock(&key))
            .await
            .map_err(|_| busy())?;
        let mut tx = self
            .inner
            .store
            .begin(&key, wait.saturating_sub(started.elapsed()))
            .await?;
        let cached = self.cache().take(&key);
        let stored = match cached {
            Some(copy) if tx.stamp().await? == Some(copy.stamp()) => Some(copy),
            _ => tx.load().await?,
        };
        Ok(TurnGuard {
            owner: self.clone(),
            key,
            stored,
            summary: None,
            open: Some(OpenTurn { tx, _local: local }),
        })
    }

    /// The conversation as stored now, without waiting for a running turn.
    pub async fn load(
        &self,
        agent: &str,
        id: &str,
    ) -> Result<Option<StoredConversation>, StoreError> {
        self.inner
            .store
            .load(&ConversationKey::new(agent, id))
            .await
    }

    /// Conversations without their messages, most recently updated first.
    pub async fn list(&self, agent: Option<&str>) -> Result<Vec<ConversationInfo>, StoreError> {
        self.inner.store.list(agent).await
    }

    /// Ends a conversation once the turn running on it (if any) is done; true when it existed.
    pub async fn delete(&self, agent: &str, id: &str, wait: Duration) -> Result<bool, StoreError> {
        self.begin_turn(agent, id, wait).await?.delete().await
    }

    /// Deletes conversations idle for longer than `ttl`; returns how many.
    pub async fn sweep(&self, ttl: Duration) -> Result<usize, StoreError> {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now()
            .checked_sub_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.sweep_idle_since(cutoff).await
    }

    /// Deletes conversations last updated before `cutoff`; returns how many.
    pub async fn sweep_idle_since(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let swept = self.inner.store.sweep(cutoff).await?;
        let mut cache = self.cache();
        for key in &swept {
            cache.take(key);
        }
        Ok(swept.len())
    }

    /// Conversations held in memory between turns.
    pub fn cached(&self) -> usize {
        self.cache().len()
    }

    fn cache(&self) -> MutexGuard<'_, Lru<ConversationKey, StoredConversation>> {
        self.inner.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One turn on one conversation. Dropping it without [`TurnGuard::commit`] leaves the stored
/// conversation as it was and lets the next call in.
pub struct TurnGuard {
    owner: Conversations,
    key: ConversationKey,
    /// None: the conversation is not stored yet.
    stored: Option<StoredConversation>,
    summary: Option<Summary>,
    open: Option<OpenTurn>,
}

impl std::fmt::Debug for TurnGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnGuard")
            .field("key", &self.key)
            .field("messages", &self.history().len())
            .field("open", &self.open.is_some())
            .finish_non_exhaustive()
    }
}

struct OpenTurn {
    tx: Box<dyn TurnTx>,
    /// Held, not read: while it lives no other turn of this process starts here.
    _local: OwnedMutexGuard<()>,
}

impl TurnGuard {
    pub fn key(&self) -> &ConversationKey {
        &self.key
    }

    /// The conversation as stored when the turn started; None when it is new.
    pub fn conversation(&self) -> Option<&StoredConversation> {
        self.stored.as_ref()
    }

    /// The stored history, oldest first (empty for a new conversation).
    pub fn history(&self) -> &[Message] {
        self.stored.as_ref().map_or(&[], |c| &c.messages)
    }

    /// The stored summary, or the one this turn will store.
    pub fn summary(&self) -> Option<&Summary> {
        self.summary
            .as_ref()
            .or_else(|| self.stored.as_ref()?.summary.as_ref())
    }

    /// Stores `summary` with the turn's messages when the turn commits.
    pub fn set_summary(&mut self, summary: Summary) {
        self.summary = Some(summary);
    }

    /// Appends the turn's messages (the caller's question, tool calls and results, the
    /// answer) in one transaction and lets the next call in. Returns the conversation as now
    /// stored, without its messages.
    pub async fn commit(
        mut self,
        new_messages: Vec<Message>,
    ) -> Result<ConversationInfo, StoreError> {
        let open = self.open.take().expect("a turn is committed once");
        let mut conversation = self.stored.take().unwrap_or_else(|| StoredConversation {
            key: self.key.clone(),
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            version: 0,
            summary: None,
            messages: Vec::new(),
        });
        let is_new = conversation.version == 0;
        let now = now_millis();
        open.tx
            .commit(Commit {
                expected: (!is_new).then(|| conversation.stamp()),
                stored_messages: conversation.messages.len(),
                append: &new_messages,
                summary: self.summary.as_ref(),
                now,
            })
            .await?;
        if is_new {
            conversation.created_at = now;
        }
        conversation.updated_at = now;
        conversation.version += 1;
        conversation.messages.extend(new_messages);
        if let Some(summary) = self.summary.take() {
            conversation.summary = Some(summary);
        }
        let info = conversation.info();
        // Cached before `open` (and with it the turn lock) is released, so the next turn of
        // this process finds it.
        self.owner.cache().put(self.key.clone(), conversation);
        drop(open._local);
        Ok(info)
    }

    /// Deletes the conversation and ends the turn; true when it was stored.
    pub async fn delete(mut self) -> Result<bool, StoreError> {
        let open = self.open.take().expect("a turn ends once");
        self.stored = None;
        open.tx.delete().await
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if let Some(unchanged) = self.stored.take() {
            self.owner.cache().put(self.key.clone(), unchanged);
        }
        // The backend may need to talk to its server to end the turn; the turn lock is held
        // until it has, so the next turn starts from a settled store.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let OpenTurn { tx, _local } = open;
                    tx.abandon().await;
                });
            }
            Err(_) => drop(open),
        }
    }
}

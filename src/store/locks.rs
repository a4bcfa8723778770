//! One async mutex per conversation with a turn running or waiting, so calls on it run one at
//! a time in arrival order (tokio's mutex is fair). Entries of conversations nobody waits for
//! are dropped as the map grows, so it tracks live turns, not every conversation ever seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as TurnMutex, OwnedMutexGuard};

use super::types::ConversationKey;

/// Below this many entries the map is not worth pruning.
const MIN_PRUNE_AT: usize = 64;

#[derive(Debug)]
pub(crate) struct TurnLocks {
    inner: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    map: HashMap<ConversationKey, Weak<TurnMutex<()>>>,
    prune_at: usize,
}

impl Default for TurnLocks {
    fn default() -> Self {
        TurnLocks {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                prune_at: MIN_PRUNE_AT,
            }),
        }
    }
}

impl TurnLocks {
    /// The conversation's mutex; waiting on it (`lock_owned`) joins the queue.
    pub(crate) fn mutex(&self, key: &ConversationKey) -> Arc<TurnMutex<()>> {
        let mut entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = entries.map.get(key).and_then(Weak::upgrade) {
            return live;
        }
        let fresh = Arc::new(TurnMutex::new(()));
        entries.map.insert(key.clone(), Arc::downgrade(&fresh));
        if entries.map.len() >= entries.prune_at {
            entries.map.retain(|_, m| m.strong_count() > 0);
            // Doubling keeps pruning amortized O(1) per call however many turns are live.
            entries.prune_at = (entries.map.len() * 2).max(MIN_PRUNE_AT);
        }
        fresh
    }

    pub(crate) async fn lock(&self, key: &ConversationKey) -> OwnedMutexGuard<()> {
        self.mutex(key).lock_owned().await
    }

    /// Entries held, live or not yet pruned.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_map_does_not_grow_with_conversations_seen() {
        let locks = TurnLocks::default();
        for i in 0..10_000 {
            let _turn = locks.lock(&ConversationKey::new("a", i.to_string())).await;
        }
        assert!(locks.len() <= MIN_PRUNE_AT, "{} entries left", locks.len());
    }

    #[tokio::test]
    async fn a_held_conversation_keeps_its_mutex() {
        let locks = TurnLocks::default();
        let key = ConversationKey::new("a", "held");
        let held = locks.lock(&key).await;
        for i in 0..1_000 {
            drop(locks.lock(&ConversationKey::new("a", i.to_string())).await);
        }
        assert!(
            locks.mutex(&key).try_lock().is_err(),
            "pruning must not hand out a second mutex for a held conversation"
        );
        drop(held);
        assert!(locks.mutex(&key).try_lock().is_ok());
    }
}

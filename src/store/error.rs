//! What can go wrong with the conversation store, said so that whoever reads it knows what
//! to change. Database URLs only ever appear redacted.

use std::time::Duration;

use super::types::ConversationKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store named in the configuration could not be opened (file, directory, server,
    /// credentials or schema migration).
    #[error("cannot open the conversation store {target}: {reason}. {hint}")]
    Open {
        /// The file path or the redacted URL.
        target: String,
        reason: String,
        hint: &'static str,
    },

    /// Another call on the same conversation held it for longer than the caller would wait.
    #[error(
        "{key} is busy: another call on it is still running after {waited:?}; retry when it has answered"
    )]
    Busy {
        key: ConversationKey,
        waited: Duration,
    },

    /// The conversation was deleted or written by someone else (another process, an admin
    /// command, the ttl sweep) while this turn ran; the turn was not stored.
    #[error(
        "{key} changed while this turn ran (deleted, expired or written elsewhere); the turn was not stored"
    )]
    Changed { key: ConversationKey },

    /// A stored row no longer reads as a message, e.g. written by an incompatible version.
    #[error("{key} has an unreadable stored message #{seq}: {reason}")]
    Corrupt {
        key: ConversationKey,
        seq: i64,
        reason: String,
    },

    #[error("the conversation store failed to {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { action, source }
    }

    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy { .. })
    }
}

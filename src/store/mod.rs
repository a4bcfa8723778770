//! Conversations that outlive a call, a restart and a single process.
//!
//! [`Conversations`] is what the agent loop uses: [`Conversations::begin_turn`] waits its turn
//! on one conversation (in arrival order, in this process and — with PostgreSQL — across
//! replicas), hands back the stored history, and [`TurnGuard::commit`] writes the turn's
//! messages in one transaction. A turn that fails or is cancelled simply drops its guard, which
//! leaves the stored conversation exactly as it was.
//!
//! Backends implement [`ConversationStore`]: [`memory`] (nothing survives the process),
//! [`sqlite`] (the default, one file beside `agents.yaml`) and [`postgres`] (any number of
//! replicas). Messages are stored as the JSON that [`crate::llm::conversation::Message`]'s serde
//! implementation produces, one row per message, so a turn costs the rows it appends.

pub mod admin;
mod backend;
mod cache;
pub mod config;
mod error;
mod locks;
pub mod memory;
pub mod postgres;
mod redact;
pub mod sqlite;
mod sweep;
mod turn;
mod types;

pub use backend::{Commit, ConversationStore, TurnTx};
pub use config::{ConversationsConfig, StoreKind};
pub use error::StoreError;
pub use redact::redact_url;
pub use sweep::{spawn_sweeper, sweep_interval};
pub use turn::{Conversations, TurnGuard};
pub use types::{
    ConversationInfo, ConversationKey, Stamp, StoredConversation, Summary, check_conversation_id,
};

//! The `conversations:` section of `agents.yaml` (where conversations are stored and for how
//! long), read into [`crate::store::ConversationsConfig`]. A mistake here is fatal: an agent
//! that silently kept its conversations somewhere else than configured would lose them.

use serde_yaml::Value;

use super::error::ConfigError;
use super::source::{Sources, key_path};
use crate::store::ConversationsConfig;

/// Absent → the defaults (SQLite at `.pallas/conversations.db` beside `agents.yaml`).
pub fn read_conversations(
    value: Option<&Value>,
    loc: &Sources<'_>,
) -> Result<ConversationsConfig, ConfigError> {
    let value = match value {
        None | Some(Value::Null) => return Ok(ConversationsConfig::default()),
        Some(value) => value,
    };
    serde_yaml::from_value::<ConversationsConfig>(value.clone()).map_err(|e| {
        let problem = e.to_string();
        // serde_yaml appends a position inside the section; the diagnostic names the file
        // and line of the section itself.
        let problem = problem
            .split(" at line ")
            .next()
            .unwrap_or(&problem)
            .to_string();
        ConfigError::Invalid(Box::new(loc.diagnostic(
            &key_path(&["conversations"]),
            &problem,
            "write e.g. `conversations: {store: sqlite}`, `{store: memory}` or `{store: postgres, url: \"${DATABASE_URL}\"}` (keys: store, path, url, ttl, cache_size, busy_timeout; see docs/conversations.md)",
        )))
    })
}

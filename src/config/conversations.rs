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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::load_project_with_env;
    use crate::store::StoreKind;

    fn load(dir: &Path, conversations: &str) -> Result<crate::config::Project, String> {
        std::fs::write(
            dir.join("agents.yaml"),
            format!("registry_port: 0\n{conversations}agents:\n  a: {{port: 0}}\n"),
        )
        .unwrap();
        let env = |name: &str| (name == "DB_URL").then(|| "postgres://u:pw@db/x".to_string());
        load_project_with_env(&dir.join("agents.yaml"), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn the_section_is_read_with_env_substitution_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let default = load(dir.path(), "").unwrap().conversations;
        assert_eq!(default.store, StoreKind::Sqlite);
        let pg = load(
            dir.path(),
            "conversations:\n  store: postgres\n  url: \"${DB_URL}\"\n  ttl: 2h\n",
        )
        .unwrap()
        .conversations;
        assert_eq!(pg.url.as_deref(), Some("postgres://u:pw@db/x"));
        assert_eq!(pg.ttl, Duration::from_secs(7200));
    }

    #[test]
    fn a_mistake_names_the_file_the_line_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), "conversations:\n  store: postgres\n").unwrap_err();
        assert!(
            err.contains("agents.yaml:2") && err.contains("conversations.url is missing"),
            "{err}"
        );
        assert!(err.contains("docs/conversations.md"), "{err}");
    }
}

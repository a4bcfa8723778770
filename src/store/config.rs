//! The `conversations:` section of `agents.yaml`: where conversations are kept and for how
//! long. `${ENV}` substitution happens in the config loader before this is read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::redact::redact_url;

pub const DEFAULT_SQLITE_PATH: &str = ".pallas/conversations.db";
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_CACHE_SIZE: usize = 1000;
/// A turn can take minutes (model calls, tools); a caller waiting longer than this for a
/// busy conversation is told so instead of hanging.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sqlite,
    Memory,
    Postgres,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct ConversationsConfig {
    pub store: StoreKind,
    /// SQLite file; relative to the directory of `agents.yaml`.
    pub path: PathBuf,
    /// PostgreSQL URL; holds a password, so never printed as is.
    pub url: Option<String>,
    /// Idle conversations older than this are deleted.
    pub ttl: Duration,
    /// Conversations kept in memory between turns, at most.
    pub cache_size: usize,
    /// How long a call waits for another call on the same conversation.
    pub busy_timeout: Duration,
}

impl Default for ConversationsConfig {
    fn default() -> Self {
        ConversationsConfig {
            store: StoreKind::Sqlite,
            path: PathBuf::from(DEFAULT_SQLITE_PATH),
            url: None,
            ttl: DEFAULT_TTL,
            cache_size: DEFAULT_CACHE_SIZE,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for ConversationsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationsConfig")
            .field("store", &self.store)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("ttl", &self.ttl)
            .field("cache_size", &self.cache_size)
            .field("busy_timeout", &self.busy_timeout)
            .finish()
    }
}

impl ConversationsConfig {
    /// The SQLite file, with a relative `path` taken from `base_dir`.
    pub fn sqlite_path(&self, base_dir: &Path) -> PathBuf {
        if self.path.is_absolute() {
            self.path.clone()
        } else {
            base_dir.join(&self.path)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: StoreKind,
    path: Option<PathBuf>,
    url: Option<String>,
    ttl: Option<String>,
    cache_size: Option<usize>,
    busy_timeout: Option<String>,
}

impl TryFrom<RawConfig> for ConversationsConfig {
    type Error = String;

    fn try_from(raw: RawConfig) -> Result<Self, String> {
        let defaults = ConversationsConfig::default();
        match (raw.store, &raw.path, &raw.url) {
            (StoreKind::Postgres, _, None) => {
                return Err(
                    "conversations.store is postgres but conversations.url is missing; \
                     add url: postgres://user:password@host:5432/database"
                        .into(),
                );
            }
            (StoreKind::Postgres, Some(_), _) | (StoreKind::Memory, Some(_), _) => {
                return Err("conversations.path only applies to store: sqlite; remove it".into());
            }
            (StoreKind::Sqlite, _, Some(_)) | (StoreKind::Memory, _, Some(_)) => {
                return Err("conversations.url only applies to store: postgres; remove it".into());
            }
            _ => {}
        }
        let duration = |field: &str, text: Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(text) => parse_duration(&text).map_err(|e| format!("conversations.{field}: {e}")),
        };
        Ok(ConversationsConfig {
            store: raw.store,
            path: raw.path.unwrap_or(defaults.path),
            url: raw.url,
            ttl: duration("ttl", raw.ttl, defaults.ttl)?,
            cache_size: raw.cache_size.unwrap_or(defaults.cache_size),
            busy_timeout: duration("busy_timeout", raw.busy_timeout, defaults.busy_timeout)?,
        })
    }
}

/// A duration as people write it: `90s`, `15m`, `12h`, `7d`, `2w`, or several together
/// (`1d12h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "'{text}' is not a duration; write a number and a unit (s, m, h, d, w), e.g. 7d or 12h"
        )
    };
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let seconds = match rest[digits..digits + unit_len].trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(invalid()),
        };
        let part = number.checked_mul(seconds).ok_or_else(invalid)?;
        total = total
            .checked_add(Duration::from_secs(part))
            .ok_or_else(invalid)?;
        rest = rest[digits + unit_len..].trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<ConversationsConfig, String> {
        serde_yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_issue() {
        let config = read("{}").unwrap();
        assert_eq!(config, ConversationsConfig::default());
        assert_eq!(config.store, StoreKind::Sqlite);
        assert_eq!(config.ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(
            config.sqlite_path(Path::new("/srv/app")),
            Path::new("/srv/app/.pallas/conversations.db")
        );
    }

    #[test]
    fn every_store_reads() {
        let pg =
            read("store: postgres\nurl: postgres://u:pw@db/x\nttl: 12h\ncache_size: 5").unwrap();
        assert_eq!(pg.store, StoreKind::Postgres);
        assert_eq!(pg.ttl, Duration::from_secs(12 * 3600));
        assert_eq!(pg.cache_size, 5);
        assert!(
            !format!("{pg:?}").contains("pw"),
            "Debug must not show the password"
        );
        let file = read("store: sqlite\npath: /var/lib/pallas/c.db").unwrap();
        assert_eq!(
            file.sqlite_path(Path::new("/x")),
            Path::new("/var/lib/pallas/c.db")
        );
        assert_eq!(read("store: memory").unwrap().store, StoreKind::Memory);
    }

    #[test]
    fn mistakes_are_explained() {
        let missing_url = read("store: postgres").unwrap_err();
        assert!(
            missing_url.contains("conversations.url is missing"),
            "{missing_url}"
        );
        let stray_url = read("url: postgres://db/x").unwrap_err();
        assert!(
            stray_url.contains("only applies to store: postgres"),
            "{stray_url}"
        );
        let bad_ttl = read("ttl: forever").unwrap_err();
        assert!(
            bad_ttl.contains("conversations.ttl") && bad_ttl.contains("7d"),
            "{bad_ttl}"
        );
        assert!(read("store: redis").is_err());
        assert!(read("tll: 7d").unwrap_err().contains("tll"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d12h"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in ["", "7", "d", "7 days", "-1h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }
}

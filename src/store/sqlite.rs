//! The default store: one SQLite file beside `agents.yaml`, for a single `pallas serve`.
//! Turns of one process are kept apart by [`super::Conversations`]; a write that finds the
//! conversation changed by another process (an admin command, say) is refused, not merged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use super::backend::{Commit, ConversationStore, TurnTx};
use super::error::StoreError;
use super::types::{ConversationInfo, ConversationKey, Stamp, StoredConversation};

mod queries {
    type Conn = sqlx::SqliteConnection;
    include!("sql_shared.rs");
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// Enough for concurrent reads; SQLite writes one transaction at a time whatever the count.
const MAX_CONNECTIONS: u32 = 4;
/// How long a write waits for another connection's write before failing.
const WRITE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the store file and brings its schema
    /// up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let failed = |reason: String, hint: &'static str| StoreError::Open {
            target: path.display().to_string(),
            reason,
            hint,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                failed(
                    format!("cannot create the directory {}: {e}", dir.display()),
                    "check the permissions, or set conversations.path to a writable place",
                )
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL survives a crash of the process (what "written before the
            // answer" guards against) and skips an fsync per turn; only a power loss can take
            // back the last turns.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(WRITE_WAIT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| {
                failed(
                    e.to_string(),
                    "check that the path is a writable file (not a directory), or set conversations.path",
                )
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            failed(
                format!("its schema cannot be brought up to date: {e}"),
                "the file may not be a Pallas conversation store or come from a newer Pallas; move it away or set conversations.path",
            )
        })?;
        Ok(SqliteStore {
            pool,
            path: path.to_path_buf(),
        })
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
        self.pool
            .acquire()
            .await
            .map_err(StoreError::db("reach the SQLite file"))
    }
}

#[async_trait]
impl ConversationStore for SqliteStore {
    fn describe(&self) -> String {
        format!("SQLite file {}", self.path.display())
    }

    async fn begin(
        &self,
        key: &ConversationKey,
        _wait: Duration,
    ) -> Result<Box<dyn TurnTx>, StoreError> {
        Ok(Box::new(SqliteTurn {
            pool: self.pool.clone(),
            key: key.clone(),
        }))
    }

    async fn load(&self, key: &ConversationKey) -> Result<Option<StoredConversation>, StoreError> {
        queries::load(&mut *self.conn().await?, key).await
    }

    async fn list(&self, agent: Option<&str>) -> Result<Vec<ConversationInfo>, StoreError> {
        queries::list(&mut *self.conn().await?, agent).await
    }

    async fn delete(&self, key: &ConversationKey) -> Result<bool, StoreError> {
        queries::delete(&mut *self.conn().await?, key).await
    }

    async fn sweep(&self, cutoff: DateTime<Utc>) -> Result<Vec<ConversationKey>, StoreError> {
        let rows =
            sqlx::query("DELETE FROM conversations WHERE updated_at < $1 RETURNING agent, id")
                .bind(cutoff.timestamp_millis())
                .fetch_all(&mut *self.conn().await?)
                .await
                .map_err(StoreError::db("delete expired conversations"))?;
        rows.iter()
            .map(|row| {
                Ok(ConversationKey::new(
                    row.try_get::<String, _>(0)?,
                    row.try_get::<String, _>(1)?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::db("delete expired conversations"))
    }
}

/// A turn needs nothing held open in SQLite: the commit's own transaction checks and writes.
struct SqliteTurn {
    pool: SqlitePool,
    key: ConversationKey,
}

impl SqliteTurn {
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
        self.pool
            .acquire()
            .await
            .map_err(StoreError::db("reach the SQLite file"))
    }
}

#[async_trait]
impl TurnTx for SqliteTurn {
    async fn stamp(&mut self) -> Result<Option<Stamp>, StoreError> {
        queries::stamp(&mut *self.conn().await?, &self.key).await
    }

    async fn load(&mut self) -> Result<Option<StoredConversation>, StoreError> {
        queries::load(&mut *self.conn().await?, &self.key).await
    }

    async fn commit(self: Box<Self>, commit: Commit<'_>) -> Result<(), StoreError> {
        let write = "store a turn";
        let mut tx = self.pool.begin().await.map_err(StoreError::db(write))?;
        let conn: &mut SqliteConnection = &mut tx;
        queries::write_turn(conn, &self.key, &commit).await?;
        tx.commit().await.map_err(StoreError::db(write))
    }

    async fn delete(self: Box<Self>) -> Result<bool, StoreError> {
        queries::delete(&mut *self.conn().await?, &self.key).await
    }

    async fn abandon(self: Box<Self>) {}
}

//! The store for several replicas: every `pallas serve` started from the same files shares one
//! PostgreSQL database. A turn runs inside one transaction that holds a transaction-level
//! advisory lock on the conversation, so turns through different replicas queue behind each
//! other (PostgreSQL grants waiters in order); a crashed replica's transaction is rolled back
//! by the server, which releases the lock and discards the unfinished turn.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Row, Transaction};

use super::backend::{Commit, ConversationStore, TurnTx};
use super::error::StoreError;
use super::redact::{password_in, redact_url, scrub};
use super::types::{ConversationInfo, ConversationKey, Stamp, StoredConversation};

mod queries {
    type Conn = sqlx::PgConnection;
    include!("sql_shared.rs");
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// Each running turn holds one connection for its whole length (its transaction holds the
/// lock), so this bounds the turns one replica runs at once on different conversations.
const MAX_CONNECTIONS: u32 = 32;
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// PostgreSQL's code for "lock_timeout expired".
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Waits for the conversation's advisory lock, keyed by a 64-bit hash of
/// [`ConversationKey::lock_name`] (the sweep computes the same name in SQL).
const LOCK_TURN: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL without its password, for messages.
    shown: String,
}

impl PostgresStore {
    /// Connects and brings the schema up to date (concurrent replicas take turns: the
    /// migrator holds its own advisory lock).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let password = password_in(url);
        let failed = |reason: String, hint: &'static str| StoreError::Open {
            target: shown.clone(),
            reason: scrub(&reason, password.as_deref()),
            hint,
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            failed(
                e.to_string(),
                "conversations.url must look like postgres://user:password@host:5432/database",
            )
        })?;
        // One connection first, without the pool's retries, so a wrong host, password or
        // database is reported as what it is, at once.
        let unreachable = "check that the server is running and reachable, and the user, password and database in conversations.url";
        let mut first = tokio::time::timeout(CONNECT_WAIT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| failed(format!("no answer within {CONNECT_WAIT:?}"), unreachable))?
            .map_err(|e| failed(e.to_string(), unreachable))?;
        MIGRATOR.run(&mut first).await.map_err(|e| {
            failed(
                format!("its schema cannot be brought up to date: {e}"),
                "the user needs the right to create tables in that database, or the database belongs to a newer Pallas",
            )
        })?;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_WAIT)
            .connect_lazy_with(options);
        Ok(PostgresStore { pool, shown })
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, StoreError> {
        self.pool
            .acquire()
            .await
            .map_err(StoreError::db("reach PostgreSQL"))
    }
}

#[async_trait]
impl ConversationStore for PostgresStore {
    fn describe(&self) -> String {
        format!("PostgreSQL {}", self.shown)
    }

    async fn begin(
        &self,
        key: &ConversationKey,
        wait: Duration,
    ) -> Result<Box<dyn TurnTx>, StoreError> {
        let start = "start a turn";
        let mut tx = self.pool.begin().await.map_err(StoreError::db(start))?;
        // lock_timeout 0 would mean "wait forever".
        let wait_ms = wait.as_millis().clamp(1, i32::MAX as u128);
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(format!("{wait_ms}ms"))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db(start))?;
        let locked = sqlx::query(LOCK_TURN)
            .bind(key.lock_name())
            .execute(&mut *tx)
            .await;
        match locked {
            Ok(_) => Ok(Box::new(PostgresTurn {
                tx,
                key: key.clone(),
            })),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
                Err(StoreError::Busy {
                    key: key.clone(),
                    waited: wait,
                })
            }
            Err(e) => Err(StoreError::db(start)(e)),
        }
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

    /// A conversation with a turn open on any replica is left alone: its lock cannot be taken.
    async fn sweep(&self, cutoff: DateTime<Utc>) -> Result<Vec<ConversationKey>, StoreError> {
        let rows = sqlx::query(
            "WITH expired AS (SELECT agent, id FROM conversations WHERE updated_at < $1) \
             DELETE FROM conversations c USING expired e \
             WHERE c.agent = e.agent AND c.id = e.id AND c.updated_at < $1 \
             AND pg_try_advisory_xact_lock(hashtextextended( \
                 'pallas/' || octet_length(c.agent) || '/' || c.agent || '/' || c.id, 0)) \
             RETURNING c.agent, c.id",
        )
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

/// The open transaction is the turn: it holds the lock until commit or rollback.
struct PostgresTurn {
    tx: Transaction<'static, Postgres>,
    key: ConversationKey,
}

impl PostgresTurn {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

#[async_trait]
impl TurnTx for PostgresTurn {
    async fn stamp(&mut self) -> Result<Option<Stamp>, StoreError> {
        let key = self.key.clone();
        queries::stamp(self.conn(), &key).await
    }

    async fn load(&mut self) -> Result<Option<StoredConversation>, StoreError> {
        let key = self.key.clone();
        queries::load(self.conn(), &key).await
    }

    async fn commit(mut self: Box<Self>, commit: Commit<'_>) -> Result<(), StoreError> {
        let key = self.key.clone();
        queries::write_turn(self.conn(), &key, &commit).await?;
        self.tx
            .commit()
            .await
            .map_err(StoreError::db("store a turn"))
    }

    async fn delete(mut self: Box<Self>) -> Result<bool, StoreError> {
        let key = self.key.clone();
        let deleted = queries::delete(self.conn(), &key).await?;
        self.tx
            .commit()
            .await
            .map_err(StoreError::db("delete a conversation"))?;
        Ok(deleted)
    }

    async fn abandon(self: Box<Self>) {
        // Failing to roll back leaves the server to do it when the connection closes.
        if let Err(e) = self.tx.rollback().await {
            tracing::debug!(error = %e, "rolling back an abandoned turn failed");
        }
    }
}

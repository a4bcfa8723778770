// Statements SQLite and PostgreSQL share word for word (both read `$n` parameters and the
// schema is the same), included into `sqlite.rs` and `postgres.rs` with `Db` and `Conn` set to
// their driver, so the two backends cannot drift apart.

use crate::llm::conversation::Message;
use crate::store::backend::Commit;
use crate::store::error::StoreError;
use crate::store::types::{
    ConversationInfo, ConversationKey, Stamp, StoredConversation, Summary, from_millis,
};
use sqlx::Row;

pub(super) async fn stamp(
    conn: &mut Conn,
    key: &ConversationKey,
) -> Result<Option<Stamp>, StoreError> {
    let row =
        sqlx::query("SELECT created_at, version FROM conversations WHERE agent = $1 AND id = $2")
            .bind(key.agent.clone())
            .bind(key.id.clone())
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db("read a conversation"))?;
    row.map(|row| {
        Ok(Stamp {
            created_at_ms: row.try_get("created_at")?,
            version: row.try_get("version")?,
        })
    })
    .transpose()
    .map_err(StoreError::db("read a conversation"))
}

pub(super) async fn load(
    conn: &mut Conn,
    key: &ConversationKey,
) -> Result<Option<StoredConversation>, StoreError> {
    let read = StoreError::db("read a conversation");
    let Some(row) = sqlx::query(
        "SELECT created_at, updated_at, version, message_count, summary_text, summary_covers \
         FROM conversations WHERE agent = $1 AND id = $2",
    )
    .bind(key.agent.clone())
    .bind(key.id.clone())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::db("read a conversation"))?
    else {
        return Ok(None);
    };
    let header = (|| -> Result<_, sqlx::Error> {
        let summary_text: Option<String> = row.try_get("summary_text")?;
        let summary_covers: Option<i64> = row.try_get("summary_covers")?;
        Ok((
            row.try_get::<i64, _>("created_at")?,
            row.try_get::<i64, _>("updated_at")?,
            row.try_get::<i64, _>("version")?,
            row.try_get::<i64, _>("message_count")?,
            summary_text.map(|text| Summary {
                text,
                covers: summary_covers.unwrap_or(0).max(0) as usize,
            }),
        ))
    })()
    .map_err(read)?;
    let (created_at, updated_at, version, message_count, summary) = header;
    // Messages are append-only, so the rows below the count read with the header are exactly
    // the history that header describes, whatever commits meanwhile.
    let rows = sqlx::query(
        "SELECT seq, body FROM messages WHERE agent = $1 AND id = $2 AND seq < $3 ORDER BY seq",
    )
    .bind(key.agent.clone())
    .bind(key.id.clone())
    .bind(message_count)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("read a conversation's messages"))?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row
            .try_get("seq")
            .map_err(StoreError::db("read a conversation's messages"))?;
        let body: String = row
            .try_get("body")
            .map_err(StoreError::db("read a conversation's messages"))?;
        let message: Message = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
            key: key.clone(),
            seq,
            reason: e.to_string(),
        })?;
        messages.push(message);
    }
    Ok(Some(StoredConversation {
        key: key.clone(),
        created_at: from_millis(created_at),
        updated_at: from_millis(updated_at),
        version,
        summary,
        messages,
    }))
}

pub(super) async fn list(
    conn: &mut Conn,
    agent: Option<&str>,
) -> Result<Vec<ConversationInfo>, StoreError> {
    let rows = sqlx::query(
        "SELECT agent, id, created_at, updated_at, version, message_count FROM conversations \
         WHERE $1 IS NULL OR agent = $1 ORDER BY updated_at DESC, agent, id",
    )
    .bind(agent.map(str::to_string))
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::db("list conversations"))?;
    rows.iter()
        .map(|row| {
            Ok(ConversationInfo {
                key: ConversationKey::new(
                    row.try_get::<String, _>("agent")?,
                    row.try_get::<String, _>("id")?,
                ),
                created_at: from_millis(row.try_get("created_at")?),
                updated_at: from_millis(row.try_get("updated_at")?),
                version: row.try_get("version")?,
                messages: row.try_get::<i64, _>("message_count")?.max(0) as usize,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::db("list conversations"))
}

/// Messages go with their conversation (`ON DELETE CASCADE`).
pub(super) async fn delete(conn: &mut Conn, key: &ConversationKey) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM conversations WHERE agent = $1 AND id = $2")
        .bind(key.agent.clone())
        .bind(key.id.clone())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("delete a conversation"))?;
    Ok(done.rows_affected() > 0)
}

/// Writes one turn; the caller's transaction makes it all or nothing. The conversation row is
/// written first, which both checks that nobody changed it and (in SQLite) takes the write
/// lock before anything is read.
pub(super) async fn write_turn(
    conn: &mut Conn,
    key: &ConversationKey,
    commit: &Commit<'_>,
) -> Result<(), StoreError> {
    let write = "store a turn";
    let now = commit.now.timestamp_millis();
    let appended = commit.append.len() as i64;
    let claimed = match commit.expected {
        None => sqlx::query(
            "INSERT INTO conversations (agent, id, created_at, updated_at, version, message_count) \
             VALUES ($1, $2, $3, $3, 1, $4) ON CONFLICT (agent, id) DO NOTHING",
        )
        .bind(key.agent.clone())
        .bind(key.id.clone())
        .bind(now)
        .bind(appended)
        .execute(&mut *conn)
        .await,
        Some(stamp) => {
            sqlx::query(
                "UPDATE conversations SET version = version + 1, updated_at = $3, \
             message_count = message_count + $4 \
             WHERE agent = $1 AND id = $2 AND created_at = $5 AND version = $6 \
             AND message_count = $7",
            )
            .bind(key.agent.clone())
            .bind(key.id.clone())
            .bind(now)
            .bind(appended)
            .bind(stamp.created_at_ms)
            .bind(stamp.version)
            .bind(commit.stored_messages as i64)
            .execute(&mut *conn)
            .await
        }
    }
    .map_err(StoreError::db(write))?;
    if claimed.rows_affected() == 0 {
        return Err(StoreError::Changed { key: key.clone() });
    }
    if let Some(summary) = commit.summary {
        sqlx::query(
            "UPDATE conversations SET summary_text = $3, summary_covers = $4 \
             WHERE agent = $1 AND id = $2",
        )
        .bind(key.agent.clone())
        .bind(key.id.clone())
        .bind(summary.text.clone())
        .bind(summary.covers as i64)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db(write))?;
    }
    for (offset, message) in commit.append.iter().enumerate() {
        let body = serde_json::to_string(message).map_err(|e| StoreError::Corrupt {
            key: key.clone(),
            seq: (commit.stored_messages + offset) as i64,
            reason: e.to_string(),
        })?;
        sqlx::query("INSERT INTO messages (agent, id, seq, body) VALUES ($1, $2, $3, $4)")
            .bind(key.agent.clone())
            .bind(key.id.clone())
            .bind((commit.stored_messages + offset) as i64)
            .bind(body)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(write))?;
    }
    Ok(())
}

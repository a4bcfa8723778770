//! Opens the same kind of store as often as a test needs (a restart, a second replica), each
//! test in its own place: a temporary directory for SQLite, a fresh schema for PostgreSQL.

#![allow(dead_code)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pallas::llm::conversation::Message;
use pallas::store::memory::MemoryStore;
use pallas::store::{Conversations, ConversationsConfig, StoreKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

pub struct Harness {
    pub backend: Backend,
    dir: tempfile::TempDir,
    memory: MemoryStore,
    postgres_url: Option<String>,
}

pub const POSTGRES_URL_VAR: &str = "PALLAS_TEST_POSTGRES_URL";

impl Harness {
    /// None when the backend cannot be tested here (PostgreSQL without a URL), after saying so
    /// where a person running the tests will see it.
    pub async fn new(backend: Backend) -> Option<Harness> {
        let postgres_url = match backend {
            Backend::Postgres => Some(fresh_schema().await?),
            _ => None,
        };
        Some(Harness {
            backend,
            dir: tempfile::tempdir().expect("temporary directory"),
            memory: MemoryStore::new(),
            postgres_url,
        })
    }

    pub fn config(&self, cache_size: usize) -> ConversationsConfig {
        let mut config = ConversationsConfig {
            cache_size,
            ..ConversationsConfig::default()
        };
        match self.backend {
            Backend::Memory => config.store = StoreKind::Memory,
            Backend::Sqlite => config.path = self.dir.path().join("conversations.db"),
            Backend::Postgres => {
                config.store = StoreKind::Postgres;
                config.url = self.postgres_url.clone();
            }
        }
        config
    }

    /// A fresh instance on the same stored data: what a restart or another replica sees. The
    /// memory store's data lives as long as the harness, so "restart" means a cold cache.
    pub async fn open(&self) -> Conversations {
        self.open_with_cache(100).await
    }

    pub async fn open_with_cache(&self, cache_size: usize) -> Conversations {
        match self.backend {
            Backend::Memory => Conversations::new(Arc::new(self.memory.clone()), cache_size),
            _ => Conversations::open(&self.config(cache_size), self.dir.path())
                .await
                .expect("the test store opens"),
        }
    }

    /// Several processes share this store and keep their turns apart.
    pub fn is_shared(&self) -> bool {
        self.backend == Backend::Postgres
    }
}

/// A schema of its own for each test, so tests run in parallel on one database without
/// seeing each other's conversations (sweeps included).
async fn fresh_schema() -> Option<String> {
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(say_skipped);
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL store tests: .ci/run sets {POSTGRES_URL_VAR}"
        );
        return None;
    };
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let schema = format!(
        "pallas_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    );
    let pool = sqlx::PgPool::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} does not connect: {e}"));
    drop_schemas_of_finished_runs(&pool).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .expect("create a test schema");
    pool.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}options[search_path]={schema}"))
}

/// Test schemas are named after the test process; those of processes that have ended are
/// dropped here, so a developer's database does not fill with them (a test cannot do it
/// itself at its end without blocking the runtime its turns roll back on).
async fn drop_schemas_of_finished_runs(pool: &sqlx::PgPool) {
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'pallas\\_test\\_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    for schema in schemas {
        let pid = schema.split('_').nth(2).unwrap_or_default();
        if std::path::Path::new("/proc").join(pid).exists() {
            continue;
        }
        let drop = format!("SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(pool).await;
    }
}

/// Written to the terminal directly: the test harness would swallow `eprintln!` of a test
/// that passes, and a skip must not pass unnoticed.
fn say_skipped() {
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: the PostgreSQL store tests — set {POSTGRES_URL_VAR} (e.g. \
         postgres://postgres@127.0.0.1:5432/postgres) to run them; .ci/run starts a server and does ***\n"
    );
}

pub fn user(text: &str) -> Message {
    Message::user_text(text)
}

pub fn assistant(text: &str) -> Message {
    Message {
        role: pallas::llm::conversation::Role::Assistant,
        content: vec![pallas::llm::conversation::ContentBlock::Text(text.into())],
    }
}

pub fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(Message::text).collect()
}

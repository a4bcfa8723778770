//! The conversation store's contract, run against every backend: memory, SQLite (temporary
//! directory) and PostgreSQL (when PALLAS_TEST_POSTGRES_URL is set; .ci/run starts one).

mod store_harness;

use std::time::Duration;

use pallas::llm::conversation::{
    ContentBlock, Image, Message, Reasoning, Role, ToolResult, ToolResultContent, ToolUse,
};
use pallas::store::{Conversations, StoreError, Summary, spawn_sweeper};
use store_harness::{Backend, Harness, assistant, texts, user};
use tokio_util::sync::CancellationToken;

const AGENT: &str = "jarvis";
/// Long enough never to be hit by a turn that is merely slow on a busy machine.
const PATIENT: Duration = Duration::from_secs(60);

async fn one_turn(store: &Conversations, id: &str, question: &str, answer: &str) {
    let guard = store.begin_turn(AGENT, id, PATIENT).await.unwrap();
    guard
        .commit(vec![user(question), assistant(answer)])
        .await
        .unwrap();
}

async fn stored_texts(store: &Conversations, id: &str) -> Vec<String> {
    store
        .load(AGENT, id)
        .await
        .unwrap()
        .map(|c| texts(&c.messages))
        .unwrap_or_default()
}

async fn commit_then_reload_after_restart(h: &Harness) {
    let first = h.open().await;
    let guard = first.begin_turn(AGENT, "c1", PATIENT).await.unwrap();
    assert!(guard.conversation().is_none() && guard.history().is_empty());
    let info = guard
        .commit(vec![user("hello"), assistant("hi")])
        .await
        .unwrap();
    assert_eq!((info.version, info.messages), (1, 2));
    drop(first);

    let restarted = h.open().await;
    let guard = restarted.begin_turn(AGENT, "c1", PATIENT).await.unwrap();
    assert_eq!(texts(guard.history()), ["hello", "hi"]);
    let created = guard.conversation().unwrap().created_at;
    guard
        .commit(vec![user("again"), assistant("sure")])
        .await
        .unwrap();

    let stored = h.open().await.load(AGENT, "c1").await.unwrap().unwrap();
    assert_eq!(texts(&stored.messages), ["hello", "hi", "again", "sure"]);
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.created_at, created,
        "the start of a conversation stays put"
    );
    assert!(stored.updated_at >= created);
}

async fn every_kind_of_content_round_trips(h: &Harness) {
    let turn = vec![
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::Text("look at this".into()),
                ContentBlock::Image(Image {
                    mime_type: "image/png".into(),
                    data: vec![0, 159, 146, 150, 255],
                }),
            ],
        },
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Reasoning(Reasoning {
                    text: "think".into(),
                    signature: Some("sig".into()),
                    redacted: Some(vec![1, 2, 3]),
                }),
                ContentBlock::ToolUse(ToolUse {
                    id: "t1".into(),
                    name: "lookup".into(),
                    input: serde_json::json!({"q": "ünïcode ✓", "n": [1, 2.5, null]}),
                }),
            ],
        },
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult(ToolResult {
                tool_use_id: "t1".into(),
                content: vec![
                    ToolResultContent::Json(serde_json::json!({"ok": true})),
                    ToolResultContent::Text("done".into()),
                ],
                is_error: false,
            })],
        },
    ];
    let store = h.open().await;
    let guard = store.begin_turn(AGENT, "rich", PATIENT).await.unwrap();
    guard.commit(turn.clone()).await.unwrap();
    let stored = h.open().await.load(AGENT, "rich").await.unwrap().unwrap();
    assert_eq!(stored.messages, turn);
}

async fn a_dropped_guard_leaves_the_conversation_unchanged(h: &Harness) {
    let store = h.open().await;
    one_turn(&store, "c", "q1", "a1").await;

    let mut guard = store.begin_turn(AGENT, "c", PATIENT).await.unwrap();
    guard.set_summary(Summary {
        text: "never stored".into(),
        covers: 2,
    });
    drop(guard);

    // A turn cancelled while it runs (its task aborted) is the same as a dropped guard.
    let cancelled = {
        let store = store.clone();
        tokio::spawn(async move {
            let _guard = store.begin_turn(AGENT, "c", PATIENT).await.unwrap();
            std::future::pending::<()>().await;
        })
    };
    tokio::task::yield_now().await;
    cancelled.abort();
    let _ = cancelled.await;

    let fresh = h.open().await;
    let stored = fresh.load(AGENT, "c").await.unwrap().unwrap();
    assert_eq!(texts(&stored.messages), ["q1", "a1"]);
    assert_eq!((stored.version, stored.summary), (1, None));
    let guard = store.begin_turn(AGENT, "c", PATIENT).await.unwrap();
    assert_eq!(texts(guard.history()), ["q1", "a1"]);
    drop(guard);

    // A new conversation whose first turn never completes is not stored at all.
    drop(store.begin_turn(AGENT, "never", PATIENT).await.unwrap());
    assert!(fresh.load(AGENT, "never").await.unwrap().is_none());
    assert!(
        fresh
            .list(Some(AGENT))
            .await
            .unwrap()
            .iter()
            .all(|c| c.key.id != "never")
    );
}

/// Eight calls arrive while a turn runs; each waits its turn, sees every earlier turn, and
/// the history ends up as the eight question/answer pairs in arrival order.
async fn concurrent_turns_run_one_at_a_time_in_arrival_order(h: &Harness) {
    let store = h.open().await;
    let running = store.begin_turn(AGENT, "busy", PATIENT).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        calls.push(tokio::spawn(async move {
            let guard = store.begin_turn(AGENT, "busy", PATIENT).await.unwrap();
            let seen = guard.history().len();
            tokio::task::yield_now().await;
            guard
                .commit(vec![
                    user(&format!("q{i}")),
                    assistant(&format!("a{i} saw {seen}")),
                ])
                .await
                .unwrap();
        }));
        // Let the call reach the queue before the next one arrives.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
    }
    drop(running);
    for call in calls {
        call.await.unwrap();
    }
    let expected: Vec<String> = (0..8)
        .flat_map(|i| [format!("q{i}"), format!("a{i} saw {}", 2 * i)])
        .collect();
    assert_eq!(stored_texts(&h.open().await, "busy").await, expected);
}

async fn a_call_waiting_too_long_is_told_the_conversation_is_busy(h: &Harness) {
    let store = h.open().await;
    let running = store.begin_turn(AGENT, "slow", PATIENT).await.unwrap();
    let err = store
        .begin_turn(AGENT, "slow", Duration::from_millis(100))
        .await
        .expect_err("the conversation is busy");
    assert!(err.is_busy(), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("conversation 'slow' of agent 'jarvis' is busy"),
        "{message}"
    );
    running
        .commit(vec![user("q"), assistant("a")])
        .await
        .unwrap();
    let next = store
        .begin_turn(AGENT, "slow", Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(next.history().len(), 2);
}

async fn a_summary_is_stored_with_its_turn_and_kept(h: &Harness) {
    let store = h.open().await;
    one_turn(&store, "long", "q1", "a1").await;
    let mut guard = store.begin_turn(AGENT, "long", PATIENT).await.unwrap();
    let summary = Summary {
        text: "the user said q1".into(),
        covers: 2,
    };
    guard.set_summary(summary.clone());
    guard
        .commit(vec![user("q2"), assistant("a2")])
        .await
        .unwrap();
    one_turn(&store, "long", "q3", "a3").await;
    let stored = h.open().await.load(AGENT, "long").await.unwrap().unwrap();
    assert_eq!(stored.summary, Some(summary));
    assert_eq!(
        stored.messages.len(),
        6,
        "the stored history keeps everything"
    );
}

async fn another_instance_s_writes_are_seen_not_overwritten(h: &Harness) {
    let a = h.open().await;
    let b = h.open().await;
    one_turn(&a, "shared", "q1", "a1").await;
    one_turn(&b, "shared", "q2", "a2").await;
    // `a` has the conversation cached at version 1; it must notice version 2.
    let guard = a.begin_turn(AGENT, "shared", PATIENT).await.unwrap();
    assert_eq!(texts(guard.history()), ["q1", "a1", "q2", "a2"]);
    guard
        .commit(vec![user("q3"), assistant("a3")])
        .await
        .unwrap();
    assert_eq!(stored_texts(&b, "shared").await.len(), 6);
}

async fn delete_list_and_start_again(h: &Harness) {
    let store = h.open().await;
    one_turn(&store, "x", "q", "a").await;
    let guard = store.begin_turn("friday", "y", PATIENT).await.unwrap();
    guard.commit(vec![user("q")]).await.unwrap();

    let all = store.list(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].key.agent, "friday", "most recently updated first");
    let mine = store.list(Some(AGENT)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].key.id.as_str(), mine[0].messages), ("x", 2));

    assert!(store.delete(AGENT, "x", PATIENT).await.unwrap());
    assert!(!store.delete(AGENT, "x", PATIENT).await.unwrap());
    assert!(h.open().await.load(AGENT, "x").await.unwrap().is_none());
    // The same id starts a new conversation with nothing of the old one.
    let guard = store.begin_turn(AGENT, "x", PATIENT).await.unwrap();
    assert!(guard.history().is_empty());
    guard
        .commit(vec![user("new"), assistant("start")])
        .await
        .unwrap();
    assert_eq!(stored_texts(&h.open().await, "x").await, ["new", "start"]);
}

async fn idle_conversations_expire(h: &Harness) {
    let store = h.open().await;
    one_turn(&store, "old", "q", "a").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cutoff = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    one_turn(&store, "recent", "q", "a").await;

    assert_eq!(store.sweep(Duration::from_secs(3600)).await.unwrap(), 0);
    assert_eq!(store.sweep_idle_since(cutoff).await.unwrap(), 1);
    assert!(store.load(AGENT, "old").await.unwrap().is_none());
    let guard = store.begin_turn(AGENT, "old", PATIENT).await.unwrap();
    assert!(
        guard.history().is_empty(),
        "an expired conversation starts afresh"
    );
    drop(guard);

    // The background sweeper does the same on its own until it is cancelled.
    let cancel = CancellationToken::new();
    let sweeper = spawn_sweeper(
        store.clone(),
        Duration::from_millis(1),
        Duration::from_millis(10),
        cancel.clone(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !store.list(Some(AGENT)).await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), sweeper)
        .await
        .expect("the sweeper stops when cancelled")
        .unwrap();
}

/// A sweep or admin delete while a turn runs: a store shared by processes skips the
/// conversation; one that is not refuses the turn's stale write instead of resurrecting it.
async fn a_turn_on_a_conversation_deleted_meanwhile(h: &Harness) {
    let store = h.open().await;
    one_turn(&store, "gone", "q1", "a1").await;
    let guard = store.begin_turn(AGENT, "gone", PATIENT).await.unwrap();
    let elsewhere = h.open().await;
    let far_future = chrono::Utc::now() + chrono::Duration::days(1);
    let swept = elsewhere.sweep_idle_since(far_future).await.unwrap();
    let result = guard.commit(vec![user("q2"), assistant("a2")]).await;
    if h.is_shared() {
        assert_eq!(swept, 0, "a conversation with a turn open is not swept");
        result.unwrap();
        assert_eq!(stored_texts(&store, "gone").await.len(), 4);
    } else {
        assert_eq!(swept, 1);
        let err = result.expect_err("the stale turn is refused");
        assert!(matches!(err, StoreError::Changed { .. }), "{err}");
        assert!(store.load(AGENT, "gone").await.unwrap().is_none());
    }
}

macro_rules! contract {
    ($backend:ident, $kind:expr, [$($case:ident),* $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(harness) = Harness::new($kind).await {
                        super::$case(&harness).await;
                    }
                }
            )*
        }
    };
}

macro_rules! contract_for_every_backend {
    ($($case:ident),* $(,)?) => {
        contract!(memory, Backend::Memory, [$($case),*]);
        contract!(sqlite, Backend::Sqlite, [$($case),*]);
        contract!(postgres, Backend::Postgres, [$($case),*]);
    };
}

contract_for_every_backend!(
    commit_then_reload_after_restart,
    every_kind_of_content_round_trips,
    a_dropped_guard_leaves_the_conversation_unchanged,
    concurrent_turns_run_one_at_a_time_in_arrival_order,
    a_call_waiting_too_long_is_told_the_conversation_is_busy,
    a_summary_is_stored_with_its_turn_and_kept,
    another_instance_s_writes_are_seen_not_overwritten,
    delete_list_and_start_again,
    idle_conversations_expire,
    a_turn_on_a_conversation_deleted_meanwhile,
);

mod opening {
    use std::path::Path;

    use pallas::store::{Conversations, ConversationsConfig, StoreKind};

    async fn open_error(config: ConversationsConfig, base: &Path) -> String {
        Conversations::open(&config, base)
            .await
            .expect_err("the store must not open")
            .to_string()
    }

    #[tokio::test]
    async fn the_default_file_appears_under_dot_pallas_beside_agents_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let store = Conversations::open(&ConversationsConfig::default(), dir.path())
            .await
            .unwrap();
        assert!(dir.path().join(".pallas/conversations.db").is_file());
        assert!(store.describe().contains(".pallas/conversations.db"));
    }

    #[tokio::test]
    async fn a_sqlite_file_that_cannot_be_created_is_named_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
        let config = ConversationsConfig {
            path: "blocker/conversations.db".into(),
            ..ConversationsConfig::default()
        };
        let message = open_error(config, dir.path()).await;
        assert!(
            message.contains("cannot open the conversation store")
                && message.contains("blocker/conversations.db")
                && message.contains("conversations.path"),
            "{message}"
        );

        let config = ConversationsConfig {
            path: ".".into(),
            ..ConversationsConfig::default()
        };
        let message = open_error(config, dir.path()).await;
        assert!(message.contains("conversations.path"), "{message}");
    }

    #[tokio::test]
    async fn a_postgres_url_that_does_not_connect_is_named_without_its_password() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            // Port 1 on loopback: nothing listens, the connection is refused at once.
            "postgres://pallas:topsecret@127.0.0.1:1/conversations",
            "postgres://pallas:topsecret@127.0.0.1:notaport/conversations",
            "postgres://pallas@127.0.0.1:1/conversations?password=topsecret",
        ] {
            let config = ConversationsConfig {
                store: StoreKind::Postgres,
                url: Some(url.into()),
                ..ConversationsConfig::default()
            };
            let message = open_error(config, dir.path()).await;
            assert!(!message.contains("topsecret"), "{message}");
            assert!(
                message.contains("cannot open the conversation store postgres://pallas")
                    && message.contains("127.0.0.1")
                    && message.contains("conversations.url"),
                "{message}"
            );
        }
        let no_url = ConversationsConfig {
            store: StoreKind::Postgres,
            ..ConversationsConfig::default()
        };
        let message = open_error(no_url, dir.path()).await;
        assert!(
            message.contains("conversations.url is not set"),
            "{message}"
        );
    }
}

mod caching {
    use super::*;

    #[tokio::test]
    async fn the_cache_holds_at_most_its_bound() {
        let harness = Harness::new(Backend::Sqlite).await.unwrap();
        let store = harness.open_with_cache(3).await;
        for i in 0..10 {
            one_turn(&store, &format!("c{i}"), "q", "a").await;
            assert!(store.cached() <= 3, "{} cached", store.cached());
        }
        assert_eq!(store.cached(), 3);
        // Evicted or not, every conversation continues where it was.
        for i in 0..10 {
            let guard = store
                .begin_turn(AGENT, &format!("c{i}"), PATIENT)
                .await
                .unwrap();
            assert_eq!(texts(guard.history()), ["q", "a"]);
        }
    }
}

mod admin {
    use super::*;
    use pallas::store::admin::{self, AdminError};

    #[tokio::test]
    async fn list_show_and_delete_print_what_a_person_needs() {
        let harness = Harness::new(Backend::Sqlite).await.unwrap();
        let store = harness.open().await;
        one_turn(&store, "t-1", "what is up?", "all good").await;
        let guard = store.begin_turn("friday", "t-1", PATIENT).await.unwrap();
        guard.commit(vec![user("other agent")]).await.unwrap();
        one_turn(&store, "only-jarvis", "q", "a").await;

        let rows = admin::list(&store, Some(AGENT)).await.unwrap();
        let printed: Vec<String> = rows.iter().map(ToString::to_string).collect();
        assert_eq!(printed.len(), 2);
        assert!(printed[0].starts_with("jarvis") && printed[0].contains("only-jarvis"));

        let ambiguous = admin::show(&store, "t-1", None).await.unwrap_err();
        assert!(matches!(ambiguous, AdminError::Ambiguous { .. }));
        assert!(ambiguous.to_string().contains("--agent"), "{ambiguous}");

        let shown: Vec<String> = admin::show(&store, "t-1", Some(AGENT))
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(shown[0].contains("conversation 't-1' of agent 'jarvis': 2 messages"));
        assert_eq!(
            shown[1..],
            ["#1 user: what is up?", "#2 assistant: all good"]
        );

        let said = admin::delete(&store, "only-jarvis", None).await.unwrap();
        assert_eq!(said, "deleted conversation 'only-jarvis' of agent 'jarvis'");
        let missing = admin::delete(&store, "only-jarvis", None)
            .await
            .unwrap_err();
        assert!(
            missing.to_string().contains("conversations list"),
            "{missing}"
        );
    }
}

mod waiting {
    use super::*;
    use pallas::store::config::DEFAULT_BUSY_TIMEOUT;

    /// The configured bound, not a hang: with tokio's clock paused the five-minute default
    /// elapses at once once nothing else can happen.
    #[tokio::test(start_paused = true)]
    async fn a_call_gives_up_after_the_configured_bound() {
        let harness = Harness::new(Backend::Memory).await.unwrap();
        let store = harness.open().await;
        let running = store.begin_turn(AGENT, "c", PATIENT).await.unwrap();
        let started = tokio::time::Instant::now();
        let err = store
            .begin_turn(AGENT, "c", DEFAULT_BUSY_TIMEOUT)
            .await
            .expect_err("busy");
        assert!(
            matches!(err, StoreError::Busy { waited, .. } if waited == DEFAULT_BUSY_TIMEOUT),
            "{err}"
        );
        assert_eq!(started.elapsed(), DEFAULT_BUSY_TIMEOUT);
        drop(running);
    }
}

//! Several `pallas serve` replicas on one PostgreSQL: a conversation continues through any of
//! them and concurrent calls on it through different replicas are serialized by the advisory
//! lock. Runs when PALLAS_TEST_POSTGRES_URL is set (.ci/run starts a server).

mod store_harness;

use std::time::Duration;

use store_harness::{Backend, Harness, assistant, texts, user};

const AGENT: &str = "jarvis";
const PATIENT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_calls_split_across_two_replicas_are_serialized() {
    let Some(harness) = Harness::new(Backend::Postgres).await else {
        return;
    };
    let replicas = [harness.open().await, harness.open().await];
    let running = replicas[0]
        .begin_turn(AGENT, "team", PATIENT)
        .await
        .unwrap();
    let mut calls = Vec::new();
    for i in 0..8 {
        let replica = replicas[i % 2].clone();
        calls.push(tokio::spawn(async move {
            let guard = replica.begin_turn(AGENT, "team", PATIENT).await.unwrap();
            let seen = guard.history().len();
            // A model call takes time; anyone not kept out would interleave here.
            tokio::time::sleep(Duration::from_millis(20)).await;
            guard
                .commit(vec![
                    user(&format!("q{i}")),
                    assistant(&format!("a{i} saw {seen}")),
                ])
                .await
                .unwrap();
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    running.commit(vec![]).await.unwrap();
    for call in calls {
        call.await.unwrap();
    }

    let history = texts(
        &harness
            .open()
            .await
            .load(AGENT, "team")
            .await
            .unwrap()
            .unwrap()
            .messages,
    );
    assert_eq!(history.len(), 16, "{history:?}");
    let mut answered = Vec::new();
    for (turn, pair) in history.chunks(2).enumerate() {
        let i = pair[0].strip_prefix('q').expect("a question first");
        assert_eq!(
            pair[1],
            format!("a{i} saw {}", 2 * turn),
            "each turn saw every earlier one and nothing came between question and answer: {history:?}"
        );
        answered.push(i.to_string());
    }
    answered.sort();
    answered.dedup();
    assert_eq!(answered.len(), 8, "every call answered once: {history:?}");
}

#[tokio::test]
async fn a_conversation_started_on_one_replica_continues_on_the_other() {
    let Some(harness) = Harness::new(Backend::Postgres).await else {
        return;
    };
    let (a, b) = (harness.open().await, harness.open().await);
    let guard = a.begin_turn(AGENT, "hop", PATIENT).await.unwrap();
    guard
        .commit(vec![user("q1"), assistant("a1")])
        .await
        .unwrap();
    let guard = b.begin_turn(AGENT, "hop", PATIENT).await.unwrap();
    assert_eq!(texts(guard.history()), ["q1", "a1"]);
    guard
        .commit(vec![user("q2"), assistant("a2")])
        .await
        .unwrap();
    let guard = a.begin_turn(AGENT, "hop", PATIENT).await.unwrap();
    assert_eq!(texts(guard.history()), ["q1", "a1", "q2", "a2"]);
}

#[tokio::test]
async fn a_call_on_another_replica_is_told_the_conversation_is_busy() {
    let Some(harness) = Harness::new(Backend::Postgres).await else {
        return;
    };
    let (a, b) = (harness.open().await, harness.open().await);
    let running = a.begin_turn(AGENT, "long", PATIENT).await.unwrap();
    let err = b
        .begin_turn(AGENT, "long", Duration::from_millis(200))
        .await
        .expect_err("busy on the other replica");
    assert!(err.is_busy(), "{err}");
    drop(running);
    let guard = b.begin_turn(AGENT, "long", PATIENT).await.unwrap();
    assert!(guard.history().is_empty(), "the dropped turn wrote nothing");
}

/// A replica that dies mid-turn (its connection cut) releases the conversation and leaves
/// it as it was before that turn.
#[tokio::test]
async fn a_replica_dying_mid_turn_releases_the_conversation_unchanged() {
    let Some(harness) = Harness::new(Backend::Postgres).await else {
        return;
    };
    let (a, b) = (harness.open().await, harness.open().await);
    let guard = a.begin_turn(AGENT, "crash", PATIENT).await.unwrap();
    guard
        .commit(vec![user("q1"), assistant("a1")])
        .await
        .unwrap();
    let dying = a.begin_turn(AGENT, "crash", PATIENT).await.unwrap();

    let admin = sqlx::PgPool::connect(&std::env::var(store_harness::POSTGRES_URL_VAR).unwrap())
        .await
        .unwrap();
    // The backend holding this conversation's advisory lock (key: a hash of its name).
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)",
    )
    .bind(format!("pallas/{}/{AGENT}/crash", AGENT.len()))
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(killed, [true]);

    let guard = b.begin_turn(AGENT, "crash", PATIENT).await.unwrap();
    assert_eq!(texts(guard.history()), ["q1", "a1"]);
    drop(guard);
    let err = dying
        .commit(vec![user("lost"), assistant("lost")])
        .await
        .expect_err("a turn whose connection died is not stored");
    assert!(!err.is_busy(), "{err}");
    assert_eq!(
        texts(&b.load(AGENT, "crash").await.unwrap().unwrap().messages),
        ["q1", "a1"]
    );
}

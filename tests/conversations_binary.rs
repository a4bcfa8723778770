//! Conversations through the `pallas` binary: they survive a restart (SQLite), the CLI lists,
//! shows and deletes them, a store that cannot be opened stops the start with a clear error,
//! and two replicas on one PostgreSQL serve one conversation (set PALLAS_TEST_POSTGRES_URL;
//! `.ci/run` starts a throwaway server).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::binary::{hermetic_command, hermetic_tokio_command};
use pallas_simulator::Simulator;
use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const TIMEOUT: Duration = Duration::from_secs(60);
const MODEL: &str = "bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0";

/// A project folder whose Bedrock endpoint is the test's simulator, so the test sees every
/// request the model was sent.
struct Project {
    sim: Simulator,
    dir: tempfile::TempDir,
}

impl Project {
    async fn new(conversations: &str) -> Project {
        let sim = Simulator::start(([127, 0, 0, 1], 0).into()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::write(
            dir.path().join("agents.yaml"),
            format!(
                "name: conv\nhost: 127.0.0.1\nregistry_port: 0\n{conversations}agents:\n  jarvis:\n    port: 0\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("fastagent.config.yaml"),
            format!(
                "default_model: {MODEL}\nbedrock:\n  region: us-east-1\n  endpoint_url: {}\n",
                sim.endpoint_url()
            ),
        )
        .unwrap();
        Project { sim, dir }
    }

    fn agents_file(&self) -> PathBuf {
        self.dir.path().join("agents.yaml")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `pallas serve` until the agent's line is printed; killed (by its PID) when dropped.
    async fn serve(&self) -> Served {
        let mut cmd = hermetic_tokio_command(&self.home());
        cmd.arg("serve")
            .arg("--config")
            .arg(self.agents_file())
            .env("AWS_ACCESS_KEY_ID", "AKIDCONVERSATIONS")
            .env("AWS_SECRET_ACCESS_KEY", "conversations-secret")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn pallas serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.trim_start().strip_prefix("agent jarvis") {
                    return rest.split_whitespace().next().map(str::to_string);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("pallas serve did not start\n{}", stderr.lock().unwrap()));
        Served { child, url }
    }

    /// `pallas conversations ARGS`: (success, stdout, stderr).
    fn conversations(&self, args: &[&str]) -> (bool, String, String) {
        let out = hermetic_command(&self.home())
            .arg("conversations")
            .args(args)
            .arg("--config")
            .arg(self.agents_file())
            .output()
            .expect("run pallas conversations");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The messages of the last model call.
    fn last_sent(&self) -> Vec<String> {
        let request = self
            .sim
            .requests()
            .into_iter()
            .rfind(|r| r.operation.starts_with("Converse"))
            .expect("a model call");
        request.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }
}

struct Served {
    child: tokio::process::Child,
    url: String,
}

impl Served {
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

type Stateless = RunningService<RoleClient, ()>;

async fn stateless(url: &str) -> Stateless {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    ().serve_with_lifecycle(
        transport,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("server/discover")
}

/// One turn on conversation `id`; returns the answer's structuredContent.
async fn say(client: &Stateless, id: &str, message: &str) -> Value {
    let Value::Object(args) = json!({"message": message, "conversation": id}) else {
        unreachable!()
    };
    let result = tokio::time::timeout(
        TIMEOUT,
        client.call_tool(CallToolRequestParams::new("jarvis").with_arguments(args)),
    )
    .await
    .expect("answer in time")
    .expect("tool call");
    let structured = result.structured_content.clone().unwrap_or_default();
    assert!(!result.is_error.unwrap_or(false), "{result:?}");
    structured
}

async fn history(client: &Stateless, id: &str) -> Vec<String> {
    let Value::Object(args) = json!({ "conversation": id }) else {
        unreachable!()
    };
    let mut request = GetPromptRequestParams::new("jarvis_history");
    request.arguments = Some(args);
    client
        .get_prompt(request)
        .await
        .expect("history")
        .messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_continues_after_a_restart_and_the_cli_manages_it() {
    let project = Project::new("").await;
    let served = project.serve().await;
    let client = stateless(&served.url).await;
    say(&client, "support-1", "my order is 1234").await;
    client.cancel().await.unwrap();
    served.stop().await;
    assert!(
        project.dir.path().join(".pallas/conversations.db").exists(),
        "the default store is a SQLite file beside agents.yaml"
    );

    let served = project.serve().await;
    let client = stateless(&served.url).await;
    say(&client, "support-1", "which order was it?").await;
    assert_eq!(
        project.last_sent(),
        [
            "my order is 1234",
            "Simulated reply to: my order is 1234",
            "which order was it?"
        ],
        "the restarted server sent the stored turn to the model"
    );
    client.cancel().await.unwrap();
    served.stop().await;

    let (ok, out, err) = project.conversations(&["list"]);
    assert!(ok, "{err}");
    let row = out.lines().find(|l| l.contains("support-1")).expect(&out);
    assert!(row.starts_with("jarvis") && row.contains(" 4 "), "{out}");
    let (ok, out, _) = project.conversations(&["list", "--agent", "nobody"]);
    assert!(ok && !out.contains("support-1"), "{out}");

    let (ok, out, err) = project.conversations(&["show", "support-1"]);
    assert!(ok, "{err}");
    assert!(out.contains("#1 user: my order is 1234"), "{out}");
    assert!(
        out.contains("#4 assistant: Simulated reply to: which order was it?"),
        "{out}"
    );

    let (ok, out, err) = project.conversations(&["delete", "support-1"]);
    assert!(
        ok && out.contains("deleted conversation 'support-1'"),
        "{out}{err}"
    );
    let (ok, _, err) = project.conversations(&["show", "support-1"]);
    assert!(!ok && err.contains("no conversation 'support-1'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_opened_stops_the_start_with_a_clear_error() {
    // A regular file where the store's directory should be.
    let project = Project::new("conversations:\n  path: blocker/conversations.db\n").await;
    std::fs::write(project.dir.path().join("blocker"), "not a directory").unwrap();
    let out = hermetic_command(&project.home())
        .args(["serve", "--config"])
        .arg(project.agents_file())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot open the conversation store")
            && err.contains(
                &Path::new("blocker")
                    .join("conversations.db")
                    .display()
                    .to_string()
            ),
        "{err}"
    );

    // PostgreSQL nobody listens on: the URL is named, the password is not.
    let project = Project::new(
        "conversations:\n  store: postgres\n  url: postgres://pallas:hunter2secret@127.0.0.1:1/conv\n",
    )
    .await;
    let out = tokio::time::timeout(TIMEOUT, async {
        hermetic_tokio_command(&project.home())
            .args(["serve", "--config"])
            .arg(project.agents_file())
            .output()
            .await
            .unwrap()
    })
    .await
    .expect("gives up in time");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot open the conversation store") && err.contains("127.0.0.1:1/conv"),
        "{err}"
    );
    assert!(!err.contains("hunter2secret"), "password leaked: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_serve_one_conversation() {
    let Ok(url) = std::env::var("PALLAS_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED two_replicas_on_one_postgres_serve_one_conversation: set PALLAS_TEST_POSTGRES_URL (\
             .ci/run starts a throwaway PostgreSQL)"
        );
        return;
    };
    let project = Project::new(&format!(
        "conversations:\n  store: postgres\n  url: \"{url}\"\n"
    ))
    .await;
    let (one, two) = tokio::join!(project.serve(), project.serve());
    let id = format!(
        "replicas-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let clients = [stateless(&one.url).await, stateless(&two.url).await];

    // Started on one replica, continued on the other.
    say(&clients[0], &id, "started on one").await;
    say(&clients[1], &id, "continued on two").await;
    assert_eq!(project.last_sent().len(), 3);

    assert_eq!(history(&clients[0], &id).await.len(), 4);

    // Eight concurrent calls on a new conversation, split across both: all answered, one
    // turn at a time.
    let busy = format!("{id}-busy");
    project.sim.set_latency(Duration::from_millis(150));
    let calls = (0..8).map(|i| {
        let client = &clients[i % 2];
        let busy = busy.clone();
        async move { say(client, &busy, &format!("concurrent {i}")).await }
    });
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|a| a["conversation"] == json!(busy)));

    let texts = history(&clients[1], &busy).await;
    let concurrent = &texts[..];
    assert_eq!(concurrent.len(), 16, "{texts:?}");
    for pair in concurrent.chunks(2) {
        assert!(pair[0].starts_with("concurrent "), "{texts:?}");
        assert_eq!(
            pair[1],
            format!("Simulated reply to: {}", pair[0]),
            "interleaved: {texts:?}"
        );
    }
    let mut asked: Vec<&String> = concurrent.iter().step_by(2).collect();
    asked.sort();
    asked.dedup();
    assert_eq!(asked.len(), 8, "every call stored once: {texts:?}");

    for client in clients {
        client.cancel().await.unwrap();
    }
    one.stop().await;
    two.stop().await;
}

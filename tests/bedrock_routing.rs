//! Retries, error advice and model-id routing through the real agent loop and the real SDK
//! against the simulator: throttling and 5xx retried up to `bedrock.max_attempts`, client
//! errors not retried, cross-region prefixes added (or not) per `bedrock.cross_region`, and
//! inference-profile ARNs percent-encoded in the request path.

mod common;

use common::*;
use pallas_simulator::InjectedError;

fn agents(model: &str) -> String {
    format!(
        r#"
name: routing
registry_port: 0
agents:
  scribe:
    port: 0
    model: {model}
    max_iterations: 2
"#
    )
}

fn config(bedrock: &str) -> String {
    format!("bedrock:\n  region: us-east-1\n{bedrock}")
}

const SONNET: &str = "bedrock.us.anthropic.claude-sonnet-4-6";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_then_succeeds() {
    let run = start(&agents(SONNET), &config("  max_attempts: 3\n")).await;
    let (client, _) = connect(&run.url("scribe")).await;
    run.sim.inject_error(InjectedError::Throttling, 2);
    let (answer, is_error) = ask(&client, "scribe", "hello").await;
    assert!(!is_error, "{answer}");
    assert_eq!(
        run.converse_requests().len(),
        3,
        "two throttled attempts, then the one that answered"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_past_max_attempts_fails_with_the_attempt_count_and_advice() {
    let run = start(&agents(SONNET), &config("  max_attempts: 2\n")).await;
    let (client, _) = connect(&run.url("scribe")).await;
    run.sim.inject_error(InjectedError::Throttling, 5);
    let (answer, is_error) = ask(&client, "scribe", "hello").await;
    assert!(is_error, "{answer}");
    assert!(answer.contains("throttled after 2 attempts"), "{answer}");
    assert!(answer.contains("quota"), "says what to do: {answer}");
    assert_eq!(
        run.converse_requests().len(),
        2,
        "exactly max_attempts calls"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_model_not_ready_are_retried_client_errors_are_not() {
    let run = start(&agents(SONNET), &config("  max_attempts: 4\n")).await;
    let (client, _) = connect(&run.url("scribe")).await;
    run.sim.inject_error(InjectedError::InternalServer, 1);
    run.sim.inject_error(InjectedError::ServiceUnavailable, 1);
    run.sim.inject_error(InjectedError::ModelNotReady, 1);
    let (answer, is_error) = ask(&client, "scribe", "hello").await;
    assert!(!is_error, "{answer}");
    assert_eq!(run.converse_requests().len(), 4);

    for (error, needle) in [
        (InjectedError::AccessDenied, "Model access"),
        (
            InjectedError::ModelNotFound,
            "pallas models --region us-east-1",
        ),
        (InjectedError::Validation, "request rejected"),
    ] {
        run.sim.clear_requests();
        run.sim.inject_error(error, 1);
        let (answer, is_error) = ask(&client, "scribe", "again").await;
        assert!(is_error, "{error:?}: {answer}");
        assert!(answer.contains(needle), "{error:?}: {answer}");
        assert_eq!(
            run.converse_requests().len(),
            1,
            "{error:?} must not be retried"
        );
    }
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_region_auto_adds_the_regions_profile_prefix() {
    let run = start(
        &agents("bedrock.anthropic.claude-haiku-4-5-20251001-v1:0"),
        "bedrock:\n  region: eu-west-1\n",
    )
    .await;
    let (client, _) = connect(&run.url("scribe")).await;
    let (answer, is_error) = ask(&client, "scribe", "hello").await;
    assert!(!is_error, "{answer}");
    let call = run.converse_requests().pop().unwrap();
    assert_eq!(call.model_id, "eu.anthropic.claude-haiku-4-5-20251001-v1:0");
    let health = call_tool_json(&client, "get_health").await;
    let message = health["llm"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("bedrock.cross_region: auto"),
        "the preflight says the id was changed: {health}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_region_off_sends_the_id_as_written_and_on_demand_errors_name_the_profile() {
    let run = start(
        &agents("bedrock.anthropic.claude-haiku-4-5-20251001-v1:0"),
        &config("  cross_region: off\n"),
    )
    .await;
    let (client, _) = connect(&run.url("scribe")).await;
    let (answer, is_error) = ask(&client, "scribe", "hello").await;
    assert!(is_error, "{answer}");
    assert!(
        answer.contains("use model `bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0`"),
        "{answer}"
    );
    assert!(answer.contains("us-east-1"), "{answer}");
    let calls = run.converse_requests();
    assert_eq!(calls.len(), 1, "validation errors are not retried");
    assert_eq!(
        calls[0].model_id,
        "anthropic.claude-haiku-4-5-20251001-v1:0"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geo_ids_and_application_profile_arns_reach_the_service_intact() {
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/sim0app1prof";
    for (model, expected) in [
        (format!("bedrock.{arn}"), arn.to_string()),
        (
            "bedrock.global.anthropic.claude-haiku-4-5-20251001-v1:0".to_string(),
            "global.anthropic.claude-haiku-4-5-20251001-v1:0".to_string(),
        ),
        (
            "bedrock.jp.anthropic.claude-haiku-4-5-20251001-v1:0".to_string(),
            "jp.anthropic.claude-haiku-4-5-20251001-v1:0".to_string(),
        ),
    ] {
        let run = start(&agents(&model), &config("")).await;
        let (client, _) = connect(&run.url("scribe")).await;
        let (answer, is_error) = ask(&client, "scribe", "hello").await;
        assert!(!is_error, "{model}: {answer}");
        let call = run.converse_requests().pop().unwrap();
        assert_eq!(call.model_id, expected, "decoded model id");
        if expected.starts_with("arn:") {
            assert!(
                call.path
                    .starts_with("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fsim0app1prof/"),
                "the ARN is percent-encoded as one path segment: {}",
                call.path
            );
        }
        client.cancel().await.unwrap();
        run.fleet.shutdown().await;
    }
}

async fn call_tool_json(client: &Client, tool: &str) -> serde_json::Value {
    let r = call(client, tool, serde_json::json!({})).await;
    r.structured_content.clone().expect("structured content")
}

/// A connection that drops before any response is a transient I/O error: the SDK retries it
/// on a new connection. A loopback proxy in front of the simulator drops the first
/// `drops` connections and forwards the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_retried() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;

    let sim = pallas_simulator::Simulator::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let upstream = sim.local_addr();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if n == 0 {
                    // Read part of the request, then hang up without answering.
                    let mut buf = [0u8; 64];
                    let _ = inbound.read(&mut buf).await;
                    return;
                }
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let path = write_project(dir.path(), &agents(SONNET), &config("  max_attempts: 3\n"));
    let project = load(&path);
    let mut overrides = pallas::cli::simulator_overrides(&sim);
    overrides.bedrock_endpoint_url = Some(proxy);
    let fleet = pallas::fleet::Fleet::start(&project, &overrides)
        .await
        .expect("fleet starts");
    let url = format!("http://{}/mcp", fleet.agent("scribe").unwrap().addr);
    let (client, _) = connect(&url).await;
    let (answer, is_error) = ask(&client, "scribe", "hello").await;
    assert!(!is_error, "{answer}");
    assert!(
        accepted.load(Ordering::SeqCst) >= 2,
        "a second connection was made"
    );
    let calls = sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.starts_with("Converse"))
        .count();
    assert_eq!(calls, 1, "the dropped attempt never reached the service");
    client.cancel().await.unwrap();
    fleet.shutdown().await;
}

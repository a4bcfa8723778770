//! End-to-end tests: the real `aws-sdk-bedrockruntime` client against the simulator.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, StopReason, Tool, ToolConfiguration, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolResultStatus, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde_json::{Value, json};

use pallas_simulator::{InjectedError, ScriptedReply, Simulator};

const MODEL: &str = "us.anthropic.claude-sonnet-4-6";
const TIMEOUT: Duration = Duration::from_secs(30);

async fn start() -> Simulator {
    Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(sim: &Simulator, max_attempts: u32) -> Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(sim.endpoint_url())
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .build();
    Client::from_conf(config)
}

/// The provider's own converter, so the tests send what production sends.
fn doc(value: &Value) -> Document {
    pallas::llm::bedrock::json_to_document(value)
}

fn user_text(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

fn tools(names: &[&str]) -> ToolConfiguration {
    let mut config = ToolConfiguration::builder();
    for name in names {
        let spec = ToolSpecification::builder()
            .name(*name)
            .description("a tool")
            .input_schema(ToolInputSchema::Json(doc(
                &json!({"type": "object", "properties": {}}),
            )))
            .build()
            .unwrap();
        config = config.tools(Tool::ToolSpec(spec));
    }
    config.build().unwrap()
}

async fn converse(
    client: &Client,
    messages: Vec<Message>,
    tool_config: Option<ToolConfiguration>,
) -> ConverseOutput {
    let call = client
        .converse()
        .model_id(MODEL)
        .set_messages(Some(messages))
        .set_tool_config(tool_config)
        .send();
    tokio::time::timeout(TIMEOUT, call)
        .await
        .expect("timed out")
        .expect("converse failed")
}

fn content(output: &ConverseOutput) -> &[ContentBlock] {
    &output.output().unwrap().as_message().unwrap().content
}

fn tool_uses(output: &ConverseOutput) -> Vec<&ToolUseBlock> {
    content(output)
        .iter()
        .filter_map(|b| b.as_tool_use().ok())
        .collect()
}

fn text_of(output: &ConverseOutput) -> String {
    content(output)
        .iter()
        .filter_map(|b| b.as_text().ok())
        .cloned()
        .collect::<Vec<_>>()
        .join("")
}

#[tokio::test]
async fn text_round_trip_is_signed_and_records_decoded_model_ids() {
    let sim = start().await;
    let client = client(&sim, 1);
    let out = converse(&client, vec![user_text("Hello there")], None).await;
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    assert_eq!(text_of(&out), "Simulated reply to: Hello there");
    let usage = out.usage().unwrap();
    assert!(usage.input_tokens() >= 1 && usage.output_tokens() >= 1);
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );

    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.operation.as_str()),
        ("POST", "Converse")
    );
    assert_eq!(r.model_id, MODEL);
    assert!(
        r.header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    );
    assert_eq!(r.body["messages"][0]["content"][0]["text"], "Hello there");

    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4";
    client
        .converse()
        .model_id(arn)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap();
    let r = sim.requests().pop().unwrap();
    assert_eq!(r.model_id, arn);
    assert!(r.path.contains("%2F"), "path {}", r.path);
}

#[tokio::test]
async fn named_tool_becomes_a_tool_use_with_json_args() {
    let sim = start().await;
    let client = client(&sim, 1);
    let out = converse(
        &client,
        vec![user_text(
            r#"Please use notes__add_note {"title": "milk", "n": 2} now"#,
        )],
        Some(tools(&["notes__add_note", "clock__now"])),
    )
    .await;
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let uses = tool_uses(&out);
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].name(), "notes__add_note");
    assert!(uses[0].tool_use_id().starts_with("tooluse_"));
    let mut expected = HashMap::new();
    expected.insert("title".to_string(), Document::String("milk".into()));
    expected.insert("n".to_string(), Document::Number(Number::PosInt(2)));
    assert_eq!(uses[0].input(), &Document::Object(expected));
}

#[tokio::test]
async fn tool_calls_in_parallel_then_results_are_quoted() {
    let sim = start().await;
    let client = client(&sim, 1);
    let config = tools(&["notes__add_note", "clock__now"]);
    let question = user_text(r#"First clock__now, then notes__add_note {"title": "x"}"#);
    let out = converse(&client, vec![question.clone()], Some(config.clone())).await;
    let uses: Vec<ToolUseBlock> = tool_uses(&out).into_iter().cloned().collect();
    let names: Vec<&str> = uses.iter().map(|u| u.name()).collect();
    assert_eq!(names, ["clock__now", "notes__add_note"]);
    assert_ne!(uses[0].tool_use_id(), uses[1].tool_use_id());

    let assistant = out.output().unwrap().as_message().unwrap().clone();
    let mut results = Message::builder().role(ConversationRole::User);
    for (u, (text, status)) in uses.iter().zip([
        ("12:00", ToolResultStatus::Success),
        ("disk full", ToolResultStatus::Error),
    ]) {
        let block = ToolResultBlock::builder()
            .tool_use_id(u.tool_use_id())
            .content(ToolResultContentBlock::Text(text.into()))
            .status(status)
            .build()
            .unwrap();
        results = results.content(ContentBlock::ToolResult(block));
    }
    let out = converse(
        &client,
        vec![question, assistant, results.build().unwrap()],
        Some(config),
    )
    .await;
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    assert_eq!(
        text_of(&out),
        "Tool results: [clock__now] 12:00; [notes__add_note] error: disk full"
    );
}

#[tokio::test]
async fn orphan_tool_use_is_a_validation_exception() {
    let sim = start().await;
    let client = client(&sim, 3);
    let tool_use = ToolUseBlock::builder()
        .tool_use_id("tooluse_orphan")
        .name("clock__now")
        .input(doc(&json!({})))
        .build()
        .unwrap();
    let assistant = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::ToolUse(tool_use))
        .build()
        .unwrap();
    let call = client
        .converse()
        .model_id(MODEL)
        .messages(user_text("what time is it"))
        .messages(assistant)
        .messages(user_text("well?"))
        .tool_config(tools(&["clock__now"]))
        .send();
    let err = tokio::time::timeout(TIMEOUT, call)
        .await
        .unwrap()
        .unwrap_err();
    match err.into_service_error() {
        ConverseError::ValidationException(e) => {
            assert!(e.message().unwrap().contains("tooluse_orphan"), "{e:?}")
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
    assert_eq!(sim.requests().len(), 1, "validation errors are not retried");
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk() {
    let sim = start().await;
    let client = client(&sim, 3);
    sim.inject_error(InjectedError::Throttling, 1);
    let out = converse(&client, vec![user_text("retry me")], None).await;
    assert_eq!(text_of(&out), "Simulated reply to: retry me");
    assert_eq!(sim.requests().len(), 2);
}

#[tokio::test]
async fn access_denied_is_not_retried() {
    let sim = start().await;
    let client = client(&sim, 3);
    sim.inject_error(InjectedError::AccessDenied, 5);
    let call = client
        .converse()
        .model_id(MODEL)
        .messages(user_text("hi"))
        .send();
    let err = tokio::time::timeout(TIMEOUT, call)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err.into_service_error(),
            ConverseError::AccessDeniedException(_)
        ),
        "expected AccessDeniedException"
    );
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn scripted_replies_take_priority_in_order() {
    let sim = start().await;
    let client = client(&sim, 1);
    sim.push_reply(ScriptedReply::Text("exactly this".into()));
    sim.push_reply(ScriptedReply::ToolUse(vec![(
        "clock__now".into(),
        json!({"tz": "UTC"}),
    )]));
    let out = converse(&client, vec![user_text("anything")], None).await;
    assert_eq!(text_of(&out), "exactly this");
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let out = converse(
        &client,
        vec![user_text("anything")],
        Some(tools(&["clock__now"])),
    )
    .await;
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    assert_eq!(tool_uses(&out)[0].name(), "clock__now");
    let out = converse(&client, vec![user_text("back to default")], None).await;
    assert_eq!(text_of(&out), "Simulated reply to: back to default");
}

#[tokio::test]
async fn unsigned_and_unknown_requests_are_rejected_and_recorded() {
    let sim = start().await;
    let url = sim.endpoint_url();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{url}/model/{MODEL}/converse"))
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-errortype"].to_str().unwrap(),
        "MissingAuthenticationTokenException"
    );
    let resp = http.get(format!("{url}/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(
        resp.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("UnknownOperationException:")
    );
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let ops: Vec<String> = sim.requests().into_iter().map(|r| r.operation).collect();
    assert_eq!(ops, ["Converse", "Unknown"]);
    sim.shutdown();
}

#[tokio::test]
async fn latency_delays_calls() {
    let sim = start().await;
    let client = client(&sim, 1);
    sim.set_latency(Duration::from_millis(150));
    let started = std::time::Instant::now();
    let out = converse(&client, vec![user_text("slow")], None).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(out.metrics().unwrap().latency_ms() >= 150);
}

/// A latency profile: the first streamed text arrives after the time to first token, the
/// rest at the token rate; measured through the SDK's own event-stream decoder.
#[tokio::test]
async fn a_latency_profile_delays_the_first_token_and_paces_the_stream() {
    use aws_sdk_bedrockruntime::types::ConverseStreamOutput as Event;
    let sim = start().await;
    let client = client(&sim, 1);
    sim.set_latency_profile("first_token=300ms,tokens_per_second=40".parse().unwrap());
    let started = std::time::Instant::now();
    let mut stream = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user_text("pace me please"))
        .send()
        .await
        .unwrap()
        .stream;
    let (mut first_text, mut text) = (None, String::new());
    while let Some(event) = tokio::time::timeout(TIMEOUT, stream.recv())
        .await
        .unwrap()
        .unwrap()
    {
        if let Event::ContentBlockDelta(d) = event
            && let Some(aws_sdk_bedrockruntime::types::ContentBlockDelta::Text(t)) = d.delta()
        {
            first_text.get_or_insert_with(|| started.elapsed());
            text.push_str(t);
        }
    }
    let total = started.elapsed();
    let first_text = first_text.expect("streamed text");
    assert!(first_text >= Duration::from_millis(300), "{first_text:?}");
    // Every character of the reply costs 1/160 s at 40 tokens/s (4 characters a token).
    let generation = Duration::from_secs_f64(text.len() as f64 / 160.0);
    assert!(
        total >= Duration::from_millis(300) + generation.mul_f64(0.8),
        "{total:?} for {text:?}"
    );
    sim.shutdown();
}

async fn stops_listening(addr: std::net::SocketAddr) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn shutdown_and_last_drop_stop_the_server() {
    let sim = start().await;
    let addr = sim.local_addr();
    let client = client(&sim, 1);
    converse(&client, vec![user_text("keep-alive")], None).await;
    sim.shutdown();
    assert!(
        stops_listening(addr).await,
        "still listening after shutdown()"
    );

    let sim = start().await;
    let addr = sim.local_addr();
    let clone = sim.clone();
    drop(sim);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_ok(),
        "a clone keeps it alive"
    );
    drop(clone);
    assert!(
        stops_listening(addr).await,
        "still listening after the last drop"
    );
}

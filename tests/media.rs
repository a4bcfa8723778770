//! Images and documents, end to end: from a downstream tool or from the caller's
//! `attachments`, through the agent loop and the real SDK, to the (simulated) model.

mod common;

use common::*;
use pallas::llm::conversation::base64;
use serde_json::{Value, json};

const AGENT: &str = r#"
name: media
version: "1.0.0"
host: 127.0.0.1
registry_port: 0
agents:
  eye:
    port: 0
    description: "Looks at files"
    instruction: "You read images and documents."
    servers: [notes]
    max_iterations: 3
"#;

/// The same agent on a model configured without vision or documents.
const BLIND_AGENT: &str = r#"
name: media
version: "1.0.0"
host: 127.0.0.1
registry_port: 0
agents:
  eye:
    port: 0
    description: "Cannot see"
    instruction: "You read text only."
    servers: [notes]
    max_iterations: 3
    model_capabilities: {vision: false, documents: false}
"#;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really a picture";
const PDF: &[u8] = b"%PDF-1.4\n%%EOF\n";

/// The request bodies the model received (Converse or ConverseStream).
fn model_requests(run: &Running) -> Vec<Value> {
    run.sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.starts_with("Converse"))
        .map(|r| r.body)
        .collect()
}

/// Calls the agent with attachments; the answer text and whether it is an error.
async fn ask_with(client: &Client, message: &str, attachments: Value) -> (String, bool) {
    let result = call(
        client,
        "eye",
        json!({"message": message, "attachments": attachments}),
    )
    .await;
    (text(&result), result.is_error.unwrap_or(false))
}

/// Every `toolResult` content item the model was sent.
fn tool_result_items(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b.get("toolResult").cloned())
        .flat_map(|r| r["content"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_and_a_pdf_from_downstream_tools_reach_the_model_as_blocks() {
    let run = start(AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("eye")).await;
    let (answer, is_error) = ask(
        &client,
        "eye",
        "Please run notes__chart and notes__export_pdf",
    )
    .await;
    assert!(!is_error, "{answer}");
    // The simulated model describes what it was given, so the caller sees it arrived.
    assert!(answer.contains("[image png,"), "{answer}");
    assert!(answer.contains("[document notes (pdf)"), "{answer}");

    let last = model_requests(&run).pop().expect("the model was called");
    let items = tool_result_items(&last);
    let image = items
        .iter()
        .find_map(|i| i.get("image"))
        .expect("an image block in the tool result");
    assert_eq!(image["format"], "png");
    let bytes = base64::decode(image["source"]["bytes"].as_str().unwrap()).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "the PNG bytes themselves were sent"
    );
    let document = items
        .iter()
        .find_map(|i| i.get("document"))
        .expect("a document block in the tool result");
    assert_eq!(
        (&document["format"], &document["name"]),
        (&json!("pdf"), &json!("notes"))
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_attachments_come_before_the_question() {
    let run = start(AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("eye")).await;
    let (answer, is_error) = ask_with(
        &client,
        "What is in these files?",
        json!([
            {"data": base64::encode(PNG), "mime_type": "image/png"},
            {"data": base64::encode(PDF), "mime_type": "application/pdf", "name": "Q3 report.pdf"}
        ]),
    )
    .await;
    assert!(!is_error, "{answer}");
    assert!(
        answer.contains(&format!("[image png, {} bytes]", PNG.len()))
            && answer.contains(&format!("[document Q3 report (pdf), {} bytes]", PDF.len())),
        "{answer}"
    );
    let body = model_requests(&run).pop().unwrap();
    let content = body["messages"][0]["content"].as_array().unwrap().clone();
    let kinds: Vec<&str> = content
        .iter()
        .filter_map(|b| b.as_object()?.keys().next().map(String::as_str))
        .filter(|k| *k != "cachePoint")
        .collect();
    assert_eq!(kinds, ["image", "document", "text"]);
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_vision_gets_notes_instead_of_files() {
    let run = start(BLIND_AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("eye")).await;
    let (answer, is_error) = ask_with(
        &client,
        "Look at notes__chart",
        json!([{"data": base64::encode(PNG), "mime_type": "image/png", "name": "photo.png"}]),
    )
    .await;
    assert!(!is_error, "{answer}");
    for body in model_requests(&run) {
        let raw = body.to_string();
        assert!(!raw.contains("\"image\""), "no image block was sent: {raw}");
    }
    assert!(
        answer.contains("image image/png omitted: this model does not accept images"),
        "the tool's image became a note the model saw: {answer}"
    );
    let first = &model_requests(&run)[0];
    assert!(
        first
            .to_string()
            .contains("[image photo.png (image/png) omitted"),
        "the attachment became a note: {first}"
    );
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_attachments_are_refused_before_any_model_call() {
    let run = start(AGENT, NOTES_CONFIG).await;
    let (client, _) = connect(&run.url("eye")).await;
    let huge = vec![0u8; 3_800_000];
    let cases = [
        (
            json!([{"data": base64::encode(&huge), "mime_type": "image/png"}]),
            "attachments[0]: image/png is 3.80 MB; Bedrock accepts an image of at most 3.75 MB",
        ),
        (
            json!([{"data": base64::encode(b"PK"), "mime_type": "application/zip", "name": "a.zip"}]),
            "attachments[0]: a.zip (application/zip): type application/zip is not accepted",
        ),
        (json!("not a list"), "'attachments' must be a list"),
    ];
    for (attachments, expected) in cases {
        let (message, is_error) = ask_with(&client, "see attached", attachments).await;
        assert!(is_error && message.contains(expected), "{message}");
    }
    assert!(model_requests(&run).is_empty(), "no model call was made");
    client.cancel().await.unwrap();
    run.fleet.shutdown().await;
}

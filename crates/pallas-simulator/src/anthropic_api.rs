//! `POST /v1/messages` (direct layout) and `POST /anthropic/v1/messages` (Mantle), JSON or
//! SSE. The Mantle path enforces what Mantle does and the direct API does not: model names
//! carry the `anthropic.` prefix, no field is `null` (`tool_use.caller: null` is the one
//! SDKs send), and thinking and `cache_control` are not accepted.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::http_apis::{
    Dialect, Incoming, error, json_response, run_model, sse_response, text_pieces,
};
use super::server::SimState;

pub(crate) async fn messages(state: &SimState, incoming: Incoming, mantle: bool) -> Response {
    let fail = |status: StatusCode, message: &str| error(Dialect::Anthropic, status, message);
    if !state.http.authorized(&incoming.headers) {
        return fail(StatusCode::UNAUTHORIZED, "invalid x-api-key");
    }
    if !mantle && incoming.headers.get("anthropic-version").is_none() {
        return fail(
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        );
    }
    let body = &incoming.body;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    // The model is resolved before the body is validated, as on the real service.
    if (mantle && !model.starts_with("anthropic.")) || !state.http.has_model(model) {
        return fail(
            StatusCode::NOT_FOUND,
            &format!("The model '{model}' does not exist"),
        );
    }
    if let Err(message) = validate(body, mantle) {
        return fail(StatusCode::BAD_REQUEST, &message);
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    if stream && state.http.take_stream_error() {
        return sse_response(broken_stream(model));
    }
    let converse = to_converse(body);
    let answer = match run_model(state, &converse).await {
        Ok(a) => a,
        Err((status, message)) => {
            // Anthropic reports overload as 529.
            let status = if status == StatusCode::SERVICE_UNAVAILABLE {
                StatusCode::from_u16(529).unwrap_or(status)
            } else {
                status
            };
            return fail(status, &message);
        }
    };
    let content: Vec<Value> = answer
        .turn
        .content
        .iter()
        .filter_map(to_anthropic_block)
        .collect();
    let usage = json!({"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens});
    let id = state.http.next_id("msg_sim_");
    if !stream {
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": answer.turn.stop_reason,
                "stop_sequence": null, "usage": usage,
            }),
        );
    }
    let mut out = String::new();
    event(
        &mut out,
        "message_start",
        json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": 1},
        }}),
    );
    event(&mut out, "ping", json!({"type": "ping"}));
    for (index, block) in content.iter().enumerate() {
        stream_block(&mut out, index, block);
    }
    event(
        &mut out,
        "message_delta",
        json!({"type": "message_delta",
            "delta": {"stop_reason": answer.turn.stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": answer.output_tokens}}),
    );
    event(&mut out, "message_stop", json!({"type": "message_stop"}));
    sse_response(out)
}

fn event(out: &mut String, name: &str, data: Value) {
    out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
}

/// A block as start, deltas and stop, as the API streams it. Tool input arrives as JSON
/// fragments; a tool without arguments gets no fragment at all.
fn stream_block(out: &mut String, index: usize, block: &Value) {
    let delta = |out: &mut String, d: Value| {
        event(
            out,
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": d}),
        );
    };
    match block.get("type").and_then(Value::as_str) {
        Some("text") => {
            event(
                out,
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
            );
            for piece in text_pieces(block["text"].as_str().unwrap_or("")) {
                delta(out, json!({"type": "text_delta", "text": piece}));
            }
        }
        Some("tool_use") => {
            event(
                out,
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
            );
            let input = &block["input"];
            if input.as_object().is_some_and(|o| !o.is_empty()) {
                let text = input.to_string();
                let cut = text
                    .char_indices()
                    .nth(text.chars().count() / 2)
                    .map_or(0, |(i, _)| i);
                delta(
                    out,
                    json!({"type": "input_json_delta", "partial_json": &text[..cut]}),
                );
                delta(
                    out,
                    json!({"type": "input_json_delta", "partial_json": &text[cut..]}),
                );
            }
        }
        _ => return,
    }
    event(
        out,
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    );
}

/// Some text, then an `error` event, and no `message_stop`.
fn broken_stream(model: &str) -> String {
    let mut out = String::new();
    event(
        &mut out,
        "message_start",
        json!({"type": "message_start", "message": {
        "id": "msg_sim_broken", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    );
    event(
        &mut out,
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    event(
        &mut out,
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Partial answer "}}),
    );
    event(
        &mut out,
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    out
}

/// The checks that matter for the shims, plus the basics every Messages call needs.
fn validate(body: &Value, mantle: bool) -> Result<(), String> {
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return Err("max_tokens: Field required".into());
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("messages: Field required")?;
    for (i, m) in messages.iter().enumerate() {
        let Some(blocks) = m.get("content").and_then(Value::as_array) else {
            continue; // string content
        };
        for (j, b) in blocks.iter().enumerate() {
            let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
            if kind == "text"
                && b.get("text")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                return Err(format!(
                    "messages.{i}.content.{j}.text: text content blocks must be non-empty"
                ));
            }
            if mantle {
                if let Some((key, _)) = b
                    .as_object()
                    .into_iter()
                    .flatten()
                    .find(|(_, v)| v.is_null())
                {
                    return Err(format!(
                        "messages.{i}.content.{j}.{kind}.{key}: Input should be a valid dictionary or object"
                    ));
                }
                if b.get("cache_control").is_some() {
                    return Err(format!(
                        "messages.{i}.content.{j}.cache_control: Extra inputs are not permitted"
                    ));
                }
            }
        }
    }
    if mantle {
        for key in ["thinking", "cache_control"] {
            if body.get(key).is_some() {
                return Err(format!("{key}: Extra inputs are not permitted"));
            }
        }
        let marked = |pointer: &str| {
            body.pointer(pointer)
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().any(|i| i.get("cache_control").is_some()))
        };
        if marked("/system") || marked("/tools") {
            return Err("cache_control: Extra inputs are not permitted".into());
        }
    }
    Ok(())
}

/// A Messages request as the Converse body the scripted model reads.
fn to_converse(body: &Value) -> Value {
    let messages: Vec<Value> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let content: Vec<Value> = match &m["content"] {
                Value::String(s) => vec![json!({"text": s})],
                Value::Array(blocks) => blocks.iter().filter_map(to_converse_block).collect(),
                _ => vec![],
            };
            json!({"role": m["role"], "content": content})
        })
        .collect();
    let tools: Vec<Value> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| json!({"toolSpec": {"name": t["name"], "inputSchema": {"json": t["input_schema"]}}}))
        .collect();
    let mut converse =
        json!({"messages": messages, "inferenceConfig": {"maxTokens": body["max_tokens"]}});
    if !tools.is_empty() {
        converse["toolConfig"] = json!({"tools": tools});
        match body.pointer("/tool_choice/type").and_then(Value::as_str) {
            Some("any") => converse["toolConfig"]["toolChoice"] = json!({"any": {}}),
            Some("tool") => {
                converse["toolConfig"]["toolChoice"] =
                    json!({"tool": {"name": body["tool_choice"]["name"]}})
            }
            _ => {}
        }
    }
    match &body["system"] {
        Value::String(s) => converse["system"] = json!([{"text": s}]),
        Value::Array(blocks) => {
            converse["system"] =
                Value::Array(blocks.iter().map(|b| json!({"text": b["text"]})).collect())
        }
        _ => {}
    }
    converse
}

fn to_converse_block(b: &Value) -> Option<Value> {
    Some(match b.get("type").and_then(Value::as_str)? {
        "text" => json!({"text": b["text"]}),
        "image" => {
            json!({"image": {"format": "png", "source": {"bytes": b.pointer("/source/data")}}})
        }
        "tool_use" => {
            json!({"toolUse": {"toolUseId": b["id"], "name": b["name"], "input": b["input"]}})
        }
        "tool_result" => {
            let content: Vec<Value> = match &b["content"] {
                Value::String(s) => vec![json!({"text": s})],
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i.get("type").and_then(Value::as_str) {
                        Some("text") => json!({"text": i["text"]}),
                        _ => json!({"image": {}}),
                    })
                    .collect(),
                _ => vec![],
            };
            let status = if b["is_error"] == json!(true) {
                "error"
            } else {
                "success"
            };
            json!({"toolResult": {"toolUseId": b["tool_use_id"], "content": content, "status": status}})
        }
        _ => return None,
    })
}

fn to_anthropic_block(b: &Value) -> Option<Value> {
    if let Some(text) = b.get("text").and_then(Value::as_str) {
        return Some(json!({"type": "text", "text": text}));
    }
    let u = b.get("toolUse")?;
    Some(json!({"type": "tool_use", "id": u["toolUseId"], "name": u["name"], "input": u["input"]}))
}

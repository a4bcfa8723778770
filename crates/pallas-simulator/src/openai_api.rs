//! `POST /v1/chat/completions`, JSON or SSE (with `stream_options.include_usage`), as Mantle
//! and OpenAI-compatible servers answer it.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::http_apis::{
    Dialect, Incoming, error, json_response, run_model, sse_response, text_pieces,
};
use super::server::SimState;

pub(crate) async fn chat_completions(state: &SimState, incoming: Incoming) -> Response {
    let fail = |status: StatusCode, message: &str| error(Dialect::OpenAi, status, message);
    if !state.http.authorized(&incoming.headers) {
        return fail(StatusCode::UNAUTHORIZED, "Incorrect API key provided.");
    }
    let body = &incoming.body;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if body
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return fail(StatusCode::BAD_REQUEST, "messages: Field required");
    }
    if !state.http.has_model(model) {
        return fail(
            StatusCode::NOT_FOUND,
            &format!("The model '{model}' does not exist"),
        );
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let id = state.http.next_id("chatcmpl-sim");
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 1735689600, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    if stream && state.http.take_stream_error() {
        let mut out = String::new();
        data(
            &mut out,
            chunk(
                json!({"role": "assistant", "content": "Partial answer "}),
                Value::Null,
            ),
        );
        data(
            &mut out,
            json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}),
        );
        return sse_response(out);
    }
    let converse = to_converse(body);
    let answer = match run_model(state, &converse).await {
        Ok(a) => a,
        Err((status, message)) => return fail(status, &message),
    };
    let text: String = answer
        .turn
        .content
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    let calls: Vec<Value> = answer
        .turn
        .content
        .iter()
        .filter_map(|b| b.get("toolUse"))
        .map(|u| {
            json!({"id": u["toolUseId"], "type": "function",
            "function": {"name": u["name"], "arguments": u["input"].to_string()}})
        })
        .collect();
    let finish = match answer.turn.stop_reason {
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        _ => "stop",
    };
    let usage = json!({"prompt_tokens": answer.input_tokens, "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens});
    if !stream {
        let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        return json_response(
            StatusCode::OK,
            &json!({"id": id, "object": "chat.completion", "created": 1735689600, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}),
        );
    }
    let mut out = String::new();
    data(
        &mut out,
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    );
    if !text.is_empty() {
        for piece in text_pieces(&text) {
            data(&mut out, chunk(json!({"content": piece}), Value::Null));
        }
    }
    for (index, call) in calls.iter().enumerate() {
        data(
            &mut out,
            chunk(
                json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}}]}),
                Value::Null,
            ),
        );
        // A tool without arguments gets no argument fragments at all, as some servers do.
        let args = call["function"]["arguments"]
            .as_str()
            .filter(|a| *a != "{}")
            .unwrap_or("");
        let cut = args
            .char_indices()
            .nth(args.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        for part in [&args[..cut], &args[cut..]] {
            if !part.is_empty() {
                data(
                    &mut out,
                    chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]}),
                        Value::Null,
                    ),
                );
            }
        }
    }
    data(&mut out, chunk(json!({}), json!(finish)));
    if body.pointer("/stream_options/include_usage") == Some(&json!(true)) {
        data(
            &mut out,
            json!({"id": id, "object": "chat.completion.chunk", "created": 1735689600,
            "model": model, "choices": [], "usage": usage}),
        );
    }
    out.push_str("data: [DONE]\n\n");
    sse_response(out)
}

fn data(out: &mut String, v: Value) {
    out.push_str(&format!("data: {v}\n\n"));
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A Chat Completions request as the Converse body the scripted model reads. Consecutive
/// `tool` messages become one user turn of tool results, as Converse expects.
fn to_converse(body: &Value) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    let mut system = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        match m.get("role").and_then(Value::as_str).unwrap_or("") {
            "system" | "developer" => system.push(json!({"text": text_of(&m["content"])})),
            "assistant" => {
                let mut content = Vec::new();
                let text = text_of(&m["content"]);
                if !text.is_empty() {
                    content.push(json!({"text": text}));
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let input: Value = call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .and_then(|a| serde_json::from_str(a).ok())
                        .unwrap_or_else(|| json!({}));
                    content.push(json!({"toolUse": {"toolUseId": call["id"], "name": call["function"]["name"], "input": input}}));
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            "tool" => {
                let text = text_of(&m["content"]);
                let (status, text) = match text.strip_prefix("Error: ") {
                    Some(rest) => ("error", rest.to_string()),
                    None => ("success", text),
                };
                let result = json!({"toolResult": {"toolUseId": m["tool_call_id"], "content": [{"text": text}], "status": status}});
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"].as_array().is_some_and(|c| {
                                c.iter().all(|b| b.get("toolResult").is_some())
                            }) =>
                    {
                        last["content"].as_array_mut().expect("array").push(result);
                    }
                    _ => messages.push(json!({"role": "user", "content": [result]})),
                }
            }
            _ => messages
                .push(json!({"role": "user", "content": [{"text": text_of(&m["content"])}]})),
        }
    }
    let tools: Vec<Value> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| json!({"toolSpec": {"name": t["function"]["name"], "inputSchema": {"json": t["function"]["parameters"]}}}))
        .collect();
    let max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .cloned();
    let mut converse = json!({"messages": messages, "system": system});
    if let Some(max) = max_tokens {
        converse["inferenceConfig"] = json!({"maxTokens": max});
    }
    if !tools.is_empty() {
        converse["toolConfig"] = json!({"tools": tools});
        match &body["tool_choice"] {
            Value::String(s) if s == "required" => {
                converse["toolConfig"]["toolChoice"] = json!({"any": {}})
            }
            Value::Object(o) => {
                if let Some(name) = o.get("function").and_then(|f| f.get("name")) {
                    converse["toolConfig"]["toolChoice"] = json!({"tool": {"name": name}});
                }
            }
            _ => {}
        }
    }
    converse
}

//! The simulator's non-Bedrock surfaces: Bedrock Mantle (Anthropic Messages at
//! `/anthropic/v1/messages`, the model catalogue at `/v1/models`, Chat Completions at
//! `/v1/chat/completions`) and the direct Anthropic layout (`/v1/messages`).
//!
//! Every surface translates its request into the Converse shape and asks the same scripted
//! model, so one prompt produces the same tool calls on every provider; queued replies,
//! injected errors and latency apply here as they do to Converse. What only this file adds:
//! API-key checks ([`Simulator::set_api_key`]), a model catalogue ([`Simulator::set_models`])
//! and errors in the middle of a stream ([`Simulator::inject_stream_error`]).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::scripted_model::{self, ModelTurn};
use super::server::{SimState, lock};
use super::usage::{output_tokens, prompt_chars, tokens};
use super::{RecordedRequest, ScriptedReply, Simulator, anthropic_api, openai_api};

/// Models the catalogue holds unless a test sets its own: Mantle's names (with the
/// `anthropic.` prefix, and no Claude Sonnet 4.6) and the direct Anthropic and local names.
pub const DEFAULT_MODELS: [&str; 8] = [
    "anthropic.claude-haiku-4-5",
    "anthropic.claude-opus-4-7",
    "claude-haiku-4-5",
    "claude-opus-4-7",
    "claude-sonnet-4-6",
    "minimax.minimax-m2.5",
    "openai.gpt-oss-120b",
    "llama3.2",
];

#[derive(Debug, Default)]
pub(crate) struct HttpApiState {
    /// The key requests must carry; `None` accepts any key or none.
    api_key: Mutex<Option<String>>,
    models: Mutex<Option<Vec<String>>>,
    stream_errors: AtomicUsize,
    ids: AtomicU64,
}

impl HttpApiState {
    pub fn next_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}{:04}",
            self.ids.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    pub fn models(&self) -> Vec<String> {
        lock(&self.models)
            .clone()
            .unwrap_or_else(|| DEFAULT_MODELS.iter().map(|m| m.to_string()).collect())
    }

    pub fn has_model(&self, id: &str) -> bool {
        self.models().iter().any(|m| m == id)
    }

    /// True (and counted down) when this streamed answer should break off.
    pub fn take_stream_error(&self) -> bool {
        self.stream_errors
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// `x-api-key` or `Authorization: Bearer`, compared with the configured key.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = lock(&self.api_key).clone() else {
            return true;
        };
        let given = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::to_string)
            });
        given.as_deref() == Some(expected.as_str())
    }
}

impl Simulator {
    /// Requires this key (as `x-api-key` or a Bearer token) on the Mantle, Anthropic and
    /// OpenAI surfaces; others get 401. `None` (the default) accepts any key.
    pub fn set_api_key(&self, key: Option<&str>) {
        *lock(&self.inner.state.http.api_key) = key.map(str::to_string);
    }

    /// Replaces the model catalogue served at `/v1/models` (default [`DEFAULT_MODELS`]).
    pub fn set_models(&self, models: &[&str]) {
        *lock(&self.inner.state.http.models) = Some(models.iter().map(|m| m.to_string()).collect());
    }

    /// The next `times` streamed answers (ConverseStream, Messages or Chat Completions) send
    /// a little text and then an error event (for ConverseStream a
    /// `modelStreamErrorException` frame) instead of finishing.
    pub fn inject_stream_error(&self, times: usize) {
        self.inner
            .state
            .http
            .stream_errors
            .fetch_add(times, Ordering::Relaxed);
    }
}

pub(crate) fn routes() -> axum::Router<Arc<SimState>> {
    axum::Router::new()
        .route("/anthropic/v1/messages", post(mantle_messages))
        .route("/v1/messages", post(direct_messages))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
}

/// A request read, recorded and checked for its key.
pub(crate) struct Incoming {
    pub headers: HeaderMap,
    pub body: Value,
}

async fn receive(state: &SimState, request: Request, operation: &str) -> Incoming {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) if bytes.is_empty() => Value::Null,
        Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
    };
    let model_id = body
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            parts
                .uri
                .path()
                .strip_prefix("/v1/models/")
                .map(super::server::percent_decode)
        })
        .unwrap_or_default();
    state.record(
        RecordedRequest::new(&parts, operation, model_id, body.clone()),
        bytes.len(),
    );
    tracing::debug!(path = %parts.uri.path(), operation, "simulator request");
    Incoming {
        headers: parts.headers,
        body,
    }
}

/// The surface-specific parts of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Anthropic,
    OpenAi,
}

/// An error in the surface's own JSON shape.
pub(crate) fn error(dialect: Dialect, status: StatusCode, message: &str) -> Response {
    let body = match dialect {
        Dialect::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_error_type(status), "message": message}})
        }
        Dialect::OpenAi => json!({"error": {
            "message": message,
            "type": if status.is_server_error() { "server_error" } else { "invalid_request_error" },
            "code": status.as_u16().to_string(),
        }}),
    };
    json_response(status, &body)
}

pub(crate) fn anthropic_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, Body::from(body.to_string())).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn sse_response(body: String) -> Response {
    let mut r = (StatusCode::OK, Body::from(body)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    r
}

/// Text cut into a few pieces, so a streamed answer arrives as several deltas.
pub(crate) fn text_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in text.split_inclusive(' ') {
        current.push_str(word);
        if current.len() >= 12 {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// What the scripted model answered, with token counts.
pub(crate) struct Answer {
    pub turn: ModelTurn,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Latency, injected errors, queued replies, then the scripted model — the same order as
/// Converse. `Err` carries the injected error's status and message.
pub(crate) async fn run_model(
    state: &SimState,
    converse_body: &Value,
) -> Result<Answer, (StatusCode, String)> {
    if !state.wait_for_first_token().await {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()));
    }
    if let Some(injected) = lock(&state.errors).pop_front() {
        let e = ApiError::from(injected);
        return Err((e.status, e.message));
    }
    let reply = lock(&state.replies).pop_front();
    let mut next_id = || state.http.next_id("toolu_sim_");
    let turn = match &reply {
        Some(ScriptedReply::Raw(raw)) => ModelTurn {
            content: raw
                .pointer("/output/message/content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            stop_reason: match raw.get("stopReason").and_then(Value::as_str) {
                Some("tool_use") => "tool_use",
                Some("max_tokens") => "max_tokens",
                _ => "end_turn",
            },
        },
        Some(reply) => scripted_model::scripted_turn(reply, &mut next_id).expect("not Raw"),
        None => scripted_model::respond(converse_body, &mut next_id),
    };
    Ok(Answer {
        input_tokens: tokens(prompt_chars(converse_body)),
        output_tokens: output_tokens(&turn.content),
        turn,
    })
}

async fn mantle_messages(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let incoming = receive(&state, request, "Messages").await;
    anthropic_api::messages(&state, incoming, true).await
}

async fn direct_messages(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let incoming = receive(&state, request, "Messages").await;
    anthropic_api::messages(&state, incoming, false).await
}

async fn chat_completions(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let incoming = receive(&state, request, "ChatCompletions").await;
    openai_api::chat_completions(&state, incoming).await
}

fn model_json(id: &str) -> Value {
    json!({
        "type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z",
        "object": "model", "created": 1735689600, "owned_by": "pallas-simulator",
    })
}

async fn list_models(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let incoming = receive(&state, request, "ListModels").await;
    if !state.http.authorized(&incoming.headers) {
        return error(
            Dialect::OpenAi,
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
        );
    }
    delay(&state).await;
    let data: Vec<Value> = state.http.models().iter().map(|m| model_json(m)).collect();
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "has_more": false}),
    )
}

async fn get_model(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let id = super::server::percent_decode(
        request
            .uri()
            .path()
            .strip_prefix("/v1/models/")
            .unwrap_or(""),
    );
    let incoming = receive(&state, request, "GetModel").await;
    if !state.http.authorized(&incoming.headers) {
        return error(
            Dialect::Anthropic,
            StatusCode::UNAUTHORIZED,
            "invalid x-api-key",
        );
    }
    delay(&state).await;
    if !state.http.has_model(&id) {
        return error(
            Dialect::Anthropic,
            StatusCode::NOT_FOUND,
            &format!("The model '{id}' does not exist"),
        );
    }
    json_response(StatusCode::OK, &model_json(&id))
}

/// The configured latency, for the catalogue routes (so probes can be made to time out).
async fn delay(state: &SimState) {
    let latency = lock(&state.latency).first_token;
    if !latency.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(latency) => {}
            _ = state.shutdown.cancelled() => {}
        }
    }
}

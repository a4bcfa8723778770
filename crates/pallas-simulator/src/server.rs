//! HTTP side: shared state, routing of Bedrock Runtime paths, recording, and the
//! Converse / CountTokens handlers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::errors::ApiError;
use super::usage::{PromptCache, output_tokens, prompt_chars, tokens};
use super::{
    InjectedError, RecordedRequest, ScriptedReply, control_plane, converse, converse_response,
    converse_stream, guardrail, reasoning, scripted_model,
};

/// Largest request body accepted (Bedrock allows several large attachments).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Requests kept for inspection. The log is for tests; a long-running simulator (the quick
/// start, benchmarks) must not grow without bound, so only the newest are kept: at most this
/// many, and at most [`RECORDED_BYTES_LIMIT`] bytes of bodies (a long shared conversation
/// sends its whole history with every call; the newest request is always kept).
pub(crate) const RECORDED_REQUESTS_LIMIT: usize = 256;
pub(crate) const RECORDED_BYTES_LIMIT: usize = 4 * 1024 * 1024;

/// The bounded request log: requests with their body sizes, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: VecDeque<(RecordedRequest, usize)>,
    bytes: usize,
}

impl RequestLog {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &RecordedRequest> {
        self.entries.iter().map(|(r, _)| r)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    fn push(&mut self, request: RecordedRequest, body_bytes: usize) {
        self.entries.push_back((request, body_bytes));
        self.bytes += body_bytes;
        while self.entries.len() > RECORDED_REQUESTS_LIMIT
            || (self.bytes > RECORDED_BYTES_LIMIT && self.entries.len() > 1)
        {
            if let Some((_, n)) = self.entries.pop_front() {
                self.bytes -= n;
            }
        }
    }
}

/// State shared by the handle and the server task.
#[derive(Debug, Default)]
pub(crate) struct SimState {
    pub requests: Mutex<RequestLog>,
    pub replies: Mutex<VecDeque<ScriptedReply>>,
    pub errors: Mutex<VecDeque<InjectedError>>,
    pub latency: Mutex<super::timing::LatencyProfile>,
    /// Numbers calls for the latency profile's jitter.
    pub calls: super::timing::CallCounter,
    /// Mantle, Anthropic and OpenAI surfaces (`http_apis`).
    pub http: super::http_apis::HttpApiState,
    /// Pauses and mid-stream exceptions for the next ConverseStream calls, FIFO.
    pub stream_scripts: Mutex<VecDeque<super::StreamScript>>,
    /// Models that answer ConverseStream-with-tools with a ValidationException.
    pub no_stream_tools: Mutex<std::collections::HashSet<String>>,
    cache: Mutex<PromptCache>,
    tool_ids: AtomicU64,
    request_ids: AtomicU64,
    pub shutdown: CancellationToken,
}

/// Locks, ignoring poisoning (a panicking test must not wedge the simulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// Waits the latency profile's time to first token; `false` when the simulator shut down
    /// meanwhile.
    pub(crate) async fn wait_for_first_token(&self) -> bool {
        let delay = lock(&self.latency).first_token_delay(self.calls.next());
        if delay.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }

    /// Adds a request (whose body was `body_bytes` long on the wire) to the bounded log.
    pub(crate) fn record(&self, request: RecordedRequest, body_bytes: usize) {
        lock(&self.requests).push(request, body_bytes);
    }

    fn next_tool_id(&self) -> String {
        format!(
            "tooluse_{}",
            self.tool_ids.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    fn next_request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("00000000-0000-4000-8000-{n:012x}")
    }
}

pub(crate) fn router(state: Arc<SimState>) -> axum::Router {
    axum::Router::new()
        .merge(super::http_apis::routes())
        .fallback(handle)
        .with_state(state)
}

/// The Bedrock Runtime operation a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub operation: &'static str,
    pub model_id: String,
}

/// `POST /model/{modelId}/{action}` → operation and percent-decoded model id.
pub(crate) fn route(method: &Method, raw_path: &str) -> Option<Route> {
    let rest = raw_path.strip_prefix("/model/")?;
    let (encoded_id, action) = rest.split_once('/')?;
    let operation = match action {
        "converse" => "Converse",
        "converse-stream" => "ConverseStream",
        "invoke" => "InvokeModel",
        "invoke-with-response-stream" => "InvokeModelWithResponseStream",
        "invoke-with-bidirectional-stream" => "InvokeModelWithBidirectionalStream",
        "count-tokens" => "CountTokens",
        _ => return None,
    };
    if *method != Method::POST || encoded_id.is_empty() {
        return None;
    }
    Some(Route {
        operation,
        model_id: percent_decode(encoded_id),
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
    let route = route(&parts.method, parts.uri.path());
    let control = control_plane::operation(&parts.method, parts.uri.path());
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) if bytes.is_empty() => Value::Null,
        Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
    };
    let operation = route
        .as_ref()
        .map_or(control.unwrap_or("Unknown"), |r| r.operation);
    let model_id = route
        .as_ref()
        .map(|r| r.model_id.clone())
        .unwrap_or_default();
    let recorded = RecordedRequest::new(&parts, operation, model_id, body);
    tracing::debug!(method = %recorded.method, path = %recorded.path, operation = %recorded.operation, "bedrock simulator request");
    state.record(recorded.clone(), bytes.len());

    let request_id = state.next_request_id();
    let result = match route {
        None if control.is_some() => check_auth(&parts.headers).and_then(|()| {
            let authorization = parts.headers.get(header::AUTHORIZATION);
            let region = control_plane::signed_region(authorization.and_then(|v| v.to_str().ok()));
            control_plane::respond(control.unwrap_or_default(), parts.uri.query(), &region)
        }),
        None => Err(ApiError::unknown_operation()),
        Some(route) => match check_auth(&parts.headers)
            .and_then(|()| control_plane::check_on_demand(&route.model_id))
        {
            Err(e) => Err(e),
            Ok(()) => match route.operation {
                "ConverseStream" => {
                    return converse_stream::respond(
                        &state,
                        &route.model_id,
                        &recorded.body,
                        started,
                        &request_id,
                    )
                    .await;
                }
                "Converse" => converse(&state, &route.model_id, &recorded.body, started).await,
                "CountTokens" => count_tokens(&recorded.body),
                other => Err(ApiError::validation(format!(
                    "The Bedrock simulator does not implement {other}; use Converse."
                ))),
            },
        },
    };
    json_response(result, &request_id)
}

/// A JSON answer: the body, or the AWS error shape with its `x-amzn-errortype` header.
pub(crate) fn json_response(result: Result<Value, ApiError>, request_id: &str) -> Response {
    let (status, error_type, body) = match result {
        Ok(body) => (StatusCode::OK, None, body),
        Err(e) => {
            tracing::debug!(code = e.code, message = %e.message, "bedrock simulator error");
            (e.status, Some(e.error_type_header()), e.body())
        }
    };
    let mut response = (status, Body::from(body.to_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    if let Some(v) = error_type.and_then(|t| HeaderValue::from_str(&t).ok()) {
        headers.insert("x-amzn-errortype", v);
    }
    response
}

/// SigV4 or a Bedrock API key (Bearer) is accepted; signatures are not verified.
fn check_auth(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::missing_authentication());
    };
    let auth = auth.to_str().unwrap_or("");
    if auth.starts_with("AWS4-HMAC-SHA256 ") || auth.starts_with("Bearer ") {
        Ok(())
    } else {
        Err(ApiError::incomplete_signature())
    }
}

/// One assistant turn as the scripted model produced it, before it is encoded as a
/// Converse body or a ConverseStream event sequence.
pub(crate) struct TurnOutcome {
    pub content: Vec<Value>,
    pub stop_reason: String,
    pub usage: super::converse_response::Usage,
    /// Guardrail trace (`trace` in Converse, `metadata.trace` in ConverseStream).
    pub trace: Option<Value>,
}

/// Latency, injected errors, validation and the model: everything Converse and
/// ConverseStream share. `Ok(Err(raw))` is a queued `Raw` reply, sent as is.
pub(crate) async fn model_turn(
    state: &SimState,
    model_id: &str,
    body: &Value,
) -> Result<Result<TurnOutcome, Value>, ApiError> {
    if !state.wait_for_first_token().await {
        return Err(InjectedError::ServiceUnavailable.into());
    }
    if let Some(error) = lock(&state.errors).pop_front() {
        return Err(error.into());
    }
    converse::validate(body)?;
    reasoning::validate(body)?;
    if let Some((turn, trace)) = guardrail::intervene(body)? {
        let mut usage = lock(&state.cache).account(model_id, body);
        usage.output_tokens = output_tokens(&turn.content);
        return Ok(Ok(TurnOutcome {
            content: turn.content,
            stop_reason: turn.stop_reason.to_string(),
            usage,
            trace,
        }));
    }
    let reply = lock(&state.replies).pop_front();
    let mut next_id = || state.next_tool_id();
    let mut turn = match &reply {
        Some(ScriptedReply::Raw(raw)) => return Ok(Err(raw.clone())),
        Some(reply) => scripted_model::scripted_turn(reply, &mut next_id).expect("not Raw"),
        None => scripted_model::respond(body, &mut next_id),
    };
    reasoning::add_reasoning(body, &mut turn.content);
    let mut usage = lock(&state.cache).account(model_id, body);
    usage.output_tokens = output_tokens(&turn.content);
    Ok(Ok(TurnOutcome {
        content: turn.content,
        stop_reason: turn.stop_reason.to_string(),
        usage,
        trace: None,
    }))
}

async fn converse(
    state: &SimState,
    model_id: &str,
    body: &Value,
    started: Instant,
) -> Result<Value, ApiError> {
    let turn = match model_turn(state, model_id, body).await? {
        Ok(turn) => turn,
        Err(raw) => return Ok(raw),
    };
    let profile = *lock(&state.latency);
    let generation: Duration = turn
        .content
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .map(|t| profile.generation_time(t))
        .sum();
    if !generation.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(generation) => {}
            _ = state.shutdown.cancelled() => return Err(InjectedError::ServiceUnavailable.into()),
        }
    }
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut response =
        converse_response::response_body(turn.content, &turn.stop_reason, turn.usage, latency_ms);
    if let Some(trace) = turn.trace {
        response["trace"] = trace;
    }
    Ok(response)
}

/// `CountTokens`: the same estimate Converse reports as input tokens.
fn count_tokens(body: &Value) -> Result<Value, ApiError> {
    let input = body.get("input").ok_or_else(ApiError::malformed_input)?;
    let chars = if let Some(converse) = input.get("converse") {
        prompt_chars(converse)
    } else if let Some(body) = input.pointer("/invokeModel/body").and_then(Value::as_str) {
        body.len() * 3 / 4 // base64 → bytes
    } else {
        return Err(ApiError::malformed_input());
    };
    Ok(json!({ "inputTokens": tokens(chars) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_decodes_model_ids() {
        let r = route(
            &Method::POST,
            "/model/us.anthropic.claude-sonnet-4-6/converse",
        )
        .unwrap();
        assert_eq!(
            (r.operation, r.model_id.as_str()),
            ("Converse", "us.anthropic.claude-sonnet-4-6")
        );
        let r = route(
            &Method::POST,
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Aapplication-inference-profile%2Fabc/converse-stream",
        )
        .unwrap();
        assert_eq!(r.operation, "ConverseStream");
        assert_eq!(
            r.model_id,
            "arn:aws:bedrock:us-east-1:123:application-inference-profile/abc"
        );
        assert!(route(&Method::GET, "/model/x/converse").is_none());
        assert!(route(&Method::POST, "/model/x/other").is_none());
        assert!(route(&Method::POST, "/foundation-models").is_none());
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[tokio::test]
    async fn the_request_log_keeps_only_the_newest_requests() {
        let sim = crate::Simulator::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = sim.endpoint_url();
        let http = reqwest::Client::new();
        let total = RECORDED_REQUESTS_LIMIT + 5;
        for i in 0..total {
            http.get(format!("{url}/probe/{i}")).send().await.unwrap();
        }
        let paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), RECORDED_REQUESTS_LIMIT);
        assert_eq!(paths.first().unwrap(), "/probe/5");
        assert_eq!(paths.last().unwrap(), &format!("/probe/{}", total - 1));
        sim.shutdown();
    }

    #[tokio::test]
    async fn the_request_log_keeps_a_bounded_number_of_bytes() {
        let sim = crate::Simulator::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = sim.endpoint_url();
        let http = reqwest::Client::new();
        // 12 bodies of 1 MiB: 12 MiB sent, only the newest that fit in the budget are kept
        // (at least the newest one).
        let body = format!("\"{}\"", "x".repeat(1024 * 1024));
        for i in 0..12 {
            http.post(format!("{url}/probe/{i}"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
        }
        let paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), RECORDED_BYTES_LIMIT / body.len());
        assert_eq!(paths.last().unwrap(), "/probe/11");
        sim.shutdown();
    }
}

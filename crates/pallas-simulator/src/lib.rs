//! A loopback Bedrock Runtime endpoint with a deterministic scripted model.
//!
//! It speaks the real Converse wire protocol (REST-JSON, `POST /model/{modelId}/converse`),
//! so the real `aws-sdk-bedrockruntime` client can be pointed at [`Simulator::endpoint_url`]
//! and signing, retries and decoding stay the SDK's own. Requests are validated like the
//! real service (400 `ValidationException`), every request is recorded, and tests can
//! queue replies ([`Simulator::push_reply`]), inject errors ([`Simulator::inject_error`])
//! and add latency ([`Simulator::set_latency`]). See the `scripted_model` module for the default
//! behaviour when nothing is queued. The control-plane listing calls behind `pallas models`
//! (`GET /foundation-models`, `GET /inference-profiles`) are served too (`control_plane`).
//!
//! ConverseStream answers the same turns as event-stream frames (`converse_stream`), with
//! scripted pauses and exception frames ([`Simulator::script_stream`]). Claude thinking rules
//! and signed reasoning blocks live in `reasoning`; a request with `guardrailConfig` whose
//! latest user text contains `guardrail-trigger` is blocked by the scripted guardrail
//! (`guardrail`).

mod anthropic_api;
mod catalogue;
mod control_plane;
mod converse;
mod converse_response;
mod converse_stream;
mod errors;
mod guardrail;
mod http_apis;
mod media;
mod openai_api;
mod reasoning;
mod scripted_model;
mod server;
mod timing;
mod usage;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use http_apis::DEFAULT_MODELS;
use server::{SimState, lock};
pub use timing::{LatencyParseError, LatencyProfile};

/// A request as the simulator received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw (still percent-encoded) path.
    pub path: String,
    /// Bedrock operation (`Converse`, `ConverseStream`, `CountTokens`, …) or `Unknown`.
    pub operation: String,
    /// Percent-decoded model id; empty when the path names none.
    pub model_id: String,
    /// Header names are lower-case.
    pub headers: Vec<(String, String)>,
    /// JSON body; `Null` when empty, a JSON string holding the raw text when not JSON.
    pub body: serde_json::Value,
}

impl RecordedRequest {
    pub(crate) fn new(
        parts: &axum::http::request::Parts,
        operation: &str,
        model_id: String,
        body: serde_json::Value,
    ) -> RecordedRequest {
        RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            operation: operation.to_string(),
            model_id,
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
        }
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A reply queued with [`Simulator::push_reply`].
#[derive(Debug, Clone)]
pub enum ScriptedReply {
    /// `end_turn` with this text.
    Text(String),
    /// One assistant turn calling these tools `(name, input)` in parallel; `stopReason: tool_use`.
    ToolUse(Vec<(String, serde_json::Value)>),
    /// A complete Converse response body, sent as is (status 200).
    Raw(serde_json::Value),
}

/// Service errors [`Simulator::inject_error`] can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedError {
    /// 429 `ThrottlingException`
    Throttling,
    /// 403 `AccessDeniedException`
    AccessDenied,
    /// 404 `ResourceNotFoundException`
    ModelNotFound,
    /// 400 `ValidationException`
    Validation,
    /// 500 `InternalServerException`
    InternalServer,
    /// 503 `ServiceUnavailableException`
    ServiceUnavailable,
    /// 429 `ModelNotReadyException`
    ModelNotReady,
}

/// How the next ConverseStream answer misbehaves ([`Simulator::script_stream`]). Event
/// numbers count the frames of the answer from 0 (`messageStart`).
#[derive(Debug, Clone, Default)]
pub struct StreamScript {
    /// Wait this long before sending event `n` (a slow model "thinking" mid-answer).
    pub pause: Option<(usize, Duration)>,
    /// Send this exception frame in place of event `n` and end the stream.
    pub fail_at: Option<(usize, StreamException)>,
}

/// Exception frames ConverseStream can send mid-stream (`:exception-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamException {
    ModelStreamError,
    InternalServer,
    Throttling,
    Validation,
    ServiceUnavailable,
}

impl StreamException {
    fn exception_type(self) -> &'static str {
        match self {
            StreamException::ModelStreamError => "modelStreamErrorException",
            StreamException::InternalServer => "internalServerException",
            StreamException::Throttling => "throttlingException",
            StreamException::Validation => "validationException",
            StreamException::ServiceUnavailable => "serviceUnavailableException",
        }
    }
}

/// Handle to a running simulator; clones share it. The server stops on
/// [`Simulator::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    state: Arc<SimState>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.inner.addr)
            .finish()
    }
}

impl Simulator {
    /// Binds `addr` (port 0 picks a free port) and serves in a background task.
    /// The listener is bound when this returns.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::default());
        let stop = state.shutdown.clone();
        let app = server::router(state.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "bedrock simulator stopped");
            }
        });
        tracing::debug!(%addr, "bedrock simulator listening");
        Ok(Simulator {
            inner: Arc::new(Inner { addr, state }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT` (loopback even when bound to the unspecified address).
    pub fn endpoint_url(&self) -> String {
        let mut addr = self.inner.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        format!("http://{addr}")
    }

    /// The requests received so far (including rejected ones), in order; only the newest
    /// few hundred are kept.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.state.requests).iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.state.requests).clear();
    }

    /// Queues a reply for the next valid Converse call (any model), FIFO.
    pub fn push_reply(&self, reply: ScriptedReply) {
        lock(&self.inner.state.replies).push_back(reply);
    }

    /// The next `times` Converse or ConverseStream calls fail with `error` (before validation and
    /// before queued replies are consumed).
    pub fn inject_error(&self, error: InjectedError, times: usize) {
        lock(&self.inner.state.errors).extend(std::iter::repeat_n(error, times));
    }

    /// Delay added to every Converse call (zero disables it).
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.inner.state.latency) = LatencyProfile::fixed(d);
    }

    /// How long every model call takes from now on: time to first token, streaming pace,
    /// jitter (benchmarks that model real calls).
    pub fn set_latency_profile(&self, profile: LatencyProfile) {
        *lock(&self.inner.state.latency) = profile;
    }

    /// Queues a pause and/or mid-stream exception for the next ConverseStream call, FIFO.
    pub fn script_stream(&self, script: StreamScript) {
        lock(&self.inner.state.stream_scripts).push_back(script);
    }

    /// From now on `model_id` answers ConverseStream requests that offer tools with the
    /// ValidationException Bedrock sends for models without streaming tool use.
    pub fn reject_streaming_with_tools(&self, model_id: &str) {
        lock(&self.inner.state.no_stream_tools).insert(model_id.to_string());
    }

    /// Stops accepting connections; in-flight delayed calls end with 503.
    pub fn shutdown(&self) {
        self.inner.state.shutdown.cancel();
    }
}

/// Runs a simulator on `127.0.0.1:port` until ctrl-c (`pallas simulate`).
pub async fn run_standalone(port: u16, latency: LatencyProfile) -> std::io::Result<()> {
    let sim = Simulator::start(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)).await?;
    sim.set_latency_profile(latency);
    println!("Bedrock simulator listening on {}", sim.endpoint_url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown();
    Ok(())
}

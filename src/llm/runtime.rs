//! The policy every provider shares. A provider is a [`Dialect`]: it encodes a neutral
//! request for its wire format, sends it, and decodes the answer (a whole response, or a
//! stream of [`StreamEvent`]s). The [`Runtime`] decides whether to stream (`streaming: false`
//! is honoured by every provider), assembles streams with the one [`TurnAssembler`], forwards
//! text as it arrives, watches for a stream gone silent and retries a broken stream once.

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::assembler::{AssemblyError, TurnAssembler};
use super::conversation::{Request, Response};
use super::error::{ErrorKind, LlmError};
use super::events::{AgentEvent, EventSink, emit};
use super::stream_event::StreamEvent;
use super::{LlmProvider, MediaLimits, Preflight};
use crate::model::Provider;

/// Longest silence between stream events before the connection counts as dead. Long
/// enough for reasoning models that pause for minutes.
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Pause before retrying a stream that broke off mid-answer.
pub const STREAM_RETRY_DELAY: Duration = Duration::from_millis(500);
/// What the caller is told when a broken stream is retried.
pub const STREAM_RETRY_NOTICE: &str = "\n[the answer stream broke off; retrying]\n";

/// Decoded stream events in the order they arrived; an `Err` ends the stream.
pub type EventStream<'a> = BoxStream<'a, Result<Vec<StreamEvent>, LlmError>>;

/// What opening a streaming call produced.
pub enum Opened<'a> {
    Stream(EventStream<'a>),
    /// The provider answered in one piece (a server that does not stream, or a fallback).
    Complete(Response),
}

/// A provider's wire format and transport.
pub trait Dialect: Send + Sync + 'static {
    fn provider(&self) -> Provider;
    /// The id sent on the wire.
    fn model_id(&self) -> &str;
    /// Who is called, for messages: `anthropic at https://…/v1/messages`.
    fn origin(&self) -> String;
    /// Whether this request may stream (some models cannot stream with tools).
    fn can_stream(&self, _request: &Request) -> bool {
        true
    }
    /// One call answered in one piece.
    fn complete<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Response, LlmError>>;
    /// Starts a streaming call.
    fn open_stream<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Opened<'a>, LlmError>>;
    /// Sees every successful answer, e.g. for debug logging.
    fn on_response(&self, _response: &Response, _streamed: bool) {}
    fn preflight(&self) -> BoxFuture<'_, Preflight>;
    /// The attachments this provider accepts in one request.
    fn limits(&self) -> MediaLimits;
}

/// A dialect plus the shared policy; this is what the agent loop calls.
pub struct Runtime<D> {
    dialect: D,
    /// Injectable so a test can run it on paused time.
    pub idle_timeout: Duration,
    pub retry_delay: Duration,
}

/// A failed streaming attempt and whether one more attempt may help.
struct Failure {
    error: LlmError,
    retry: bool,
}

impl<D: Dialect> Runtime<D> {
    pub fn new(dialect: D) -> Runtime<D> {
        Runtime {
            dialect,
            idle_timeout: STREAM_IDLE_TIMEOUT,
            retry_delay: STREAM_RETRY_DELAY,
        }
    }

    pub fn dialect(&self) -> &D {
        &self.dialect
    }

    async fn run(
        &self,
        request: &Request,
        events: Option<&EventSink>,
    ) -> Result<Response, LlmError> {
        let stream = request.options.streaming != Some(false) && self.dialect.can_stream(request);
        let response = if stream {
            let mut retried = false;
            loop {
                match self.stream_once(request, events).await {
                    Ok(r) => break r,
                    // Nothing below us can retry once the answer has started; the services'
                    // advice for these is to retry the request, so do that once.
                    Err(Failure { error, retry: true }) if !retried => {
                        retried = true;
                        tracing::warn!(model = %self.dialect.model_id(), "{error}; retrying the call once");
                        emit(events, AgentEvent::Notice(STREAM_RETRY_NOTICE.to_string()));
                        tokio::time::sleep(self.retry_delay).await;
                    }
                    Err(f) => return Err(f.error),
                }
            }
        } else {
            self.dialect.complete(request).await?
        };
        self.dialect.on_response(&response, stream);
        Ok(response)
    }

    async fn stream_once(
        &self,
        request: &Request,
        events: Option<&EventSink>,
    ) -> Result<Response, Failure> {
        // Failures before the answer starts were already retried by the transport.
        let opened = self
            .dialect
            .open_stream(request)
            .await
            .map_err(|error| Failure {
                error,
                retry: false,
            })?;
        let mut stream = match opened {
            Opened::Complete(r) => return Ok(r),
            Opened::Stream(s) => s,
        };
        let mut turn = TurnAssembler::default();
        loop {
            let next = tokio::time::timeout(self.idle_timeout, stream.next())
                .await
                .map_err(|_| Failure {
                    error: self.idle_error(),
                    retry: false,
                })?;
            let batch = match next {
                None => break,
                Some(Ok(batch)) => batch,
                Some(Err(error)) => {
                    return Err(Failure {
                        retry: error.kind.is_transient(),
                        error,
                    });
                }
            };
            for event in batch {
                if let StreamEvent::Text { text, .. } = &event
                    && !text.is_empty()
                {
                    emit(events, AgentEvent::TextDelta(text.clone()));
                }
                turn.push(event).map_err(|e| self.assembly_failure(e))?;
            }
        }
        turn.finish().map_err(|e| self.assembly_failure(e))
    }

    fn idle_error(&self) -> LlmError {
        LlmError::new(
            ErrorKind::Transport,
            format!(
                "no stream event for {:?}; the connection looks dead",
                self.idle_timeout
            ),
        )
        .with_origin(self.dialect.origin())
        .with_advice("retry the call")
    }

    fn assembly_failure(&self, e: AssemblyError) -> Failure {
        match e {
            // Cut off mid-answer: worth one retry.
            AssemblyError::CutOff => Failure {
                error: LlmError::stream_broke_off(e).with_origin(self.dialect.origin()),
                retry: true,
            },
            AssemblyError::Malformed(m) => Failure {
                error: LlmError::new(
                    ErrorKind::Protocol,
                    format!("the answer stream was malformed: {m}"),
                )
                .with_origin(self.dialect.origin())
                .with_advice("retry the call"),
                retry: false,
            },
        }
    }
}

impl<D: Dialect> LlmProvider for Runtime<D> {
    fn provider(&self) -> Provider {
        self.dialect.provider()
    }

    fn model_id(&self) -> &str {
        self.dialect.model_id()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
        events: Option<&'a EventSink>,
    ) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(self.run(request, events))
    }

    fn preflight(&self) -> BoxFuture<'_, Preflight> {
        self.dialect.preflight()
    }

    fn limits(&self) -> MediaLimits {
        self.dialect.limits()
    }
}

/// Drains an answer without forwarding anything: for dialects whose one-piece call got a
/// stream anyway.
pub async fn collect(opened: Opened<'_>) -> Result<Response, LlmError> {
    let mut stream = match opened {
        Opened::Complete(r) => return Ok(r),
        Opened::Stream(s) => s,
    };
    let mut turn = TurnAssembler::default();
    while let Some(batch) = stream.next().await {
        for event in batch? {
            turn.push(event)
                .map_err(|e| LlmError::new(ErrorKind::Protocol, e.to_string()))?;
        }
    }
    turn.finish().map_err(LlmError::stream_broke_off)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::llm::conversation::{GenerationOptions, Message, StopReason};
    use crate::llm::{PreflightStatus, probe};

    /// What the fake's next streaming attempt does.
    #[derive(Clone, Copy)]
    enum Attempt {
        Answer,
        BreakOff,
        GoSilent,
    }

    struct Fake {
        attempts: Mutex<Vec<Attempt>>,
        streamed: AtomicUsize,
        completed: AtomicUsize,
    }

    fn answer(text: &str) -> Vec<StreamEvent> {
        vec![
            StreamEvent::Text {
                index: 0,
                text: text.into(),
            },
            StreamEvent::Stop(StopReason::EndTurn),
            StreamEvent::End,
        ]
    }

    impl Dialect for Fake {
        fn provider(&self) -> Provider {
            Provider::Generic
        }
        fn model_id(&self) -> &str {
            "fake"
        }
        fn origin(&self) -> String {
            "fake at test://".into()
        }
        fn complete<'a>(&'a self, _: &'a Request) -> BoxFuture<'a, Result<Response, LlmError>> {
            self.completed.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(TurnAssembler::assemble(answer("whole")).unwrap()) })
        }
        fn open_stream<'a>(
            &'a self,
            _: &'a Request,
        ) -> BoxFuture<'a, Result<Opened<'a>, LlmError>> {
            self.streamed.fetch_add(1, Ordering::SeqCst);
            let attempt = self.attempts.lock().unwrap().remove(0);
            let stream: EventStream<'a> = match attempt {
                Attempt::Answer => futures::stream::iter([Ok(answer("streamed"))]).boxed(),
                Attempt::BreakOff => futures::stream::iter([
                    Ok(vec![StreamEvent::Text {
                        index: 0,
                        text: "Partial ".into(),
                    }]),
                    Err(LlmError::stream_broke_off("overloaded")),
                ])
                .boxed(),
                Attempt::GoSilent => futures::stream::pending().boxed(),
            };
            Box::pin(async move { Ok(Opened::Stream(stream)) })
        }
        fn preflight(&self) -> BoxFuture<'_, Preflight> {
            Box::pin(async { probe::preflight("generic", "fake", Ok("ok".into())) })
        }
        fn limits(&self) -> MediaLimits {
            MediaLimits::CHAT_COMPLETIONS
        }
    }

    fn runtime(attempts: &[Attempt]) -> Runtime<Fake> {
        let mut r = Runtime::new(Fake {
            attempts: Mutex::new(attempts.to_vec()),
            streamed: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
        });
        r.retry_delay = Duration::ZERO;
        r
    }

    fn request(streaming: Option<bool>) -> Request {
        Request {
            system: String::new(),
            messages: vec![Message::user_text("hi")],
            tools: vec![],
            max_tokens: 100,
            options: GenerationOptions {
                streaming,
                ..Default::default()
            },
        }
    }

    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<AgentEvent>) -> Vec<AgentEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[tokio::test]
    async fn streaming_false_makes_one_plain_call() {
        let r = runtime(&[]);
        let response = r.complete(&request(Some(false)), None).await.unwrap();
        assert_eq!(response.message.text(), "whole");
        assert_eq!(r.dialect().streamed.load(Ordering::SeqCst), 0);
        assert_eq!(r.dialect().completed.load(Ordering::SeqCst), 1);
        assert_eq!(r.preflight().await.status, PreflightStatus::Ok);
    }

    #[tokio::test]
    async fn a_broken_stream_is_retried_once_with_a_notice_then_fails() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let r = runtime(&[Attempt::BreakOff, Attempt::Answer]);
        let response = r.complete(&request(None), Some(&tx)).await.unwrap();
        assert_eq!(response.message.text(), "streamed");
        assert_eq!(
            drain(&mut rx),
            vec![
                AgentEvent::TextDelta("Partial ".into()),
                AgentEvent::Notice(STREAM_RETRY_NOTICE.into()),
                AgentEvent::TextDelta("streamed".into()),
            ]
        );
        let r = runtime(&[Attempt::BreakOff, Attempt::BreakOff, Attempt::Answer]);
        let e = r.complete(&request(None), None).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::StreamBroken);
        assert!(
            e.to_string().contains("stream broke off: overloaded"),
            "{e}"
        );
        assert_eq!(r.dialect().streamed.load(Ordering::SeqCst), 2, "one retry");
    }

    /// The timeout is a field so a test need not wait five minutes (tokio's paused clock
    /// would need its `test-util` feature, which rebuilds every dependency).
    #[tokio::test]
    async fn a_silent_stream_times_out_and_is_not_retried() {
        let mut r = runtime(&[Attempt::GoSilent, Attempt::Answer]);
        r.idle_timeout = Duration::from_millis(50);
        let started = tokio::time::Instant::now();
        let e = r.complete(&request(None), None).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transport);
        assert!(e.to_string().contains("no stream event for 50ms"), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(r.dialect().streamed.load(Ordering::SeqCst), 1);
    }
}

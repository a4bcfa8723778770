//! The transport the HTTP dialects share: an answer arrives as server-sent events (decoded
//! by the dialect into [`StreamEvent`]s) or, from a server that does not stream, as one JSON
//! body (decoded into the same events and assembled by the same [`TurnAssembler`]).

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::RequestBuilder;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::assembler::TurnAssembler;
use super::conversation::{Request, Response};
use super::error::{ErrorKind, LlmError};
use super::http_errors::ApiContext;
use super::probe::preflight;
use super::retry::{RetryPolicy, SendError, error_chain, send_with_retry};
use super::runtime::{Dialect, EventStream, Opened, collect};
use super::stream_event::StreamEvent;
use super::{MediaLimits, Preflight};
use crate::model::Provider;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::future::BoxFuture;

/// Turns one provider's server-sent events into neutral events.
pub trait SseDecoder: Send + 'static {
    /// One event: its `event:` name (`message` when the server sent none) and its `data:`
    /// lines joined with `\n`. `Err` is an error event or one that does not parse.
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<StreamEvent>, String>;
    /// The stream ended: whatever its end implies (some servers omit their end marker).
    fn end(&mut self) -> Vec<StreamEvent> {
        Vec::new()
    }
}

/// A whole (non-streaming) answer decoded into events.
pub type JsonDecoder = fn(&Value) -> Result<Vec<StreamEvent>, String>;

/// Reads an answer: an event stream decoded by `decoder`, or a JSON body by `from_json`.
pub async fn read_answer<D: SseDecoder>(
    response: reqwest::Response,
    decoder: D,
    from_json: JsonDecoder,
    origin: String,
) -> Result<Opened<'static>, LlmError> {
    if !is_event_stream(&response) {
        let malformed = |d: String| {
            LlmError::new(
                ErrorKind::Protocol,
                format!("the answer was malformed: {d}"),
            )
            .with_origin(origin.clone())
            .with_advice("check that base_url points at the provider's API")
        };
        let value: Value = response
            .json()
            .await
            .map_err(|e| malformed(format!("not JSON ({e})")))?;
        let events = from_json(&value).map_err(malformed)?;
        let response = TurnAssembler::assemble(events).map_err(|e| malformed(e.to_string()))?;
        return Ok(Opened::Complete(response));
    }
    Ok(Opened::Stream(decode(
        sse_events(response),
        decoder,
        origin,
    )))
}

struct Decoding<D> {
    events: BoxStream<'static, Result<Event, String>>,
    decoder: D,
    origin: String,
    done: bool,
}

fn decode<D: SseDecoder>(
    events: BoxStream<'static, Result<Event, String>>,
    decoder: D,
    origin: String,
) -> EventStream<'static> {
    let state = Decoding {
        events,
        decoder,
        origin,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let item = match st.events.next().await {
            Some(Ok(ev)) => st.decoder.event(&ev.event, &ev.data),
            Some(Err(e)) => Err(e),
            None => {
                st.done = true;
                Ok(st.decoder.end())
            }
        };
        st.done |= item.is_err();
        let item = item.map_err(|d| LlmError::stream_broke_off(d).with_origin(st.origin.clone()));
        Some((item, st))
    })
    .boxed()
}

/// The response body as server-sent events; a transport failure ends it with an `Err`.
fn sse_events(response: reqwest::Response) -> BoxStream<'static, Result<Event, String>> {
    response
        .bytes_stream()
        .eventsource()
        .map(|item| {
            item.map_err(|e| match e {
                EventStreamError::Transport(e) => error_chain(&e),
                other => other.to_string(),
            })
        })
        .boxed()
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// What an HTTP provider adds to the shared transport: one request sent and its answer read,
/// streaming or not. Every HTTP dialect is a [`Dialect`] through it.
pub trait HttpDialect: Send + Sync + 'static {
    fn provider(&self) -> Provider;
    fn model_id(&self) -> &str;
    /// `anthropic at https://…/v1/messages`.
    fn origin(&self) -> String;
    fn send<'a>(
        &'a self,
        request: &'a Request,
        stream: bool,
    ) -> impl Future<Output = Result<Opened<'a>, LlmError>> + Send + 'a;
    /// The token-free check: `Ok` with what was confirmed, `Err` with what to fix.
    fn check(&self) -> impl Future<Output = Result<String, String>> + Send + '_;
    fn limits(&self) -> MediaLimits;
}

impl<T: HttpDialect> Dialect for T {
    fn provider(&self) -> Provider {
        HttpDialect::provider(self)
    }

    fn model_id(&self) -> &str {
        HttpDialect::model_id(self)
    }

    fn origin(&self) -> String {
        HttpDialect::origin(self)
    }

    fn complete<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Response, LlmError>> {
        Box::pin(async move { collect(self.send(request, false).await?).await })
    }

    fn open_stream<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Opened<'a>, LlmError>> {
        Box::pin(self.send(request, true))
    }

    fn preflight(&self) -> BoxFuture<'_, Preflight> {
        Box::pin(async move {
            let provider = HttpDialect::provider(self);
            preflight(
                provider.as_str(),
                HttpDialect::model_id(self),
                self.check().await,
            )
        })
    }

    fn limits(&self) -> MediaLimits {
        HttpDialect::limits(self)
    }
}

/// One HTTP provider endpoint's client, headers, credentials and retry policy.
pub struct HttpTransport {
    client: reqwest::Client,
    pub retry: RetryPolicy,
    pub ctx: ApiContext,
    headers: HeaderMap,
}

impl HttpTransport {
    /// `auth`: the credential header, marked sensitive so it never reaches a log.
    pub fn new(
        ctx: ApiContext,
        mut headers: HeaderMap,
        auth: Option<(HeaderName, String)>,
    ) -> Self {
        if let Some((name, value)) = auth
            && let Ok(mut value) = HeaderValue::from_str(&value)
        {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        HttpTransport {
            client: super::http_client(),
            retry: RetryPolicy::default(),
            ctx,
            headers,
        }
    }

    /// A request to `url` with the provider's headers and credentials.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.client.get(url).headers(self.headers.clone())
    }

    /// POSTs `body` with the shared retry policy; the error says what to fix.
    pub async fn post(
        &self,
        url: &str,
        body: &Value,
        stream: bool,
    ) -> Result<reqwest::Response, SendError> {
        send_with_retry(self.retry, || {
            let builder = self
                .client
                .post(url)
                .headers(self.headers.clone())
                .json(body);
            if stream {
                builder.header(reqwest::header::ACCEPT, "text/event-stream")
            } else {
                builder
            }
        })
        .await
    }

    pub fn error(&self, url: &str, error: SendError) -> LlmError {
        self.ctx.send_error(url, error)
    }
}

/// Merges the agent's `additional_model_request_fields` into a request body: the operator's
/// explicit choice wins, except over the fields that carry the conversation itself.
pub fn merge_additional_fields(
    body: &mut Value,
    request: &Request,
    reserved: &[&str],
) -> Result<(), LlmError> {
    let Some(extra) = &request.options.additional_model_request_fields else {
        return Ok(());
    };
    let (Value::Object(extra), Value::Object(body)) = (extra, body) else {
        return Err(LlmError::new(
            ErrorKind::InvalidRequest,
            "additional_model_request_fields must be a mapping of request fields",
        )
        .with_advice("write it as a YAML mapping, e.g. {top_k: 5}"));
    };
    if let Some(key) = extra.keys().find(|k| reserved.contains(&k.as_str())) {
        return Err(LlmError::new(
            ErrorKind::Unsupported,
            format!("additional_model_request_fields may not set '{key}': Pallas writes that field itself"),
        )
        .with_advice("remove it from the agent's additional_model_request_fields"));
    }
    body.extend(extra.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{GenerationOptions, Message};
    use serde_json::json;

    fn request(fields: Value) -> Request {
        Request {
            system: String::new(),
            messages: vec![Message::user_text("hi")],
            tools: vec![],
            max_tokens: 10,
            options: GenerationOptions {
                additional_model_request_fields: Some(fields),
                ..Default::default()
            },
        }
    }

    #[test]
    fn request_fields_are_merged_and_the_conversation_fields_refused() {
        let mut body = json!({"model": "m", "temperature": 0.5});
        merge_additional_fields(
            &mut body,
            &request(json!({"top_k": 5, "temperature": 1})),
            &["model"],
        )
        .unwrap();
        assert_eq!(body, json!({"model": "m", "temperature": 1, "top_k": 5}));
        let e = merge_additional_fields(&mut body, &request(json!({"model": "x"})), &["model"])
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.to_string().contains("may not set 'model'"), "{e}");
        let e = merge_additional_fields(&mut body, &request(json!([1])), &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
    }
}

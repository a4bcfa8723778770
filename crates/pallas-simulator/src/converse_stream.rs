//! `POST /model/{id}/converse-stream`: the scripted turn as AWS event-stream frames
//! (`application/vnd.amazon.eventstream`), encoded with `aws-smithy-eventstream` — the
//! crate the SDK decodes with — and sent as a streamed body, so scripted pauses between
//! events are real pauses on the wire.
//!
//! Text is split into several deltas (a few words each), tool input JSON into several
//! partial strings (none at all for `{}`), and reasoning into text deltas followed by a
//! signature delta. Errors found before the answer starts are ordinary JSON error
//! responses; scripted mid-stream failures are exception frames.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue as HttpHeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use super::errors::ApiError;
use super::server::{SimState, TurnOutcome, json_response, lock, model_turn};
use super::timing::LatencyProfile;
use super::{StreamException, StreamScript};

/// Words per text delta.
const WORDS_PER_DELTA: usize = 3;
/// Partial strings a tool input is split into.
const INPUT_PIECES: usize = 3;

pub(crate) async fn respond(
    state: &SimState,
    model_id: &str,
    body: &Value,
    started: Instant,
    request_id: &str,
) -> Response {
    let uses_tools = body
        .pointer("/toolConfig/tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    if uses_tools && lock(&state.no_stream_tools).contains(model_id) {
        return json_response(
            Err(ApiError::validation(
                "This model doesn't support tool use in streaming mode.",
            )),
            request_id,
        );
    }
    let turn = match model_turn(state, model_id, body).await {
        Err(e) => return json_response(Err(e), request_id),
        Ok(Ok(turn)) => turn,
        Ok(Err(raw)) => from_raw(&raw),
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut script = lock(&state.stream_scripts).pop_front().unwrap_or_default();
    if script.fail_at.is_none() && state.http.take_stream_error() {
        // After messageStart and the first text delta, like a model failing mid-answer.
        script.fail_at = Some((2, StreamException::ModelStreamError));
    }
    let profile = *lock(&state.latency);
    let frames = frames(events(turn, latency_ms), &script, &profile);
    let shutdown = state.shutdown.clone();
    let stream = futures::stream::iter(frames)
        .then(move |(delay, bytes)| {
            let shutdown = shutdown.clone();
            async move {
                if let Some(d) = delay {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                Ok::<Bytes, Infallible>(bytes)
            }
        })
        .boxed();
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HttpHeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = HttpHeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

/// A queued `Raw` Converse body replayed as a stream.
fn from_raw(raw: &Value) -> TurnOutcome {
    let usage = &raw["usage"];
    let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    TurnOutcome {
        content: raw
            .pointer("/output/message/content")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        stop_reason: raw["stopReason"].as_str().unwrap_or("end_turn").to_string(),
        usage: super::converse_response::Usage {
            input_tokens: n("inputTokens"),
            output_tokens: n("outputTokens"),
            cache_read_input_tokens: n("cacheReadInputTokens"),
            cache_write_input_tokens: n("cacheWriteInputTokens"),
        },
        trace: raw.get("trace").cloned(),
    }
}

/// Splits `text` into deltas of a few words (spaces kept, so they concatenate back).
pub(crate) fn text_pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    words
        .chunks(WORDS_PER_DELTA)
        .map(|c| c.concat())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Splits `s` into up to `n` pieces at char boundaries.
fn split_even(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The event sequence of one turn: `(event type, payload)`.
fn events(turn: TurnOutcome, latency_ms: u64) -> Vec<(&'static str, Value)> {
    let mut out = vec![("messageStart", json!({"role": "assistant"}))];
    for (i, block) in turn.content.iter().enumerate() {
        let delta = |d: Value| {
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": i, "delta": d}),
            )
        };
        if let Some(text) = block.get("text").and_then(Value::as_str) {
            out.extend(
                text_pieces(text)
                    .into_iter()
                    .map(|t| delta(json!({"text": t}))),
            );
        } else if let Some(tool) = block.get("toolUse") {
            out.push((
                "contentBlockStart",
                json!({"contentBlockIndex": i, "start": {"toolUse": {
                    "toolUseId": tool["toolUseId"], "name": tool["name"]}}}),
            ));
            let input = tool.get("input").cloned().unwrap_or_else(|| json!({}));
            if input != json!({}) {
                out.extend(
                    split_even(&input.to_string(), INPUT_PIECES)
                        .into_iter()
                        .map(|p| delta(json!({"toolUse": {"input": p}}))),
                );
            }
        } else if let Some(r) = block.get("reasoningContent") {
            if let Some(t) = r.get("reasoningText") {
                let text = t.get("text").and_then(Value::as_str).unwrap_or("");
                out.extend(
                    text_pieces(text)
                        .into_iter()
                        .map(|p| delta(json!({"reasoningContent": {"text": p}}))),
                );
                if let Some(sig) = t.get("signature") {
                    out.push(delta(json!({"reasoningContent": {"signature": sig}})));
                }
            } else if let Some(redacted) = r.get("redactedContent") {
                out.push(delta(
                    json!({"reasoningContent": {"redactedContent": redacted}}),
                ));
            }
        } else {
            continue;
        }
        out.push(("contentBlockStop", json!({"contentBlockIndex": i})));
    }
    out.push(("messageStop", json!({"stopReason": turn.stop_reason})));
    let mut metadata = json!({
        "usage": turn.usage.to_json(),
        "metrics": {"latencyMs": latency_ms},
    });
    if let Some(trace) = turn.trace {
        metadata["trace"] = trace;
    }
    out.push(("metadata", metadata));
    out
}

fn encode(message: &Message) -> Bytes {
    let mut buf = Vec::new();
    write_message_to(message, &mut buf).expect("event-stream frames encode into a Vec");
    Bytes::from(buf)
}

fn event_frame(event_type: &'static str, payload: &Value) -> Bytes {
    encode(&Message::new_from_parts(
        vec![
            Header::new(":event-type", HeaderValue::String(event_type.into())),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("event".into())),
        ],
        payload.to_string().into_bytes(),
    ))
}

fn exception_frame(exception: StreamException) -> Bytes {
    let payload =
        json!({"message": format!("Simulated {} mid-stream.", exception.exception_type())});
    encode(&Message::new_from_parts(
        vec![
            Header::new(
                ":exception-type",
                HeaderValue::String(exception.exception_type().into()),
            ),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("exception".into())),
        ],
        payload.to_string().into_bytes(),
    ))
}

/// Encoded frames with the delay to wait before each: a scripted pause, or the time the
/// profile takes to generate a delta's text.
fn frames(
    events: Vec<(&'static str, Value)>,
    script: &StreamScript,
    profile: &LatencyProfile,
) -> Vec<(Option<Duration>, Bytes)> {
    let mut out = Vec::with_capacity(events.len());
    for (n, (event_type, payload)) in events.iter().enumerate() {
        let generated = payload
            .pointer("/delta/text")
            .or_else(|| payload.pointer("/delta/reasoningContent/text"))
            .and_then(Value::as_str)
            .map(|t| profile.generation_time(t))
            .filter(|d| !d.is_zero());
        let delay = script
            .pause
            .and_then(|(at, d)| (at == n).then_some(d))
            .or(generated);
        if let Some((at, exception)) = script.fail_at
            && at == n
        {
            out.push((delay, exception_frame(exception)));
            return out;
        }
        out.push((delay, event_frame(event_type, payload)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn frames_decode_back_with_split_text_and_tool_input() {
        let turn = TurnOutcome {
            content: vec![
                json!({"text": "one two three four five"}),
                json!({"toolUse": {"toolUseId": "t1", "name": "a", "input": {"x": "yz"}}}),
                json!({"toolUse": {"toolUseId": "t2", "name": "b", "input": {}}}),
            ],
            stop_reason: "tool_use".into(),
            usage: Default::default(),
            trace: None,
        };
        let evs = events(turn, 5);
        let text_deltas = evs
            .iter()
            .filter(|(_, p)| p.pointer("/delta/text").is_some())
            .count();
        assert_eq!(text_deltas, 2);
        let input: String = evs
            .iter()
            .filter_map(|(_, p)| p.pointer("/delta/toolUse/input").and_then(Value::as_str))
            .collect();
        assert_eq!(input, r#"{"x":"yz"}"#);
        let frames = frames(
            evs,
            &StreamScript {
                pause: None,
                fail_at: Some((3, StreamException::ModelStreamError)),
            },
            &LatencyProfile::default(),
        );
        assert_eq!(frames.len(), 4);
        let last = read_message_from(frames[3].1.clone()).unwrap();
        assert!(
            last.headers()
                .iter()
                .any(|h| h.name().as_str() == ":exception-type")
        );
        let first = read_message_from(frames[0].1.clone()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(first.payload()).unwrap(),
            json!({"role": "assistant"})
        );
    }

    #[test]
    fn a_token_rate_paces_the_text_deltas_only() {
        let turn = TurnOutcome {
            content: vec![
                json!({"text": "one two three four five six"}),
                json!({"toolUse": {"toolUseId": "t1", "name": "a", "input": {"x": 1}}}),
            ],
            stop_reason: "tool_use".into(),
            usage: Default::default(),
            trace: None,
        };
        let profile = LatencyProfile {
            tokens_per_second: Some(10.0),
            ..LatencyProfile::default()
        };
        let evs = events(turn, 0);
        let delays: Vec<(bool, Option<Duration>)> =
            frames(evs.clone(), &StreamScript::default(), &profile)
                .into_iter()
                .zip(&evs)
                .map(|((d, _), (_, p))| (p.pointer("/delta/text").is_some(), d))
                .collect();
        for (is_text, delay) in &delays {
            assert_eq!(delay.is_some(), *is_text, "{delays:?}");
        }
        // "one two three " is 14 characters ≈ 4 tokens ≈ 0.4 s at 10 tokens/s.
        assert_eq!(
            delays.iter().find_map(|(_, d)| *d),
            Some(Duration::from_millis(400))
        );
    }
}

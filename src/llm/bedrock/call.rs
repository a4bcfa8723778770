//! One model call: ConverseStream by default, Converse when streaming is off or the model
//! cannot stream with tools (learned once per provider, then remembered).

use std::sync::atomic::Ordering;

use super::debug::RawBodyLogger;
use super::request::{CallParts, build};
use super::stream::{StreamAssembler, mid_stream_error, rejects_streaming_with_tools};
use super::*;

/// Longest silence between ConverseStream events. The SDK installs its stalled-stream
/// protection on Converse bodies only, not on event streams, so without this a connection
/// that dies silently mid-answer would hang the agent. Long enough for slow reasoning.
const STREAM_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Pause before retrying a stream that failed mid-answer.
const MID_STREAM_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

impl BedrockProvider {
    pub(super) async fn call(
        &self,
        request: &Request,
        sink: Option<&TextSink>,
    ) -> Result<Response, LlmError> {
        let parts = build(&self.model_id, request, &self.features)?;
        let with_tools = !request.tools.is_empty();
        let stream = request.options.streaming != Some(false)
            && !(with_tools
                && (!self.features.capabilities.streaming_with_tools
                    || self.stream_tools_rejected.load(Ordering::Relaxed)));
        let response = if stream {
            let mut parts = parts;
            let mut retried = false;
            loop {
                match self.converse_stream(parts, sink).await {
                    Ok(r) => break Ok(r),
                    // The SDK cannot retry once the answer has started; Bedrock's advice for
                    // these is to retry the request, so do that once.
                    Err((e, true)) if !retried => {
                        retried = true;
                        tracing::warn!(model = %self.model_id, "{e}; retrying the call once");
                        if let Some(sink) = sink {
                            let _ = sink.send("\n[the answer stream broke off; retrying]\n".into());
                        }
                        tokio::time::sleep(MID_STREAM_RETRY_DELAY).await;
                        parts = build(&self.model_id, request, &self.features)?;
                    }
                    Err((e, _)) if with_tools && rejects_streaming_with_tools(&e) => {
                        tracing::info!(
                            model = %self.model_id,
                            "model rejected streaming with tools ({e}); using Converse for it from now on"
                        );
                        self.stream_tools_rejected.store(true, Ordering::Relaxed);
                        let parts = build(&self.model_id, request, &self.features)?;
                        break self.converse(parts).await;
                    }
                    Err((e, _)) => break Err(e),
                }
            }
        } else {
            self.converse(parts).await
        }?;
        if matches!(
            response.0.stop_reason,
            StopReason::GuardrailIntervened | StopReason::ContentFiltered
        ) {
            tracing::warn!(
                model = %self.model_id,
                stop_reason = ?response.0.stop_reason,
                guardrail = ?self.features.guardrail.as_ref().map(|g| format!("{}:{}", g.id, g.version)),
                trace = response.1.as_deref().unwrap_or("(no trace; set bedrock.guardrail.trace: enabled)"),
                "the answer was blocked by a guardrail or content filter"
            );
        }
        if self.features.raw_debug && stream {
            tracing::debug!(
                model = %self.model_id,
                response = %super::debug::redact_json(&super::debug::assembled_json(&response.0)),
                "bedrock ConverseStream response (assembled)"
            );
        }
        Ok(response.0)
    }

    fn guardrail(&self) -> Option<(String, String, bt::GuardrailTrace)> {
        self.features.guardrail.as_ref().map(|g| {
            (
                g.id.clone(),
                g.version.clone(),
                bt::GuardrailTrace::from(g.trace.as_str()),
            )
        })
    }

    /// Converse; the second value is the guardrail trace, for logging.
    async fn converse(&self, parts: CallParts) -> Result<(Response, Option<String>), LlmError> {
        let mut call = self
            .client
            .converse()
            .model_id(&self.model_id)
            .set_messages(Some(parts.messages))
            .set_system(parts.system)
            .inference_config(parts.inference)
            .set_tool_config(parts.tool_config)
            .set_additional_model_request_fields(parts.additional);
        if let Some((id, version, trace)) = self.guardrail() {
            call = call.guardrail_config(
                bt::GuardrailConfiguration::builder()
                    .guardrail_identifier(id)
                    .guardrail_version(version)
                    .trace(trace)
                    .build(),
            );
        }
        let output = if self.features.raw_debug {
            call.customize()
                .interceptor(RawBodyLogger::new(&self.model_id))
                .send()
                .await
        } else {
            call.send().await
        }
        .map_err(|e| self.map_error(e))?;
        let trace = output.trace().map(|t| format!("{t:?}"));
        Ok((translate::from_bedrock_output(output)?, trace))
    }

    async fn converse_stream(
        &self,
        parts: CallParts,
        sink: Option<&TextSink>,
    ) -> Result<(Response, Option<String>), (LlmError, bool)> {
        let mut call = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .set_messages(Some(parts.messages))
            .set_system(parts.system)
            .inference_config(parts.inference)
            .set_tool_config(parts.tool_config)
            .set_additional_model_request_fields(parts.additional);
        if let Some((id, version, trace)) = self.guardrail() {
            call = call.guardrail_config(
                bt::GuardrailStreamConfiguration::builder()
                    .guardrail_identifier(id)
                    .guardrail_version(version)
                    .trace(trace)
                    .build(),
            );
        }
        let output = if self.features.raw_debug {
            call.customize()
                .interceptor(RawBodyLogger::new(&self.model_id))
                .send()
                .await
        } else {
            call.send().await
        }
        .map_err(|e| (self.map_error(e), false))?;
        let mut events = output.stream;
        let mut assembler = StreamAssembler::default();
        loop {
            let next = tokio::time::timeout(STREAM_IDLE_TIMEOUT, events.recv())
                .await
                .map_err(|_| {
                    let e = LlmError::Transport {
                        endpoint: self.endpoint.clone(),
                        message: format!(
                            "no ConverseStream event for {} s; the connection looks dead, retry the call",
                            STREAM_IDLE_TIMEOUT.as_secs()
                        ),
                    };
                    (e, false)
                })?;
            match next {
                Ok(Some(event)) => assembler.push(event, sink).map_err(|e| (e, false))?,
                Ok(None) => break,
                Err(e) => return Err(mid_stream_error(e, &self.endpoint)),
            }
        }
        let trace = assembler.trace.clone();
        // A stream that ends without messageStop was cut off: worth one retry.
        let response = assembler.finish().map_err(|e| (e, true))?;
        Ok((response, trace))
    }
}

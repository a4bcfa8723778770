//! One model call: ConverseStream by default, Converse when streaming is off or the model
//! cannot stream with tools (learned once per dialect, then remembered).

use std::sync::atomic::Ordering;

use futures::StreamExt;

use super::debug::RawBodyLogger;
use super::request::{CallParts, build};
use super::stream::{
    ConverseStreamDecoder, mid_stream_error, rejects_streaming_with_tools, warn_if_blocked,
};
use super::*;

/// Converse and ConverseStream builders share every setter but no trait; one macro builds
/// and sends both from the same [`CallParts`], so the two operations cannot drift apart.
macro_rules! send_call {
    ($self:ident, $builder:expr, $request:expr, $guardrail:ident) => {{
        let parts: CallParts = build(&$self.model_id, $request, &$self.features)?;
        let mut call = $builder
            .model_id(&$self.model_id)
            .set_messages(Some(parts.messages))
            .set_system(parts.system)
            .inference_config(parts.inference)
            .set_tool_config(parts.tool_config)
            .set_additional_model_request_fields(parts.additional);
        if let Some((id, version, trace)) = $self.guardrail() {
            call = call.guardrail_config(
                bt::$guardrail::builder()
                    .guardrail_identifier(id)
                    .guardrail_version(version)
                    .trace(trace)
                    .build(),
            );
        }
        if $self.features.raw_debug {
            call.customize()
                .interceptor(RawBodyLogger::new(&$self.model_id))
                .send()
                .await
        } else {
            call.send().await
        }
    }};
}

impl BedrockDialect {
    /// Whether this request may use ConverseStream: not with tools on a model that cannot
    /// stream tool use (from the table, or learned from a rejection).
    pub(super) fn can_stream_with(&self, request: &Request) -> bool {
        request.tools.is_empty()
            || (self.features.capabilities.streaming_with_tools
                && !self.stream_tools_rejected.load(Ordering::Relaxed))
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

    fn guardrail_label(&self) -> Option<String> {
        self.features
            .guardrail
            .as_ref()
            .map(|g| format!("{}:{}", g.id, g.version))
    }

    pub(super) async fn converse(&self, request: &Request) -> Result<Response, LlmError> {
        let output = send_call!(
            self,
            self.client.converse(),
            request,
            GuardrailConfiguration
        )
        .map_err(|e| self.map_error(e))?;
        let trace = output.trace().map(|t| format!("{t:?}"));
        let response = translate::from_bedrock_output(output)?;
        warn_if_blocked(
            &self.model_id,
            response.stop_reason,
            self.guardrail_label().as_deref(),
            trace.as_deref(),
        );
        Ok(response)
    }

    pub(super) async fn converse_stream<'a>(
        &'a self,
        request: &'a Request,
    ) -> Result<Opened<'a>, LlmError> {
        let sent = send_call!(
            self,
            self.client.converse_stream(),
            request,
            GuardrailStreamConfiguration
        );
        let output = match sent.map_err(|e| self.map_error(e)) {
            Ok(output) => output,
            Err(e) if !request.tools.is_empty() && rejects_streaming_with_tools(&e) => {
                tracing::info!(
                    model = %self.model_id,
                    "model rejected streaming with tools ({e}); using Converse for it from now on"
                );
                self.stream_tools_rejected.store(true, Ordering::Relaxed);
                return Ok(Opened::Complete(self.converse(request).await?));
            }
            Err(e) => return Err(e),
        };
        let decoder = ConverseStreamDecoder::new(&self.model_id, self.guardrail_label());
        let events = futures::stream::unfold(
            (output.stream, decoder, false),
            |(mut receiver, mut decoder, failed)| async move {
                if failed {
                    return None;
                }
                match receiver.recv().await {
                    Ok(Some(event)) => {
                        let events = decoder.decode(event);
                        Some((Ok(events), (receiver, decoder, false)))
                    }
                    Ok(None) => None,
                    Err(e) => Some((Err(mid_stream_error(e)), (receiver, decoder, true))),
                }
            },
        );
        Ok(Opened::Stream(events.boxed()))
    }
}

//! What an agent turn reports while it runs. One typed channel carries loop steps, streamed
//! answer text and notices, so the server can word each for its client and nothing has to
//! guess what a string was.

/// One thing that happened during a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// The loop is about to call the model.
    ModelCall {
        iteration: u32,
        max_iterations: u32,
        tools_offered: usize,
    },
    /// The model asked for this tool.
    ToolCall { name: String },
    /// Answer text as it is generated.
    TextDelta(String),
    /// Something the caller should know mid-answer, e.g. a broken stream being retried.
    Notice(String),
}

/// Receives a turn's events as they happen.
pub type EventSink = tokio::sync::mpsc::UnboundedSender<AgentEvent>;

/// Sends to an optional sink; a caller that went away is not an error.
pub fn emit(sink: Option<&EventSink>, event: AgentEvent) {
    if let Some(sink) = sink {
        let _ = sink.send(event);
    }
}

//! The neutral vocabulary every provider's stream decoder speaks. A decoder only says what
//! happened on the wire; [`super::assembler::TurnAssembler`] alone decides how that becomes
//! an assistant turn, so tool-argument parsing and block ordering cannot drift per provider.

use super::conversation::StopReason;

#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Generated answer text for the block at `index`.
    Text { index: usize, text: String },
    /// Model reasoning for the block at `index`.
    Reasoning { index: usize, delta: ReasoningDelta },
    /// A tool call begins. Repeated starts for one index merge (OpenAI may split the name).
    ToolStart {
        index: usize,
        id: String,
        name: String,
    },
    /// A fragment of the tool call's JSON arguments.
    ToolInput { index: usize, json: String },
    /// The block at `index` is complete.
    BlockStop { index: usize },
    /// Token counts; `None` leaves a count as it was (providers report them in pieces).
    Usage(UsageReport),
    /// Why the model stopped.
    Stop(StopReason),
    /// The provider's end-of-message marker: without it the answer was cut off.
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReasoningDelta {
    Text(String),
    Signature(String),
    /// Encrypted reasoning returned in place of text.
    Redacted(Vec<u8>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageReport {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
}

//! The one conversation shape every provider translates to and from. Keeping it neutral is
//! what lets the agent loop, history prompts and health stay provider-agnostic.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn user_text(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// All text blocks joined, which is what a caller sees of an assistant turn.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUse> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(u) => Some(u),
            _ => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// Adjacently tagged: an internal tag cannot hold the plain-string `Text` variant.
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum ContentBlock {
    Text(String),
    Image(Image),
    Document(Document),
    ToolUse(ToolUse),
    ToolResult(ToolResult),
    /// Model reasoning, kept (with its signature) so multi-turn tool use with thinking replays
    /// exactly what the provider produced.
    Reasoning(Reasoning),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// Raw bytes, base64 in serialized form.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

/// A file the model reads (PDF, spreadsheet, text…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub format: DocumentFormat,
    /// Shown to the model; restricted to letters, digits, spaces, `-()[]`.
    pub name: String,
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

/// The kinds of document Pallas passes to models; each provider decides how it sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

impl DocumentFormat {
    /// Every format with its MIME type.
    pub const ALL: [(DocumentFormat, &'static str); 9] = [
        (DocumentFormat::Pdf, "application/pdf"),
        (DocumentFormat::Csv, "text/csv"),
        (DocumentFormat::Doc, "application/msword"),
        (
            DocumentFormat::Docx,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (DocumentFormat::Xls, "application/vnd.ms-excel"),
        (
            DocumentFormat::Xlsx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (DocumentFormat::Html, "text/html"),
        (DocumentFormat::Txt, "text/plain"),
        (DocumentFormat::Md, "text/markdown"),
    ];

    /// The short name (`pdf`, `docx`, …), also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentFormat::Pdf => "pdf",
            DocumentFormat::Csv => "csv",
            DocumentFormat::Doc => "doc",
            DocumentFormat::Docx => "docx",
            DocumentFormat::Xls => "xls",
            DocumentFormat::Xlsx => "xlsx",
            DocumentFormat::Html => "html",
            DocumentFormat::Txt => "txt",
            DocumentFormat::Md => "md",
        }
    }

    pub fn from_name(name: &str) -> Option<DocumentFormat> {
        Self::ALL
            .iter()
            .map(|(f, _)| *f)
            .find(|f| f.as_str().eq_ignore_ascii_case(name))
    }

    pub fn from_mime(mime_type: &str) -> Option<DocumentFormat> {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == mime_type)
            .map(|(f, _)| *f)
    }

    /// Plain text a model can read inline when a provider has no document block.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            DocumentFormat::Txt | DocumentFormat::Md | DocumentFormat::Csv | DocumentFormat::Html
        )
    }
}

impl std::fmt::Display for DocumentFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    pub id: String,
    /// The name the model used (already sanitised for the provider).
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContent>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// Adjacently tagged: an internal tag cannot hold the plain-string `Text` variant.
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum ToolResultContent {
    Text(String),
    Json(Value),
    Image(Image),
    Document(Document),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    pub text: String,
    pub signature: Option<String>,
    /// Encrypted reasoning the provider returned in place of text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_base64_bytes"
    )]
    pub redacted: Option<Vec<u8>>,
}

/// A tool the model may call, with a schema the provider accepts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    /// A policy the operator configured (e.g. a Bedrock guardrail) stopped the answer.
    GuardrailIntervened,
    /// The provider's own safety filtering stopped the answer (a refusal).
    ContentFiltered,
    ContextWindowExceeded,
    Other,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
    }
}

/// One model call's input.
#[derive(Debug, Clone)]
pub struct Request {
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
    pub options: GenerationOptions,
}

/// Per-agent sampling and tool-use settings; `None` leaves the provider's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationOptions {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop_sequences: Vec<String>,
    pub tool_choice: ToolChoice,
    /// Model-native request fields passed through: Bedrock's `additionalModelRequestFields`,
    /// top-level body fields on the HTTP APIs.
    pub additional_model_request_fields: Option<Value>,
    /// `Some(false)` turns streaming off; `None` streams where the model supports it.
    pub streaming: Option<bool>,
}

pub use crate::model::ToolChoice;

/// One model call's output.
#[derive(Debug, Clone)]
pub struct Response {
    pub message: Message,
    pub stop_reason: StopReason,
    pub usage: Usage,
}

mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::base64::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::base64::decode(&s).map_err(serde::de::Error::custom)
    }
}

mod opt_base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&super::base64::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::base64::decode(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Standard base64 for MCP image payloads and history dumps; small enough not to need a crate.
pub mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(s: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(s.len() / 4 * 3);
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' | b'-' => 62,
                b'/' | b'_' => 63,
                _ => return Err(format!("invalid base64 character '{}'", c as char)),
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trips() {
            for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
                let e = super::encode(s.as_bytes());
                assert_eq!(super::decode(&e).unwrap(), s.as_bytes());
            }
            assert_eq!(super::encode(b"foobar"), "Zm9vYmFy");
            assert_eq!(super::encode(b"fo"), "Zm8=");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_json() {
        let message = Message {
            role: Role::User,
            content: vec![
                ContentBlock::Text("hi".into()),
                ContentBlock::Image(Image {
                    mime_type: "image/png".into(),
                    data: vec![1, 2, 3],
                }),
                ContentBlock::ToolResult(ToolResult {
                    tool_use_id: "t1".into(),
                    content: vec![ToolResultContent::Text("ok".into())],
                    is_error: false,
                }),
            ],
        };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), message);
    }
}

//! `history: {strategy: summarize}`: the turns left out of the context window are condensed
//! by the agent's own model (same provider and runtime, no tools) into one summary, which
//! the conversation keeps so it is computed once, not on every call. Turns too long for one
//! summarizing call are folded in chunks: each call extends the summary so far.

use super::window::{CHARS_PER_TOKEN, chars_to_tokens, input_budget};
use crate::llm::conversation::{
    ContentBlock, GenerationOptions, Message, Request, Role, ToolResultContent, Usage,
};
use crate::llm::{LlmError, LlmProvider};

const SYSTEM: &str = "You condense conversations between a user and an AI assistant. \
Write a faithful, compact summary that lets the assistant continue the conversation: the \
user's goals and requests, facts and names mentioned, decisions made, results of tool calls \
that still matter, and open questions. Write plain prose or short bullet points, in the \
language of the conversation. Do not add anything that was not said, do not address the \
user, and reply with the summary only.";

/// What one summarizing pass may use.
#[derive(Clone, Copy)]
pub struct Limits {
    pub context_window: u32,
    /// The agent's own output budget, so provider-side settings (reasoning budgets) that
    /// work for its calls also work here.
    pub max_tokens: u32,
    /// How long the summary should be.
    pub target_tokens: u64,
}

/// The summary's length target for an input budget: an eighth of it, within [64, 2048].
pub fn target_tokens(budget: u64) -> u64 {
    (budget / 8).clamp(64, 2048)
}

/// Condenses `turns` (following `previous`, the summary of what came before them) into one
/// summary. `on_call` gets each call's usage, also of calls made before a failure.
pub async fn condense(
    llm: &dyn LlmProvider,
    limits: Limits,
    previous: Option<&str>,
    turns: &[Message],
    on_call: &mut (dyn FnMut(Usage) + Send),
) -> Result<String, LlmError> {
    let budget = input_budget(limits.context_window, limits.max_tokens);
    let room = budget
        .saturating_sub(chars_to_tokens(SYSTEM.len() as u64 + 400))
        .saturating_sub(limits.target_tokens * 2);
    let chunk_chars = (room * CHARS_PER_TOKEN).max(400) as usize;
    let mut summary = previous.map(str::to_string);
    for chunk in chunks(&transcript(turns, chunk_chars / 2), chunk_chars) {
        let request = Request {
            system: SYSTEM.to_string(),
            messages: vec![Message::user_text(prompt(
                summary.as_deref(),
                &chunk,
                limits.target_tokens,
            ))],
            tools: Vec::new(),
            max_tokens: limits.max_tokens,
            options: GenerationOptions::default(),
        };
        let response = llm.complete(&request, None).await?;
        on_call(response.usage);
        let text = response.message.text().trim().to_string();
        if text.is_empty() {
            return Err(LlmError::new(
                crate::llm::ErrorKind::Protocol,
                "the model returned an empty summary",
            ));
        }
        summary = Some(text);
    }
    Ok(summary.unwrap_or_default())
}

fn prompt(previous: Option<&str>, chunk: &str, target_tokens: u64) -> String {
    let words = target_tokens * 3 / 4;
    match previous {
        Some(previous) => format!(
            "The summary of the conversation so far:\n<summary>\n{previous}\n</summary>\n\n\
             How the conversation continued:\n<conversation>\n{chunk}\n</conversation>\n\n\
             Write one updated summary of the whole conversation in at most {words} words."
        ),
        None => format!(
            "<conversation>\n{chunk}\n</conversation>\n\n\
             Summarize this conversation in at most {words} words."
        ),
    }
}

/// The turns as plain lines a model can read, one per block, each cut at `max_chars`
/// (a long tool result matters less than the fact that it was returned).
pub fn transcript(turns: &[Message], max_chars: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for message in turns {
        let speaker = match message.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
        };
        for block in &message.content {
            let line = match block {
                ContentBlock::Text(t) => format!("{speaker}: {t}"),
                ContentBlock::Image(i) => format!("{speaker} sent an image ({})", i.mime_type),
                ContentBlock::Document(d) => format!("{speaker} sent a document '{}'", d.name),
                ContentBlock::ToolUse(u) => {
                    format!("Assistant called tool {} with {}", u.name, u.input)
                }
                ContentBlock::ToolResult(r) => {
                    let kind = if r.is_error { "error" } else { "result" };
                    let body: Vec<String> = r
                        .content
                        .iter()
                        .map(|c| match c {
                            ToolResultContent::Text(t) => t.clone(),
                            ToolResultContent::Json(v) => v.to_string(),
                            ToolResultContent::Image(_) => "[an image]".to_string(),
                            ToolResultContent::Document(d) => format!("[document '{}']", d.name),
                        })
                        .collect();
                    format!("Tool {kind}: {}", body.join("\n"))
                }
                // The model's private reasoning is not part of what was said.
                ContentBlock::Reasoning(_) => continue,
            };
            lines.push(cut(line, max_chars));
        }
    }
    lines
}

fn cut(mut line: String, max_chars: usize) -> String {
    if line.len() > max_chars {
        let mut end = max_chars;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str(" […]");
    }
    line
}

/// Lines grouped into chunks of at most `max_chars` (a longer line is a chunk of its own).
pub fn chunks(lines: &[String], max_chars: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in lines {
        if !current.is_empty() && current.len() + line.len() + 1 > max_chars {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{ToolResult, ToolUse};

    #[test]
    fn the_transcript_shows_who_said_what_and_cuts_long_results() {
        let turns = vec![
            Message::user_text("add a note"),
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse(ToolUse {
                    id: "t1".into(),
                    name: "notes__add".into(),
                    input: serde_json::json!({"text": "milk"}),
                })],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult(ToolResult {
                    tool_use_id: "t1".into(),
                    content: vec![ToolResultContent::Text("z".repeat(500))],
                    is_error: false,
                })],
            },
        ];
        let lines = transcript(&turns, 100);
        assert_eq!(lines[0], "User: add a note");
        assert_eq!(
            lines[1],
            "Assistant called tool notes__add with {\"text\":\"milk\"}"
        );
        assert!(lines[2].starts_with("Tool result: zzz") && lines[2].ends_with("[…]"));
        assert!(lines[2].len() < 110);
    }

    #[test]
    fn chunks_stay_under_their_size() {
        let lines: Vec<String> = (0..10)
            .map(|i| format!("line {i} {}", "x".repeat(40)))
            .collect();
        let chunks = chunks(&lines, 120);
        assert!(chunks.len() >= 4);
        assert!(chunks.iter().all(|c| c.len() <= 120));
        assert_eq!(chunks.join("\n"), lines.join("\n"));
    }
}

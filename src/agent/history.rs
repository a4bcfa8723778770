//! Keeps a history acceptable to strict providers before each call: every tool use answered
//! by exactly one tool result in the next user turn. Bedrock rejects the whole conversation
//! otherwise, which is the most common way tool-using agents break for good.

use std::collections::HashSet;

use super::window::Calibration;
use crate::llm::conversation::{ContentBlock, Message, Role, ToolResult, ToolResultContent};
use crate::store::Summary;

/// One conversation as the agent loop keeps it: every message (the model may be sent only
/// the newest of them, see `window.rs`) and, with `history: {strategy: summarize}`, the
/// summary standing for the oldest ones. `messages` and `summary` are what a store persists
/// ([`crate::store::StoredConversation`] has both).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub messages: Vec<Message>,
    pub summary: Option<Summary>,
    /// How the provider's token counts compared with the estimate on the last call; not
    /// stored (after a restart the character estimate alone is used until the next call).
    pub calibration: Option<Calibration>,
}

impl History {
    /// A stored conversation's history.
    pub fn new(messages: Vec<Message>, summary: Option<Summary>) -> History {
        History {
            messages,
            summary,
            calibration: None,
        }
    }
}

pub fn repair(history: &mut Vec<Message>) {
    drop_blank_blocks(history);
    let mut i = 0;
    while i < history.len() {
        if history[i].role != Role::Assistant {
            i += 1;
            continue;
        }
        let ids: Vec<String> = history[i].tool_uses().map(|u| u.id.clone()).collect();
        if ids.is_empty() {
            i += 1;
            continue;
        }
        let next_is_user = history.get(i + 1).is_some_and(|m| m.role == Role::User);
        if !next_is_user {
            history.insert(
                i + 1,
                Message {
                    role: Role::User,
                    content: vec![],
                },
            );
        }
        let answers = &mut history[i + 1].content;
        let wanted: HashSet<&String> = ids.iter().collect();
        let mut seen = HashSet::new();
        // Drop results for unknown ids and duplicates.
        answers.retain(|b| match b {
            ContentBlock::ToolResult(r) => {
                wanted.contains(&r.tool_use_id) && seen.insert(r.tool_use_id.clone())
            }
            _ => true,
        });
        for id in ids.iter().filter(|id| !seen.contains(*id)) {
            answers.insert(
                0,
                ContentBlock::ToolResult(ToolResult {
                    tool_use_id: id.clone(),
                    content: vec![ToolResultContent::Text(
                        "This tool call was interrupted and produced no result.".into(),
                    )],
                    is_error: true,
                }),
            );
        }
        i += 2;
    }
}

/// Bedrock rejects blank text blocks and empty messages (a model can end a turn with
/// nothing but whitespace). Blank blocks go; a message left empty gets a placeholder so
/// the roles still alternate.
fn drop_blank_blocks(history: &mut [Message]) {
    for m in history.iter_mut() {
        let before = m.content.len();
        m.content
            .retain(|b| !matches!(b, ContentBlock::Text(t) if t.trim().is_empty()));
        if m.content.is_empty() && before > 0 {
            m.content.push(ContentBlock::Text("(no text)".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::ToolUse;

    fn use_block(id: &str) -> ContentBlock {
        ContentBlock::ToolUse(ToolUse {
            id: id.into(),
            name: "s__t".into(),
            input: serde_json::json!({}),
        })
    }

    fn result_ids(m: &Message) -> Vec<String> {
        m.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolResult(r) => Some(r.tool_use_id.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn orphan_tool_uses_get_error_results_and_strays_are_dropped() {
        let mut h = vec![
            Message::user_text("hi"),
            Message {
                role: Role::Assistant,
                content: vec![use_block("a"), use_block("b")],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult(ToolResult {
                    tool_use_id: "zzz".into(),
                    content: vec![ToolResultContent::Text("stray".into())],
                    is_error: false,
                })],
            },
            Message {
                role: Role::Assistant,
                content: vec![use_block("c")],
            },
        ];
        repair(&mut h);
        let mut ids = result_ids(&h[2]);
        ids.sort();
        assert_eq!(ids, vec!["a", "b"]);
        assert_eq!(h.len(), 5, "a user turn answers the trailing tool use");
        assert_eq!(result_ids(&h[4]), vec!["c"]);
    }

    #[test]
    fn blank_text_blocks_are_dropped_and_empty_turns_get_a_placeholder() {
        let mut h = vec![
            Message::user_text("hi"),
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::Text("  \n".into())],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::Text("".into()),
                    ContentBlock::Text("x".into()),
                ],
            },
        ];
        repair(&mut h);
        assert_eq!(h[1].content, vec![ContentBlock::Text("(no text)".into())]);
        assert_eq!(h[2].content, vec![ContentBlock::Text("x".into())]);
    }
}

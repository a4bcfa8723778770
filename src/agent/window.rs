//! Which part of a conversation is sent to the model, so that every call fits its context
//! window: the input may use `context_window - max_tokens - margin` tokens, and when the
//! history is longer the oldest *whole turns* are left out first. A turn starts at a user
//! message that is not only tool results, so a tool use and its result are never split, and
//! the current turn is always sent whole. With the `summarize` strategy the left-out turns are
//! replaced by one summary block (computed in `summary.rs`, reused until more turns must go).
//!
//! Sizes are estimated, not counted: the provider reports the tokens of each call, which
//! gives a tokens-per-estimate ratio for content it has seen; content it has not seen yet is
//! estimated from its characters ([`CHARS_PER_TOKEN`], deliberately pessimistic). Everything
//! here is a pure function of the history, so it is unit-tested without a model.

use crate::config::HistoryStrategy;
use crate::llm::conversation::{ContentBlock, Message, Role, ToolResultContent, ToolSpec, Usage};
use crate::store::Summary;

/// Characters per token for content no provider has counted yet. Real tokenizers average
/// 3.5–4.5 on English text; 3 errs towards leaving out a turn too many, not too few.
pub const CHARS_PER_TOKEN: u64 = 3;
/// What an image costs at most on Claude (about 1.15 megapixels).
const IMAGE_TOKENS: u64 = 1_600;
/// Framing around each message and block (role markers, ids, JSON punctuation).
const MESSAGE_OVERHEAD_CHARS: u64 = 16;
const TOOL_BLOCK_OVERHEAD_CHARS: u64 = 48;
/// The first text of the first message sent when earlier turns are summarized.
pub const SUMMARY_HEADER: &str =
    "[Summary of the earlier part of this conversation, which is no longer shown in full]";
const SUMMARY_FOOTER: &str = "[End of summary]";

/// Tokens the input may use: the window minus the output budget and a 5% safety margin.
pub fn input_budget(context_window: u32, max_tokens: u32) -> u64 {
    let window = u64::from(context_window);
    window
        .saturating_sub(u64::from(max_tokens))
        .saturating_sub(window / 20)
}

/// How the provider's token counts compared with the character estimate on the last call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Reported tokens per estimated token, within [0.25, 4].
    pub ratio: f64,
    /// Messages `[..known]` are of the kind the ratio was measured on (they were sent, or the
    /// response, or before them); later ones are estimated with at least ratio 1.
    pub known: usize,
}

impl Calibration {
    /// From one call: what it reported (`usage`, input and output) against what was estimated
    /// for its input plus its response (`estimated`); `known` = history length after the
    /// response was appended. None when the provider reported nothing.
    pub fn measure(usage: &Usage, estimated: u64, known: usize) -> Option<Calibration> {
        let reported = usage.input_tokens
            + usage.cache_read_tokens
            + usage.cache_write_tokens
            + usage.output_tokens;
        (reported > 0 && estimated > 0).then(|| Calibration {
            ratio: (reported as f64 / estimated as f64).clamp(0.25, 4.0),
            known,
        })
    }
}

/// Estimated tokens for `chars` characters.
pub fn chars_to_tokens(chars: u64) -> u64 {
    chars.div_ceil(CHARS_PER_TOKEN)
}

/// The uncalibrated estimate of one message.
pub fn message_tokens(message: &Message) -> u64 {
    message.content.iter().map(block_tokens).sum::<u64>() + chars_to_tokens(MESSAGE_OVERHEAD_CHARS)
}

fn block_tokens(block: &ContentBlock) -> u64 {
    match block {
        ContentBlock::Text(t) => chars_to_tokens(t.len() as u64),
        ContentBlock::Image(_) => IMAGE_TOKENS,
        ContentBlock::Document(d) => document_tokens(d),
        ContentBlock::ToolUse(u) => chars_to_tokens(
            (u.name.len() + u.input.to_string().len()) as u64 + TOOL_BLOCK_OVERHEAD_CHARS,
        ),
        ContentBlock::ToolResult(r) => {
            chars_to_tokens(TOOL_BLOCK_OVERHEAD_CHARS)
                + r.content
                    .iter()
                    .map(|c| match c {
                        ToolResultContent::Text(t) => chars_to_tokens(t.len() as u64),
                        ToolResultContent::Json(v) => chars_to_tokens(v.to_string().len() as u64),
                        ToolResultContent::Image(_) => IMAGE_TOKENS,
                        ToolResultContent::Document(d) => document_tokens(d),
                    })
                    .sum::<u64>()
        }
        ContentBlock::Reasoning(r) => {
            chars_to_tokens((r.text.len() + r.redacted.as_ref().map_or(0, Vec::len)) as u64)
        }
    }
}

/// Text documents cost their characters; binary ones (PDF, Office) are read as text plus
/// page images, for which the byte size is only a rough, generous guide.
fn document_tokens(d: &crate::llm::conversation::Document) -> u64 {
    let bytes = d.data.len() as u64;
    if d.format.is_text() {
        chars_to_tokens(bytes)
    } else {
        (bytes / 4).max(IMAGE_TOKENS)
    }
}

/// The uncalibrated estimate of what every call repeats: the system prompt and tool specs.
pub fn fixed_tokens(system: &str, tools: &[ToolSpec]) -> u64 {
    chars_to_tokens(system.len() as u64)
        + tools
            .iter()
            .map(|t| {
                chars_to_tokens(
                    (t.name.len() + t.description.len() + t.input_schema.to_string().len()) as u64
                        + TOOL_BLOCK_OVERHEAD_CHARS,
                )
            })
            .sum::<u64>()
}

/// The estimate of a summary block.
pub fn summary_tokens(text: &str) -> u64 {
    chars_to_tokens((text.len() + SUMMARY_HEADER.len() + SUMMARY_FOOTER.len() + 2) as u64)
}

/// Indices where a turn starts: user messages that are not only tool results. Cutting the
/// history there never separates a tool use from its result.
pub fn turn_starts(messages: &[Message]) -> Vec<usize> {
    messages
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.role == Role::User
                && !m.content.is_empty()
                && !m
                    .content
                    .iter()
                    .all(|b| matches!(b, ContentBlock::ToolResult(_)))
        })
        .map(|(i, _)| i)
        .collect()
}

/// What one call needs to decide, all in estimated tokens.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// System prompt and tools, already calibrated.
    pub fixed: u64,
    /// Per message, already calibrated.
    pub messages: Vec<u64>,
}

impl Sizes {
    /// Estimates for `messages` (and the fixed part) with `calibration` applied: content of
    /// the kind the provider has counted is scaled by its ratio; newer content by at least 1,
    /// so a pessimistic character estimate is never talked down before it is measured.
    pub fn estimate(
        fixed_raw: u64,
        messages: &[Message],
        calibration: Option<Calibration>,
    ) -> Sizes {
        let (ratio, known) = calibration.map_or((1.0, 0), |c| (c.ratio, c.known));
        let scale = |raw: u64, ratio: f64| (raw as f64 * ratio).ceil() as u64;
        Sizes {
            fixed: scale(fixed_raw, ratio),
            messages: messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let r = if i < known { ratio } else { ratio.max(1.0) };
                    scale(message_tokens(m), r)
                })
                .collect(),
        }
    }

    /// The estimate of a call sending `messages[start..]` (without a summary).
    fn sent_from(&self, start: usize) -> u64 {
        self.fixed + self.messages[start..].iter().sum::<u64>()
    }
}

/// What to send on this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Send `messages[start..]`, the stored summary first when `with_summary`.
    Send {
        start: usize,
        with_summary: bool,
        /// False when even the current turn alone is over the budget (it is sent anyway).
        fits: bool,
    },
    /// Condense `messages[from..to]` (after the stored summary, when `from > 0`) into a new
    /// summary covering `messages[..to]`, then send it and `messages[to..]`.
    Summarize { from: usize, to: usize },
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub sizes: &'a Sizes,
    pub turn_starts: &'a [usize],
    pub budget: u64,
    pub strategy: HistoryStrategy,
    /// The stored summary, if any.
    pub summary: Option<&'a Summary>,
    /// Estimated tokens of the stored summary's block.
    pub summary_tokens: u64,
    /// Room kept for a summary about to be written.
    pub summary_reserve: u64,
}

/// Decides what the next call sends. The current turn (from the last turn start) is never
/// left out. `truncate` leaves out as few old turns as fit; `summarize` reuses the stored
/// summary while the rest fits after it, and when it no longer does, summarizes enough turns
/// to get down to three quarters of the budget, so the new summary lasts several calls.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let sizes = input.sizes;
    let current = input.turn_starts.last().copied().unwrap_or(0);
    // Every turn start up to the current one, plus 0 (the whole history).
    let mut starts: Vec<usize> = std::iter::once(0)
        .chain(input.turn_starts.iter().copied())
        .filter(|s| *s <= current)
        .collect();
    starts.dedup();
    if sizes.messages.is_empty() || sizes.sent_from(0) <= input.budget {
        return Plan::Send {
            start: 0,
            with_summary: false,
            fits: sizes.sent_from(0) <= input.budget,
        };
    }
    let first_fitting = |extra: u64, budget: u64, after: usize| {
        starts
            .iter()
            .copied()
            .filter(|s| *s > after)
            .find(|s| sizes.sent_from(*s) + extra <= budget)
    };
    match input.strategy {
        HistoryStrategy::Truncate => match first_fitting(0, input.budget, 0) {
            Some(start) => Plan::Send {
                start,
                with_summary: false,
                fits: true,
            },
            None => Plan::Send {
                start: current,
                with_summary: false,
                fits: false,
            },
        },
        HistoryStrategy::Summarize => {
            // A stored summary is usable when it ends where a turn starts, before the current one.
            let covers = input
                .summary
                .map(|s| s.covers)
                .filter(|c| *c > 0 && *c <= current && starts.contains(c));
            if let Some(c) = covers
                && sizes.sent_from(c) + input.summary_tokens <= input.budget
            {
                return Plan::Send {
                    start: c,
                    with_summary: true,
                    fits: true,
                };
            }
            let from = covers.unwrap_or(0);
            let target = input.budget * 3 / 4;
            let to = first_fitting(input.summary_reserve, target, from)
                .or_else(|| first_fitting(input.summary_reserve, input.budget, from))
                .unwrap_or(current);
            if to > from {
                Plan::Summarize { from, to }
            } else {
                // Only the current turn is left after the summary, and it is too large.
                Plan::Send {
                    start: from,
                    with_summary: covers.is_some(),
                    fits: false,
                }
            }
        }
    }
}

/// How many turns start before `start`: those left out of the call.
pub fn turns_before(turn_starts: &[usize], start: usize) -> usize {
    turn_starts.iter().filter(|s| **s < start).count()
}

/// The messages sent: `messages[start..]`, with `summary` as the first block of the first
/// (user) message, so roles still alternate.
pub fn assemble(messages: &[Message], start: usize, summary: Option<&str>) -> Vec<Message> {
    let mut sent = messages[start.min(messages.len())..].to_vec();
    if let Some(text) = summary {
        let block = ContentBlock::Text(format!("{SUMMARY_HEADER}\n{text}\n{SUMMARY_FOOTER}"));
        match sent.first_mut() {
            Some(first) if first.role == Role::User => first.content.insert(0, block),
            _ => sent.insert(
                0,
                Message {
                    role: Role::User,
                    content: vec![block],
                },
            ),
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::conversation::{ToolResult, ToolUse};

    fn text(role: Role, t: &str) -> Message {
        Message {
            role,
            content: vec![ContentBlock::Text(t.into())],
        }
    }

    fn tool_use(id: &str) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse(ToolUse {
                id: id.into(),
                name: "notes__add".into(),
                input: serde_json::json!({}),
            })],
        }
    }

    fn tool_result(id: &str) -> Message {
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult(ToolResult {
                tool_use_id: id.into(),
                content: vec![ToolResultContent::Text("done".into())],
                is_error: false,
            })],
        }
    }

    /// Ten turns: a question, a tool call and its result, an answer; then a current question.
    fn long_history() -> Vec<Message> {
        let mut h = Vec::new();
        for i in 0..10 {
            h.push(text(
                Role::User,
                &format!("question {i} {}", "x".repeat(300)),
            ));
            h.push(tool_use(&format!("t{i}")));
            h.push(tool_result(&format!("t{i}")));
            h.push(text(
                Role::Assistant,
                &format!("answer {i} {}", "y".repeat(300)),
            ));
        }
        h.push(text(Role::User, "the current question"));
        h
    }

    fn input<'a>(
        sizes: &'a Sizes,
        starts: &'a [usize],
        budget: u64,
        strategy: HistoryStrategy,
        summary: Option<&'a Summary>,
    ) -> PlanInput<'a> {
        PlanInput {
            sizes,
            turn_starts: starts,
            budget,
            strategy,
            summary,
            summary_tokens: summary.map_or(0, |s| summary_tokens(&s.text)),
            summary_reserve: 100,
        }
    }

    fn sent_tokens(sizes: &Sizes, start: usize) -> u64 {
        sizes.sent_from(start)
    }

    #[test]
    fn a_history_that_fits_is_sent_whole() {
        let h = long_history();
        let sizes = Sizes::estimate(50, &h, None);
        let starts = turn_starts(&h);
        let p = plan(&input(
            &sizes,
            &starts,
            100_000,
            HistoryStrategy::Truncate,
            None,
        ));
        assert_eq!(
            p,
            Plan::Send {
                start: 0,
                with_summary: false,
                fits: true
            }
        );
    }

    #[test]
    fn truncation_fits_leaves_out_the_oldest_whole_turns_and_keeps_the_current_one() {
        let h = long_history();
        let sizes = Sizes::estimate(50, &h, None);
        let starts = turn_starts(&h);
        assert_eq!(starts, vec![0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
        for budget in [300, 500, 900, 1500] {
            let Plan::Send { start, fits, .. } = plan(&input(
                &sizes,
                &starts,
                budget,
                HistoryStrategy::Truncate,
                None,
            )) else {
                panic!("truncate never summarizes")
            };
            assert!(fits);
            assert!(sent_tokens(&sizes, start) <= budget, "budget {budget}");
            assert!(starts.contains(&start), "cut at a turn start");
            assert_eq!(h[start].role, Role::User);
            // As few turns as possible are left out: one more would not fit.
            let earlier = starts.iter().rev().find(|s| **s < start).unwrap();
            assert!(sent_tokens(&sizes, *earlier) > budget);
            // Never splits a tool use from its result.
            let sent = assemble(&h, start, None);
            let uses: Vec<_> = sent.iter().flat_map(|m| m.tool_uses()).collect();
            let results = sent
                .iter()
                .flat_map(|m| &m.content)
                .filter(|b| matches!(b, ContentBlock::ToolResult(_)))
                .count();
            assert_eq!(uses.len(), results);
            assert_eq!(sent.last().unwrap().text(), "the current question");
        }
    }

    #[test]
    fn the_current_turn_is_sent_even_when_it_alone_is_too_large() {
        let mut h = long_history();
        // The current turn has called tools: the cut may not fall inside it.
        h.push(tool_use("now"));
        h.push(tool_result("now"));
        let sizes = Sizes::estimate(50, &h, None);
        let starts = turn_starts(&h);
        assert_eq!(*starts.last().unwrap(), 40, "tool results start no turn");
        let p = plan(&input(&sizes, &starts, 10, HistoryStrategy::Truncate, None));
        assert_eq!(
            p,
            Plan::Send {
                start: 40,
                with_summary: false,
                fits: false
            }
        );
    }

    #[test]
    fn summarize_condenses_down_to_three_quarters_and_reuses_the_summary() {
        let h = long_history();
        let sizes = Sizes::estimate(50, &h, None);
        let starts = turn_starts(&h);
        let budget = 1200;
        let Plan::Summarize { from, to } = plan(&input(
            &sizes,
            &starts,
            budget,
            HistoryStrategy::Summarize,
            None,
        )) else {
            panic!("too long: summarize")
        };
        assert_eq!(from, 0);
        assert!(starts.contains(&to));
        assert!(sent_tokens(&sizes, to) + 100 <= budget * 3 / 4);

        // Stored, the summary is reused on the next call (one more turn added) without
        // computing another.
        let summary = Summary {
            text: "s".repeat(200),
            covers: to,
        };
        let mut longer = h.clone();
        longer.push(text(Role::Assistant, "current answer"));
        longer.push(text(Role::User, "next question"));
        let sizes = Sizes::estimate(50, &longer, None);
        let starts = turn_starts(&longer);
        let p = plan(&input(
            &sizes,
            &starts,
            budget,
            HistoryStrategy::Summarize,
            Some(&summary),
        ));
        assert_eq!(
            p,
            Plan::Send {
                start: to,
                with_summary: true,
                fits: true
            }
        );

        // Once the rest no longer fits behind it, the summary is extended from where it ends.
        let p = plan(&input(
            &sizes,
            &starts,
            sent_tokens(&sizes, to),
            HistoryStrategy::Summarize,
            Some(&summary),
        ));
        let Plan::Summarize { from, to: new_to } = p else {
            panic!("{p:?}")
        };
        assert_eq!(from, to);
        assert!(new_to > to);
    }

    #[test]
    fn a_summary_that_no_longer_matches_the_history_is_ignored() {
        let h = long_history();
        let sizes = Sizes::estimate(50, &h, None);
        let starts = turn_starts(&h);
        let stale = Summary {
            text: "old".into(),
            covers: 2, // inside a turn
        };
        let p = plan(&input(
            &sizes,
            &starts,
            1200,
            HistoryStrategy::Summarize,
            Some(&stale),
        ));
        assert!(matches!(p, Plan::Summarize { from: 0, .. }), "{p:?}");
    }

    #[test]
    fn the_summary_is_the_first_block_of_the_first_user_message() {
        let h = long_history();
        let sent = assemble(&h, 8, Some("they talked about x"));
        assert_eq!(sent.len(), h.len() - 8);
        assert_eq!(sent[0].role, Role::User);
        let ContentBlock::Text(block) = &sent[0].content[0] else {
            panic!()
        };
        assert!(block.starts_with(SUMMARY_HEADER) && block.contains("they talked about x"));
        assert_eq!(sent[0].content[1], h[8].content[0]);
    }

    #[test]
    fn reported_tokens_calibrate_known_content_but_never_shrink_new_content() {
        let h = long_history();
        let raw = Sizes::estimate(50, &h, None);
        let usage = Usage {
            input_tokens: 400,
            output_tokens: 100,
            ..Usage::default()
        };
        // The provider counted half the estimate for everything up to message 20.
        let cal = Calibration::measure(&usage, 1000, 20).unwrap();
        assert_eq!(cal.ratio, 0.5);
        let scaled = Sizes::estimate(50, &h, Some(cal));
        assert!(scaled.messages[0] * 2 <= raw.messages[0] + 1);
        assert_eq!(scaled.messages[30], raw.messages[30]);
        // Counting more than estimated raises the estimate of new content too.
        let cal = Calibration::measure(&usage, 250, 20).unwrap();
        let scaled = Sizes::estimate(50, &h, Some(cal));
        assert!(scaled.messages[30] >= raw.messages[30] * 2);
        assert!(Calibration::measure(&Usage::default(), 100, 5).is_none());
    }

    #[test]
    fn the_budget_leaves_room_for_the_answer_and_a_margin() {
        assert_eq!(input_budget(200_000, 64_000), 126_000);
        assert_eq!(input_budget(4_000, 500), 3_300);
        assert_eq!(input_budget(1_000, 4_000), 0);
    }
}

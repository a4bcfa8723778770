//! The agent's side of the context window: before each model call, [`Agent::window`] plans
//! what is sent (`window.rs`, pure), writes a summary of the left-out turns when the plan asks
//! for one (`summary.rs`), counts it in the usage totals and logs it.

use super::summary;
use super::window::{self, Plan, PlanInput, Sizes};
use super::{Agent, History};
use crate::config::HistoryStrategy;
use crate::llm::LlmError;
use crate::llm::conversation::{Message, ToolSpec};
use crate::store::Summary;

/// What one model call is sent of the history.
pub(super) struct Window {
    pub messages: Vec<Message>,
    /// The uncalibrated estimate of the whole request, to compare with the reported usage.
    pub raw_tokens: u64,
}

impl Agent {
    /// The messages of the next call: the newest whole turns that fit the context window
    /// (see `window.rs`), after a summary of the others with `history: summarize`.
    pub(super) async fn window(
        &self,
        history: &mut History,
        tools: &[ToolSpec],
        max_tokens: u32,
    ) -> Window {
        let budget = window::input_budget(self.capabilities.context_window, max_tokens);
        let fixed_raw = window::fixed_tokens(&self.config.instruction, tools);
        let sizes = Sizes::estimate(fixed_raw, &history.messages, history.calibration);
        let starts = window::turn_starts(&history.messages);
        let strategy = self.config.history.strategy;
        let target = summary::target_tokens(budget);
        let mut input = PlanInput {
            sizes: &sizes,
            turn_starts: &starts,
            budget,
            strategy,
            summary: history.summary.as_ref(),
            summary_tokens: history
                .summary
                .as_ref()
                .map_or(0, |s| window::summary_tokens(&s.text)),
            summary_reserve: target + target / 2,
        };
        let mut plan = window::plan(&input);
        if let Plan::Summarize { from, to } = plan {
            match self.summarize(history, from, to, max_tokens, target).await {
                Ok(summary) => {
                    history.summary = Some(summary);
                    plan = Plan::Send {
                        start: to,
                        with_summary: true,
                        fits: true,
                    };
                }
                Err(error) => {
                    tracing::warn!(agent = %self.config.name, %error, "could not summarize the turns left out of the context window; they are left out without a summary");
                    input.strategy = HistoryStrategy::Truncate;
                    plan = window::plan(&input);
                }
            }
        }
        let Plan::Send {
            start,
            with_summary,
            fits,
        } = plan
        else {
            unreachable!("a summary was computed or truncation chosen")
        };
        let summary = with_summary
            .then(|| history.summary.as_ref().map(|s| s.text.as_str()))
            .flatten();
        let messages = window::assemble(&history.messages, start, summary);
        let raw_tokens = fixed_raw
            + history.messages[start..]
                .iter()
                .map(window::message_tokens)
                .sum::<u64>()
            + summary.map_or(0, window::summary_tokens);
        if start > 0 {
            self.usage.lock().expect("usage lock").history_trimmed += 1;
            tracing::debug!(
                agent = %self.config.name,
                turns_left_out = window::turns_before(&starts, start),
                messages_left_out = start,
                summary = summary.is_some(),
                budget,
                "history left out of the context window"
            );
        }
        if !fits {
            tracing::warn!(
                agent = %self.config.name,
                budget,
                context_window = self.capabilities.context_window,
                "the current turn alone is larger than the context window allows; it is sent whole and the model may reject it"
            );
        }
        Window {
            messages,
            raw_tokens,
        }
    }

    /// A summary of `messages[..to]`: the stored one (covering `messages[..from]`) extended
    /// with `messages[from..to]`.
    async fn summarize(
        &self,
        history: &History,
        from: usize,
        to: usize,
        max_tokens: u32,
        target_tokens: u64,
    ) -> Result<Summary, LlmError> {
        let previous = history
            .summary
            .as_ref()
            .filter(|s| from > 0 && s.covers == from)
            .map(|s| s.text.as_str());
        let limits = summary::Limits {
            context_window: self.capabilities.context_window,
            max_tokens,
            target_tokens,
        };
        let text = summary::condense(
            self.llm.as_ref(),
            limits,
            previous,
            &history.messages[from..to],
            &mut |usage| self.add_usage(usage, 1, 0),
        )
        .await?;
        self.usage.lock().expect("usage lock").history_summarized += 1;
        tracing::debug!(agent = %self.config.name, covers = to, chars = text.len(), "summarized the turns left out of the context window");
        Ok(Summary { text, covers: to })
    }
}

//! The tool-use loop: ask the model, run the tools it asks for (in parallel), feed the
//! results back, until it ends its turn or `max_iterations` is reached.

mod budget;
mod context;
mod history;
pub mod media;
mod summary;
pub mod tools;
pub mod window;

use std::sync::{Arc, Mutex};

use futures::future::join_all;

use crate::config::{AgentConfig, AgentOptions};
use crate::downstream::Downstream;
use crate::llm::conversation::{
    ContentBlock, GenerationOptions, Message, Request, Role, StopReason, ToolChoice, ToolResult,
    Usage,
};
use crate::llm::events::emit;
pub use crate::llm::{AgentEvent, EventSink};
use crate::llm::{LlmError, LlmProvider};
use crate::metrics::{self, ModelCall};
use crate::model::ModelCapabilities;
use crate::model::prices::{Cost, DailySpend, Pricing, TokenCounts};
pub use budget::BudgetStatus;
pub use history::History;
use tools::Toolbox;
use window::Calibration;

/// One agent: its model, its downstream servers and its running usage totals.
pub struct Agent {
    pub config: AgentConfig,
    pub capabilities: ModelCapabilities,
    pub llm: Arc<dyn LlmProvider>,
    pub servers: Vec<Arc<Downstream>>,
    usage: Mutex<UsageTotals>,
    /// Prices for this agent's model (built-in table plus `prices:` overrides).
    pricing: Pricing,
    /// Spend in the current UTC day, checked against `budget.usd_per_day`.
    spend: Mutex<DailySpend>,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct UsageTotals {
    pub model_calls: u64,
    pub tool_calls: u64,
    #[serde(flatten)]
    pub tokens: Usage,
    /// Model calls sent with the oldest turns of the conversation left out (context window).
    pub history_trimmed: u64,
    /// Summaries of left-out turns computed (`history: {strategy: summarize}`).
    pub history_summarized: u64,
    /// USD, or "no price" when the model is not in the price table or `prices:`.
    pub cost_usd: Cost,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the model call failed ({provider} {model}): {source}")]
    Llm {
        provider: String,
        model: String,
        #[source]
        source: LlmError,
    },
    #[error(
        "agent '{agent}' has spent ${spent:.4} of its budget of ${limit} per day (budget.usd_per_day in agents.yaml); calls are refused until {resets_at}, or raise the budget and restart"
    )]
    BudgetExhausted {
        agent: String,
        spent: f64,
        limit: f64,
        resets_at: String,
    },
}

impl AgentError {
    /// The turn outcome label of the metrics: the error kind or `budget_exhausted`.
    pub fn outcome(&self) -> String {
        match self {
            AgentError::Llm { source, .. } => error_kind(source),
            AgentError::BudgetExhausted { .. } => "budget_exhausted".to_string(),
        }
    }
}

fn error_kind(e: &LlmError) -> String {
    serde_json::to_value(e.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "error".to_string())
}

/// The shared conversation for one scope (a session, everyone, or one request). The async
/// mutex queues concurrent calls in arrival order instead of interleaving their turns.
pub type Conversation = Arc<tokio::sync::Mutex<History>>;

/// One completed turn, as the served side stores and reports it.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub answer: String,
    /// The turn's messages in order: the caller's, tool calls and results, the answer.
    pub new_messages: Vec<Message>,
    /// A summary of left-out turns computed during this turn, to store with it.
    pub summary: Option<crate::store::Summary>,
    /// Why the last model call of the turn stopped.
    pub stop_reason: StopReason,
    /// This turn's tokens and model/tool calls (the agent's totals keep growing as well).
    pub usage: UsageTotals,
}

/// What one turn used, collected as it runs.
#[derive(Debug, Default)]
struct TurnStats {
    usage: UsageTotals,
    stop_reason: Option<StopReason>,
}

impl Agent {
    pub fn new(
        config: AgentConfig,
        capabilities: ModelCapabilities,
        llm: Arc<dyn LlmProvider>,
        servers: Vec<Arc<Downstream>>,
    ) -> Agent {
        Agent {
            config,
            capabilities,
            llm,
            servers,
            usage: Mutex::new(UsageTotals::default()),
            pricing: Pricing::default(),
            spend: Mutex::new(DailySpend::default()),
        }
    }

    /// Prices calls with `pricing` instead of the built-in table at 5-minute cache writes.
    pub fn with_pricing(mut self, pricing: Pricing) -> Agent {
        self.pricing = pricing;
        self
    }

    pub fn usage(&self) -> UsageTotals {
        *self.usage.lock().expect("usage lock")
    }

    /// Runs one user message to a final answer. The turn works on a copy that replaces the
    /// history only when it completes, so a failed or cancelled turn leaves the conversation
    /// exactly as it was and valid for the next call.
    pub async fn send(
        &self,
        conversation: &Conversation,
        message: Message,
        events: Option<&EventSink>,
    ) -> Result<String, AgentError> {
        let mut history = conversation.lock().await;
        let mut working = history.clone();
        let answer = self.run(&mut working, message, events).await?;
        *history = working;
        Ok(answer)
    }

    /// Runs one user message on top of a stored conversation's `history` and returns the
    /// turn; the caller stores [`TurnOutcome::new_messages`] (and a new summary) only when it
    /// keeps the turn, so a failed turn changes nothing.
    pub async fn run_on(
        &self,
        history: History,
        message: Message,
        events: Option<&EventSink>,
    ) -> Result<TurnOutcome, AgentError> {
        let mut working = history;
        let start = working.messages.len();
        let summary_before = working.summary.clone();
        working.messages.push(message);
        let mut stats = TurnStats::default();
        let answer = self.run_turn(&mut working, events, &mut stats).await?;
        let len = working.messages.len();
        Ok(TurnOutcome {
            answer,
            new_messages: working.messages.split_off(start.min(len)),
            summary: working
                .summary
                .filter(|s| Some(s) != summary_before.as_ref()),
            stop_reason: stats.stop_reason.unwrap_or(StopReason::EndTurn),
            usage: stats.usage,
        })
    }

    /// Runs one user message to a final answer on `history`, appending the turn's messages
    /// (and replacing its summary when a new one was computed). On an error `history` may hold
    /// part of the turn: callers that keep it pass a copy (as [`Agent::send`] does) or persist
    /// only after success.
    pub async fn run(
        &self,
        history: &mut History,
        message: Message,
        events: Option<&EventSink>,
    ) -> Result<String, AgentError> {
        history.messages.push(message);
        self.run_turn(history, events, &mut TurnStats::default())
            .await
    }

    async fn run_turn(
        &self,
        history: &mut History,
        events: Option<&EventSink>,
        turn: &mut TurnStats,
    ) -> Result<String, AgentError> {
        let max = self.config.max_iterations;
        let mut answer = String::new();
        for iteration in 1..=max {
            if let Some(refused) = self.over_budget() {
                return Err(refused);
            }
            let toolbox = Toolbox::collect(&self.servers).await;
            history::repair(&mut history.messages);
            let max_tokens = self
                .config
                .options
                .max_tokens
                .unwrap_or(self.capabilities.max_output_tokens);
            let window = self.window(history, &toolbox.specs, max_tokens).await;
            emit(
                events,
                AgentEvent::ModelCall {
                    iteration,
                    max_iterations: max,
                    tools_offered: toolbox.specs.len(),
                },
            );
            let request = Request {
                system: self.config.instruction.clone(),
                messages: window.messages,
                tools: toolbox.specs.clone(),
                max_tokens,
                options: generation_options(&self.config.options, iteration),
            };
            let started = std::time::Instant::now();
            let (outcome, first_token) = self.complete_timed(&request, events).await;
            let (provider, model) = (self.llm.provider().to_string(), self.llm.model_id());
            let mut call = ModelCall {
                agent: &self.config.name,
                provider: &provider,
                model,
                outcome: "ok",
                latency: started.elapsed(),
                first_token,
                usage: Usage::default(),
                cost: Cost::Usd(0.0),
            };
            let response = match outcome {
                Ok(response) => response,
                Err(source) => {
                    let kind = error_kind(&source);
                    call.outcome = &kind;
                    metrics::global().model_call(&call);
                    return Err(AgentError::Llm {
                        provider,
                        model: model.to_string(),
                        source,
                    });
                }
            };
            let cost = self.pricing.cost(model, &token_counts(&response.usage));
            call.usage = response.usage;
            call.cost = cost;
            metrics::global().model_call(&call);
            tracing::debug!(
                agent = %self.config.name,
                model = %self.llm.model_id(),
                input_tokens = response.usage.input_tokens,
                output_tokens = response.usage.output_tokens,
                cache_read_tokens = response.usage.cache_read_tokens,
                cache_write_tokens = response.usage.cache_write_tokens,
                latency_ms = started.elapsed().as_millis() as u64,
                cost_usd = ?cost.usd(),
                stop_reason = ?response.stop_reason,
                "model call"
            );
            self.add_usage(response.usage, 1, 0);
            turn.usage.tokens += response.usage;
            turn.usage.model_calls += 1;
            turn.stop_reason = Some(response.stop_reason);
            self.add_cost(cost);
            turn.usage.cost_usd = turn.usage.cost_usd + cost;
            let calls: Vec<_> = response.message.tool_uses().cloned().collect();
            let text = visible_text(&response.message, self.config.options.show_reasoning);
            if !text.trim().is_empty() {
                answer = text;
            }
            let estimated = window.raw_tokens + window::message_tokens(&response.message);
            history.messages.push(response.message);
            history.calibration =
                Calibration::measure(&response.usage, estimated, history.messages.len())
                    .or(history.calibration);
            if calls.is_empty() {
                return Ok(finish(answer, response.stop_reason));
            }
            for call in &calls {
                emit(
                    events,
                    AgentEvent::ToolCall {
                        name: call.name.clone(),
                    },
                );
            }
            self.add_usage(Usage::default(), 0, calls.len() as u64);
            turn.usage.tool_calls += calls.len() as u64;
            let support = self.media_support();
            let results: Vec<ToolResult> = join_all(calls.iter().map(|call| async {
                let started = std::time::Instant::now();
                let result = toolbox.run(call, support).await;
                let server = toolbox.server_of(&call.name).unwrap_or("unknown");
                metrics::global().tool_call(
                    &self.config.name,
                    server,
                    !result.is_error,
                    started.elapsed(),
                );
                result
            }))
            .await;
            for r in results.iter().filter(|r| r.is_error) {
                tracing::info!(agent = %self.config.name, tool_use_id = %r.tool_use_id, "tool returned an error result");
            }
            history.messages.push(Message {
                role: Role::User,
                content: results.into_iter().map(ContentBlock::ToolResult).collect(),
            });
        }
        let note = format!(
            "[Stopped after {max} model calls (max_iterations) while the model was still calling tools.]"
        );
        Ok(if answer.is_empty() {
            note
        } else {
            format!("{answer}\n\n{note}")
        })
    }

    /// What this agent's model takes, within its provider's limits.
    pub fn media_support(&self) -> media::MediaSupport {
        media::MediaSupport::new(&self.capabilities, self.llm.limits())
    }

    fn add_usage(&self, tokens: Usage, model_calls: u64, tool_calls: u64) {
        let mut u = self.usage.lock().expect("usage lock");
        u.tokens += tokens;
        u.model_calls += model_calls;
        u.tool_calls += tool_calls;
    }
}

fn token_counts(u: &Usage) -> TokenCounts {
    TokenCounts {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.cache_read_tokens,
        cache_write: u.cache_write_tokens,
    }
}

/// The request options for one model call of a turn. A forced `tool_choice` (any or one
/// tool) applies to the first call only: forcing it again after the results came back would
/// make the model call tools until `max_iterations`.
fn generation_options(o: &AgentOptions, iteration: u32) -> GenerationOptions {
    let tool_choice = match &o.tool_choice {
        ToolChoice::Any | ToolChoice::Tool(_) if iteration > 1 => ToolChoice::Auto,
        other => other.clone(),
    };
    GenerationOptions {
        temperature: o.temperature,
        top_p: o.top_p,
        stop_sequences: o.stop_sequences.clone(),
        tool_choice,
        additional_model_request_fields: o.additional_model_request_fields.clone(),
        streaming: o.streaming,
    }
}

/// What the caller sees of an assistant turn: its text, preceded by the model's reasoning
/// only when the agent has `show_reasoning: true`.
fn visible_text(message: &Message, show_reasoning: bool) -> String {
    let text = message.text();
    if !show_reasoning {
        return text;
    }
    let reasoning: Vec<&str> = message
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Reasoning(r) if !r.text.trim().is_empty() => Some(r.text.as_str()),
            _ => None,
        })
        .collect();
    if reasoning.is_empty() {
        return text;
    }
    format!(
        "<reasoning>\n{}\n</reasoning>\n\n{text}",
        reasoning.join("\n")
    )
}

/// The caller sees why an answer is short or missing rather than an empty string.
fn finish(answer: String, stop: StopReason) -> String {
    let note = match stop {
        StopReason::MaxTokens => Some("[The answer was cut off at the model's max_tokens limit.]"),
        StopReason::GuardrailIntervened => Some("[A guardrail intervened in this answer.]"),
        StopReason::ContentFiltered => Some("[The answer was blocked by content filtering.]"),
        StopReason::ContextWindowExceeded => {
            Some("[The conversation exceeded the model's context window.]")
        }
        _ => None,
    };
    match (answer.is_empty(), note) {
        (true, Some(n)) => n.to_string(),
        (true, None) => "(the model returned no text)".to_string(),
        (false, Some(n)) => format!("{answer}\n\n{n}"),
        (false, None) => answer,
    }
}

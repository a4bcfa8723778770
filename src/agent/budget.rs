//! What an agent spends: each call's cost added to its totals and to the day's spend, the
//! daily budget check, and the timed model call whose first-token time feeds the metrics.

use super::*;
use crate::model::prices::Cost;

/// The agent's daily budget as `get_health` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetStatus {
    pub usd_per_day: f64,
    pub spent_today_usd: f64,
    pub exhausted: bool,
    /// When calls are accepted again (the next UTC midnight).
    pub resets_at: String,
    /// Set when the model has no price, so the budget cannot see what it spends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn next_utc_midnight(day: chrono::NaiveDate) -> String {
    day.succ_opt()
        .map(|d| format!("{d}T00:00:00Z"))
        .unwrap_or_default()
}

impl Agent {
    /// The daily budget and today's spend, when the agent has `budget.usd_per_day`.
    pub fn budget(&self) -> Option<BudgetStatus> {
        let limit = self.config.options.budget_usd_per_day?;
        let day = today();
        let spent = self.spend.lock().expect("spend lock").spent(day);
        let problem = self.pricing.table.rates(self.llm.model_id()).is_none().then(|| {
            format!(
                "model {} has no price, so the budget cannot count its spend; add it under `prices:` in fastagent.config.yaml",
                self.llm.model_id()
            )
        });
        Some(BudgetStatus {
            usd_per_day: limit,
            spent_today_usd: spent,
            exhausted: spent >= limit,
            resets_at: next_utc_midnight(day),
            problem,
        })
    }

    /// The error a call gets once today's budget is spent.
    pub(super) fn over_budget(&self) -> Option<AgentError> {
        let b = self.budget().filter(|b| b.exhausted)?;
        Some(AgentError::BudgetExhausted {
            agent: self.config.name.clone(),
            spent: b.spent_today_usd,
            limit: b.usd_per_day,
            resets_at: b.resets_at,
        })
    }

    /// One model call, with the time to its first streamed answer text. The events pass
    /// through a local channel, drained while the call runs, so they reach the caller in
    /// order and the first text delta can be timed.
    pub(super) async fn complete_timed(
        &self,
        request: &Request,
        events: Option<&EventSink>,
    ) -> (
        Result<crate::llm::conversation::Response, LlmError>,
        Option<std::time::Duration>,
    ) {
        let started = std::time::Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut first_token = None;
        let mut pass = |event: AgentEvent| {
            if first_token.is_none() && matches!(event, AgentEvent::TextDelta(_)) {
                first_token = Some(started.elapsed());
            }
            if let Some(sink) = events {
                let _ = sink.send(event);
            }
        };
        let call = self.llm.complete(request, Some(&tx));
        tokio::pin!(call);
        let outcome = loop {
            tokio::select! {
                biased;
                Some(event) = rx.recv() => pass(event),
                outcome = &mut call => break outcome,
            }
        };
        while let Ok(event) = rx.try_recv() {
            pass(event);
        }
        (outcome, first_token)
    }

    pub(super) fn add_cost(&self, cost: Cost) {
        {
            let mut u = self.usage.lock().expect("usage lock");
            u.cost_usd = u.cost_usd + cost;
        }
        self.spend.lock().expect("spend lock").add(today(), cost);
    }
}

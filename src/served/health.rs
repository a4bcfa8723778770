//! `get_health`: live probes of downstream servers plus the cached, token-free LLM preflight,
//! folded into one `ok`/`degraded` answer an orchestrator can route on.

use std::collections::BTreeMap;

use futures::future::join_all;
use serde::Serialize;

use crate::agent::{Agent, BudgetStatus, UsageTotals};
use crate::downstream::ServerHealth;
use crate::llm::{Preflight, PreflightStatus};
use crate::redact::redact_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentHealth {
    pub status: Status,
    pub agent: String,
    pub version: String,
    pub message: String,
    pub llm: Preflight,
    pub servers: BTreeMap<String, ServerHealth>,
    pub usage: UsageTotals,
    /// Present when the agent has `budget.usd_per_day`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetStatus>,
}

pub async fn agent_health(agent: &Agent, version: &str, preflight: &Preflight) -> AgentHealth {
    let probes = join_all(
        agent
            .servers
            .iter()
            .map(|s| async move { (s.name().to_string(), s.probe().await) }),
    )
    .await;
    // Errors quote URLs, which may carry credentials (`?api_key=…`, `user:pass@`).
    let servers: BTreeMap<String, ServerHealth> = probes
        .into_iter()
        .map(|(name, mut health)| {
            health.error = health.error.map(|e| redact_text(&e));
            (name, health)
        })
        .collect();
    let mut preflight = preflight.clone();
    preflight.message = redact_text(&preflight.message);
    let preflight = &preflight;
    let mut problems: Vec<String> = servers
        .iter()
        .filter(|(_, h)| h.status != "ok")
        .map(|(name, h)| format!("server {name}: {}", h.error.as_deref().unwrap_or("not ok")))
        .collect();
    if preflight.status != PreflightStatus::Ok {
        problems.push(format!(
            "LLM: {}: {}",
            preflight.provider, preflight.message
        ));
    }
    let budget = agent.budget();
    if let Some(b) = &budget {
        if b.exhausted {
            problems.push(format!(
                "budget: spent ${:.4} of ${} per day; calls are refused until {}",
                b.spent_today_usd, b.usd_per_day, b.resets_at
            ));
        }
        if let Some(problem) = &b.problem {
            problems.push(format!("budget: {problem}"));
        }
    }
    let (status, message) = if problems.is_empty() {
        (
            Status::Ok,
            format!(
                "{} ready: {} on {}, {} downstream server(s) ok",
                agent.config.name,
                preflight.model,
                preflight.provider,
                servers.len()
            ),
        )
    } else {
        (Status::Degraded, problems.join("; "))
    };
    AgentHealth {
        status,
        agent: agent.config.name.clone(),
        version: version.to_string(),
        message,
        llm: preflight.clone(),
        servers,
        usage: agent.usage(),
        budget,
    }
}

//! Prometheus metrics for `GET /metrics` on the registry port.
//!
//! One process-wide set of series (an agent name is a label), recorded through the few
//! functions below so the agent loop and the served side each make one call per event.
//! Counters move as things happen; what is a state rather than an event (downstream up,
//! preflight, budget) is read when the registry is scraped ([`Metrics::set_agent_state`]).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::llm::conversation::Usage;
use crate::model::prices::Cost;

/// Model calls take seconds to minutes; tool calls milliseconds to a minute.
const MODEL_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0];
const FIRST_TOKEN_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
const TOOL_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

pub struct Metrics {
    registry: Registry,
    turns: IntCounterVec,
    turns_in_flight: IntGaugeVec,
    model_calls: IntCounterVec,
    model_latency: HistogramVec,
    first_token: HistogramVec,
    tokens: IntCounterVec,
    cost: CounterVec,
    unpriced_calls: IntCounterVec,
    tool_calls: IntCounterVec,
    tool_latency: HistogramVec,
    downstream_up: IntGaugeVec,
    downstream_reconnects: IntCounterVec,
    preflight_ok: IntGaugeVec,
    budget_limit: prometheus::GaugeVec,
    budget_spent: prometheus::GaugeVec,
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn float_gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::GaugeVec {
    let g = prometheus::GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str], b: &[f64]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(b.to_vec()), labels)
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

/// What one model call did, for [`Metrics::model_call`].
pub struct ModelCall<'a> {
    pub agent: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    /// `ok` or the error kind (`throttled`, `access_denied`, …).
    pub outcome: &'a str,
    pub latency: Duration,
    /// Until the first streamed answer text; `None` when nothing was streamed.
    pub first_token: Option<Duration>,
    pub usage: Usage,
    pub cost: Cost,
}

/// An agent's state at scrape time, for [`Metrics::set_agent_state`].
pub struct AgentState<'a> {
    pub agent: &'a str,
    pub preflight_ok: bool,
    /// `(server, up, reconnects so far)`.
    pub servers: Vec<(&'a str, bool, u64)>,
    /// `(usd_per_day, spent today)` when the agent has a budget.
    pub budget: Option<(f64, f64)>,
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let (a, p, m) = ("agent", "provider", "model");
        Metrics {
            turns: counter(&r, "pallas_turns_total", "Agent turns (calls of an agent tool) by outcome: ok, cancelled, budget_exhausted or the model error kind.", &[a, "outcome"]),
            turns_in_flight: gauge(&r, "pallas_turns_in_flight", "Agent turns running now.", &[a]),
            model_calls: counter(&r, "pallas_model_calls_total", "Model calls by provider, model and outcome (ok or the error kind).", &[a, p, m, "outcome"]),
            model_latency: histogram(&r, "pallas_model_call_duration_seconds", "Model call latency, request to complete answer.", &[a, p, m], MODEL_BUCKETS),
            first_token: histogram(&r, "pallas_model_time_to_first_token_seconds", "Time from a streamed model call's start to its first answer text.", &[a, p, m], FIRST_TOKEN_BUCKETS),
            tokens: counter(&r, "pallas_tokens_total", "Tokens by kind: input, output, cache_read, cache_write.", &[a, p, m, "kind"]),
            cost: prometheus::CounterVec::new(Opts::new("pallas_cost_usd_total", "Spend in USD of priced model calls (built-in price table or `prices:` overrides)."), &[a, p, m]).expect("valid metric"),
            unpriced_calls: counter(&r, "pallas_unpriced_model_calls_total", "Model calls whose model has no price (not in pallas_cost_usd_total; add a `prices:` entry).", &[a, p, m]),
            tool_calls: counter(&r, "pallas_tool_calls_total", "Downstream tool calls by server and outcome (ok or error).", &[a, "server", "outcome"]),
            tool_latency: histogram(&r, "pallas_tool_call_duration_seconds", "Downstream tool call latency.", &[a, "server"], TOOL_BUCKETS),
            downstream_up: gauge(&r, "pallas_downstream_up", "1 when the downstream MCP server is connected, else 0.", &[a, "server"]),
            downstream_reconnects: counter(&r, "pallas_downstream_reconnects_total", "Reconnections of a downstream MCP server.", &["server"]),
            preflight_ok: gauge(&r, "pallas_preflight_ok", "1 when the agent's cached LLM preflight is ok, else 0.", &[a]),
            budget_limit: float_gauge(&r, "pallas_budget_usd_per_day", "The agent's daily budget (budget.usd_per_day).", &[a]),
            budget_spent: float_gauge(&r, "pallas_budget_spent_today_usd", "USD the agent has spent in the current UTC day.", &[a]),
            registry: r,
        }
        .with_cost_registered()
    }

    fn with_cost_registered(self) -> Metrics {
        self.registry
            .register(Box::new(self.cost.clone()))
            .expect("unique metric");
        self
    }

    /// A turn starts; the guard records its outcome (cancelled if dropped unfinished).
    pub fn turn_started(&'static self, agent: &str) -> TurnGuard {
        self.turns_in_flight.with_label_values(&[agent]).inc();
        TurnGuard {
            metrics: self,
            agent: agent.to_string(),
            finished: false,
        }
    }

    pub fn model_call(&self, c: &ModelCall<'_>) {
        let labels = [c.agent, c.provider, c.model];
        self.model_calls
            .with_label_values(&[c.agent, c.provider, c.model, c.outcome])
            .inc();
        self.model_latency
            .with_label_values(&labels)
            .observe(c.latency.as_secs_f64());
        if let Some(t) = c.first_token {
            self.first_token
                .with_label_values(&labels)
                .observe(t.as_secs_f64());
        }
        let u = &c.usage;
        for (kind, n) in [
            ("input", u.input_tokens),
            ("output", u.output_tokens),
            ("cache_read", u.cache_read_tokens),
            ("cache_write", u.cache_write_tokens),
        ] {
            self.tokens
                .with_label_values(&[c.agent, c.provider, c.model, kind])
                .inc_by(n);
        }
        match c.cost {
            Cost::Usd(usd) => self.cost.with_label_values(&labels).inc_by(usd.max(0.0)),
            Cost::NoPrice => self.unpriced_calls.with_label_values(&labels).inc(),
        }
    }

    /// One downstream tool call (`server` is `unknown` for a tool no server offers).
    pub fn tool_call(&self, agent: &str, server: &str, ok: bool, latency: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.tool_calls
            .with_label_values(&[agent, server, outcome])
            .inc();
        self.tool_latency
            .with_label_values(&[agent, server])
            .observe(latency.as_secs_f64());
    }

    /// Refreshes the state gauges of one agent just before a scrape.
    pub fn set_agent_state(&self, s: &AgentState<'_>) {
        self.preflight_ok
            .with_label_values(&[s.agent])
            .set(i64::from(s.preflight_ok));
        for (server, up, reconnects) in &s.servers {
            self.downstream_up
                .with_label_values(&[s.agent, server])
                .set(i64::from(*up));
            let counter = self.downstream_reconnects.with_label_values(&[server]);
            // The downstream keeps its own count; the counter catches up to it.
            counter.inc_by(reconnects.saturating_sub(counter.get()));
        }
        if let Some((limit, spent)) = s.budget {
            self.budget_limit.with_label_values(&[s.agent]).set(limit);
            self.budget_spent.with_label_values(&[s.agent]).set(spent);
        }
    }

    /// Every series in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut out) {
            tracing::warn!("cannot encode metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Counts a turn in flight until it finishes; records its outcome once.
pub struct TurnGuard {
    metrics: &'static Metrics,
    agent: String,
    finished: bool,
}

impl TurnGuard {
    /// `ok`, `cancelled`, `budget_exhausted` or the model error kind.
    pub fn finish(mut self, outcome: &str) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: &str) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.metrics
            .turns
            .with_label_values(&[&self.agent, outcome])
            .inc();
        self.metrics
            .turns_in_flight
            .with_label_values(&[&self.agent])
            .dec();
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.record("cancelled");
    }
}

/// The Prometheus content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn a_turn_counts_in_flight_until_it_finishes_and_a_dropped_one_is_cancelled() {
        let m = global();
        let t = m.turn_started("unit_turns");
        assert!(
            line(
                &m.render(),
                "pallas_turns_in_flight{agent=\"unit_turns\"} 1"
            )
            .is_some()
        );
        t.finish("ok");
        drop(m.turn_started("unit_turns"));
        let text = m.render();
        assert!(line(&text, "pallas_turns_in_flight{agent=\"unit_turns\"} 0").is_some());
        assert!(
            line(
                &text,
                "pallas_turns_total{agent=\"unit_turns\",outcome=\"ok\"} 1"
            )
            .is_some()
        );
        assert!(
            line(
                &text,
                "pallas_turns_total{agent=\"unit_turns\",outcome=\"cancelled\"} 1"
            )
            .is_some(),
            "{text}"
        );
    }

    #[test]
    fn reconnects_follow_the_downstream_count_without_going_back() {
        let m = global();
        let state = |n| AgentState {
            agent: "unit_reconnects",
            preflight_ok: true,
            servers: vec![("unit_server", true, n)],
            budget: None,
        };
        m.set_agent_state(&state(2));
        m.set_agent_state(&state(3));
        m.set_agent_state(&state(3));
        let text = m.render();
        assert!(
            line(
                &text,
                "pallas_downstream_reconnects_total{server=\"unit_server\"} 3"
            )
            .is_some(),
            "{text}"
        );
    }
}

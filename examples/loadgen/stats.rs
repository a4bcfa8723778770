//! What the clients measured, shared between them, and the report made from it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::ErrorKind;

/// Every call's outcome, split at the end of the warm-up.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    warmup_ok: u64,
    warmup_errors: u64,
    warmup_first_error: Option<String>,
    latencies: Vec<Duration>,
    errors: BTreeMap<ErrorKind, u64>,
    first_errors: BTreeMap<ErrorKind, String>,
    last_end: Option<Instant>,
    /// `--turns N`: ok latencies of the first and of the N-th turn of a conversation.
    first_turns: Vec<Duration>,
    last_turns: Vec<Duration>,
    turns: Option<u32>,
}

/// The warm-up's outcome, checked before measuring.
pub struct Warmup {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Recorder {
    /// Records one call that started at `started`; calls started before `measure_from` are
    /// warm-up calls and are only counted for the warm-up check.
    pub fn record(
        &self,
        started: Instant,
        ended: Instant,
        measure_from: Instant,
        outcome: Result<(), (ErrorKind, String)>,
    ) {
        let mut inner = self.inner.lock().expect("recorder lock");
        if started < measure_from {
            match outcome {
                Ok(()) => inner.warmup_ok += 1,
                Err((_, text)) => {
                    inner.warmup_errors += 1;
                    inner.warmup_first_error.get_or_insert(text);
                }
            }
            return;
        }
        inner.last_end = Some(inner.last_end.map_or(ended, |e| e.max(ended)));
        match outcome {
            Ok(()) => inner.latencies.push(ended - started),
            Err((kind, text)) => {
                *inner.errors.entry(kind).or_default() += 1;
                inner.first_errors.entry(kind).or_insert(text);
            }
        }
    }

    /// Records the latency of turn `turn` of `turns` (only the first and last are kept).
    pub fn record_turn(&self, turn: u32, turns: u32, latency: Duration) {
        let mut inner = self.inner.lock().expect("recorder lock");
        inner.turns = Some(turns);
        if turn == 1 {
            inner.first_turns.push(latency);
        }
        if turn == turns {
            inner.last_turns.push(latency);
        }
    }

    pub fn warmup(&self) -> Warmup {
        let inner = self.inner.lock().expect("recorder lock");
        Warmup {
            ok: inner.warmup_ok,
            errors: inner.warmup_errors,
            first_error: inner.warmup_first_error.clone(),
        }
    }

    /// The measured window runs until the last counted call finished (calls in flight at
    /// the deadline are completed and counted).
    pub fn report(&self, setup: ReportSetup, measure_from: Instant, deadline: Instant) -> Report {
        let mut inner = self.inner.lock().expect("recorder lock");
        let end = inner.last_end.unwrap_or(deadline).max(deadline);
        let measured = end.saturating_duration_since(measure_from).as_secs_f64();
        inner.latencies.sort_unstable();
        inner.first_turns.sort_unstable();
        inner.last_turns.sort_unstable();
        let turn_p50 = |v: &Vec<Duration>| (!v.is_empty()).then(|| percentile_ms(v, 50.0));
        let (first_turn_p50_ms, last_turn_p50_ms) =
            (turn_p50(&inner.first_turns), turn_p50(&inner.last_turns));
        let latencies = &inner.latencies;
        let ok = latencies.len() as u64;
        let errors: u64 = inner.errors.values().sum();
        let cpu_ms_per_request = setup
            .server_cpu_s
            .filter(|_| ok > 0)
            .map(|cpu| round(cpu * 1000.0 / ok as f64));
        Report {
            target: setup.target,
            mode: setup.mode,
            protocol: setup.protocol,
            clients: setup.clients,
            rate: setup.rate,
            warmup_s: round(setup.warmup.as_secs_f64()),
            duration_s: round(measured),
            requests_ok: ok,
            requests_error: errors,
            errors_by_kind: inner
                .errors
                .iter()
                .map(|(kind, n)| (kind.label().to_string(), *n))
                .collect(),
            first_errors: inner
                .first_errors
                .iter()
                .map(|(kind, text)| (kind.label().to_string(), text.clone()))
                .collect(),
            requests_per_s: round(ok as f64 / measured.max(1e-9)),
            p50_ms: percentile_ms(latencies, 50.0),
            p90_ms: percentile_ms(latencies, 90.0),
            p99_ms: percentile_ms(latencies, 99.0),
            max_ms: round(latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)),
            server_peak_rss_mib: setup.server_peak_rss_mib.map(round),
            server_cpu_ms_per_request: cpu_ms_per_request,
            turns: inner.turns,
            first_turn_p50_ms,
            last_turn_p50_ms,
        }
    }
}

/// What the report says about the run besides the measurements.
pub struct ReportSetup {
    pub target: String,
    pub mode: &'static str,
    pub protocol: &'static str,
    pub clients: usize,
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub server_peak_rss_mib: Option<f64>,
    /// CPU seconds the server spent during the measured window.
    pub server_cpu_s: Option<f64>,
}

/// The machine-readable summary (also the source of the human one).
#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub mode: &'static str,
    pub protocol: &'static str,
    pub clients: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub requests_ok: u64,
    pub requests_error: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    #[serde(skip)]
    pub first_errors: BTreeMap<String, String>,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub server_peak_rss_mib: Option<f64>,
    pub server_cpu_ms_per_request: Option<f64>,
    /// `--turns N`: p50 latency of turn 1 and of turn N.
    pub turns: Option<u32>,
    pub first_turn_p50_ms: Option<f64>,
    pub last_turn_p50_ms: Option<f64>,
}

impl Report {
    pub fn print(&self) {
        println!("target         {}", self.target);
        match self.rate {
            Some(rate) => println!(
                "load           open loop at {rate} requests/s over {} {} connection(s)",
                self.clients, self.protocol
            ),
            None => println!(
                "load           {} {} client(s), closed loop",
                self.clients, self.protocol
            ),
        }
        println!(
            "duration       {:.2} s (after {:.1} s warm-up)",
            self.duration_s, self.warmup_s
        );
        println!(
            "requests       {} ok, {} errors",
            self.requests_ok, self.requests_error
        );
        for (kind, n) in &self.errors_by_kind {
            let first = self.first_errors.get(kind).map_or("", String::as_str);
            println!("  {n:>8} {kind}: first was {first}");
        }
        println!("throughput     {:.1} requests/s", self.requests_per_s);
        println!(
            "latency ms     p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms
        );
        if let Some(mib) = self.server_peak_rss_mib {
            println!("server peak RSS {mib:.1} MiB");
        }
        if let Some(turns) = self.turns {
            let show =
                |v: Option<f64>| v.map_or("none measured".into(), |ms| format!("{ms:.2} ms"));
            println!(
                "turn latency   p50 at turn 1 {}, at turn {turns} {}",
                show(self.first_turn_p50_ms),
                show(self.last_turn_p50_ms)
            );
        }
        if let Some(ms) = self.server_cpu_ms_per_request {
            println!("server CPU     {ms:.3} ms per ok request");
        }
        match serde_json::to_string(self) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("encoding the JSON report: {e}"),
        }
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    round(sorted[index].as_secs_f64() * 1000.0)
}

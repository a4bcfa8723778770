//! What a model call costs: a built-in on-demand price table (`prices.yaml`, with its source
//! date) looked up like the capability table, plus the operator's `prices:` overrides.
//!
//! Prices change and differ by region and contract, so the table is a best effort that an
//! operator can correct per model; a model with no price is reported as "no price", never as
//! free.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::capabilities::base_model_id;

/// USD per million tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    /// Missing: cache reads are billed as plain input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Missing: cache writes are billed as plain input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<f64>,
    /// Missing: the 5-minute write rate applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
}

/// How long written cache entries live; Claude bills a 1-hour write higher than a 5-minute one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheTtl {
    #[default]
    FiveMinutes,
    OneHour,
}

/// The token counts of one call (or a sum of calls with the same cache TTL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Rates {
    /// The cost in USD of `tokens` at these rates.
    pub fn cost(&self, tokens: &TokenCounts, ttl: CacheTtl) -> f64 {
        let write_5m = self.cache_write_5m.unwrap_or(self.input);
        let write = match ttl {
            CacheTtl::FiveMinutes => write_5m,
            CacheTtl::OneHour => self.cache_write_1h.unwrap_or(write_5m),
        };
        let read = self.cache_read.unwrap_or(self.input);
        (tokens.input as f64 * self.input
            + tokens.output as f64 * self.output
            + tokens.cache_read as f64 * read
            + tokens.cache_write as f64 * write)
            / 1_000_000.0
    }

    fn scaled(self, factor: f64) -> Rates {
        Rates {
            input: self.input * factor,
            output: self.output * factor,
            cache_read: self.cache_read.map(|r| r * factor),
            cache_write_5m: self.cache_write_5m.map(|r| r * factor),
            cache_write_1h: self.cache_write_1h.map(|r| r * factor),
        }
    }
}

/// A cost as reported to operators: a number of USD, or "no price" for a model the table
/// does not know (so a missing price is never mistaken for a free model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cost {
    Usd(f64),
    NoPrice,
}

impl Cost {
    pub fn usd(&self) -> Option<f64> {
        match self {
            Cost::Usd(usd) => Some(*usd),
            Cost::NoPrice => None,
        }
    }
}

impl std::ops::Add for Cost {
    type Output = Cost;
    /// Unknown plus anything stays unknown: a partial sum would understate the spend.
    fn add(self, other: Cost) -> Cost {
        match (self, other) {
            (Cost::Usd(a), Cost::Usd(b)) => Cost::Usd(a + b),
            _ => Cost::NoPrice,
        }
    }
}

impl Serialize for Cost {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cost::Usd(usd) => serializer.serialize_f64(*usd),
            Cost::NoPrice => serializer.serialize_str("no price"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Row {
    prefix: String,
    #[serde(flatten)]
    rates: Rates,
    /// Geo and in-region ids cost `regional_premium` more than `global.` ones.
    #[serde(default)]
    regional: bool,
}

/// The built-in table with the operator's overrides layered on top.
#[derive(Debug, Clone, Deserialize)]
pub struct PriceTable {
    /// When the built-in prices were compiled (shown by `pallas check` and the docs).
    pub source_date: String,
    regional_premium: f64,
    models: Vec<Row>,
    #[serde(skip)]
    overrides: BTreeMap<String, Rates>,
}

static BUILTIN: LazyLock<PriceTable> = LazyLock::new(|| {
    serde_yaml::from_str(include_str!("prices.yaml")).expect("prices.yaml is valid")
});

impl PriceTable {
    pub fn builtin() -> &'static PriceTable {
        &BUILTIN
    }

    /// `prices:` from the config: keys are model ids or id prefixes (matched like the table);
    /// an override is the exact price the operator pays, so no regional premium is added.
    pub fn with_overrides(&self, overrides: &BTreeMap<String, Rates>) -> PriceTable {
        let mut table = self.clone();
        table.overrides.extend(
            overrides
                .iter()
                .map(|(model, rates)| (model.clone(), *rates)),
        );
        table
    }

    /// The rates for a model id as sent on the wire (`us.anthropic.claude-…`, `claude-…`,
    /// `minimax.minimax-m2.5`), or `None` when neither the overrides nor the table know it.
    pub fn rates(&self, model_id: &str) -> Option<Rates> {
        let base = base_model_id(model_id);
        let unvendored = base.split_once('.').map(|(_, rest)| rest).unwrap_or(base);
        let matches = |prefix: &str| base.starts_with(prefix) || unvendored.starts_with(prefix);
        let overridden = self
            .overrides
            .iter()
            .filter(|(prefix, _)| model_id == prefix.as_str() || matches(prefix))
            .max_by_key(|(prefix, _)| prefix.len());
        if let Some((_, rates)) = overridden {
            return Some(*rates);
        }
        let row = self
            .models
            .iter()
            .filter(|r| matches(&r.prefix))
            .max_by_key(|r| r.prefix.len())?;
        // Bedrock geo (`us.`) and in-region (`anthropic.`) ids are regional; `global.` ids and
        // the Anthropic API's own names (`claude-…`) are billed at the base rate.
        let regional = !model_id.starts_with("global.") && (base != model_id || unvendored != base);
        Some(if row.regional && regional {
            row.rates.scaled(1.0 + self.regional_premium)
        } else {
            row.rates
        })
    }

    /// The cost of `tokens` on `model_id`.
    pub fn cost(&self, model_id: &str, tokens: &TokenCounts, ttl: CacheTtl) -> Cost {
        match self.rates(model_id) {
            Some(rates) => Cost::Usd(rates.cost(tokens, ttl)),
            None => Cost::NoPrice,
        }
    }
}

impl Default for Cost {
    /// Nothing spent yet.
    fn default() -> Cost {
        Cost::Usd(0.0)
    }
}

/// What one agent's calls are priced with: the table (with the operator's overrides) and the
/// cache-write lifetime its provider is configured for.
#[derive(Debug, Clone)]
pub struct Pricing {
    pub table: PriceTable,
    pub ttl: CacheTtl,
}

impl Default for Pricing {
    fn default() -> Pricing {
        Pricing {
            table: PriceTable::builtin().clone(),
            ttl: CacheTtl::FiveMinutes,
        }
    }
}

impl Pricing {
    pub fn cost(&self, model_id: &str, tokens: &TokenCounts) -> Cost {
        self.table.cost(model_id, tokens, self.ttl)
    }
}

/// Spend in the current UTC day against an optional `budget.usd_per_day`. The day is passed
/// in (not read from the clock) so the rollover is testable.
#[derive(Debug, Clone, Default)]
pub struct DailySpend {
    day: Option<chrono::NaiveDate>,
    usd: f64,
}

impl DailySpend {
    /// Adds a call's cost to `day`'s spend (a new day starts from zero). A call without a
    /// price adds nothing: the budget cannot see it (health says so).
    pub fn add(&mut self, day: chrono::NaiveDate, cost: Cost) {
        if self.day != Some(day) {
            *self = DailySpend {
                day: Some(day),
                usd: 0.0,
            };
        }
        self.usd += cost.usd().unwrap_or(0.0);
    }

    /// USD spent on `day`.
    pub fn spent(&self, day: chrono::NaiveDate) -> f64 {
        if self.day == Some(day) { self.usd } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    const MILLION_EACH: TokenCounts = TokenCounts {
        input: 1_000_000,
        output: 1_000_000,
        cache_read: 1_000_000,
        cache_write: 1_000_000,
    };

    #[test]
    fn a_global_profile_pays_the_base_rate_and_a_geo_profile_the_regional_premium() {
        let table = PriceTable::builtin();
        let global = table.rates("global.anthropic.claude-sonnet-4-6").unwrap();
        assert!(close(global.input, 3.0) && close(global.output, 15.0));
        let us = table.rates("us.anthropic.claude-sonnet-4-6").unwrap();
        assert!(close(us.input, 3.3) && close(us.output, 16.5));
        // Older models have one price everywhere.
        let opus41 = table
            .rates("us.anthropic.claude-opus-4-1-20250805-v1:0")
            .unwrap();
        assert!(close(opus41.input, 15.0));
    }

    #[test]
    fn every_id_form_of_a_model_finds_the_same_row() {
        let table = PriceTable::builtin();
        let forms = [
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5-20251001",
        ];
        let prices: Vec<f64> = forms
            .iter()
            .map(|id| table.rates(id).unwrap().output)
            .collect();
        // Global and the Anthropic API's own name: base rate; Bedrock in-region: premium.
        assert!(close(prices[0], 5.0) && close(prices[2], 5.0), "{prices:?}");
        assert!(close(prices[1], 5.5), "{prices:?}");
    }

    #[test]
    fn cache_writes_cost_more_for_an_hour_than_for_five_minutes() {
        let rates = PriceTable::builtin()
            .rates("global.anthropic.claude-opus-4-7")
            .unwrap();
        let five = rates.cost(&MILLION_EACH, CacheTtl::FiveMinutes);
        let hour = rates.cost(&MILLION_EACH, CacheTtl::OneHour);
        assert!(close(five, 5.0 + 25.0 + 0.5 + 6.25), "{five}");
        assert!(close(hour, 5.0 + 25.0 + 0.5 + 10.0), "{hour}");
    }

    #[test]
    fn an_unknown_model_has_no_price_rather_than_zero() {
        let table = PriceTable::builtin();
        let cost = table.cost("acme.mystery-v9", &MILLION_EACH, CacheTtl::FiveMinutes);
        assert_eq!(cost, Cost::NoPrice);
        assert_eq!(serde_json::to_value(cost).unwrap(), "no price");
        assert_eq!(Cost::Usd(1.0) + Cost::NoPrice, Cost::NoPrice);
    }

    #[test]
    fn an_override_wins_exactly_as_written() {
        let overrides = BTreeMap::from([
            (
                "claude-sonnet-4-6".to_string(),
                Rates {
                    input: 2.0,
                    output: 10.0,
                    cache_read: None,
                    cache_write_5m: None,
                    cache_write_1h: None,
                },
            ),
            (
                "acme.mystery-v9".to_string(),
                Rates {
                    input: 1.0,
                    output: 1.0,
                    cache_read: Some(0.0),
                    cache_write_5m: Some(0.0),
                    cache_write_1h: None,
                },
            ),
        ]);
        let table = PriceTable::builtin().with_overrides(&overrides);
        let sonnet = table.rates("us.anthropic.claude-sonnet-4-6").unwrap();
        assert!(close(sonnet.input, 2.0), "no premium on an override");
        let tokens = TokenCounts {
            input: 500_000,
            output: 500_000,
            ..TokenCounts::default()
        };
        assert_eq!(
            table.cost("acme.mystery-v9", &tokens, CacheTtl::FiveMinutes),
            Cost::Usd(1.0)
        );
        // Other models keep the built-in price.
        assert!(table.rates("claude-haiku-4-5").is_some());
    }

    #[test]
    fn a_daily_spend_starts_from_zero_on_the_next_utc_day() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let tomorrow = today.succ_opt().unwrap();
        let mut spend = DailySpend::default();
        spend.add(today, Cost::Usd(0.25));
        spend.add(today, Cost::Usd(0.5));
        spend.add(today, Cost::NoPrice);
        assert!(close(spend.spent(today), 0.75));
        assert_eq!(spend.spent(tomorrow), 0.0);
        spend.add(tomorrow, Cost::Usd(0.125));
        assert!(close(spend.spent(tomorrow), 0.125));
        assert_eq!(spend.spent(today), 0.0, "yesterday is forgotten");
    }

    #[test]
    fn the_table_covers_the_claude_models_of_the_capability_table() {
        let table = PriceTable::builtin();
        for id in [
            "claude-opus-4-7",
            "claude-opus-4-6",
            "claude-opus-4-5",
            "claude-sonnet-4-6",
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "amazon.nova-pro-v1:0",
            "meta.llama3-3-70b-instruct-v1:0",
            "openai.gpt-oss-120b-1:0",
        ] {
            assert!(table.rates(id).is_some(), "{id} has no price");
        }
    }
}

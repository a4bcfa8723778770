//! Operator settings of `fastagent.config.yaml`: `prices:` (per-model price overrides for
//! cost reporting and budgets) and `logger.format` (plain or JSON lines).

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::diagnostic::Diagnostic;
use super::error::ConfigError;
use super::keys::{KeyCheck, fields_of};
use super::source::{Sources, key_path};
use super::value::{describe, key_string, scalar_string, typed_scalars};
use crate::model::prices::Rates;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Plain,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `prices:`: model id (or id prefix) → USD per million tokens. A bad entry is fatal: a
/// silently ignored price would report (and budget) the wrong spend.
pub fn read_prices(
    value: &Value,
    loc: &Sources<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<BTreeMap<String, Rates>, ConfigError> {
    let fix = "write e.g. `prices: {claude-sonnet-4-6: {input: 3, output: 15, cache_read: 0.3, cache_write_5m: 3.75}}` (USD per million tokens)";
    let Value::Mapping(map) = value else {
        let path = key_path(&["prices"]);
        return Err(ConfigError::Invalid(Box::new(loc.diagnostic(
            &path,
            &format!(
                "is {}, not a mapping of model ids to prices",
                describe(value)
            ),
            fix,
        ))));
    };
    let mut prices = BTreeMap::new();
    for (model, rates) in map {
        let model = key_string(model);
        let path = key_path(&["prices", &model]);
        if let Value::Mapping(m) = rates {
            warnings.extend(
                KeyCheck {
                    known: fields_of::<Rates>(),
                    accepted: &[],
                    path: path.clone(),
                }
                .warnings(m, loc),
            );
        }
        let parsed: Result<Rates, _> =
            serde_path_to_error::deserialize(typed_scalars(rates.clone()));
        match parsed {
            Ok(r) if rates_are_sane(&r) => {
                prices.insert(model, r);
            }
            Ok(_) => {
                return Err(ConfigError::Invalid(Box::new(loc.diagnostic(
                    &path,
                    "has a negative or non-finite price",
                    fix,
                ))));
            }
            Err(e) => {
                let mut field = path.clone();
                field.extend(e.path().iter().map(|segment| segment.to_string()));
                return Err(ConfigError::Invalid(Box::new(loc.diagnostic(
                    &field,
                    &e.inner().to_string(),
                    fix,
                ))));
            }
        }
    }
    Ok(prices)
}

fn rates_are_sane(r: &Rates) -> bool {
    [
        Some(r.input),
        Some(r.output),
        r.cache_read,
        r.cache_write_5m,
        r.cache_write_1h,
    ]
    .into_iter()
    .flatten()
    .all(|x| x.is_finite() && x >= 0.0)
}

/// `logger.format`; anything but `plain` or `json` is a warning and reads as plain.
pub fn read_log_format(
    value: &Value,
    loc: &Sources<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> LogFormat {
    match scalar_string(value)
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("json") => LogFormat::Json,
        Some("plain" | "text" | "console" | "") => LogFormat::Plain,
        _ => {
            warnings.push(
                loc.diagnostic(
                    &key_path(&["logger", "format"]),
                    &format!(
                        "{} is not a log format; plain text is used",
                        describe(value)
                    ),
                    "write `format: json` for one JSON object per line, or `format: plain`",
                )
                .warning(),
            );
            LogFormat::Plain
        }
    }
}

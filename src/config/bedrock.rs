//! `bedrock.cross_region` and `bedrock.max_attempts`: how calls reach the model. Invalid
//! values are fatal — a silently ignored retry or routing setting surprises in production.

use serde_yaml::{Mapping, Value};

use super::error::ConfigError;
use super::source::{Sources, key_path};
use super::types::BedrockSettings;
use super::value::{as_int, describe, get, scalar_string};

/// More attempts than this only hides an outage behind minutes of backoff.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;

pub fn read_connection(
    bedrock: &Mapping,
    loc: &Sources<'_>,
    out: &mut BedrockSettings,
) -> Result<(), ConfigError> {
    let invalid = |key: &str, problem: String, fix: &str| {
        let path = key_path(&["bedrock", key]);
        let (file, line) = loc.locate(&path);
        ConfigError::Invalid {
            file,
            line,
            message: loc.message(&path, &problem, fix),
        }
    };
    if let Some(v) = get(bedrock, "cross_region") {
        let text = match v {
            // YAML 1.1 reads a bare `off` as false.
            Value::Bool(false) => Some("off".to_string()),
            other => scalar_string(other),
        };
        out.cross_region = text
            .ok_or_else(|| format!("is {}, not auto or off", describe(v)))
            .and_then(|t| t.parse())
            .map_err(|problem| {
                invalid(
                    "cross_region",
                    problem,
                    "write `cross_region: auto` (add the region's geo prefix when the model needs an inference profile) or `cross_region: off` (send the id as written)",
                )
            })?;
    }
    if let Some(v) = get(bedrock, "max_attempts") {
        match as_int(v) {
            Some(n) if (1..=i64::from(MAX_ATTEMPTS_LIMIT)).contains(&n) => {
                out.max_attempts = Some(n as u32);
            }
            _ => {
                return Err(invalid(
                    "max_attempts",
                    format!(
                        "is {}, not a whole number from 1 to {MAX_ATTEMPTS_LIMIT}",
                        describe(v)
                    ),
                    "write e.g. `max_attempts: 3` (1 turns retries off)",
                ));
            }
        }
    }
    Ok(())
}

//! `bedrock.cross_region` and `bedrock.max_attempts`: how calls reach the model. Invalid
//! values are fatal — a silently ignored retry or routing setting surprises in production.

use serde_yaml::Value;

use super::error::ConfigError;
use super::raw_settings::RawBedrock;
use super::source::{Sources, key_path};
use super::types::BedrockSettings;
use super::value::{as_int, describe, scalar_string};

/// More attempts than this only hides an outage behind minutes of backoff.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;

pub fn read_connection(
    bedrock: &RawBedrock,
    loc: &Sources<'_>,
    out: &mut BedrockSettings,
) -> Result<(), ConfigError> {
    let invalid = |key: &str, problem: String, fix: &str| {
        let path = key_path(&["bedrock", key]);
        ConfigError::Invalid(Box::new(loc.diagnostic(&path, &problem, fix)))
    };
    if let Some(v) = &bedrock.cross_region {
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
    if let Some(v) = &bedrock.max_attempts {
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

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, load_project_with_env};
    use crate::model::CrossRegion;

    fn load(bedrock: &str) -> Result<crate::config::Project, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("agents.yaml"),
            "name: t\nregistry_port: 0\nagents:\n  a:\n    port: 18999\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("fastagent.config.yaml"),
            format!("default_model: bedrock.anthropic.claude-sonnet-4-6\nbedrock:\n  region: us-east-1\n{bedrock}"),
        )
        .unwrap();
        load_project_with_env(&dir.path().join("agents.yaml"), &|_| None)
    }

    #[test]
    fn defaults_are_auto_and_unset_attempts() {
        let p = load("").unwrap();
        assert_eq!(p.settings.bedrock.cross_region, CrossRegion::Auto);
        assert_eq!(p.settings.bedrock.max_attempts, None);
        let p = load("  cross_region: off\n  max_attempts: 5\n").unwrap();
        assert_eq!(p.settings.bedrock.cross_region, CrossRegion::Off);
        assert_eq!(p.settings.bedrock.max_attempts, Some(5));
    }

    #[test]
    fn invalid_values_point_at_the_line_and_say_what_is_allowed() {
        let e = load("  cross_region: sometimes\n").unwrap_err().to_string();
        assert!(e.contains("fastagent.config.yaml:4:"), "{e}");
        assert!(e.contains("bedrock.cross_region"), "{e}");
        assert!(e.contains("auto") && e.contains("off"), "{e}");
        let e = load("  max_attempts: 0\n").unwrap_err().to_string();
        assert!(e.contains("bedrock.max_attempts"), "{e}");
        assert!(e.contains("from 1 to 10"), "{e}");
    }
}

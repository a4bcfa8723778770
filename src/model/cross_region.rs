//! Cross-region inference: which geo prefix (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `us-gov.`,
//! `global.`) serves a region, and what `bedrock.cross_region` does to a configured model id.
//!
//! Many newer Bedrock models have no on-demand in-region throughput: a call with the bare id
//! fails with "on-demand throughput isn't supported" and must name a system inference
//! profile instead. Which profiles exist per model comes from the capability table
//! ([`ModelCapabilities::geo_prefixes`]); `pallas models` shows the live list.

use std::fmt;
use std::str::FromStr;

use super::capabilities::{GEO_PREFIXES, ModelCapabilities};

/// `bedrock.cross_region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrossRegion {
    /// Add the region's geo prefix when the model is only reachable through an inference
    /// profile; ids that already carry a prefix, and ARNs, are left alone.
    #[default]
    Auto,
    /// Send the configured id exactly as written.
    Off,
}

impl FromStr for CrossRegion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(CrossRegion::Auto),
            "off" | "false" | "no" => Ok(CrossRegion::Off),
            other => Err(format!("'{other}' is not auto or off")),
        }
    }
}

impl fmt::Display for CrossRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CrossRegion::Auto => "auto",
            CrossRegion::Off => "off",
        })
    }
}

/// An application (or system) inference profile given by ARN; such ids are never rewritten.
pub fn is_profile_arn(model_id: &str) -> bool {
    model_id.starts_with("arn:")
        && (model_id.contains(":application-inference-profile/")
            || model_id.contains(":inference-profile/"))
}

/// The geo prefix (without the dot) a model id starts with, if any.
pub fn geo_prefix_of(model_id: &str) -> Option<&'static str> {
    GEO_PREFIXES
        .iter()
        .find(|p| model_id.starts_with(**p))
        .map(|p| p.trim_end_matches('.'))
}

/// Geo prefixes whose profiles can be called from `region`, preferred first: the narrowest
/// geography (data stays closest), then the wider one, then `global`.
pub fn geos_for_region(region: &str) -> &'static [&'static str] {
    match region {
        r if r.starts_with("us-gov-") => &["us-gov"],
        r if r.starts_with("cn-") => &[],
        r if r.starts_with("us-") || r.starts_with("ca-") => &["us", "global"],
        r if r.starts_with("eu-") => &["eu", "global"],
        "ap-northeast-1" | "ap-northeast-3" => &["jp", "apac", "global"],
        "ap-southeast-2" | "ap-southeast-4" => &["au", "apac", "global"],
        r if r.starts_with("ap-") => &["apac", "global"],
        _ => &["global"],
    }
}

/// The inference profile id to call `model_id` through from `region`: the first of the
/// region's geographies the model has a profile in. When the table knows no profiles for
/// the model (`available` empty) the region's own geography is suggested.
pub fn profile_id_for(model_id: &str, region: &str, available: &[&str]) -> Option<String> {
    if is_profile_arn(model_id) || geo_prefix_of(model_id).is_some() {
        return None;
    }
    let geos = geos_for_region(region);
    let geo = if available.is_empty() {
        geos.first()
    } else {
        geos.iter().find(|g| available.contains(g))
    }?;
    Some(format!("{geo}.{model_id}"))
}

/// The id to send for a configured model id: unchanged with `off`, for ARNs and for ids
/// that already name a profile; with `auto`, prefixed when the model requires a profile.
pub fn effective_model_id(
    model_id: &str,
    region: &str,
    mode: CrossRegion,
    capabilities: &ModelCapabilities,
) -> String {
    if mode == CrossRegion::Off || !capabilities.requires_inference_profile {
        return model_id.to_string();
    }
    profile_id_for(model_id, region, capabilities.geo_prefixes)
        .unwrap_or_else(|| model_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CapabilityOverrides;

    fn caps(id: &str) -> ModelCapabilities {
        ModelCapabilities::resolve(id, &CapabilityOverrides::default())
    }

    #[test]
    fn auto_prefixes_profile_only_models_for_the_region() {
        let haiku = "anthropic.claude-haiku-4-5-20251001-v1:0";
        let auto =
            |region: &str| effective_model_id(haiku, region, CrossRegion::Auto, &caps(haiku));
        assert_eq!(auto("us-east-1"), format!("us.{haiku}"));
        assert_eq!(auto("eu-central-1"), format!("eu.{haiku}"));
        assert_eq!(auto("ap-northeast-1"), format!("jp.{haiku}"));
        assert_eq!(auto("ap-southeast-2"), format!("au.{haiku}"));
        assert_eq!(auto("ap-south-1"), format!("apac.{haiku}"));
        assert_eq!(auto("sa-east-1"), format!("global.{haiku}"));
        // Opus 4.1 has only a US profile: from Europe there is nothing to pick.
        let opus = "anthropic.claude-opus-4-1-20250805-v1:0";
        assert_eq!(
            effective_model_id(opus, "eu-west-1", CrossRegion::Auto, &caps(opus)),
            opus
        );
    }

    #[test]
    fn off_prefixed_ids_arns_and_on_demand_models_are_never_changed() {
        let haiku = "anthropic.claude-haiku-4-5-20251001-v1:0";
        assert_eq!(
            effective_model_id(haiku, "us-east-1", CrossRegion::Off, &caps(haiku)),
            haiku
        );
        for id in [
            "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us-gov.anthropic.claude-haiku-4-5-20251001-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
            "anthropic.claude-sonnet-4-6",
            "minimax.minimax-m2.5",
        ] {
            assert_eq!(
                effective_model_id(id, "us-east-1", CrossRegion::Auto, &caps(id)),
                id
            );
        }
    }

    #[test]
    fn parses_modes_and_finds_prefixes() {
        assert_eq!("AUTO".parse::<CrossRegion>(), Ok(CrossRegion::Auto));
        assert_eq!("off".parse::<CrossRegion>(), Ok(CrossRegion::Off));
        assert!("sometimes".parse::<CrossRegion>().is_err());
        assert_eq!(geo_prefix_of("us-gov.x"), Some("us-gov"));
        assert_eq!(geo_prefix_of("us.x"), Some("us"));
        assert_eq!(geo_prefix_of("anthropic.x"), None);
        assert!(is_profile_arn(
            "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.anthropic.claude-sonnet-4-6"
        ));
        assert_eq!(
            profile_id_for("acme.new-model", "eu-west-3", &[]).as_deref(),
            Some("eu.acme.new-model")
        );
    }
}

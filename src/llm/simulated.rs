//! `--simulate` for the HTTP providers: the configured base URL is swapped for the same
//! surface on the simulator, so a project written for Mantle, Anthropic or OpenAI runs offline
//! unchanged. Mantle mode is decided from the configured URL first, so a Mantle config still
//! gets (and is checked for) the Mantle shims.

use crate::config::{AnthropicSettings, GenericSettings, OpenAiSettings, Secret};

use super::mantle;

/// Any key will do: the simulator accepts every key unless a test sets one.
const DUMMY_KEY: &str = "pallas-simulator-key";

pub fn anthropic(settings: &AnthropicSettings, simulator: Option<&str>) -> AnthropicSettings {
    let mut s = settings.clone();
    if let Some(url) = simulator {
        let mantle = mantle::anthropic_mantle_mode(settings);
        s.mantle = Some(mantle);
        s.base_url = Some(if mantle {
            format!("{url}/anthropic")
        } else {
            url.to_string()
        });
        s.api_key.get_or_insert_with(|| Secret(DUMMY_KEY.into()));
    }
    s
}

pub fn openai(settings: &OpenAiSettings, simulator: Option<&str>) -> OpenAiSettings {
    let mut s = settings.clone();
    if let Some(url) = simulator {
        s.base_url = Some(format!("{url}/v1"));
        s.api_key.get_or_insert_with(|| Secret(DUMMY_KEY.into()));
    }
    s
}

pub fn generic(settings: &GenericSettings, simulator: Option<&str>) -> GenericSettings {
    let mut s = settings.clone();
    if let Some(url) = simulator {
        s.base_url = format!("{url}/v1");
    }
    s
}

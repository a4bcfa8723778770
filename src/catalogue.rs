//! `pallas models`: the foundation models and inference profiles a region offers, from the
//! Bedrock control plane (`aws-sdk-bedrock` ListFoundationModels / ListInferenceProfiles),
//! cached on disk so repeated runs are instant and work offline.
//!
//! The cache holds the complete, unfiltered listing per region and endpoint; `--provider`
//! filters what is shown. It is refreshed when older than [`REFRESH_INTERVAL`] or on
//! `--refresh` — model launches are rare enough that a day-old list is fine, and a stale
//! list is still shown (with a warning) when the refresh fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_bedrock::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::BedrockSettings;
use crate::llm::bedrock::{no_credentials_message, resolve_region};
use crate::model::ModelCapabilities;

/// A cached listing older than this is fetched again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{0}")]
    NoCredentials(String),
    #[error(
        "access denied listing Bedrock models in {region}: {message}. The IAM principal needs bedrock:ListFoundationModels and bedrock:ListInferenceProfiles (Resource \"*\")"
    )]
    AccessDenied { region: String, message: String },
    #[error("listing Bedrock models in {region} failed: {message}")]
    Service { region: String, message: String },
    #[error(
        "could not reach the Bedrock control plane at {endpoint}: {message}. Check the network, bedrock.endpoint_url / AWS_ENDPOINT_URL, and the region"
    )]
    Transport { endpoint: String, message: String },
}

/// One foundation model as `pallas models` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    /// `responseStreamingSupported`.
    pub streaming: bool,
    /// Image input.
    pub vision: bool,
    /// `ON_DEMAND`, `PROVISIONED`, `INFERENCE_PROFILE`.
    pub inference_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEntry {
    pub id: String,
    pub arn: String,
    pub name: String,
    /// `SYSTEM_DEFINED` or `APPLICATION`.
    pub kind: String,
    pub status: String,
    /// Foundation model ids the profile routes to (deduplicated).
    pub model_ids: Vec<String>,
    /// How many regions' models it routes to.
    pub regions: usize,
}

/// A region's complete listing, as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    pub region: String,
    pub endpoint: String,
    pub fetched_at: DateTime<Utc>,
    pub models: Vec<ModelEntry>,
    pub profiles: Vec<ProfileEntry>,
}

impl Catalogue {
    /// Only models (and profiles of models) from these providers; empty keeps everything.
    /// A provider matches the provider name or the id's vendor namespace, case-insensitively
    /// (`anthropic`, `amazon`, `meta`, `mistral`, …).
    pub fn filter_providers(&mut self, providers: &[String]) {
        if providers.is_empty() {
            return;
        }
        let wanted: Vec<String> = providers.iter().map(|p| p.trim().to_lowercase()).collect();
        let matches = |provider: &str, id: &str| {
            let vendor = id.split('.').next().unwrap_or("").to_lowercase();
            let provider = provider.to_lowercase();
            wanted
                .iter()
                .any(|w| *w == vendor || *w == provider || provider.starts_with(&format!("{w} ")))
        };
        self.models.retain(|m| matches(&m.provider, &m.id));
        self.profiles
            .retain(|p| p.model_ids.iter().any(|id| matches("", id)));
    }

    /// Human-readable listing.
    pub fn render(&self, from_cache: bool) -> String {
        let mut out = format!(
            "Bedrock models in {} ({}, fetched {}{})\n\n",
            self.region,
            self.endpoint,
            self.fetched_at.format("%Y-%m-%d %H:%M UTC"),
            if from_cache { ", from cache" } else { "" }
        );
        let id_w = self
            .models
            .iter()
            .map(|m| m.id.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let prov_w = self
            .models
            .iter()
            .map(|m| m.provider.len())
            .max()
            .unwrap_or(8)
            .max(8);
        out.push_str(&format!(
            "{:<id_w$}  {:<prov_w$}  STREAM  VISION  INFERENCE             PROFILES\n",
            "MODEL ID", "PROVIDER"
        ));
        for m in &self.models {
            let profiles: Vec<String> = self
                .profiles
                .iter()
                .filter(|p| p.kind == "SYSTEM_DEFINED" && p.model_ids.contains(&m.id))
                .map(|p| {
                    p.id.split_once('.')
                        .map_or(p.id.clone(), |(g, _)| format!("{g}."))
                })
                .collect();
            out.push_str(&format!(
                "{:<id_w$}  {:<prov_w$}  {:<6}  {:<6}  {:<20}  {}\n",
                m.id,
                m.provider,
                yes_no(m.streaming),
                yes_no(m.vision),
                m.inference_types.join(","),
                if profiles.is_empty() {
                    "-".to_string()
                } else {
                    profiles.join(" ")
                }
            ));
        }
        if self.models.is_empty() {
            out.push_str("(no models match)\n");
        }
        let pid_w = self
            .profiles
            .iter()
            .map(|p| p.id.len())
            .max()
            .unwrap_or(10)
            .max(10);
        out.push_str(&format!(
            "\n{:<pid_w$}  {:<14}  MODELS\n",
            "INFERENCE PROFILE", "TYPE"
        ));
        for p in &self.profiles {
            let id = if p.kind == "APPLICATION" {
                &p.arn
            } else {
                &p.id
            };
            out.push_str(&format!(
                "{:<pid_w$}  {:<14}  {} ({} region{})\n",
                id,
                p.kind,
                p.model_ids.join(", "),
                p.regions,
                if p.regions == 1 { "" } else { "s" }
            ));
        }
        if self.profiles.is_empty() {
            out.push_str("(no inference profiles match)\n");
        }
        let unknown: Vec<&str> = self
            .models
            .iter()
            .filter(|m| m.output_modalities.iter().any(|o| o == "TEXT"))
            .filter(|m| !ModelCapabilities::resolve(&m.id, &Default::default()).known)
            .map(|m| m.id.as_str())
            .collect();
        if !unknown.is_empty() {
            out.push_str(&format!(
                "\nNot in Pallas's capability table (conservative defaults unless model_capabilities is set): {}\n",
                unknown.join(", ")
            ));
        }
        out.push_str("\nUse a model as `bedrock.<model id>` or `bedrock.<inference profile id>`; INFERENCE_PROFILE-only models need a profile id (bedrock.cross_region: auto adds it).\n");
        out
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `$XDG_CACHE_HOME/pallas`, else `$HOME/.cache/pallas`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .map(|d| d.join("pallas"))
}

pub fn cache_file(dir: &Path, region: &str) -> PathBuf {
    dir.join(format!("models-{region}.json"))
}

/// A cached listing for this region and endpoint, whatever its age.
pub fn read_cache(path: &Path, endpoint: &str) -> Option<Catalogue> {
    let text = std::fs::read_to_string(path).ok()?;
    let cat: Catalogue = serde_json::from_str(&text).ok()?;
    (cat.endpoint == endpoint).then_some(cat)
}

pub fn is_fresh(cat: &Catalogue, now: DateTime<Utc>) -> bool {
    now.signed_duration_since(cat.fetched_at)
        .to_std()
        .is_ok_and(|age| age < REFRESH_INTERVAL)
}

fn write_cache(path: &Path, cat: &Catalogue) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(cat).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}

/// What `pallas models` shows: the cached listing when fresh, otherwise a new one (stored).
/// Returns the listing and whether it came from the cache.
pub async fn load(
    settings: &BedrockSettings,
    refresh: bool,
) -> Result<(Catalogue, bool), CatalogueError> {
    let region = resolve_region(settings);
    let (client, endpoint) = client(settings, &region).await;
    let path = cache_dir().map(|d| cache_file(&d, &region));
    let cached = path.as_deref().and_then(|p| read_cache(p, &endpoint));
    if !refresh
        && let Some(cat) = &cached
        && is_fresh(cat, Utc::now())
    {
        return Ok((cat.clone(), true));
    }
    match fetch(&client, &region, &endpoint, settings.profile.as_deref()).await {
        Ok(cat) => {
            if let Some(path) = &path
                && let Err(e) = write_cache(path, &cat)
            {
                tracing::warn!("cannot write the model cache {}: {e}", path.display());
            }
            Ok((cat, false))
        }
        Err(e) => match cached {
            Some(cat) if !refresh => {
                tracing::warn!("{e}; showing the cached listing from {}", cat.fetched_at);
                Ok((cat, true))
            }
            _ => Err(e),
        },
    }
}

/// The control-plane client and the endpoint it talks to (for messages and the cache key).
async fn client(settings: &BedrockSettings, region: &str) -> (aws_sdk_bedrock::Client, String) {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(
                settings
                    .max_attempts
                    .unwrap_or(crate::llm::bedrock::DEFAULT_MAX_ATTEMPTS),
            ),
        );
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    // `bedrock.endpoint_url` names the runtime endpoint; the control plane only follows the
    // environment (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_BEDROCK), which the SDK reads itself.
    let sdk_config = loader.load().await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_BEDROCK")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| sdk_config.endpoint_url().map(str::to_string))
        .unwrap_or_else(|| format!("https://bedrock.{region}.amazonaws.com"));
    (aws_sdk_bedrock::Client::new(&sdk_config), endpoint)
}

async fn fetch(
    client: &aws_sdk_bedrock::Client,
    region: &str,
    endpoint: &str,
    profile: Option<&str>,
) -> Result<Catalogue, CatalogueError> {
    let map = |e: SdkError<_, _>| map_error(e, region, endpoint, profile);
    let listed = client.list_foundation_models().send().await.map_err(map)?;
    let mut models: Vec<ModelEntry> = listed
        .model_summaries()
        .iter()
        .map(|m| ModelEntry {
            id: m.model_id().to_string(),
            name: m.model_name().unwrap_or_default().to_string(),
            provider: m.provider_name().unwrap_or_default().to_string(),
            input_modalities: m
                .input_modalities()
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
            output_modalities: m
                .output_modalities()
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
            streaming: m.response_streaming_supported().unwrap_or(false),
            vision: m.input_modalities().iter().any(|x| x.as_str() == "IMAGE"),
            inference_types: m
                .inference_types_supported()
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    let mut profiles = Vec::new();
    let mut pages = client.list_inference_profiles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map_error(e, region, endpoint, profile))?;
        for p in page.inference_profile_summaries() {
            let arns: Vec<&str> = p.models().iter().filter_map(|m| m.model_arn()).collect();
            let mut model_ids: Vec<String> = arns
                .iter()
                .filter_map(|a| {
                    a.rsplit_once("foundation-model/")
                        .map(|(_, id)| id.to_string())
                })
                .collect();
            model_ids.sort();
            model_ids.dedup();
            profiles.push(ProfileEntry {
                id: p.inference_profile_id().to_string(),
                arn: p.inference_profile_arn().to_string(),
                name: p.inference_profile_name().to_string(),
                kind: p.r#type().as_str().to_string(),
                status: p.status().as_str().to_string(),
                model_ids,
                regions: arns.len(),
            });
        }
    }
    profiles.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
    Ok(Catalogue {
        region: region.to_string(),
        endpoint: endpoint.to_string(),
        fetched_at: Utc::now(),
        models,
        profiles,
    })
}

fn map_error<E, R>(
    err: SdkError<E, R>,
    region: &str,
    endpoint: &str,
    profile: Option<&str>,
) -> CatalogueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let Some(service) = err.as_service_error() else {
        let detail = DisplayErrorContext(&err).to_string();
        if detail.contains("credentials") || detail.contains("identity") {
            return CatalogueError::NoCredentials(no_credentials_message(profile));
        }
        return CatalogueError::Transport {
            endpoint: endpoint.to_string(),
            message: detail,
        };
    };
    let message = service.message().unwrap_or("no message").to_string();
    match service.code() {
        Some("AccessDeniedException") => CatalogueError::AccessDenied {
            region: region.to_string(),
            message,
        },
        code => CatalogueError::Service {
            region: region.to_string(),
            message: format!("{message} ({})", code.unwrap_or("unknown")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Catalogue {
        let model = |id: &str, provider: &str| ModelEntry {
            id: id.into(),
            name: id.into(),
            provider: provider.into(),
            input_modalities: vec!["TEXT".into(), "IMAGE".into()],
            output_modalities: vec!["TEXT".into()],
            streaming: true,
            vision: true,
            inference_types: vec!["INFERENCE_PROFILE".into()],
        };
        Catalogue {
            region: "us-east-1".into(),
            endpoint: "http://sim".into(),
            fetched_at: Utc::now(),
            models: vec![
                model("anthropic.claude-haiku-4-5-20251001-v1:0", "Anthropic"),
                model("amazon.nova-pro-v1:0", "Amazon"),
                model("mistral.mistral-large-2402-v1:0", "Mistral AI"),
                model("acme.mystery-v1", "Acme"),
            ],
            profiles: vec![ProfileEntry {
                id: "us.anthropic.claude-haiku-4-5-20251001-v1:0".into(),
                arn: "arn".into(),
                name: "US Haiku".into(),
                kind: "SYSTEM_DEFINED".into(),
                status: "ACTIVE".into(),
                model_ids: vec!["anthropic.claude-haiku-4-5-20251001-v1:0".into()],
                regions: 3,
            }],
        }
    }

    #[test]
    fn provider_filter_matches_names_and_vendor_prefixes() {
        let mut cat = sample();
        cat.filter_providers(&["anthropic".into(), "Mistral".into()]);
        let ids: Vec<&str> = cat.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "anthropic.claude-haiku-4-5-20251001-v1:0",
                "mistral.mistral-large-2402-v1:0"
            ]
        );
        assert_eq!(cat.profiles.len(), 1);
        let mut amazon = sample();
        amazon.filter_providers(&["amazon".into()]);
        assert!(amazon.profiles.is_empty());
    }

    #[test]
    fn listing_shows_flags_profiles_and_unknown_models() {
        let text = sample().render(true);
        assert!(text.contains("from cache"), "{text}");
        let haiku = text
            .lines()
            .find(|l| l.starts_with("anthropic.claude-haiku"))
            .unwrap();
        assert!(haiku.contains("yes") && haiku.contains("us."), "{haiku}");
        assert!(text.contains("Not in Pallas's capability table"), "{text}");
        assert!(text.contains("acme.mystery-v1"), "{text}");
    }

    #[test]
    fn cache_round_trips_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_file(dir.path(), "us-east-1");
        let mut cat = sample();
        write_cache(&path, &cat).unwrap();
        assert_eq!(read_cache(&path, "http://sim"), Some(cat.clone()));
        assert_eq!(
            read_cache(&path, "https://elsewhere"),
            None,
            "other endpoint"
        );
        assert!(is_fresh(&cat, Utc::now()));
        cat.fetched_at = Utc::now() - chrono::Duration::hours(25);
        assert!(!is_fresh(&cat, Utc::now()));
    }
}

//! The identity provider's signing keys, fetched once and refetched when it rotates them.
//!
//! A token signed with a key id (`kid`) the cache does not know triggers one refetch, but
//! at most one per [`JwksCache::with_refetch_interval`], so a client sending made-up key ids
//! cannot turn Pallas into a load generator against the identity provider.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;

use super::policy::check_url;
use crate::redact::redact_url;

/// Keys are re-read after this long even without an unknown `kid`, so a revoked key stops
/// being accepted.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A JWKS or metadata document is a few KiB; anything much larger is not one.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why no key could be found for a token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key with id `{0}` at the issuer, even after refreshing its key set")]
    UnknownKid(String),
    #[error("the token names no key id (`kid`) and the key set has {0} keys")]
    MissingKid(usize),
    /// The keys could not be read: a server-side problem, not the caller's.
    #[error("{0}")]
    Unavailable(String),
}

/// Where the key set comes from.
#[derive(Debug, Clone)]
enum KeySource {
    Fixed(String),
    /// RFC 8414 / OpenID discovery from the issuer's metadata.
    Discover {
        issuer: String,
    },
}

#[derive(Default)]
struct CacheState {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    discovered_jwks_url: Option<String>,
}

/// A cached JWKS with rate-limited refetching. The lock is held while fetching, so
/// concurrent requests with a new `kid` cause one fetch, not one each.
pub struct JwksCache {
    http: reqwest::Client,
    source: KeySource,
    max_age: Duration,
    refetch_interval: Duration,
    state: tokio::sync::Mutex<CacheState>,
}

impl JwksCache {
    /// Keys from `jwks_url` when given, else discovered from `issuer`'s metadata.
    pub fn new(http: reqwest::Client, issuer: &str, jwks_url: Option<&str>) -> Self {
        let source = match jwks_url {
            Some(url) => KeySource::Fixed(url.to_string()),
            None => KeySource::Discover {
                issuer: issuer.to_string(),
            },
        };
        Self {
            http,
            source,
            max_age: DEFAULT_MAX_AGE,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            state: tokio::sync::Mutex::new(CacheState::default()),
        }
    }

    /// The least time between two fetches triggered by unknown key ids (default 30 s).
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// The key a token's header points at.
    pub async fn key_for(&self, kid: Option<&str>) -> Result<Jwk, KeyError> {
        let mut state = self.state.lock().await;
        let stale = state
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age);
        if stale {
            self.refresh(&mut state).await?;
        }
        if let Some(key) = find(&state, kid)? {
            return Ok(key);
        }
        let may_refetch = state
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if may_refetch {
            tracing::info!("token signed with an unknown key id; refreshing the issuer's keys");
            self.refresh(&mut state).await?;
            if let Some(key) = find(&state, kid)? {
                return Ok(key);
            }
        }
        Err(KeyError::UnknownKid(kid.unwrap_or_default().to_string()))
    }

    /// Fetches the key set; on failure keeps serving the previous one if there is one.
    async fn refresh(&self, state: &mut CacheState) -> Result<(), KeyError> {
        state.last_attempt = Some(Instant::now());
        match self.fetch(state).await {
            Ok(keys) => {
                state.keys = Some(keys);
                state.fetched_at = Some(Instant::now());
                Ok(())
            }
            Err(message) if state.keys.is_some() => {
                tracing::warn!("{message}; keeping the keys fetched before");
                Ok(())
            }
            Err(message) => Err(KeyError::Unavailable(message)),
        }
    }

    async fn fetch(&self, state: &mut CacheState) -> Result<JwkSet, String> {
        let url = match (&self.source, &state.discovered_jwks_url) {
            (KeySource::Fixed(url), _) => url.clone(),
            (KeySource::Discover { .. }, Some(url)) => url.clone(),
            (KeySource::Discover { issuer }, None) => {
                let url = discover_jwks_url(&self.http, issuer).await?;
                state.discovered_jwks_url = Some(url.clone());
                url
            }
        };
        get_json::<JwkSet>(&self.http, &url).await
    }
}

fn find(state: &CacheState, kid: Option<&str>) -> Result<Option<Jwk>, KeyError> {
    let Some(keys) = &state.keys else {
        return Ok(None);
    };
    match kid {
        Some(kid) => Ok(keys.find(kid).cloned()),
        None if keys.keys.len() == 1 => Ok(keys.keys.first().cloned()),
        None => Err(KeyError::MissingKid(keys.keys.len())),
    }
}

#[derive(Deserialize)]
struct IssuerMetadata {
    issuer: String,
    jwks_uri: Option<String>,
}

/// The metadata locations for `issuer`: RFC 8414 inserts the well-known segment before the
/// issuer's path; OpenID Connect Discovery appends it.
fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = Vec::new();
    if let Ok(parsed) = url::Url::parse(trimmed) {
        let origin = parsed.origin().ascii_serialization();
        let path = parsed.path().trim_end_matches('/');
        urls.push(format!(
            "{origin}/.well-known/oauth-authorization-server{path}"
        ));
    }
    urls.push(format!("{trimmed}/.well-known/openid-configuration"));
    urls
}

async fn discover_jwks_url(http: &reqwest::Client, issuer: &str) -> Result<String, String> {
    let mut failures = Vec::new();
    for url in metadata_urls(issuer) {
        match get_json::<IssuerMetadata>(http, &url).await {
            Ok(metadata) => {
                if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
                    return Err(format!(
                        "the metadata at {} names issuer `{}`, not the configured `{}`; set auth.oauth.issuer to the exact issuer",
                        redact_url(&url),
                        redact_url(&metadata.issuer),
                        redact_url(issuer)
                    ));
                }
                let jwks_uri = metadata.jwks_uri.ok_or_else(|| {
                    format!(
                        "the metadata at {} has no `jwks_uri`; set auth.oauth.jwks_url",
                        redact_url(&url)
                    )
                })?;
                check_url("jwks_uri from the issuer's metadata", &jwks_uri)
                    .map_err(|e| e.to_string())?;
                return Ok(jwks_uri);
            }
            Err(message) => failures.push(message),
        }
    }
    Err(format!(
        "cannot discover the issuer's keys ({}); set auth.oauth.jwks_url",
        failures.join("; ")
    ))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let shown = redact_url(url);
    let mut response = http
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {shown} failed: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("GET {shown} answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading {shown} failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{shown} sent more than {MAX_DOCUMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{shown} is not the expected JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_rfc8414_then_oidc() {
        assert_eq!(
            metadata_urls("https://idp.example/realms/main/"),
            vec![
                "https://idp.example/.well-known/oauth-authorization-server/realms/main",
                "https://idp.example/realms/main/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            metadata_urls("https://idp.example"),
            vec![
                "https://idp.example/.well-known/oauth-authorization-server",
                "https://idp.example/.well-known/openid-configuration",
            ]
        );
    }
}

//! The axum middleware that puts [`AuthPolicy`] in front of every route of a server.
//!
//! It answers as the MCP authorization spec asks of a resource server: 401 with
//! `WWW-Authenticate: Bearer resource_metadata="…"` so a client can find the authorization
//! server, 403 `insufficient_scope` naming the scopes, and the RFC 9728 metadata document
//! itself. Accepted requests reach the inner service without their `Authorization` header
//! (so a caller's token can never be forwarded downstream) and with a [`Principal`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::jwks::JwksCache;
use super::jwt::{JwtRefusal, JwtVerifier};
use super::policy::{AuthConfigError, AuthPolicy};
use super::principal::{AuthMethod, Principal};
use super::tokens::StaticTokens;

/// Paths that stay open so orchestrators can probe without a credential; they answer a
/// status word and nothing else.
pub const PROBE_PATHS: &[&str] = &["/livez", "/readyz"];

/// RFC 9728 §3: the protected-resource metadata location.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// One server's credential check, built from its policy and its own public URL.
pub struct Authenticator {
    required: bool,
    tokens: StaticTokens,
    oauth: Option<(String, JwtVerifier)>,
    resource: String,
    metadata_url: String,
}

/// RFC 9728 protected-resource metadata.
#[derive(Debug, Serialize)]
pub struct ResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub bearer_methods_supported: Vec<&'static str>,
}

enum Refusal {
    Missing,
    Invalid(String),
    InsufficientScope,
    Unavailable(String),
}

impl Authenticator {
    /// `resource_url` is this server's public URL as clients reach it (e.g.
    /// `https://agents.example.com:8001/mcp`): the default OAuth audience and the
    /// `resource` of the metadata document, whose own URL is derived from its origin.
    pub fn new(
        policy: &AuthPolicy,
        resource_url: &str,
        http: reqwest::Client,
    ) -> Result<Self, AuthConfigError> {
        let origin = url::Url::parse(resource_url)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|e| {
                AuthConfigError::new(format!(
                    "the server URL `{}` is not a URL ({e})",
                    crate::redact::redact_url(resource_url)
                ))
            })?;
        let (required, tokens, oauth) = match policy {
            AuthPolicy::None => (false, StaticTokens::new(&[]), None),
            AuthPolicy::Required(credentials) => {
                let oauth = credentials.oauth.as_ref().map(|settings| {
                    let keys = JwksCache::new(
                        http.clone(),
                        &settings.issuer,
                        settings.jwks_url.as_deref(),
                    );
                    let audience = settings.audience.as_deref().unwrap_or(resource_url);
                    let verifier =
                        JwtVerifier::new(&settings.issuer, audience, settings.scopes.clone(), keys);
                    (settings.issuer.clone(), verifier)
                });
                (true, StaticTokens::new(&credentials.tokens), oauth)
            }
        };
        Ok(Self {
            required,
            tokens,
            oauth,
            resource: resource_url.to_string(),
            metadata_url: format!("{origin}{METADATA_PATH}"),
        })
    }

    /// The least time between JWKS refetches caused by unknown key ids (default 30 s).
    pub fn with_jwks_refetch_interval(mut self, interval: Duration) -> Self {
        if let Some((issuer, verifier)) = self.oauth.take() {
            self.oauth = Some((issuer, verifier.with_refetch_interval(interval)));
        }
        self
    }

    pub fn requires_credential(&self) -> bool {
        self.required
    }

    pub fn metadata(&self) -> ResourceMetadata {
        ResourceMetadata {
            resource: self.resource.clone(),
            authorization_servers: self.oauth.iter().map(|(iss, _)| iss.clone()).collect(),
            scopes_supported: self.required_scopes().to_vec(),
            bearer_methods_supported: vec!["header"],
        }
    }

    fn required_scopes(&self) -> &[String] {
        self.oauth
            .as_ref()
            .map_or(&[], |(_, verifier)| verifier.required_scopes())
    }

    async fn check(&self, authorization: Option<&HeaderValue>) -> Result<Principal, Refusal> {
        let value = authorization.ok_or(Refusal::Missing)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| Refusal::Invalid("not a Bearer credential".to_string()))?;
        if let Some(index) = self.tokens.matching(token) {
            return Ok(Principal {
                subject: Some(format!("static-token-{index}")),
                scopes: Vec::new(),
                method: AuthMethod::StaticToken,
            });
        }
        let Some((_, verifier)) = &self.oauth else {
            return Err(Refusal::Invalid("unknown token".to_string()));
        };
        verifier
            .verify(token)
            .await
            .map_err(|refusal| match refusal {
                JwtRefusal::Invalid(reason) => Refusal::Invalid(reason),
                JwtRefusal::InsufficientScope => Refusal::InsufficientScope,
                JwtRefusal::KeysUnavailable(reason) => Refusal::Unavailable(reason),
            })
    }

    fn refuse(&self, refusal: Refusal) -> Response {
        let metadata = format!("resource_metadata=\"{}\"", self.metadata_url);
        let (status, challenge, reason) = match refusal {
            // MCP clients pick the scopes to request from the first 401 (spec 2025-11-25,
            // "Scope Selection Strategy"), so it names them when OAuth requires some.
            Refusal::Missing if !self.required_scopes().is_empty() => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "Bearer {metadata}, scope=\"{}\"",
                    self.required_scopes().join(" ")
                ),
                "a bearer token is required (Authorization: Bearer <token>)".to_string(),
            ),
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer {metadata}"),
                "a bearer token is required (Authorization: Bearer <token>)".to_string(),
            ),
            Refusal::Invalid(reason) => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer error=\"invalid_token\", {metadata}"),
                format!("the bearer token was not accepted: {reason}"),
            ),
            Refusal::InsufficientScope => {
                let scope = self.required_scopes().join(" ");
                (
                    StatusCode::FORBIDDEN,
                    format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\", {metadata}"),
                    format!("the token lacks a required scope; required: {scope}"),
                )
            }
            Refusal::Unavailable(reason) => {
                tracing::error!("cannot verify bearer tokens: {reason}");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot verify tokens right now: the identity provider's keys are unreachable\n",
                )
                    .into_response();
            }
        };
        // Every MCP client's first request has no token, so that refusal is routine.
        if status == StatusCode::UNAUTHORIZED && challenge == format!("Bearer {metadata}") {
            tracing::debug!(status = status.as_u16(), "request refused: {reason}");
        } else {
            tracing::info!(status = status.as_u16(), "request refused: {reason}");
        }
        let mut response = (status, format!("{reason}\n")).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// `axum::middleware::from_fn_with_state(authenticator, require_auth)`.
pub async fn require_auth(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if PROBE_PATHS.contains(&path) {
        return next.run(request).await;
    }
    if auth.required
        && request.method() == Method::GET
        && (path == METADATA_PATH || path.starts_with(&format!("{METADATA_PATH}/")))
    {
        return axum::Json(auth.metadata()).into_response();
    }
    let principal = if auth.required {
        let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
        let first = values.next();
        if values.next().is_some() {
            return auth.refuse(Refusal::Invalid(
                "more than one Authorization header".to_string(),
            ));
        }
        match auth.check(first).await {
            Ok(principal) => principal,
            Err(refusal) => return auth.refuse(refusal),
        }
    } else {
        Principal::anonymous()
    };
    request.headers_mut().remove(header::AUTHORIZATION);
    request.extensions_mut().insert(principal);
    next.run(request).await
}

//! Request body limits enforced while the body streams in.
//!
//! Placed inside the auth and Host/Origin layers, so nothing of an unauthenticated or
//! foreign request's body is read at all. A declared `Content-Length` over the limit is
//! refused before the inner service runs; a chunked body is cut off at the limit as it is
//! read, and the inner service's answer to the failed read is replaced by a 413, so the
//! caller sees the same status whichever way it sent the body.
//!
//! (axum's `DefaultBodyLimit` only configures axum's own extractors and rmcp reads the body
//! itself; tower-http's `RequestBodyLimitLayer` streams too, but would leave the status of a
//! cut-off chunked body to the inner service, which for rmcp is a 500.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::principal::{AuthMethod, Principal};

/// The limit for everything that is not an authenticated agent call.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Limits for one server: a small default, and optionally a larger one for authenticated
/// requests under one path (the agent's `/mcp`, where attachments arrive).
#[derive(Debug, Clone)]
pub struct BodyLimit {
    default: usize,
    large: Option<LargeLimit>,
}

#[derive(Debug, Clone)]
struct LargeLimit {
    path: String,
    limit: usize,
    anonymous: bool,
}

impl Default for BodyLimit {
    fn default() -> Self {
        Self::new(DEFAULT_BODY_LIMIT)
    }
}

impl BodyLimit {
    pub fn new(default: usize) -> Self {
        Self {
            default,
            large: None,
        }
    }

    /// `limit` for requests under `path` (the path itself or below it) that the auth layer
    /// accepted with a credential. `anonymous`: whether `auth: none` callers (the anonymous
    /// principal) get it too — the operator chose to trust whoever reaches the port then.
    pub fn authenticated(mut self, path: impl Into<String>, limit: usize, anonymous: bool) -> Self {
        self.large = Some(LargeLimit {
            path: path.into(),
            limit,
            anonymous,
        });
        self
    }

    fn for_request(&self, request: &Request) -> usize {
        let Some(large) = &self.large else {
            return self.default;
        };
        let path = request.uri().path();
        let under = path
            .strip_prefix(large.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        let trusted = request
            .extensions()
            .get::<Principal>()
            .is_some_and(|p| large.anonymous || p.method != AuthMethod::Anonymous);
        if under && trusted {
            large.limit
        } else {
            self.default
        }
    }
}

/// `axum::middleware::from_fn_with_state(Arc::new(limit), limit_body)`, layered inside
/// `require_auth` (which puts the [`Principal`] there).
pub async fn limit_body(
    State(limits): State<Arc<BodyLimit>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = limits.for_request(&request);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(limit);
    }
    let exceeded = Arc::new(AtomicBool::new(false));
    let flag = exceeded.clone();
    let (parts, body) = request.into_parts();
    let limited = Limited::new(body, limit).map_err(move |error| {
        if error.is::<LengthLimitError>() {
            flag.store(true, Ordering::Relaxed);
        }
        error
    });
    let response = next
        .run(Request::from_parts(parts, Body::new(limited)))
        .await;
    if exceeded.load(Ordering::Relaxed) {
        return too_large(limit);
    }
    response
}

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body exceeds the {limit}-byte limit of this route\n"),
    )
        .into_response()
}

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

/// Limits for one route.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    default: usize,
    authenticated: Option<usize>,
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
            authenticated: None,
        }
    }

    /// A larger limit (attachments) for requests the auth layer accepted with a principal.
    /// Under `auth: none` every request carries the anonymous principal; whether that counts
    /// is `include_anonymous`'s call — the operator chose to trust the network then.
    pub fn authenticated(mut self, limit: usize) -> Self {
        self.authenticated = Some(limit);
        self
    }

    fn for_request(&self, request: &Request, include_anonymous: bool) -> usize {
        let principal = request.extensions().get::<Principal>();
        let trusted =
            principal.is_some_and(|p| include_anonymous || p.method != AuthMethod::Anonymous);
        match self.authenticated {
            Some(large) if trusted => large,
            _ => self.default,
        }
    }
}

/// State for [`limit_body`]: the limits, and whether `auth: none` callers get the larger one.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimitState {
    pub limit: BodyLimit,
    pub anonymous_is_authenticated: bool,
}

/// `axum::middleware::from_fn_with_state(state, limit_body)`, layered inside `require_auth`.
pub async fn limit_body(
    State(state): State<BodyLimitState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state
        .limit
        .for_request(&request, state.anonymous_is_authenticated);
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

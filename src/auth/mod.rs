//! Who may call a Pallas server: the `auth:` policy, static bearer tokens, Pallas as an
//! OAuth 2.1 resource server (JWTs against the issuer's JWKS), the axum middleware that
//! enforces it on every route, and the body limits that depend on it.
//!
//! Layer order on a router (outermost first): [`crate::http_guard::guard_host_origin`],
//! [`require_auth`], [`limit_body`], then the routes — see [`protect`]. Nothing of a
//! request's body is read before the first two have accepted it.

mod body_limit;
mod exposure;
mod jwks;
mod jwt;
mod layer;
mod policy;
mod principal;
mod secret;
mod tokens;

use std::sync::Arc;

pub use body_limit::{BodyLimit, DEFAULT_BODY_LIMIT, limit_body};
pub use exposure::{ExposedWithoutAuth, check_exposure};
pub use jwks::{JwksCache, KeyError};
pub use jwt::{JwtRefusal, JwtVerifier, LEEWAY_SECONDS};
pub use layer::{Authenticator, METADATA_PATH, PROBE_PATHS, ResourceMetadata, require_auth};
pub use policy::{AuthConfigError, AuthPolicy, Credentials, MIN_TOKEN_CHARS, OAuthSettings};
pub use principal::{AuthMethod, Principal};
pub use secret::Secret;
pub use tokens::StaticTokens;

use crate::http_guard::{HostOriginGuard, guard_host_origin};

/// Wraps every route of `router` (including its fallback) in the Host/Origin guard, the
/// credential check and the body limit, in that order.
pub fn protect(
    router: axum::Router,
    guard: Arc<HostOriginGuard>,
    auth: Arc<Authenticator>,
    body: BodyLimit,
) -> axum::Router {
    use axum::middleware::from_fn_with_state;
    router
        .layer(from_fn_with_state(Arc::new(body), limit_body))
        .layer(from_fn_with_state(auth, require_auth))
        .layer(from_fn_with_state(guard, guard_host_origin))
}

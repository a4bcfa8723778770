//! The `Host` and `Origin` checks for every route of an agent or the registry.
//!
//! `Host` defeats DNS rebinding: a page on `evil.example` whose name is re-pointed at a
//! Pallas address still sends `Host: evil.example`. `Origin` defeats cross-site calls from
//! a browser; non-browser clients (MCP SDKs, curl, orchestrators) send no `Origin` and are
//! not affected, so the default allows none.
//!
//! Relation to rmcp: `StreamableHttpServerConfig` has its own `allowed_hosts` and
//! `allowed_origins` (rmcp 3.11 `transport/streamable_http_server/tower.rs`,
//! `validate_dns_rebinding_headers`), but they guard only the `/mcp` service, not `/health`,
//! `/agents` or the metadata document, and their semantics differ: an empty host list
//! allows every host, an empty origin list disables the Origin check unless
//! `enforce_origin_validation()` is called, and an origin entry without a port matches any
//! port. To have one implementation and one meaning for all routes, this layer wraps the
//! whole router and rmcp's copy is switched off (`disable_allowed_hosts()`, no origins).
//! A refusal here is a 403 with a one-line plain-text reason, like rmcp's.
//!
//! The probe paths (`/livez`, `/readyz`) are exempt: Kubernetes sends `Host: <pod IP>`,
//! which no allowed-hosts list can name in advance, and they reveal only a status word.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::PROBE_PATHS;

/// Allowed `Host` and `Origin` values for one server.
#[derive(Debug, Clone)]
pub struct HostOriginGuard {
    hosts: Vec<HostRule>,
    origins: Vec<OriginRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginRule {
    /// `null`: sandboxed iframes and `file:` pages.
    Null,
    Tuple {
        scheme: String,
        host: String,
        /// `None`: any port (`:*`); an entry without a port means the scheme's default.
        port: Option<u16>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardConfigError {
    #[error("allowed hosts are empty; list at least the name clients use to reach the server")]
    NoHosts,
    #[error(
        "allowed_origins entry `{0}` is not an origin; write it as scheme://host[:port], e.g. https://app.example.com or http://localhost:*"
    )]
    BadOrigin(String),
    #[error("allowed host entry `{0}` is not a host or host:port")]
    BadHost(String),
}

impl HostOriginGuard {
    /// `allowed_hosts`: entries `host` (any port) or `host:port`; IPv6 as `::1`, `[::1]`
    /// or `[::1]:8001`. `allowed_origins`: `scheme://host`, `scheme://host:port`,
    /// `scheme://host:*` or `null`; empty refuses every request that carries an `Origin`.
    pub fn new(
        allowed_hosts: impl IntoIterator<Item = impl AsRef<str>>,
        allowed_origins: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Self, GuardConfigError> {
        let hosts = allowed_hosts
            .into_iter()
            .map(|entry| parse_host_rule(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if hosts.is_empty() {
            return Err(GuardConfigError::NoHosts);
        }
        let origins = allowed_origins
            .into_iter()
            .map(|entry| parse_origin_rule(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { hosts, origins })
    }

    /// `Err` holds the one-line reason for the 403.
    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), String> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .ok_or("request has no Host header")?;
        let (name, port) = split_authority(&host).ok_or("the Host header is malformed")?;
        let host_allowed = self
            .hosts
            .iter()
            .any(|rule| rule.host == name && rule.port.is_none_or(|p| Some(p) == port));
        if !host_allowed {
            return Err(format!(
                "Host `{}` is not one this server answers to (add it to the allowed hosts)",
                printable(&host)
            ));
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin_text = origin
            .to_str()
            .map_err(|_| "the Origin header is malformed")?;
        let parsed = parse_origin(origin_text).ok_or("the Origin header is malformed")?;
        if same_origin(&parsed, &name, port) || self.origins.iter().any(|r| r.matches(&parsed)) {
            return Ok(());
        }
        Err(format!(
            "Origin `{}` is not in allowed_origins (browser pages may call only from listed origins)",
            printable(origin_text)
        ))
    }
}

/// `axum::middleware::from_fn_with_state(Arc::new(guard), guard_host_origin)`, outermost.
pub async fn guard_host_origin(
    State(guard): State<Arc<HostOriginGuard>>,
    request: Request,
    next: Next,
) -> Response {
    if PROBE_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match guard.check(request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => {
            tracing::info!("request refused: {reason}");
            (StatusCode::FORBIDDEN, format!("Forbidden: {reason}\n")).into_response()
        }
    }
}

/// Header values are attacker-chosen; keep the echo short and on one line.
fn printable(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect()
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn split_authority(text: &str) -> Option<(String, Option<u16>)> {
    let authority = axum::http::uri::Authority::try_from(text).ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    Some((normalize_host(authority.host()), authority.port_u16()))
}

fn parse_host_rule(entry: &str) -> Result<HostRule, GuardConfigError> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err(GuardConfigError::BadHost(entry.to_string()));
    }
    // A bare IPv6 address (`::1`) is not an authority; it means that host on any port.
    if entry.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(HostRule {
            host: normalize_host(entry),
            port: None,
        });
    }
    let (host, port) =
        split_authority(entry).ok_or_else(|| GuardConfigError::BadHost(entry.to_string()))?;
    Ok(HostRule { host, port })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// A page this server itself served (its origin is the allowed `Host` the request came to)
/// is not a cross-site caller, so it needs no `allowed_origins` entry.
fn same_origin(origin: &OriginRule, host: &str, port: Option<u16>) -> bool {
    match origin {
        OriginRule::Tuple {
            scheme,
            host: o_host,
            port: o_port,
        } => o_host == host && *o_port == port.or_else(|| default_port(scheme)),
        OriginRule::Null => false,
    }
}

/// A request's `Origin`, port made explicit.
fn parse_origin(value: &str) -> Option<OriginRule> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("null") {
        return Some(OriginRule::Null);
    }
    let uri = Uri::try_from(value).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let port = authority.port_u16().or_else(|| default_port(&scheme));
    Some(OriginRule::Tuple {
        host: normalize_host(authority.host()),
        scheme,
        port,
    })
}

fn parse_origin_rule(entry: &str) -> Result<OriginRule, GuardConfigError> {
    let bad = || GuardConfigError::BadOrigin(entry.to_string());
    let trimmed = entry.trim().trim_end_matches('/');
    if let Some(base) = trimmed.strip_suffix(":*") {
        let explicit_port = Uri::try_from(base)
            .ok()
            .and_then(|uri| uri.authority().and_then(|a| a.port_u16()));
        return match parse_origin(base).ok_or_else(bad)? {
            OriginRule::Tuple { scheme, host, .. } if explicit_port.is_none() => {
                Ok(OriginRule::Tuple {
                    scheme,
                    host,
                    port: None,
                })
            }
            _ => Err(bad()),
        };
    }
    let rule = parse_origin(trimmed).ok_or_else(bad)?;
    match &rule {
        OriginRule::Tuple { port: None, .. } => Err(bad()),
        _ => Ok(rule),
    }
}

impl OriginRule {
    fn matches(&self, origin: &OriginRule) -> bool {
        match (self, origin) {
            (OriginRule::Null, OriginRule::Null) => true,
            (
                OriginRule::Tuple { scheme, host, port },
                OriginRule::Tuple {
                    scheme: o_scheme,
                    host: o_host,
                    port: o_port,
                },
            ) => scheme == o_scheme && host == o_host && port.is_none_or(|p| Some(p) == *o_port),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            map.insert(header::ORIGIN, origin.parse().unwrap());
        }
        map
    }

    fn check(guard: &HostOriginGuard, host: &str, origin: Option<&str>) -> Result<(), String> {
        guard.check(&Uri::from_static("/mcp"), &headers(host, origin))
    }

    #[test]
    fn hosts_match_by_name_and_optional_port() {
        let guard = HostOriginGuard::new(
            ["localhost", "::1", "agents.example.com:8443", "[fe80::1]:9"],
            [""; 0],
        )
        .unwrap();
        assert!(check(&guard, "localhost:8001", None).is_ok());
        assert!(check(&guard, "LOCALHOST", None).is_ok());
        assert!(check(&guard, "[::1]:8001", None).is_ok());
        assert!(check(&guard, "agents.example.com:8443", None).is_ok());
        assert!(check(&guard, "[fe80::1]:9", None).is_ok());
        let refused = check(&guard, "agents.example.com:80", None).unwrap_err();
        assert!(
            refused.contains("Host `agents.example.com:80`"),
            "{refused}"
        );
        assert!(check(&guard, "evil.example", None).is_err());
        assert!(check(&guard, "user@localhost", None).is_err());
    }

    #[test]
    fn origins_are_refused_unless_listed() {
        let none = HostOriginGuard::new(["localhost"], [""; 0]).unwrap();
        let refused = check(&none, "localhost", Some("http://evil.example")).unwrap_err();
        assert!(
            refused.contains("Origin `http://evil.example`"),
            "{refused}"
        );
        let some = HostOriginGuard::new(
            ["localhost"],
            ["https://app.example.com", "http://localhost:*", "null"],
        )
        .unwrap();
        assert!(check(&some, "localhost", Some("https://app.example.com")).is_ok());
        assert!(check(&some, "localhost", Some("https://app.example.com:443")).is_ok());
        assert!(check(&some, "localhost", Some("https://app.example.com:8443")).is_err());
        assert!(check(&some, "localhost", Some("http://app.example.com")).is_err());
        assert!(check(&some, "localhost", Some("http://localhost:3000")).is_ok());
        assert!(check(&some, "localhost", Some("null")).is_ok());
        assert!(check(&some, "localhost", Some("not an origin")).is_err());
    }

    #[test]
    fn a_page_of_the_server_itself_is_not_cross_site() {
        let none = HostOriginGuard::new(["127.0.0.1", "localhost"], [""; 0]).unwrap();
        assert!(check(&none, "127.0.0.1:8201", Some("http://127.0.0.1:8201")).is_ok());
        assert!(check(&none, "localhost", Some("http://localhost")).is_ok());
        // Another port of the same host is another origin (another local server's page).
        assert!(check(&none, "127.0.0.1:8201", Some("http://127.0.0.1:3000")).is_err());
        assert!(check(&none, "127.0.0.1:8201", Some("http://localhost:8201")).is_err());
    }

    #[test]
    fn configuration_mistakes_are_reported() {
        assert_eq!(
            HostOriginGuard::new([""; 0], [""; 0]).unwrap_err(),
            GuardConfigError::NoHosts
        );
        assert!(matches!(
            HostOriginGuard::new(["localhost"], ["app.example.com"]),
            Err(GuardConfigError::BadOrigin(_))
        ));
        assert!(matches!(
            HostOriginGuard::new(["localhost"], ["https://a.example:443:*"]),
            Err(GuardConfigError::BadOrigin(_))
        ));
        assert!(matches!(
            HostOriginGuard::new(["bad host"], [""; 0]),
            Err(GuardConfigError::BadHost(_))
        ));
    }
}

//! Who may reach a server and how much it may hold: the top-level `auth:`,
//! `allowed_hosts:` and `allowed_origins:`, and each agent's `auth:` override and limits
//! (`max_sessions`, `session_idle_seconds`, `max_concurrent_turns`, `max_queued_turns`,
//! `turn_timeout_seconds`).
//!
//! The `auth:` grammar itself lives in `crate::auth::AuthPolicy`; this file only places its
//! findings at a file, line and field like every other config problem.

use std::time::Duration;

use serde_yaml::Value;

use super::diagnostic::Diagnostic;
use super::source::Sources;
use super::value::{as_int, describe, scalar_string};
use crate::auth::AuthPolicy;

/// Sessions one agent keeps open at once; the next `initialize` gets 503 + Retry-After.
pub const DEFAULT_MAX_SESSIONS: u32 = 512;
/// Agent calls (model turns) running at once per agent.
pub const DEFAULT_MAX_CONCURRENT_TURNS: u32 = 16;
/// Agent calls waiting for a turn slot; beyond this a call is refused at once as busy.
pub const DEFAULT_MAX_QUEUED_TURNS: u32 = 32;
/// How long one whole agent call may take, model and tool calls included.
pub const DEFAULT_TURN_TIMEOUT: Duration = Duration::from_secs(600);
/// A session that has made no tool call is closed after this long.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(60);

/// Bounds on what one agent's callers can make it hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub max_sessions: u32,
    pub max_concurrent_turns: u32,
    pub max_queued_turns: u32,
    pub turn_timeout: Duration,
    /// A session that has made no tool call is closed after this long.
    pub session_idle: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_concurrent_turns: DEFAULT_MAX_CONCURRENT_TURNS,
            max_queued_turns: DEFAULT_MAX_QUEUED_TURNS,
            turn_timeout: DEFAULT_TURN_TIMEOUT,
            session_idle: DEFAULT_SESSION_IDLE,
        }
    }
}

/// One `auth:` value at `path`; `Err` is the finding to report there.
pub fn read_auth(
    value: Option<&Value>,
    path: &[String],
    loc: &Sources<'_>,
) -> Result<Option<AuthPolicy>, Diagnostic> {
    let Some(value) = value else {
        return Ok(None);
    };
    AuthPolicy::from_yaml(value).map(Some).map_err(|e| {
        let message = e.to_string();
        let problem = message.strip_prefix("auth: ").unwrap_or(&message);
        loc.diagnostic(
            path,
            problem,
            "see docs/exposing.md for `auth: {tokens: [...]}`, `auth: {oauth: {...}}` and `auth: none`",
        )
    })
}

/// A list of strings (`allowed_hosts`, `allowed_origins`); a single string is a list of one.
pub fn read_list(
    value: Option<&Value>,
    path: &[String],
    loc: &Sources<'_>,
) -> Result<Vec<String>, Diagnostic> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|item| {
                scalar_string(item).ok_or_else(|| {
                    loc.diagnostic(
                        path,
                        &format!("has {}, not text", describe(item)),
                        "write each entry as a string, e.g. https://app.example.com",
                    )
                })
            })
            .collect(),
        Some(other) => scalar_string(other).map(|s| vec![s]).ok_or_else(|| {
            loc.diagnostic(
                path,
                &format!("is {}, not a list", describe(other)),
                "write a list, e.g. [https://app.example.com]",
            )
        }),
    }
}

/// The limit fields of one agent; each bad one adds a finding and keeps its default.
pub fn read_limits(
    fields: [(&str, Option<&Value>); 5],
    problem: &mut dyn FnMut(&str, String, &str),
) -> ServeLimits {
    let mut limits = ServeLimits::default();
    for (field, value) in fields {
        let Some(value) = value else { continue };
        let number = as_int(value).and_then(|n| u32::try_from(n).ok());
        let minimum = u32::from(field != "max_queued_turns");
        let Some(n) = number.filter(|n| *n >= minimum) else {
            problem(
                field,
                format!(
                    "{} is not a whole number of at least {minimum}",
                    describe(value)
                ),
                "write a whole number, or remove the line for the default (docs/exposing.md)",
            );
            continue;
        };
        match field {
            "max_sessions" => limits.max_sessions = n,
            "max_concurrent_turns" => limits.max_concurrent_turns = n,
            "max_queued_turns" => limits.max_queued_turns = n,
            "session_idle_seconds" => limits.session_idle = Duration::from_secs(u64::from(n)),
            _ => limits.turn_timeout = Duration::from_secs(u64::from(n)),
        }
    }
    limits
}

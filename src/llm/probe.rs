//! Token-free preflight requests for the HTTP providers: one short GET, no retries, and a
//! message that says what to fix when it does not answer 200.

use std::time::Duration;

use reqwest::RequestBuilder;

use super::http_errors::ApiContext;
use super::retry::{SendError, error_chain};
use super::{Preflight, PreflightStatus};

/// Preflight runs at startup and on `get_health {"refresh": true}`; neither may hang.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `request` once; `Ok` with the response for a 2xx, else the message for health.
pub async fn probe(
    request: RequestBuilder,
    ctx: &ApiContext,
    url: &str,
) -> Result<reqwest::Response, String> {
    let outcome = match request.timeout(PREFLIGHT_TIMEOUT).send().await {
        Ok(r) if r.status().is_success() => return Ok(r),
        Ok(r) => {
            let status = r.status();
            SendError::Status {
                status,
                body: r.text().await.unwrap_or_default(),
                attempts: 1,
            }
        }
        Err(e) => SendError::Connection {
            message: if e.is_timeout() {
                format!("no response within {} s", PREFLIGHT_TIMEOUT.as_secs())
            } else {
                error_chain(&e)
            },
            timeout: e.is_timeout(),
            attempts: 1,
        },
    };
    let problem = ctx.problem(&outcome);
    Err(format!("{} (GET {url}) — {}", problem.message, problem.fix))
}

pub fn preflight(provider: &str, model: &str, outcome: Result<String, String>) -> Preflight {
    let (status, message) = match outcome {
        Ok(m) => (PreflightStatus::Ok, m),
        Err(m) => (PreflightStatus::Error, m),
    };
    Preflight {
        provider: provider.to_string(),
        model: model.to_string(),
        status,
        message,
        checked_at: chrono::Utc::now(),
    }
}

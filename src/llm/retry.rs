//! Retries for the HTTP providers, as the official SDKs do them: 408, 429, 5xx (including
//! Anthropic's 529 "overloaded") and connection failures are retried with jittered
//! exponential backoff, waiting at least what `retry-after` asks; other 4xx are final.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `retry-after` longer than this is not waited for: the caller gets the error now.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Why a request did not produce a 2xx response.
#[derive(Debug)]
pub enum SendError {
    /// The server answered with an error status (after any retries).
    Status {
        status: StatusCode,
        body: String,
        attempts: u32,
    },
    /// No answer: connection refused, DNS, TLS, timeout.
    Connection {
        message: String,
        timeout: bool,
        attempts: u32,
    },
}

pub fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Sends the request `build` makes (it is called once per attempt).
pub async fn send_with_retry(
    policy: RetryPolicy,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, SendError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= policy.max_attempts;
        match build().send().await {
            Ok(response) if response.status().is_success() => return Ok(response),
            Ok(response) => {
                let status = response.status();
                let wait = retry_after(response.headers());
                if !last && is_retryable(status) && wait.is_none_or(|w| w <= policy.max_retry_after)
                {
                    let delay = wait.unwrap_or_else(|| backoff(&policy, attempt));
                    tracing::debug!(%status, ?delay, attempt, "retrying HTTP request");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                let body = response.text().await.unwrap_or_default();
                return Err(SendError::Status {
                    status,
                    body,
                    attempts: attempt,
                });
            }
            Err(error) => {
                let retryable = error.is_connect() || error.is_timeout();
                if !last && retryable {
                    let delay = backoff(&policy, attempt);
                    tracing::debug!(%error, ?delay, attempt, "retrying after a connection error");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                return Err(SendError::Connection {
                    message: error_chain(&error),
                    timeout: error.is_timeout(),
                    attempts: attempt,
                });
            }
        }
    }
}

/// `retry-after-ms` (Anthropic, OpenAI) or `retry-after` in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// Exponential backoff with "equal jitter": between half and all of the step.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let step = policy
        .base_delay
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(policy.max_delay);
    step.mul_f64(0.5 + 0.5 * jitter())
}

/// A number in [0, 1) that differs between calls; good enough to spread retries.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The error with its sources ("error sending request: connection refused").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_retried_and_how_long_it_waits() {
        for code in [408, 429, 500, 503, 529] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [400, 401, 403, 404, 413] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let policy = RetryPolicy::default();
        for attempt in 1..6 {
            let d = backoff(&policy, attempt);
            let step = policy.base_delay * (1 << (attempt - 1));
            assert!(
                d >= step.min(policy.max_delay) / 2 && d <= policy.max_delay,
                "{d:?}"
            );
        }
    }
}

//! Retries for the HTTP providers, as the official SDKs do them: 408, 429, 5xx (including
//! Anthropic's 529 "overloaded") and connection failures are retried with jittered
//! exponential backoff (`backon`), waiting what `retry-after` asks; other 4xx are final.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
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

/// One failed attempt and what it says about the next.
struct Attempt {
    error: SendError,
    retryable: bool,
    /// What the server asked us to wait (`retry-after`).
    wait: Option<Duration>,
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": between half and all of each step
    /// (backon adds up to the step again to a half-step base).
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay / 2)
            .with_max_delay(self.max_delay / 2)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
    }
}

/// Sends the request `build` makes (it is called once per attempt).
pub async fn send_with_retry(
    policy: RetryPolicy,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, SendError> {
    let attempts = AtomicU32::new(0);
    let attempt = || async {
        let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        match build().send().await {
            Ok(response) if response.status().is_success() => Ok(response),
            Ok(response) => {
                let status = response.status();
                let wait = retry_after(response.headers());
                Err(Attempt {
                    retryable: is_retryable(status)
                        && wait.is_none_or(|w| w <= policy.max_retry_after),
                    wait,
                    error: SendError::Status {
                        status,
                        body: response.text().await.unwrap_or_default(),
                        attempts: n,
                    },
                })
            }
            Err(error) => Err(Attempt {
                retryable: error.is_connect() || error.is_timeout(),
                wait: None,
                error: SendError::Connection {
                    message: error_chain(&error),
                    timeout: error.is_timeout(),
                    attempts: n,
                },
            }),
        }
    };
    attempt
        .retry(policy.backoff())
        .when(|a: &Attempt| a.retryable)
        // The server's own wait wins over the backoff while retries remain.
        .adjust(|a: &Attempt, backoff| backoff.map(|d| a.wait.unwrap_or(d)))
        .notify(|a: &Attempt, delay| {
            tracing::debug!(error = ?a.error, ?delay, "retrying HTTP request");
        })
        .await
        .map_err(|a| a.error)
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
        let policy = RetryPolicy {
            max_attempts: 6,
            ..RetryPolicy::default()
        };
        let delays: Vec<Duration> = backon::BackoffBuilder::build(policy.backoff()).collect();
        assert_eq!(delays.len(), 5, "five retries after the first attempt");
        for (i, d) in delays.into_iter().enumerate() {
            let step = (policy.base_delay * (1 << i)).min(policy.max_delay);
            assert!(d >= step / 2 && d <= step, "retry {i}: {d:?}");
        }
    }

    /// A loopback server answering 429 with `retry-after-ms: <wait>` until `throttled`
    /// requests were refused, then 200; returns its URL and the request count.
    async fn throttling_server(
        throttled: usize,
        wait_ms: u64,
    ) -> (String, std::sync::Arc<AtomicU32>) {
        let seen = std::sync::Arc::new(AtomicU32::new(0));
        let counter = seen.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
                async move {
                    if n < throttled {
                        let headers = [("retry-after-ms", wait_ms.to_string())];
                        (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response()
                    } else {
                        "ok".into_response()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    use axum::response::IntoResponse;

    #[tokio::test]
    async fn retry_after_is_waited_for_and_a_long_one_ends_the_retries() {
        let client = reqwest::Client::new();
        let (url, seen) = throttling_server(2, 20).await;
        // A backoff of at least 5 s, so only honouring retry-after finishes quickly.
        let slow_backoff = RetryPolicy {
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(20),
            ..RetryPolicy::default()
        };
        let started = std::time::Instant::now();
        let response = send_with_retry(slow_backoff, || client.get(&url))
            .await
            .unwrap();
        assert!(response.status().is_success());
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(40) && elapsed < Duration::from_secs(5),
            "{elapsed:?}"
        );

        let (url, seen) = throttling_server(1, 120_000).await;
        let Err(SendError::Status {
            status, attempts, ..
        }) = send_with_retry(RetryPolicy::default(), || client.get(&url)).await
        else {
            panic!("a two-minute retry-after is not waited for");
        };
        assert_eq!((status, attempts), (StatusCode::TOO_MANY_REQUESTS, 1));
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}

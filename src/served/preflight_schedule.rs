//! When the LLM preflight runs again. A healthy endpoint is re-checked every
//! `preflight_interval`; a failed check is retried sooner — 2 s, doubling up to the interval
//! — so an endpoint that was down when Pallas started (or blipped) shows as healthy seconds
//! after it recovers instead of a whole interval later.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The first retry after a failed preflight.
pub const FIRST_RETRY: Duration = Duration::from_secs(2);

/// The wait before the next preflight, given how many have failed in a row.
pub fn next_delay(failures: u32, interval: Duration) -> Duration {
    if failures == 0 {
        return interval;
    }
    let doubled = FIRST_RETRY.saturating_mul(1u32 << (failures - 1).min(20));
    doubled.min(interval)
}

/// Runs `check` (which answers whether the preflight passed) on the schedule above until
/// `shutdown`; `first_ok` is the outcome of the start-up preflight.
pub async fn run<F, Fut>(
    interval: Duration,
    first_ok: bool,
    shutdown: CancellationToken,
    mut check: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let interval = interval.max(Duration::from_millis(100));
    let mut failures = u32::from(!first_ok);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(next_delay(failures, interval)) => {}
            _ = shutdown.cancelled() => return,
        }
        failures = if check().await {
            0
        } else {
            failures.saturating_add(1)
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn failures_back_off_from_two_seconds_doubling_to_the_interval() {
        let interval = Duration::from_secs(300);
        let waits: Vec<u64> = (0..10).map(|f| next_delay(f, interval).as_secs()).collect();
        assert_eq!(waits, [300, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(next_delay(40, interval), interval);
    }

    /// The endpoint is down at start and for the first two retries, then back: the check
    /// runs at 2 s, 6 s and 14 s, then every interval.
    #[tokio::test(start_paused = true)]
    async fn a_failed_start_up_preflight_is_retried_until_it_passes() {
        let start = tokio::time::Instant::now();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let recorder = runs.clone();
        let task = tokio::spawn(run(
            Duration::from_secs(60),
            false,
            shutdown.clone(),
            move || {
                let recorder = recorder.clone();
                async move {
                    let mut runs = recorder.lock().unwrap();
                    runs.push(start.elapsed().as_secs());
                    runs.len() >= 3
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(200)).await;
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(*runs.lock().unwrap(), [2, 6, 14, 74, 134, 194]);
    }
}

//! How patiently the pool treats downstream servers. Production uses the defaults; tests pass
//! their own (or run the defaults on paused tokio time) so reconnect schedules and timeouts
//! are checked without waiting for them.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Wait before the first reconnect attempt; doubles after every failed attempt.
    pub backoff_start: Duration,
    /// The wait between attempts never grows past this, so a server that comes back is
    /// found within this long.
    pub backoff_max: Duration,
    /// Healthy servers answer an MCP ping in milliseconds; a slower one is as good as down
    /// for routing purposes, and `get_health` must never hang.
    pub probe_timeout: Duration,
    /// A server that has not finished its handshake (and `tools/list`) by then is reported
    /// as failing to start and retried.
    pub handshake: Duration,
    /// How long a call waits for a server's first connection attempt before going ahead
    /// without that server's tools.
    pub startup_wait: Duration,
}

impl Default for Timings {
    fn default() -> Timings {
        Timings {
            backoff_start: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(3),
            handshake: Duration::from_secs(60),
            startup_wait: Duration::from_secs(20),
        }
    }
}

impl Timings {
    /// The waits between connection attempts, endless; restarted after every successful
    /// connection. No jitter: each server has its own supervisor, so there is no herd to
    /// spread out, and a fixed schedule is what the README promises.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::new()
            .with_min_delay(self.backoff_start)
            .with_max_delay(self.backoff_max)
            .with_factor(2.0)
            .without_max_times()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_backoff_doubles_from_half_a_second_to_ten() {
        let waits: Vec<f64> = Timings::default()
            .backoff()
            .take(8)
            .map(|d| d.as_secs_f64())
            .collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]);
    }
}

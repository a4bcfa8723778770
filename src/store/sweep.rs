//! Forgets idle conversations in the background, so the store keeps what the ttl promises and
//! no more.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::turn::Conversations;

/// Sweeps conversations idle for longer than `ttl` now and then every `every`, until `cancel`
/// fires. A failed sweep is logged and retried next time: the store may be briefly
/// unreachable without that being anyone's emergency.
pub fn spawn_sweeper(
    conversations: Conversations,
    ttl: Duration,
    every: Duration,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match conversations.sweep(ttl).await {
                Ok(0) => {}
                Ok(swept) => tracing::info!(
                    swept,
                    store = %conversations.describe(),
                    "deleted conversations idle for longer than the ttl"
                ),
                Err(e) => tracing::warn!(error = %e, "sweeping idle conversations failed"),
            }
        }
    })
}

/// How often to sweep for a given ttl: often enough that nothing outlives its ttl by much
/// more than a tenth, rarely enough to cost nothing.
pub fn sweep_interval(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

//! How long the simulated model takes: time to first token, streaming pace, jitter.
//!
//! Real model calls take seconds; with no delay at all a benchmark measures only the server's
//! own overhead and cannot show how many turns it holds in flight. A profile makes the
//! simulator answer like a model: wait for the first token, then stream text at a token rate.
//! Jitter is drawn from a fixed sequence so two runs see the same delays.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The latency profile (`pallas simulate --latency first_token=800ms,tokens_per_second=60`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyProfile {
    /// Before the first byte of an answer (and before any error), on every call.
    pub first_token: Duration,
    /// Pace of generated text: a streamed delta waits for its tokens, a non-streamed answer
    /// for all of them. `None`: text comes at once.
    pub tokens_per_second: Option<f64>,
    /// Up to this much more before the first token, different on every call.
    pub jitter: Duration,
}

impl LatencyProfile {
    /// A fixed delay before every answer (what `Simulator::set_latency` sets).
    pub fn fixed(first_token: Duration) -> LatencyProfile {
        LatencyProfile {
            first_token,
            ..LatencyProfile::default()
        }
    }

    /// The wait before the first token of call number `call`.
    pub(crate) fn first_token_delay(&self, call: u64) -> Duration {
        if self.jitter.is_zero() {
            return self.first_token;
        }
        self.first_token + self.jitter.mul_f64(unit_fraction(call))
    }

    /// How long generating `text` takes at the profile's pace (about 4 characters a token,
    /// the usual rule of thumb for English).
    pub(crate) fn generation_time(&self, text: &str) -> Duration {
        match self.tokens_per_second {
            Some(tps) if tps > 0.0 => {
                let tokens = text.chars().count().div_ceil(4).max(1) as f64;
                Duration::from_secs_f64(tokens / tps)
            }
            _ => Duration::ZERO,
        }
    }
}

/// A deterministic value in [0, 1) for call `n` (splitmix64), so jitter needs no RNG state.
fn unit_fraction(n: u64) -> f64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Counts calls, for the jitter sequence.
#[derive(Debug, Default)]
pub(crate) struct CallCounter(AtomicU64);

impl CallCounter {
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Why a `--latency` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyParseError(String);

impl fmt::Display for LatencyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; expected comma-separated key=value pairs such as \
             `first_token=800ms,tokens_per_second=60,jitter=200ms` \
             (durations in ms or s)",
            self.0
        )
    }
}

impl std::error::Error for LatencyParseError {}

impl FromStr for LatencyProfile {
    type Err = LatencyParseError;

    fn from_str(s: &str) -> Result<LatencyProfile, LatencyParseError> {
        let mut profile = LatencyProfile::default();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| LatencyParseError(format!("`{pair}` has no `=`")))?;
            match key.trim() {
                "first_token" => profile.first_token = duration(value)?,
                "jitter" => profile.jitter = duration(value)?,
                "tokens_per_second" => {
                    let tps: f64 = value.trim().parse().map_err(|_| {
                        LatencyParseError(format!("tokens_per_second `{value}` is not a number"))
                    })?;
                    if !(tps.is_finite() && tps > 0.0) {
                        return Err(LatencyParseError(format!(
                            "tokens_per_second must be above 0, got {value}"
                        )));
                    }
                    profile.tokens_per_second = Some(tps);
                }
                other => {
                    return Err(LatencyParseError(format!(
                        "unknown key `{other}` (known: first_token, tokens_per_second, jitter)"
                    )));
                }
            }
        }
        Ok(profile)
    }
}

fn duration(value: &str) -> Result<Duration, LatencyParseError> {
    let v = value.trim();
    let (number, scale) = if let Some(ms) = v.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = v.strip_suffix('s') {
        (s, 1.0)
    } else {
        return Err(LatencyParseError(format!(
            "duration `{v}` needs a unit (ms or s)"
        )));
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Duration::from_secs_f64(n * scale)),
        _ => Err(LatencyParseError(format!(
            "duration `{v}` is not a non-negative number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_parses_from_its_command_line_form() {
        let p: LatencyProfile = "first_token=800ms, tokens_per_second=60,jitter=0.2s"
            .parse()
            .unwrap();
        assert_eq!(p.first_token, Duration::from_millis(800));
        assert_eq!(p.tokens_per_second, Some(60.0));
        assert_eq!(p.jitter, Duration::from_millis(200));
        assert_eq!(
            "".parse::<LatencyProfile>().unwrap(),
            LatencyProfile::default()
        );
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        for (input, fragment) in [
            ("first_token=5", "needs a unit"),
            ("tokens_per_second=0", "above 0"),
            ("ttft=1s", "unknown key `ttft`"),
            ("first_token", "has no `=`"),
            ("jitter=-1ms", "non-negative"),
        ] {
            let e = input.parse::<LatencyProfile>().unwrap_err().to_string();
            assert!(e.contains(fragment), "{input}: {e}");
            assert!(e.contains("first_token=800ms"), "{input}: {e}");
        }
    }

    #[test]
    fn jitter_stays_within_its_bound_and_varies() {
        let p = LatencyProfile {
            first_token: Duration::from_millis(100),
            jitter: Duration::from_millis(50),
            ..LatencyProfile::default()
        };
        let delays: Vec<Duration> = (0..100).map(|n| p.first_token_delay(n)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= p.first_token && *d < p.first_token + p.jitter)
        );
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 90, "{} distinct delays", distinct.len());
        assert_eq!(p.first_token_delay(7), p.first_token_delay(7));
    }

    #[test]
    fn generation_time_follows_the_token_rate() {
        let p = LatencyProfile {
            tokens_per_second: Some(100.0),
            ..LatencyProfile::default()
        };
        // 400 characters ≈ 100 tokens ≈ 1 s at 100 tokens/s.
        assert_eq!(p.generation_time(&"x".repeat(400)), Duration::from_secs(1));
        assert_eq!(
            LatencyProfile::default().generation_time("abc"),
            Duration::ZERO
        );
    }
}

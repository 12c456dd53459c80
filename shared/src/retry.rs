//! The one backoff every retry here uses (database, OpenSearch, SQS): bounded attempts, the delay
//! doubling from a first delay up to a cap, and jitter, so that the thirteen exporters (or a
//! job's retries and the watchdog's) that failed together do not come back together.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Bounded retries with exponential backoff and jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 4, first_delay: Duration::from_millis(500), max_delay: Duration::from_secs(8) }
    }
}

impl RetryPolicy {
    /// The longest wait before `attempt` (2 is the first retry): doubling, capped.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(2));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before `attempt` with jitter: between half of `delay_before` and all of it.
    pub fn jittered_delay_before(&self, attempt: u32) -> Duration {
        let ceiling = self.delay_before(attempt);
        // A fresh RandomState is keyed from the OS's randomness: enough to spread retries.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(attempt);
        let fraction = (hasher.finish() % 1_000) as u32;
        ceiling / 2 + (ceiling / 2) * fraction / 1_000
    }

    /// Sleeps before `attempt` and answers how long, for the log line.
    pub async fn pause_before(&self, attempt: u32) -> Duration {
        let delay = self.jittered_delay_before(attempt);
        tokio::time::sleep(delay).await;
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_delay_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (2..=6).map(|a| policy.delay_before(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_keeps_each_wait_between_half_and_all_of_the_backoff_and_spreads_them() {
        let policy = RetryPolicy::default();
        let waits: Vec<Duration> = (0..50).map(|_| policy.jittered_delay_before(3)).collect();
        let ceiling = policy.delay_before(3);
        assert!(waits.iter().all(|w| *w >= ceiling / 2 && *w <= ceiling), "{waits:?}");
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 10, "retries that failed together do not all wait alike: {waits:?}");
    }
}

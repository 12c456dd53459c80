//! The invocation's deadline, and the margins a run keeps before it.
//!
//! Lambda stops a function at its timeout without a word: the ledger row stays `running`, no
//! `Job Failed` is published and a half-built index stays behind. So a run stops itself first:
//! the job's own work (and every database statement, through `statement_timeout`) ends at
//! `work_stop`; a job that has something to clean up (the index job deletes its new index) does
//! so before `stop`; the runner stops the work at `stop` whatever it is doing, and the last
//! margin, until `end`, is for recording the outcome and publishing its event: each of those is
//! bounded by `end` too, so a connection that stops answering (a network black hole, which TCP
//! may take minutes to notice) cannot hold the invocation past its timeout.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Each margin is a twentieth of the time the invocation has, at least 1 s and at most 10 s:
/// 10 s each for the 300 s and 900 s functions.
fn margin(total: Duration) -> Duration {
    (total / 20).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The job's work (and every statement) ends here.
    pub work_stop: Instant,
    /// The runner stops the run here, cleanup or not.
    pub stop: Instant,
    /// Recording the outcome and announcing it end here, a quarter margin before Lambda's.
    pub end: Instant,
}

impl Deadline {
    /// For an invocation that must have answered by `deadline` (Lambda's context deadline).
    pub fn before(deadline: SystemTime) -> Deadline {
        let total = deadline.duration_since(SystemTime::now()).unwrap_or_default();
        Deadline::within(total)
    }

    /// For a run that must have ended within `total` from now (the CLI's `--time-limit`).
    pub fn within(total: Duration) -> Deadline {
        let now = Instant::now();
        let margin = margin(total);
        let stop = now + total.saturating_sub(margin);
        let work_stop = now + total.saturating_sub(margin * 2);
        let end = now + total.saturating_sub(margin / 4);
        Deadline { work_stop, stop, end }
    }

    /// How long to wait for a connection's answer while recording the outcome: half the time
    /// left, so another connection still has the other half.
    pub fn reply_wait(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now()) / 2
    }

    /// The time left for the work, for `statement_timeout`: never 0, which means "none" there.
    pub fn work_time_left(&self) -> Duration {
        self.work_stop.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
    }

    pub fn work_expired(&self) -> bool {
        Instant::now() >= self.work_stop
    }
}

/// `work`, failed as `job`'s deadline (naming what it was `during`) if it has not ended by `at`;
/// with no `at`, as long as it takes.
pub async fn by<T>(
    at: Option<Instant>,
    job: &str,
    during: impl FnOnce() -> String,
    work: impl std::future::Future<Output = crate::Result<T>>,
) -> crate::Result<T> {
    match at {
        Some(at) => tokio::time::timeout_at(at, work)
            .await
            .unwrap_or_else(|_| Err(crate::Error::Deadline { job: job.to_string(), during: during() })),
        None => work.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_invocation_keeps_ten_seconds_to_clean_up_and_ten_to_record() {
        let deadline = Deadline::within(Duration::from_secs(900));
        let now = Instant::now();
        let to_stop = deadline.stop - now;
        let to_work_stop = deadline.work_stop - now;
        assert!(to_stop <= Duration::from_secs(890) && to_stop > Duration::from_secs(889), "{to_stop:?}");
        assert!(to_work_stop <= Duration::from_secs(880) && to_work_stop > Duration::from_secs(879));
    }

    #[test]
    fn a_short_one_keeps_at_least_a_second_each() {
        let deadline = Deadline::within(Duration::from_secs(4));
        let to_work_stop = deadline.work_stop - Instant::now();
        assert!(to_work_stop <= Duration::from_secs(2) && to_work_stop > Duration::from_millis(1900));
    }

    #[test]
    fn a_deadline_already_past_leaves_no_work_time_but_never_a_zero_timeout() {
        let deadline = Deadline::before(SystemTime::now() - Duration::from_secs(5));
        assert!(deadline.work_expired());
        assert_eq!(deadline.work_time_left(), Duration::from_millis(1));
    }
}

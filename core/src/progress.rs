//! Progress of long work (an index rebuild, a seeding): when to say how far it is, and what to
//! say. The caller gives the time elapsed; nothing here reads a clock.

use std::time::Duration;

/// How far work of `total` items has come, said at most once per `every`.
#[derive(Debug, Clone)]
pub struct Progress {
    total: u64,
    every: Duration,
    last: Option<Duration>,
}

/// One report: items done of the total, the rate so far and the time left at that rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub done: u64,
    pub total: u64,
    pub per_second: f64,
    /// `None` until anything is done (no rate to go by).
    pub seconds_left: Option<u64>,
}

impl Progress {
    pub fn new(total: u64, every: Duration) -> Self {
        Progress { total, every, last: None }
    }

    /// The report due after `done` items in `elapsed`: the first once `every` has passed, then
    /// one per `every`, and always one when the work is complete.
    pub fn due(&mut self, done: u64, elapsed: Duration) -> Option<Report> {
        let complete = done >= self.total;
        let since_last = elapsed.saturating_sub(self.last.unwrap_or_default());
        if !complete && since_last < self.every {
            return None;
        }
        self.last = Some(elapsed);
        Some(self.report(done, elapsed))
    }

    fn report(&self, done: u64, elapsed: Duration) -> Report {
        let seconds = elapsed.as_secs_f64();
        let per_second = if seconds > 0.0 { done as f64 / seconds } else { 0.0 };
        let seconds_left =
            (per_second > 0.0).then(|| (self.total.saturating_sub(done) as f64 / per_second).ceil() as u64);
        Report { done, total: self.total, per_second, seconds_left }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: Duration = Duration::from_secs(5);

    #[test]
    fn reports_come_once_per_interval_and_at_the_end() {
        let mut progress = Progress::new(1000, FIVE);
        assert_eq!(progress.due(100, Duration::from_secs(1)), None, "too soon");
        let first = progress.due(500, Duration::from_secs(5)).expect("five seconds in");
        assert_eq!((first.done, first.total, first.per_second, first.seconds_left), (500, 1000, 100.0, Some(5)));
        assert_eq!(progress.due(600, Duration::from_secs(9)), None, "four seconds after the last");
        assert!(progress.due(800, Duration::from_secs(10)).is_some());
        let last = progress.due(1000, Duration::from_millis(10_500)).expect("the end is always reported");
        assert_eq!(last.seconds_left, Some(0));
    }

    #[test]
    fn nothing_done_gives_no_time_left() {
        let mut progress = Progress::new(10, FIVE);
        assert_eq!(progress.due(0, Duration::from_secs(6)).unwrap().seconds_left, None);
        // Empty work is complete at once.
        assert!(Progress::new(0, FIVE).due(0, Duration::ZERO).is_some());
    }
}

//! The ESR exporter's vocabulary (docs/esr-export.md): the export command, the two kinds of
//! file and their byte layout, and which records a file takes.

use chrono::{Days, NaiveDate};

pub mod command;
pub mod layout;
pub mod schedule;
pub mod selection;

pub use command::Command;

/// A file takes the records starting from two days after its run date...
pub const WINDOW_FROM_DAYS: i32 = 2;
/// ...until (not including) thirteen weeks after it...
pub const WINDOW_UNTIL_DAYS: i32 = 91;
/// ...at most this many per position: ESR quarantines a whole file with more.
pub const MAX_PER_POSITION: i64 = 40;

/// The start dates a file of `run_date` takes: from `.0`, until (not including) `.1`.
pub fn window(run_date: NaiveDate) -> (NaiveDate, NaiveDate) {
    let after = |days: i32| run_date + Days::new(days as u64);
    (after(WINDOW_FROM_DAYS), after(WINDOW_UNTIL_DAYS))
}

/// The run date whose file is the last that can take a record starting on `start_date`: the
/// run date to re-send (forced) for a record left behind.
pub fn last_run_taking(start_date: NaiveDate) -> NaiveDate {
    start_date - Days::new(WINDOW_FROM_DAYS as u64)
}

/// Records starting before this date are left behind (docs/esr-export.md "Invariants"): when
/// `latest_run` is the latest scheduled run whose files should exist, no run still to come can
/// take them, because the next one's window opens on this date. Every record waiting that
/// starts on it or later is ahead of a scheduled run that will take it.
pub fn left_behind_before(latest_run: NaiveDate) -> NaiveDate {
    window(latest_run + Days::new(1)).0
}

vocabulary! {
    /// The two kinds of file: applicants (APP) and notifications (DNC).
    pub enum Kind ("kind") {
        App = "app",
        Notification = "notification",
    }
    unknown = |text: &str, _known: &[&str]| format!("kind '{text}' is not app or notification");
}

impl Kind {
    /// The code in file names and headers.
    pub fn file_code(self) -> &'static str {
        match self {
            Kind::App => "APP",
            Kind::Notification => "DNC",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_left_behind_once_the_last_run_that_could_take_it_is_due() {
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        // At 07:00 on 4 August the latest run due is 3 August's; 4 August's takes from the 6th.
        assert_eq!(left_behind_before(day("2024-08-03")), day("2024-08-06"));
        // A record starting on the 5th: 3 August's run was its last chance.
        assert_eq!(last_run_taking(day("2024-08-05")), day("2024-08-03"));
        assert!(last_run_taking(day("2024-08-05")) <= day("2024-08-03"));
        // One starting on the 6th is still ahead: 4 August's run is its last chance.
        assert_eq!(last_run_taking(day("2024-08-06")), day("2024-08-04"));
        // The re-send date's file takes the record.
        let (from, until) = window(last_run_taking(day("2024-08-05")));
        assert!(from <= day("2024-08-05") && day("2024-08-05") < until);
    }

    #[test]
    fn the_window_is_two_days_to_thirteen_weeks_after_the_run_date() {
        let run = NaiveDate::from_ymd_opt(2021, 8, 4).unwrap();
        let (from, until) = window(run);
        assert_eq!((from.to_string(), until.to_string()), ("2021-08-06".into(), "2021-11-03".into()));
    }
}

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
    fn the_window_is_two_days_to_thirteen_weeks_after_the_run_date() {
        let run = NaiveDate::from_ymd_opt(2021, 8, 4).unwrap();
        let (from, until) = window(run);
        assert_eq!((from.to_string(), until.to_string()), ("2021-08-06".into(), "2021-11-03".into()));
    }
}

//! Which waiting records a file takes (docs/esr-export.md "A command"): those starting
//! in the file's window, by start date then id, at most `MAX_PER_POSITION` per position (ESR
//! quarantines a whole file with more). The records over the cap wait for the next file.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{window, MAX_PER_POSITION};

/// A record waiting to be exported, with what the decision reads of it; `record` is the rest,
/// carried through untouched.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting<T> {
    pub id: i64,
    /// Records without a position number count as one position, as ESR counts them.
    pub position_number: Option<String>,
    pub start_date: NaiveDate,
    pub record: T,
}

/// The records a file of `run_date` takes from `waiting`, in the file's order.
pub fn records_taken<T>(run_date: NaiveDate, waiting: Vec<Waiting<T>>) -> Vec<Waiting<T>> {
    let (from, until) = window(run_date);
    let mut in_window: Vec<Waiting<T>> =
        waiting.into_iter().filter(|w| w.start_date >= from && w.start_date < until).collect();
    in_window.sort_by_key(|w| (w.start_date, w.id));
    let mut per_position: HashMap<Option<String>, i64> = HashMap::new();
    in_window
        .into_iter()
        .filter(|w| {
            let taken = per_position.entry(w.position_number.clone()).or_default();
            *taken += 1;
            *taken <= MAX_PER_POSITION
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn waiting(id: i64, position: Option<&str>, start: &str) -> Waiting<()> {
        Waiting { id, position_number: position.map(str::to_string), start_date: day(start), record: () }
    }

    fn ids(taken: &[Waiting<()>]) -> Vec<i64> {
        taken.iter().map(|w| w.id).collect()
    }

    #[test]
    fn a_file_takes_the_start_dates_from_two_days_until_thirteen_weeks_after_its_run_date() {
        let run = day("2021-08-04");
        let records = vec![
            waiting(1, Some("P1"), "2021-08-05"), // tomorrow: too soon
            waiting(2, Some("P1"), "2021-08-06"), // run date + 2 days: the first day taken
            waiting(3, Some("P1"), "2021-11-02"), // the last day taken
            waiting(4, Some("P1"), "2021-11-03"), // run date + 13 weeks: not yet
        ];
        assert_eq!(ids(&records_taken(run, records)), vec![2, 3]);
    }

    #[test]
    fn records_are_taken_by_start_date_then_id() {
        let run = day("2021-08-04");
        let records = vec![
            waiting(9, Some("P1"), "2021-09-01"),
            waiting(7, Some("P2"), "2021-09-01"),
            waiting(8, Some("P3"), "2021-08-20"),
        ];
        assert_eq!(ids(&records_taken(run, records)), vec![8, 7, 9]);
    }

    #[test]
    fn a_position_gives_at_most_forty_records_the_earliest_first_and_the_rest_wait() {
        let run = day("2021-08-04");
        // 45 records for P1, the latest first in the input; 2 for P2 between them.
        let mut records: Vec<Waiting<()>> =
            (1..=45).rev().map(|id| waiting(id, Some("P1"), &format!("2021-09-{:02}", 1 + id % 28))).collect();
        records.push(waiting(100, Some("P2"), "2021-09-05"));
        records.push(waiting(101, Some("P2"), "2021-09-06"));
        let taken = records_taken(run, records.clone());
        let p1: Vec<&Waiting<()>> = taken.iter().filter(|w| w.position_number.as_deref() == Some("P1")).collect();
        assert_eq!(p1.len(), 40);
        let mut p1_by_order: Vec<&Waiting<()>> =
            records.iter().filter(|w| w.position_number.as_deref() == Some("P1")).collect();
        p1_by_order.sort_by_key(|w| (w.start_date, w.id));
        let expected: Vec<i64> = p1_by_order[..40].iter().map(|w| w.id).collect();
        assert_eq!(p1.iter().map(|w| w.id).collect::<Vec<_>>(), expected);
        assert!(taken.iter().any(|w| w.id == 100) && taken.iter().any(|w| w.id == 101));
        assert_eq!(taken.len(), 42);
    }

    #[test]
    fn records_without_a_position_number_share_one_cap() {
        let run = day("2021-08-04");
        let records: Vec<Waiting<()>> = (1..=41).map(|id| waiting(id, None, "2021-09-01")).collect();
        assert_eq!(ids(&records_taken(run, records)), (1..=40).collect::<Vec<_>>());
    }
}

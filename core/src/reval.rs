//! The revalidation feeds (reval-current-pm-sync, reval-current-placement-sync): which dates a
//! run covers, and how its ids become messages. The shape is the old service's, which the
//! revalidation service reads: each message a JSON array of id strings (`["1","2"]`).

use chrono::{Days, NaiveDate};

use crate::job::JobName;

/// The feed jobs, deployed together or not at all (the template's `RevalEnabled`).
pub const FEEDS: [JobName; 2] = [JobName::RevalCurrentPmSync, JobName::RevalCurrentPlacementSync];

/// A run catches up at most this many dates (the as-of date included): a feed silent for longer
/// than a month needs a person to look, not a flood.
pub const MAX_DATES: u64 = 31;

/// Where TIS's RabbitMQ carries the feeds: the exchange and routing key TIS-SYNC published to
/// (its `application.yml`: `REVAL_RABBIT_EXCHANGE`, `REVAL_RABBIT_TRAINEEUPDATE_ROUTING_KEY`),
/// and the queue bound to them that TCS's `RevalidationMessageListener` reads
/// (`app.rabbit.reval.queue.trainee.update.tcs`). docs/revalidation-feeds.md.
pub const EXCHANGE: &str = "reval.exchange";
pub const ROUTING_KEY: &str = "reval.trainee.update";
pub const TCS_QUEUE: &str = "reval.queue.trainee.update.tcs";

/// Ids per message, as the old service paged them.
pub const MAX_IDS_PER_MESSAGE: usize = 1_000;

/// The dates a run as of `as_of` covers, oldest first: every date after the last successful
/// run's as-of date up to `as_of`, so a missed night's changes are sent by the next run; at most
/// `MAX_DATES`. With no earlier success, or one not before `as_of` (a re-run), `as_of` alone.
pub fn dates_to_cover(last_success: Option<NaiveDate>, as_of: NaiveDate) -> Vec<NaiveDate> {
    let earliest = as_of - Days::new(MAX_DATES - 1);
    let first = match last_success {
        Some(last) if last < as_of => (last + Days::new(1)).max(earliest),
        _ => as_of,
    };
    first.iter_days().take_while(|d| *d <= as_of).collect()
}

/// One message's body: the ids as a JSON array of strings.
pub fn message_body(ids: &[i64]) -> String {
    let strings: Vec<String> = ids.iter().map(i64::to_string).collect();
    serde_json::to_string(&strings).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        crate::date::parse_date("asOf", text).unwrap()
    }

    #[test]
    fn a_run_covers_every_date_since_the_last_success() {
        let as_of = day("2024-08-04");
        assert_eq!(dates_to_cover(Some(day("2024-08-03")), as_of), vec![as_of]);
        assert_eq!(
            dates_to_cover(Some(day("2024-08-01")), as_of),
            vec![day("2024-08-02"), day("2024-08-03"), as_of],
            "two missed nights are caught up"
        );
        assert_eq!(dates_to_cover(None, as_of), vec![as_of], "a first run covers its own date");
        assert_eq!(dates_to_cover(Some(as_of), as_of), vec![as_of], "a re-run sends its date again");
        assert_eq!(dates_to_cover(Some(day("2024-08-09")), as_of), vec![as_of], "a past as-of date sends itself");
    }

    #[test]
    fn a_long_silence_is_caught_up_for_a_month_at_most() {
        let as_of = day("2024-08-04");
        let dates = dates_to_cover(Some(day("2024-01-01")), as_of);
        assert_eq!(dates.len() as u64, MAX_DATES);
        assert_eq!(dates.first(), Some(&day("2024-07-05")));
        assert_eq!(dates.last(), Some(&as_of));
        assert_eq!(dates_to_cover(Some(day("2024-07-04")), as_of).len() as u64, MAX_DATES);
        assert_eq!(dates_to_cover(Some(day("2024-07-05")), as_of).len() as u64, MAX_DATES - 1);
    }

    #[test]
    fn messages_are_json_arrays_of_id_strings() {
        assert_eq!(message_body(&[1, 22, 333]), r#"["1","22","333"]"#);
        assert_eq!(message_body(&[]), "[]");
    }
}

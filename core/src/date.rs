//! Dates in input, read one way everywhere: `YYYY-MM-DD` business dates, the guard against a
//! date far from today, and the `scheduledTime` EventBridge Scheduler sends.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{InvalidInput, Result};

/// A date further than this from today is refused unless the input says so: a stray past date
/// would replace today's output, a typo (2042) would burn ESR sequence numbers.
pub const MAX_DAYS_FROM_TODAY: i64 = 31;

/// A `YYYY-MM-DD` date given as `field`; the error names the field and the value.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|e| InvalidInput(format!("{field} '{value}' is not a date in YYYY-MM-DD form ({e})")))
}

/// Refuses `date` (given as `field`) when it is more than `MAX_DAYS_FROM_TODAY` from `today`,
/// unless `allowed` (the input's `allow_field`).
pub fn check_distance(field: &str, date: NaiveDate, today: NaiveDate, allowed: bool, allow_field: &str) -> Result<()> {
    let days = (date - today).num_days();
    if days.abs() <= MAX_DAYS_FROM_TODAY || allowed {
        return Ok(());
    }
    Err(InvalidInput(format!(
        "{field} {date} is {} days {} today ({today}): a date more than {MAX_DAYS_FROM_TODAY} days away is refused unless {allow_field} says so",
        days.abs(),
        if days < 0 { "before" } else { "after" },
    )))
}

/// A schedule's `scheduledTime` (RFC 3339) in UTC, or why it is not one. Scheduler substitutes
/// `<aws.scheduler.scheduled-time>`; an emulator may not, so callers log the reason and carry
/// on as an unscheduled invocation rather than refuse it.
pub fn scheduled_time(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| format!("scheduledTime '{text}' is not an RFC 3339 time ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        parse_date("asOf", text).unwrap()
    }

    #[test]
    fn dates_are_yyyy_mm_dd_and_the_error_names_field_and_value() {
        assert_eq!(day("2021-08-04").to_string(), "2021-08-04");
        let error = parse_date("date", "04/08/2021").unwrap_err().to_string();
        assert!(error.contains("date '04/08/2021' is not a date in YYYY-MM-DD form"), "{error}");
    }

    #[test]
    fn a_distant_date_needs_the_allowing_field() {
        let today = day("2021-08-04");
        assert!(check_distance("asOf", day("2021-09-04"), today, false, "x").is_ok());
        let error = check_distance("asOf", day("2020-08-04"), today, false, "\"allowDistantAsOf\": true").unwrap_err();
        assert!(error.to_string().contains("365 days before today"), "{error}");
        assert!(check_distance("asOf", day("2020-08-04"), today, true, "x").is_ok());
    }

    #[test]
    fn the_scheduled_date_is_utc_and_a_placeholder_says_why_not() {
        assert_eq!(scheduled_time("2021-08-03T23:30:00-01:00").unwrap().date_naive().to_string(), "2021-08-04");
        let why = scheduled_time("<aws.scheduler.scheduled-time>").unwrap_err();
        assert!(why.contains("<aws.scheduler.scheduled-time>"), "{why}");
    }
}

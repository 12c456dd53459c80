//! When each kind of file is dispatched, and which run's files should exist by a given time.
//!
//! template.yaml dispatches app files by its `EsrAppFilesSchedule` parameter (default below) and
//! notification files at the time below; a test checks the template against these, and the
//! watchdog is told the deployed app-files expression (`ESR_APP_FILES_SCHEDULE`), so changing
//! the parameter never makes it report files missing that were never due.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::Kind;
use crate::{InvalidInput, Result};

/// How long after a dispatch its files are expected to exist.
pub const FILES_MADE_WITHIN_MINUTES: i64 = 30;

/// An EventBridge Scheduler expression the dispatch runs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// `cron(M H * * ? *)`: daily at H:M UTC.
    Daily { hour: u32, minute: u32 },
    /// `rate(N minutes)` / `rate(N hours)`: all day long (the local test cloud's one minute).
    Every { minutes: u32 },
}

impl Dispatch {
    /// Production's dispatch of each kind: app files at 13:00 UTC, notifications at 14:00.
    pub const fn default_for(kind: Kind) -> Dispatch {
        match kind {
            Kind::App => Dispatch::Daily { hour: 13, minute: 0 },
            Kind::Notification => Dispatch::Daily { hour: 14, minute: 0 },
        }
    }

    /// The expression, as template.yaml writes it.
    pub fn expression(self) -> String {
        match self {
            Dispatch::Daily { hour, minute } => format!("cron({minute} {hour} * * ? *)"),
            Dispatch::Every { minutes } if minutes % 60 == 0 => {
                let hours = minutes / 60;
                format!("rate({hours} {})", if hours == 1 { "hour" } else { "hours" })
            }
            Dispatch::Every { minutes } => {
                format!("rate({minutes} {})", if minutes == 1 { "minute" } else { "minutes" })
            }
        }
    }

    /// Reads a daily cron or a rate expression; anything else is named as unsupported.
    pub fn parse(expression: &str) -> Result<Dispatch> {
        let unsupported = || {
            InvalidInput(format!(
                "ESR dispatch schedule '{expression}': expected cron(M H * * ? *) (daily) or rate(N minutes|hours)"
            ))
        };
        let expression = expression.trim();
        if let Some(fields) = expression.strip_prefix("cron(").and_then(|e| e.strip_suffix(')')) {
            let fields: Vec<&str> = fields.split_whitespace().collect();
            let [minute, hour, "*", "*", "?", "*"] = fields[..] else { return Err(unsupported()) };
            let (minute, hour) = (minute.parse().map_err(|_| unsupported())?, hour.parse().map_err(|_| unsupported())?);
            if minute > 59 || hour > 23 {
                return Err(unsupported());
            }
            return Ok(Dispatch::Daily { hour, minute });
        }
        if let Some(rate) = expression.strip_prefix("rate(").and_then(|e| e.strip_suffix(')')) {
            let (count, unit) = rate.split_once(' ').ok_or_else(unsupported)?;
            let count: u32 = count.parse().map_err(|_| unsupported())?;
            let minutes = match unit {
                "minute" | "minutes" => count,
                "hour" | "hours" => count * 60,
                _ => return Err(unsupported()),
            };
            return if minutes == 0 { Err(unsupported()) } else { Ok(Dispatch::Every { minutes }) };
        }
        Err(unsupported())
    }

    /// The run date of the latest dispatch whose files should exist at `now`: the last one at
    /// least `FILES_MADE_WITHIN_MINUTES` before it.
    pub fn latest_run(self, now: DateTime<Utc>) -> NaiveDate {
        let settled = now - Duration::minutes(FILES_MADE_WITHIN_MINUTES);
        match self {
            Dispatch::Daily { hour, minute } => {
                let today = settled.date_naive().and_hms_opt(hour, minute, 0).expect("a valid time").and_utc();
                if settled >= today {
                    settled.date_naive()
                } else {
                    settled.date_naive() - Duration::days(1)
                }
            }
            Dispatch::Every { .. } => settled.date_naive(),
        }
    }
}

/// The dispatch of each kind, as deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatches {
    pub app: Dispatch,
    pub notification: Dispatch,
}

impl Default for Dispatches {
    fn default() -> Self {
        Dispatches { app: Dispatch::default_for(Kind::App), notification: Dispatch::default_for(Kind::Notification) }
    }
}

impl Dispatches {
    pub fn of(&self, kind: Kind) -> Dispatch {
        match kind {
            Kind::App => self.app,
            Kind::Notification => self.notification,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn at_seven_the_latest_scheduled_runs_are_yesterdays() {
        let d = Dispatches::default();
        assert_eq!(d.of(Kind::App).latest_run(at("2024-08-04T07:00:00Z")).to_string(), "2024-08-03");
        assert_eq!(d.of(Kind::Notification).latest_run(at("2024-08-04T07:00:00Z")).to_string(), "2024-08-03");
    }

    #[test]
    fn after_the_afternoon_runs_they_are_todays() {
        let d = Dispatches::default();
        assert_eq!(d.of(Kind::App).latest_run(at("2024-08-04T13:45:00Z")).to_string(), "2024-08-04");
        assert_eq!(d.of(Kind::Notification).latest_run(at("2024-08-04T13:45:00Z")).to_string(), "2024-08-03");
        assert_eq!(d.of(Kind::Notification).latest_run(at("2024-08-04T15:00:00Z")).to_string(), "2024-08-04");
    }

    #[test]
    fn a_moved_schedule_moves_what_is_due() {
        let eleven = Dispatch::parse("cron(0 11 * * ? *)").unwrap();
        assert_eq!(eleven, Dispatch::Daily { hour: 11, minute: 0 });
        assert_eq!(eleven.latest_run(at("2024-08-04T12:00:00Z")).to_string(), "2024-08-04");
        let every_minute = Dispatch::parse("rate(1 minute)").unwrap();
        assert_eq!(every_minute.latest_run(at("2024-08-04T07:00:00Z")).to_string(), "2024-08-04");
    }

    #[test]
    fn expressions_round_trip_and_others_are_named() {
        for dispatch in
            [Dispatch::default_for(Kind::App), Dispatch::Every { minutes: 1 }, Dispatch::Every { minutes: 120 }]
        {
            assert_eq!(Dispatch::parse(&dispatch.expression()).unwrap(), dispatch);
        }
        assert_eq!(Dispatch::default_for(Kind::App).expression(), "cron(0 13 * * ? *)");
        for bad in ["cron(0 13 ? * MON-FRI *)", "cron(0 25 * * ? *)", "rate(0 minutes)", "at(2024-01-01T00:00:00)"] {
            let error = Dispatch::parse(bad).unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
    }
}

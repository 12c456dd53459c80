//! The input every job function accepts (contract.md "Function input"), turned into a
//! `RunRequest`:
//!
//! - console / manual: `{}` or `{ "asOf": "2024-08-04", "followUps": false }`
//! - schedule: `{ "trigger": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>" }`
//! - follow-up: the EventBridge envelope of a predecessor's `Job Succeeded` event

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::events::{DetailType, JobEventDetail, SOURCE};
use crate::jobs::JobName;
use crate::runner::{RunRequest, Trigger};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ManualInput {
    as_of: Option<String>,
    follow_ups: Option<bool>,
    /// `manual` (the default) or `catch-up` (the watchdog's re-runs).
    trigger: Option<String>,
    correlation_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScheduleInput {
    #[allow(dead_code)]
    trigger: String,
    scheduled_time: Option<String>,
    as_of: Option<String>,
    follow_ups: Option<bool>,
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    id: Option<String>,
    detail: Value,
}

/// Parses a function's input for `job`. `today` is the as-of date when none is given.
pub fn parse(job: JobName, input: Value, today: NaiveDate) -> Result<RunRequest> {
    let Value::Object(fields) = &input else {
        return Err(Error::InvalidInput(format!(
            "the event must be a JSON object such as {{}} or {{\"asOf\": \"2024-08-04\"}}, got {input}"
        )));
    };
    if fields.contains_key("detail-type") {
        return follow_up(job, input);
    }
    if fields.get("trigger").and_then(Value::as_str) == Some("schedule") {
        return schedule(job, input, today);
    }
    manual(job, input, today)
}

fn invalid(what: &str, e: serde_json::Error) -> Error {
    Error::InvalidInput(format!("{what}: {e}"))
}

/// A `YYYY-MM-DD` date given as `field`; the error names the field and the value.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|e| Error::InvalidInput(format!("{field} '{value}' is not a date in YYYY-MM-DD form ({e})")))
}

fn manual(job: JobName, input: Value, today: NaiveDate) -> Result<RunRequest> {
    let input: ManualInput = serde_json::from_value(input)
        .map_err(|e| invalid("manual run input (accepted fields: asOf \"YYYY-MM-DD\", followUps true|false)", e))?;
    let trigger = match input.trigger.as_deref() {
        None | Some("manual") => Trigger::Manual,
        Some("catch-up") => Trigger::CatchUp,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "trigger '{other}' is not accepted here (use manual or catch-up; schedules send \"schedule\" with scheduledTime)"
            )))
        }
    };
    Ok(RunRequest {
        job,
        trigger,
        as_of: input.as_of.as_deref().map(|d| parse_date("asOf", d)).transpose()?.unwrap_or(today),
        follow_ups: input.follow_ups.unwrap_or(true),
        delivery_key: None,
        correlation_id: input.correlation_id,
    })
}

fn schedule(job: JobName, input: Value, today: NaiveDate) -> Result<RunRequest> {
    let input: ScheduleInput = serde_json::from_value(input).map_err(|e| invalid("schedule input", e))?;
    let scheduled = input.scheduled_time.as_deref().and_then(|text| {
        match DateTime::parse_from_rfc3339(text) {
            Ok(time) => Some(time.with_timezone(&Utc)),
            Err(e) => {
                // EventBridge Scheduler substitutes this; an emulator may not. Run unscheduled.
                tracing::warn!(scheduled_time = text, error = %e, "unparseable scheduledTime: running as an unscheduled run");
                None
            }
        }
    });
    let as_of = match (&input.as_of, scheduled) {
        (Some(date), _) => parse_date("asOf", date)?,
        (None, Some(time)) => time.date_naive(),
        (None, None) => today,
    };
    Ok(RunRequest {
        job,
        trigger: Trigger::Schedule,
        as_of,
        follow_ups: input.follow_ups.unwrap_or(true),
        // Scheduler retries deliver the same scheduled time: that makes the delivery's identity.
        delivery_key: scheduled.map(|t| format!("schedule:{}", t.to_rfc3339())),
        correlation_id: None,
    })
}

fn follow_up(job: JobName, input: Value) -> Result<RunRequest> {
    let envelope: Envelope = serde_json::from_value(input).map_err(|e| invalid("EventBridge event", e))?;
    if envelope.source != SOURCE || envelope.detail_type != DetailType::JobSucceeded.as_str() {
        return Err(Error::InvalidInput(format!(
            "a follow-up is started only by a '{}' event from {SOURCE}, got '{}' from {}",
            DetailType::JobSucceeded.as_str(),
            envelope.detail_type,
            envelope.source
        )));
    }
    let detail: JobEventDetail =
        serde_json::from_value(envelope.detail).map_err(|e| invalid("the event's detail", e))?;
    if !detail.follow_ups {
        return Err(Error::InvalidInput(format!(
            "run {} of {} asked for no follow-ups (followUps: false)",
            detail.run_id, detail.job
        )));
    }
    Ok(RunRequest {
        job,
        trigger: Trigger::FollowUp,
        as_of: detail.as_of,
        follow_ups: true,
        delivery_key: Some(format!("after:{}", detail.run_id)),
        correlation_id: detail.correlation_id.or(envelope.id),
    })
}

/// The watchdog's input: `{}`, `{"asOf": "YYYY-MM-DD"}` or its schedule's
/// `{"trigger": "schedule", "scheduledTime": "…"}`. Answers the as-of date to check.
pub fn parse_watchdog(input: Value, today: NaiveDate) -> Result<NaiveDate> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct WatchdogInput {
        as_of: Option<String>,
        trigger: Option<String>,
        scheduled_time: Option<String>,
    }
    let input: WatchdogInput =
        serde_json::from_value(input).map_err(|e| invalid("watchdog input (accepted: asOf \"YYYY-MM-DD\")", e))?;
    if let Some(date) = input.as_of {
        return parse_date("asOf", &date);
    }
    let scheduled = input.scheduled_time.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let _ = input.trigger;
    Ok(scheduled.map(|t| t.with_timezone(&Utc).date_naive()).unwrap_or(today))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JOB: JobName = JobName::PersonOwnerRebuild;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 8, 4).unwrap()
    }

    fn error_of(input: Value) -> String {
        parse(JOB, input, today()).unwrap_err().to_string()
    }

    #[test]
    fn empty_console_event_is_a_manual_run_for_today_with_follow_ups() {
        let request = parse(JOB, json!({}), today()).unwrap();
        assert_eq!(request.trigger, Trigger::Manual);
        assert_eq!(request.as_of, today());
        assert!(request.follow_ups);
        assert_eq!(request.delivery_key, None);
    }

    #[test]
    fn console_event_can_set_as_of_and_suppress_follow_ups() {
        let request = parse(JOB, json!({"asOf": "2023-01-31", "followUps": false}), today()).unwrap();
        assert_eq!(request.as_of, NaiveDate::from_ymd_opt(2023, 1, 31).unwrap());
        assert!(!request.follow_ups);
    }

    #[test]
    fn schedule_event_takes_its_date_and_identity_from_the_scheduled_time() {
        let request =
            parse(JOB, json!({"trigger": "schedule", "scheduledTime": "2024-08-03T00:05:00Z"}), today()).unwrap();
        assert_eq!(request.trigger, Trigger::Schedule);
        assert_eq!(request.as_of, NaiveDate::from_ymd_opt(2024, 8, 3).unwrap());
        assert_eq!(request.delivery_key.as_deref(), Some("schedule:2024-08-03T00:05:00+00:00"));
        assert!(request.follow_ups);
    }

    #[test]
    fn unsubstituted_scheduled_time_runs_as_an_unscheduled_run() {
        let request =
            parse(JOB, json!({"trigger": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>"}), today())
                .unwrap();
        assert_eq!(request.trigger, Trigger::Schedule);
        assert_eq!(request.as_of, today());
        assert_eq!(request.delivery_key, None);
    }

    #[test]
    fn follow_up_envelope_carries_the_predecessors_date_and_run() {
        let envelope = json!({
            "version": "0", "id": "ev-1", "detail-type": "Job Succeeded", "source": "tis.sync",
            "account": "123456789012", "time": "2024-08-04T00:06:00Z", "region": "eu-west-2",
            "resources": [],
            "detail": {
                "job": "person-owner-rebuild", "runId": "6f1c1a52-5a4f-4b8e-9a57-0d7c3e4b1a2f",
                "trigger": "schedule", "asOf": "2024-08-04", "followUps": true,
                "startedAt": "2024-08-04T00:05:00Z", "finishedAt": "2024-08-04T00:06:00Z",
                "durationMs": 60000, "rows": 10, "correlationId": "night-1"
            }
        });
        let request = parse(JOB, envelope, today()).unwrap();
        assert_eq!(request.trigger, Trigger::FollowUp);
        assert_eq!(request.as_of, today());
        assert_eq!(request.delivery_key.as_deref(), Some("after:6f1c1a52-5a4f-4b8e-9a57-0d7c3e4b1a2f"));
        assert_eq!(request.correlation_id.as_deref(), Some("night-1"));
    }

    #[test]
    fn bad_date_is_named() {
        let error = error_of(json!({"asOf": "2024-13-01"}));
        assert!(error.contains("asOf '2024-13-01' is not a date"), "{error}");
    }

    #[test]
    fn wrong_field_type_is_named() {
        let error = error_of(json!({"followUps": "no"}));
        assert!(error.contains("invalid type") && error.contains("boolean"), "{error}");
        let error = error_of(json!({"asOf": 20240804}));
        assert!(error.contains("invalid type"), "{error}");
    }

    #[test]
    fn misspelt_field_is_rejected_rather_than_ignored() {
        let error = error_of(json!({"as_of": "2024-08-04"}));
        assert!(error.contains("unknown field `as_of`"), "{error}");
    }

    #[test]
    fn non_object_and_foreign_events_are_rejected() {
        assert!(error_of(json!("run")).contains("must be a JSON object"));
        let error = error_of(json!({"detail-type": "Job Failed", "source": "tis.sync", "detail": {}}));
        assert!(error.contains("'Job Failed'"), "{error}");
    }
}

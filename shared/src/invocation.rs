//! The input every job function accepts (contract.md "Function input"), turned into a
//! `RunRequest`:
//!
//! - console / manual: `{}` or `{ "asOf": "2024-08-04", "followUps": false }`
//! - schedule: `{ "trigger": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>" }`
//! - follow-up: a predecessor's `Job Succeeded` event, as its rule delivers it (the functions
//!   read EventBridge's envelope with `aws_lambda_events`' type and hand its parts to
//!   `follow_up`; this library knows nothing of Lambda's event types)
//! - pause and resume (the console): `{ "pause": "TCS outage until Monday" }`, `{ "resume": true }`

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use sync_core::date::{check_distance, parse_date};

use crate::error::{Error, Result};
use sync_core::event::{DetailType, JobEventDetail, SOURCE};
use sync_core::{JobName, Trigger};

use crate::runner::{After, RunRequest};

/// What a job function was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum JobInput {
    Run(RunRequest),
    /// Pause the job, with the operator's reason.
    Pause(String),
    Resume,
}

/// The input of a job function invoked directly (the console, the watchdog's catch-ups): the
/// one definition both the parser and the watchdog use.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ManualInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Needed for an `asOf` more than 31 days from today.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_distant_as_of: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_ups: Option<bool>,
    /// `manual` (the default) or `catch-up` (the watchdog's re-runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<bool>,
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

/// What a follow-up rule delivers, as far as a run needs it: the event's source, detail type,
/// id and detail.
#[derive(Debug, Clone)]
pub struct FollowUpEvent {
    pub source: String,
    pub detail_type: String,
    pub id: Option<String>,
    pub detail: Value,
}

/// Parses a function's console or schedule input for `job` (a follow-up's event is
/// `follow_up`'s). `today` is the as-of date when none is given.
pub fn parse(job: JobName, input: Value, today: NaiveDate) -> Result<JobInput> {
    let Value::Object(fields) = &input else {
        return Err(Error::InvalidInput(format!(
            "the event must be a JSON object such as {{}} or {{\"asOf\": \"2024-08-04\"}}, got {input}"
        )));
    };
    if fields.get("trigger").and_then(Value::as_str) == Some("schedule") {
        return schedule(job, input, today).map(JobInput::Run);
    }
    manual(job, input, today)
}

fn invalid(what: &str, e: serde_json::Error) -> Error {
    Error::InvalidInput(format!("{what}: {e}"))
}

/// The 31-day guard on the date a schedule's payload carries: it has no `allowDistantAsOf`, and
/// one this old is a stale delivery (an old payload sent again) that would put an old date's
/// output live. A follow-up's date is its predecessor's, guarded when that started; a stale
/// follow-up is refused by the runner (its predecessor has succeeded again since).
pub fn check_delivered(field: &str, date: NaiveDate, today: NaiveDate) -> Result<()> {
    Ok(check_distance(field, date, today, false, "an operator's run (asOf with \"allowDistantAsOf\": true)")?)
}

/// A schedule's `scheduledTime`, when it names one; otherwise the reason is logged and the
/// invocation treated as unscheduled (`unscheduled` says what that means for it).
pub fn scheduled_time(scheduled_time: Option<&str>, unscheduled: &str) -> Option<DateTime<Utc>> {
    let text = scheduled_time?;
    sync_core::date::scheduled_time(text)
        .inspect_err(|reason| tracing::warn!(scheduled_time = text, "{reason}: {unscheduled}"))
        .ok()
}

fn manual(job: JobName, input: Value, today: NaiveDate) -> Result<JobInput> {
    let input: ManualInput = serde_json::from_value(input).map_err(|e| {
        invalid(
            "manual run input (accepted fields: asOf \"YYYY-MM-DD\", allowDistantAsOf, followUps true|false; or pause \"reason\", or resume true)",
            e,
        )
    })?;
    let run_fields = input.as_of.is_some() || input.follow_ups.is_some() || input.trigger.is_some();
    match (input.pause, input.resume) {
        (Some(_), Some(_)) => return Err(Error::InvalidInput("pause and resume cannot be given together".into())),
        (Some(_), _) | (_, Some(true)) if run_fields => {
            return Err(Error::InvalidInput("pause and resume take no other fields (asOf, followUps, trigger)".into()))
        }
        (Some(reason), None) if reason.trim().is_empty() => {
            return Err(Error::InvalidInput("pause needs a reason, e.g. {\"pause\": \"TCS outage\"}".into()))
        }
        (Some(reason), None) => return Ok(JobInput::Pause(reason.trim().to_string())),
        (None, Some(true)) => return Ok(JobInput::Resume),
        (None, Some(false)) => return Err(Error::InvalidInput("resume: false asks for nothing; leave it out".into())),
        (None, None) => {}
    }
    let trigger = match input.trigger.as_deref() {
        None | Some("manual") => Trigger::Manual,
        Some("catch-up") => Trigger::CatchUp,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "trigger '{other}' is not accepted here (use manual or catch-up; schedules send \"schedule\" with scheduledTime)"
            )))
        }
    };
    let as_of = input.as_of.as_deref().map(|d| parse_date("asOf", d)).transpose()?.unwrap_or(today);
    check_distance("asOf", as_of, today, input.allow_distant_as_of, "\"allowDistantAsOf\": true")?;
    Ok(JobInput::Run(RunRequest {
        job,
        trigger,
        as_of,
        follow_ups: input.follow_ups.unwrap_or(true),
        delivery_key: None,
        after: None,
        correlation_id: input.correlation_id,
        deadline: None,
    }))
}

fn schedule(job: JobName, input: Value, today: NaiveDate) -> Result<RunRequest> {
    let input: ScheduleInput = serde_json::from_value(input).map_err(|e| invalid("schedule input", e))?;
    let scheduled = scheduled_time(input.scheduled_time.as_deref(), "running as an unscheduled run");
    let as_of = match (&input.as_of, scheduled) {
        (Some(date), _) => parse_date("asOf", date)?,
        (None, Some(time)) => time.date_naive(),
        (None, None) => today,
    };
    check_delivered("the schedule's date", as_of, today)?;
    Ok(RunRequest {
        job,
        trigger: Trigger::Schedule,
        as_of,
        follow_ups: input.follow_ups.unwrap_or(true),
        // Scheduler retries deliver the same scheduled time: that makes the delivery's identity.
        delivery_key: scheduled.map(|t| format!("schedule:{}", t.to_rfc3339())),
        after: None,
        correlation_id: None,
        deadline: None,
    })
}

/// A follow-up of `job`, started by `event`: only a `Job Succeeded` of this source that asked
/// for follow-ups.
pub fn follow_up(job: JobName, event: FollowUpEvent) -> Result<RunRequest> {
    if event.source != SOURCE || event.detail_type != DetailType::JobSucceeded.as_str() {
        return Err(Error::InvalidInput(format!(
            "a follow-up is started only by a '{}' event from {SOURCE}, got '{}' from {}",
            DetailType::JobSucceeded.as_str(),
            event.detail_type,
            event.source
        )));
    }
    let detail: JobEventDetail = serde_json::from_value(event.detail).map_err(|e| invalid("the event's detail", e))?;
    if !detail.follow_ups {
        return Err(Error::InvalidInput(format!(
            "run {} of {} asked for no follow-ups (followUps: false)",
            detail.run_id, detail.job
        )));
    }
    // What the event claims (its job, run and date) is checked against the ledger by the
    // runner before anything runs: anything that can put an event on the bus could forge it.
    let after = After { job: detail.job, run_id: detail.run_id };
    Ok(RunRequest {
        delivery_key: Some(after.delivery_key()),
        ..RunRequest::follow_up(job, after, detail.as_of, detail.correlation_id.or(event.id))
    })
}

/// The watchdog's input: `{}`, `{"asOf": "YYYY-MM-DD"}` or its schedule's
/// `{"trigger": "schedule", "scheduledTime": "…"}`. Answers the as-of date to check.
pub fn parse_watchdog(input: Value, today: NaiveDate) -> Result<NaiveDate> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct WatchdogInput {
        as_of: Option<String>,
        #[serde(default)]
        allow_distant_as_of: bool,
        trigger: Option<String>,
        scheduled_time: Option<String>,
    }
    let input: WatchdogInput = serde_json::from_value(input)
        .map_err(|e| invalid("watchdog input (accepted: asOf \"YYYY-MM-DD\", allowDistantAsOf)", e))?;
    if let Some(date) = input.as_of {
        let as_of = parse_date("asOf", &date)?;
        check_distance("asOf", as_of, today, input.allow_distant_as_of, "\"allowDistantAsOf\": true")?;
        return Ok(as_of);
    }
    let _ = input.trigger;
    let scheduled = scheduled_time(input.scheduled_time.as_deref(), "checking today");
    let as_of = scheduled.map(|time| time.date_naive()).unwrap_or(today);
    check_delivered("the schedule's date", as_of, today)?;
    Ok(as_of)
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

    fn run_of(input: Value) -> RunRequest {
        match parse(JOB, input, today()).unwrap() {
            JobInput::Run(request) => request,
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn empty_console_event_is_a_manual_run_for_today_with_follow_ups() {
        let request = run_of(json!({}));
        assert_eq!(request.trigger, Trigger::Manual);
        assert_eq!(request.as_of, today());
        assert!(request.follow_ups);
        assert_eq!(request.delivery_key, None);
    }

    #[test]
    fn console_event_can_set_as_of_and_suppress_follow_ups() {
        let request = run_of(json!({"asOf": "2024-07-31", "followUps": false}));
        assert_eq!(request.as_of, NaiveDate::from_ymd_opt(2024, 7, 31).unwrap());
        assert!(!request.follow_ups);
    }

    #[test]
    fn a_date_more_than_31_days_away_is_refused_unless_the_input_says_so() {
        for date in ["2024-07-03", "2024-09-05", "2042-08-04"] {
            let error = error_of(json!({"asOf": date}));
            assert!(
                error.contains(&format!("asOf {date} is")) && error.contains("\"allowDistantAsOf\": true"),
                "{error}"
            );
        }
        assert_eq!(run_of(json!({"asOf": "2024-07-04"})).as_of.to_string(), "2024-07-04", "31 days is near enough");
        let request = run_of(json!({"asOf": "2023-01-31", "allowDistantAsOf": true}));
        assert_eq!(request.as_of.to_string(), "2023-01-31");
    }

    #[test]
    fn pause_and_resume_are_console_inputs_of_their_own() {
        assert_eq!(
            parse(JOB, json!({"pause": " TCS outage "}), today()).unwrap(),
            JobInput::Pause("TCS outage".into())
        );
        assert_eq!(parse(JOB, json!({"resume": true}), today()).unwrap(), JobInput::Resume);
        for (input, expected) in [
            (json!({"pause": ""}), "pause needs a reason"),
            (json!({"pause": "x", "resume": true}), "cannot be given together"),
            (json!({"pause": "x", "asOf": "2024-08-04"}), "take no other fields"),
            (json!({"resume": false}), "asks for nothing"),
        ] {
            let error = error_of(input.clone());
            assert!(error.contains(expected), "{input}: {error}");
        }
    }

    #[test]
    fn schedule_event_takes_its_date_and_identity_from_the_scheduled_time() {
        let request = run_of(json!({"trigger": "schedule", "scheduledTime": "2024-08-03T00:05:00Z"}));
        assert_eq!(request.trigger, Trigger::Schedule);
        assert_eq!(request.as_of, NaiveDate::from_ymd_opt(2024, 8, 3).unwrap());
        assert_eq!(request.delivery_key.as_deref(), Some("schedule:2024-08-03T00:05:00+00:00"));
        assert!(request.follow_ups);
    }

    /// An old schedule payload (sent again weeks later) has no way to say a distant date is
    /// meant: refused, so it never puts an old date live.
    #[test]
    fn stale_schedule_payloads_are_refused_like_a_distant_as_of() {
        let error = error_of(json!({"trigger": "schedule", "scheduledTime": "2024-06-01T00:05:00Z"}));
        assert!(error.contains("the schedule's date 2024-06-01 is 64 days before today"), "{error}");
        let error = error_of(json!({"trigger": "schedule", "asOf": "2024-06-01"}));
        assert!(error.contains("64 days before today"), "{error}");
        let error = parse_watchdog(json!({"trigger": "schedule", "scheduledTime": "2024-06-01T07:00:00Z"}), today())
            .unwrap_err()
            .to_string();
        assert!(error.contains("64 days before today"), "{error}");
        // Within 31 days a delivery is taken as it is (a redrive of last week's failure).
        assert_eq!(
            run_of(json!({"trigger": "schedule", "scheduledTime": "2024-07-28T00:05:00Z"})).as_of.to_string(),
            "2024-07-28"
        );
    }

    #[test]
    fn unsubstituted_scheduled_time_runs_as_an_unscheduled_run() {
        let request = run_of(json!({"trigger": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>"}));
        assert_eq!(request.trigger, Trigger::Schedule);
        assert_eq!(request.as_of, today());
        assert_eq!(request.delivery_key, None);
    }

    #[test]
    fn a_follow_up_event_carries_the_predecessors_date_and_run() {
        let event = FollowUpEvent {
            source: "tis.sync".into(),
            detail_type: "Job Succeeded".into(),
            id: Some("ev-1".into()),
            detail: json!({
                "job": "person-owner-rebuild", "runId": "6f1c1a52-5a4f-4b8e-9a57-0d7c3e4b1a2f",
                "trigger": "schedule", "asOf": "2024-08-04", "followUps": true,
                "startedAt": "2024-08-04T00:05:00Z", "finishedAt": "2024-08-04T00:06:00Z",
                "durationMs": 60000, "rows": 10, "correlationId": "night-1"
            }),
        };
        let request = follow_up(JobName::PersonElasticsearchSync, event).unwrap();
        assert_eq!(request.trigger, Trigger::FollowUp);
        assert_eq!(
            request.after,
            Some(After {
                job: JobName::PersonOwnerRebuild,
                run_id: "6f1c1a52-5a4f-4b8e-9a57-0d7c3e4b1a2f".parse().unwrap()
            })
        );
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
        let failed =
            FollowUpEvent { source: "tis.sync".into(), detail_type: "Job Failed".into(), id: None, detail: json!({}) };
        let error = follow_up(JobName::PersonElasticsearchSync, failed).unwrap_err().to_string();
        assert!(error.contains("'Job Failed'"), "{error}");
    }

    #[test]
    fn the_watchdogs_catch_up_input_reads_back_as_a_catch_up_run() {
        let input = ManualInput {
            trigger: Some("catch-up".into()),
            as_of: Some("2020-01-01".into()),
            allow_distant_as_of: true,
            follow_ups: Some(true),
            ..ManualInput::default()
        };
        let JobInput::Run(request) = parse(JOB, serde_json::to_value(&input).unwrap(), today()).unwrap() else {
            panic!("a run")
        };
        assert_eq!((request.trigger, request.follow_ups), (Trigger::CatchUp, true));
        assert_eq!(request.as_of.to_string(), "2020-01-01");
    }
}

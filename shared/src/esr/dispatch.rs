//! Sending a day's export commands to the command queue: one per deanery (the active ones, in
//! dispatch order, unless named), in batches of ten. Used by the 13:00/14:00 schedules, by
//! operators from the console, and by `tis-sync esr dispatch`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use sync_core::esr::{Command, Kind};

use super::{active_deaneries, check_deaneries};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::queue::{Queue, MAX_BATCH};

/// What to dispatch. Function input: the schedule's
/// `{"trigger": "schedule", "kind": "app", "scheduledTime": "…"}` or an operator's
/// `{"deaneries": ["LDN"], "date": "2021-08-04", "kind": "app", "force": false}` (all optional;
/// a date more than 31 days from today also needs `"allowDistantDate": true`).
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchRequest {
    /// `None`: every active deanery.
    pub deaneries: Option<Vec<String>>,
    pub date: NaiveDate,
    pub kind: Kind,
    pub force: bool,
    /// What makes this dispatch the same one when it is delivered again: the schedule's
    /// `scheduledTime`, else the Lambda request id (an asynchronous invocation's retries keep
    /// it). Each command's id is made from it and the deanery, so a dispatch retried after a
    /// partial send sends the same commands again, never new forced files. `None` (the CLI):
    /// every dispatch is a new one.
    pub identity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    trigger: Option<String>,
    scheduled_time: Option<String>,
    deaneries: Option<Vec<String>>,
    date: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    allow_distant_date: bool,
}

impl DispatchRequest {
    pub fn parse(input: Value, today: NaiveDate) -> Result<Self> {
        let wire: Wire = serde_json::from_value(input).map_err(|e| {
            Error::InvalidInput(format!(
                "dispatch input (accepted fields: deaneries [codes], date \"YYYY-MM-DD\", allowDistantDate, kind app|notification, force): {e}"
            ))
        })?;
        if let Some(trigger) = wire.trigger.as_deref().filter(|t| *t != "schedule" && *t != "manual") {
            return Err(Error::InvalidInput(format!("trigger '{trigger}' is not schedule or manual")));
        }
        let scheduled_date = crate::invocation::scheduled_time(wire.scheduled_time.as_deref(), "dispatching for today")
            .map(|time| time.date_naive());
        let date = match wire.date.as_deref() {
            Some(text) => {
                let date = sync_core::date::parse_date("date", text)?;
                sync_core::date::check_distance(
                    "date",
                    date,
                    today,
                    wire.allow_distant_date,
                    "\"allowDistantDate\": true",
                )?;
                date
            }
            None => {
                let date = scheduled_date.unwrap_or(today);
                crate::invocation::check_delivered("the schedule's date", date, today)?;
                date
            }
        };
        let deaneries = wire.deaneries.map(|codes| codes.iter().map(|c| c.trim().to_uppercase()).collect::<Vec<_>>());
        if deaneries.as_ref().is_some_and(|d| d.is_empty()) {
            return Err(Error::InvalidInput(
                "deaneries is empty: leave it out to dispatch to every active deanery".into(),
            ));
        }
        Ok(DispatchRequest {
            deaneries,
            date,
            kind: wire.kind.as_deref().map(str::parse).transpose()?.unwrap_or(Kind::App),
            force: wire.force,
            identity: wire.scheduled_time.filter(|_| scheduled_date.is_some()).map(|time| format!("schedule:{time}")),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dispatched {
    pub queue_url: String,
    pub commands: Vec<Command>,
}

pub struct Dispatcher {
    db: Database,
    queue: Queue,
}

impl Dispatcher {
    pub fn new(db: Database, sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Dispatcher { db, queue: Queue::new(sqs, queue_url) }
    }

    /// Sends the commands; an unknown deanery fails the whole request before anything is sent.
    pub async fn dispatch(&self, request: &DispatchRequest) -> Result<Dispatched> {
        let session = self.db.connect("tis-sync:esr-dispatch").await?;
        let deaneries = match &request.deaneries {
            Some(codes) => {
                check_deaneries(&session.client, codes).await?;
                codes.clone()
            }
            None => active_deaneries(&session.client).await?,
        };
        // Each command's identity: its redelivery or redrive finishes the file it made, and so
        // does the same command sent again by this dispatch's retry.
        let dispatch = request.identity.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let commands: Vec<Command> = deaneries
            .into_iter()
            .map(|deanery| Command {
                command_id: Some(format!("{dispatch}/{}/{}/{deanery}", request.kind, request.date)),
                deanery,
                date: request.date,
                kind: request.kind,
                force: request.force,
            })
            .collect();
        for chunk in commands.chunks(MAX_BATCH) {
            let bodies: Vec<String> = chunk.iter().map(Command::to_json).collect();
            self.queue.send_batch(&bodies).await?;
        }
        tracing::info!(commands = commands.len(), kind = %request.kind, date = %request.date, "export commands sent");
        Ok(Dispatched { queue_url: self.queue.url().to_string(), commands })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 8, 4).unwrap()
    }

    #[test]
    fn the_schedule_dispatches_every_active_deanery_for_its_day() {
        let request = DispatchRequest::parse(
            json!({"trigger": "schedule", "kind": "notification", "scheduledTime": "2021-08-03T14:00:00Z"}),
            today(),
        )
        .unwrap();
        assert_eq!(request.deaneries, None);
        assert_eq!(request.kind, Kind::Notification);
        assert_eq!(request.date, NaiveDate::from_ymd_opt(2021, 8, 3).unwrap());
        assert_eq!(request.identity.as_deref(), Some("schedule:2021-08-03T14:00:00Z"));
    }

    #[test]
    fn a_stale_schedule_payload_is_refused_rather_than_dispatching_an_old_date() {
        let input = json!({"trigger": "schedule", "kind": "app", "scheduledTime": "2021-06-01T13:00:00Z"});
        let error = DispatchRequest::parse(input, today()).unwrap_err().to_string();
        assert!(error.contains("the schedule's date 2021-06-01 is 64 days before today"), "{error}");
    }

    #[test]
    fn an_operator_names_deaneries_and_a_date() {
        let request =
            DispatchRequest::parse(json!({"deaneries": ["ldn", "MER"], "date": "2021-08-02"}), today()).unwrap();
        assert!(DispatchRequest::parse(json!({"date": "2021-06-02"}), today()).is_err(), "two months back");
        let far = DispatchRequest::parse(json!({"date": "2021-06-02", "allowDistantDate": true}), today()).unwrap();
        assert_eq!(far.date, NaiveDate::from_ymd_opt(2021, 6, 2).unwrap());
        assert_eq!(request.deaneries, Some(vec!["LDN".to_string(), "MER".to_string()]));
        assert_eq!(request.kind, Kind::App);
        assert_eq!(request.date, NaiveDate::from_ymd_opt(2021, 8, 2).unwrap());
    }

    #[test]
    fn bad_input_is_named() {
        for (input, expected) in [
            (json!({"deaneries": "LDN"}), "invalid type"),
            (json!({"date": "04/08/2021"}), "date '04/08/2021' is not a date in YYYY-MM-DD form"),
            (json!({"date": "2042-08-04"}), "\"allowDistantDate\": true"),
            (json!({"kind": "apps"}), "kind 'apps'"),
            (json!({"deanery": "LDN"}), "unknown field `deanery`"),
            (json!({"deaneries": []}), "deaneries is empty"),
        ] {
            let error = DispatchRequest::parse(input.clone(), today()).unwrap_err().to_string();
            assert!(error.contains(expected), "{input}: {error}");
        }
    }
}

//! An export command: `{ "deanery": "LDN", "date": "2021-08-04", "kind": "app", "force": false,
//! "commandId": "…" }`. `date` defaults to today (UTC) and `kind` to `app`.
//!
//! Every command has an identity, stored with the file it makes, so a redelivered command
//! finishes its own file and never makes another: the `commandId` dispatch assigns (it travels
//! in the body, so it survives a dead-letter redrive), else the SQS message id. A forced command
//! must carry a `commandId`: it is the only thing telling its redrive from a new request.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Kind;
use crate::{InvalidInput, Result};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    pub deanery: String,
    pub date: NaiveDate,
    pub kind: Kind,
    pub force: bool,
    #[serde(rename = "commandId", skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    deanery: String,
    date: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    force: bool,
    command_id: Option<String>,
}

impl Command {
    /// Parses a command's JSON, naming what is wrong. Whether the deanery exists is checked
    /// against the database by the exporter.
    pub fn parse(body: &str, today: NaiveDate) -> Result<Command> {
        let wire: Wire = serde_json::from_str(body)
            .map_err(|e| InvalidInput(format!("export command {}: {e}", abbreviate(body))))?;
        let date = match wire.date.as_deref() {
            None => today,
            Some(text) => crate::date::parse_date("export command date", text)?,
        };
        let deanery = wire.deanery.trim().to_uppercase();
        if deanery.is_empty() {
            return Err(InvalidInput("export command has an empty deanery".into()));
        }
        let command_id = wire.command_id.map(|id| id.trim().to_string()).filter(|id| !id.is_empty());
        if wire.force && command_id.is_none() {
            return Err(InvalidInput(
                "a forced export command needs a commandId, so that its redelivery or redrive finishes its file instead of making another: send it through esr-export-dispatch".into(),
            ));
        }
        Ok(Command {
            deanery,
            date,
            kind: wire.kind.as_deref().map(str::parse).transpose()?.unwrap_or(Kind::App),
            force: wire.force,
            command_id,
        })
    }

    /// This command as delivered in the SQS message `message_id`: its identity is its
    /// `commandId`, or else the message id.
    pub fn delivered_as(mut self, message_id: Option<&str>) -> Command {
        if self.command_id.is_none() {
            self.command_id = message_id.map(|id| format!("sqs:{id}"));
        }
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("commands serialize")
    }
}

fn abbreviate(body: &str) -> String {
    let mut text: String = body.chars().take(120).collect();
    if body.chars().count() > 120 {
        text.push('…');
    }
    format!("'{text}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 8, 4).unwrap()
    }

    #[test]
    fn a_full_command_round_trips() {
        let command = Command::parse(
            r#"{"deanery":"LDN","date":"2021-08-02","kind":"notification","force":true,"commandId":"c-1"}"#,
            today(),
        )
        .unwrap();
        assert_eq!(
            command,
            Command {
                deanery: "LDN".into(),
                date: NaiveDate::from_ymd_opt(2021, 8, 2).unwrap(),
                kind: Kind::Notification,
                force: true,
                command_id: Some("c-1".into()),
            }
        );
        assert_eq!(Command::parse(&command.to_json(), today()).unwrap(), command);
    }

    #[test]
    fn date_and_kind_default_to_today_and_app() {
        let command = Command::parse(r#"{"deanery":"mer"}"#, today()).unwrap();
        assert_eq!(
            (command.deanery.as_str(), command.date, command.kind, command.force),
            ("MER", today(), Kind::App, false)
        );
    }

    #[test]
    fn a_command_without_an_id_is_identified_by_its_message() {
        let command = Command::parse(r#"{"deanery":"LDN"}"#, today()).unwrap().delivered_as(Some("m-1"));
        assert_eq!(command.command_id.as_deref(), Some("sqs:m-1"));
        let command =
            Command::parse(r#"{"deanery":"LDN","commandId":"c-9"}"#, today()).unwrap().delivered_as(Some("m-1"));
        assert_eq!(command.command_id.as_deref(), Some("c-9"), "the id dispatch assigned wins");
    }

    #[test]
    fn malformed_commands_say_what_is_wrong() {
        for (body, expected) in [
            ("not json", "export command 'not json'"),
            (r#"{"date":"2021-08-04"}"#, "missing field `deanery`"),
            (r#"{"deanery":"LDN","date":"2021-02-30"}"#, "date '2021-02-30' is not a date in YYYY-MM-DD form"),
            (r#"{"deanery":"LDN","kind":"dnc"}"#, "kind 'dnc' is not app or notification"),
            (r#"{"deanery":"LDN","force":"yes"}"#, "invalid type"),
            (r#"{"deanery":""}"#, "empty deanery"),
            (r#"{"deanery":"LDN","force":true}"#, "a forced export command needs a commandId"),
        ] {
            let error = Command::parse(body, today()).unwrap_err().to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }
}

//! An export command: `{ "deanery": "LDN", "date": "2021-08-04", "kind": "app", "force": false }`.
//! `date` defaults to today (UTC) and `kind` to `app`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Kind;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    pub deanery: String,
    pub date: NaiveDate,
    pub kind: Kind,
    pub force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    deanery: String,
    date: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    force: bool,
}

impl Command {
    /// Parses a command's JSON, naming what is wrong. Whether the deanery exists is checked
    /// against the database by the exporter.
    pub fn parse(body: &str, today: NaiveDate) -> Result<Command> {
        let wire: Wire = serde_json::from_str(body)
            .map_err(|e| Error::InvalidInput(format!("export command {}: {e}", abbreviate(body))))?;
        let date = match wire.date.as_deref() {
            None => today,
            Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|e| Error::InvalidInput(format!("export command date '{text}' is not YYYY-MM-DD ({e})")))?,
        };
        let deanery = wire.deanery.trim().to_uppercase();
        if deanery.is_empty() {
            return Err(Error::InvalidInput("export command has an empty deanery".into()));
        }
        Ok(Command {
            deanery,
            date,
            kind: wire.kind.as_deref().map(str::parse).transpose()?.unwrap_or(Kind::App),
            force: wire.force,
        })
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
        let command =
            Command::parse(r#"{"deanery":"LDN","date":"2021-08-02","kind":"notification","force":true}"#, today())
                .unwrap();
        assert_eq!(
            command,
            Command {
                deanery: "LDN".into(),
                date: NaiveDate::from_ymd_opt(2021, 8, 2).unwrap(),
                kind: Kind::Notification,
                force: true
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
    fn malformed_commands_say_what_is_wrong() {
        for (body, expected) in [
            ("not json", "export command 'not json'"),
            (r#"{"date":"2021-08-04"}"#, "missing field `deanery`"),
            (r#"{"deanery":"LDN","date":"2021-02-30"}"#, "date '2021-02-30' is not YYYY-MM-DD"),
            (r#"{"deanery":"LDN","kind":"dnc"}"#, "kind 'dnc' is not app or notification"),
            (r#"{"deanery":"LDN","force":"yes"}"#, "invalid type"),
            (r#"{"deanery":""}"#, "empty deanery"),
        ] {
            let error = Command::parse(body, today()).unwrap_err().to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }
}

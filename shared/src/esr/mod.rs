//! The ESR exporter (docs/esr-export.md): export commands, one per deanery and kind
//! a day, turned into files of the records waiting to be exported, exactly once.
//!
//! - `command`: the command and its validation; `dispatch`: sending a day's commands.
//! - `export`: handling one command (the queue consumer and `tis-sync esr export`).
//! - `layout`: the file format; `intake`: records arriving from upstream.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub mod command;
pub mod dispatch;
pub mod export;
pub mod intake;
pub mod layout;

pub use command::Command;

/// The two kinds of file: applicants (APP) and notifications (DNC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    App,
    Notification,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Notification => "notification",
        }
    }

    /// The table of this kind's records.
    pub fn records_table(self) -> &'static str {
        match self {
            Kind::App => "esr.generated_app_record",
            Kind::Notification => "esr.notification_record",
        }
    }

    /// The file-number sequence this kind shares across deaneries.
    pub fn file_sequence(self) -> &'static str {
        match self {
            Kind::App => "esr.app_file_sequence",
            Kind::Notification => "esr.notification_file_sequence",
        }
    }

    /// The code in file names and headers.
    pub fn file_code(self) -> &'static str {
        match self {
            Kind::App => "APP",
            Kind::Notification => "DNC",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "app" => Ok(Kind::App),
            "notification" => Ok(Kind::Notification),
            other => Err(Error::InvalidInput(format!("kind '{other}' is not app or notification"))),
        }
    }
}

/// The active deaneries in dispatch order.
pub async fn active_deaneries(client: &tokio_postgres::Client) -> Result<Vec<String>> {
    let rows = client
        .query("SELECT code FROM esr.deanery WHERE active ORDER BY dispatch_order", &[])
        .await
        .map_err(|e| Error::database("reading the deaneries", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Fails with a message naming the unknown codes, if any.
pub async fn check_deaneries(client: &tokio_postgres::Client, codes: &[String]) -> Result<()> {
    let rows = client
        .query("SELECT c FROM unnest($1::text[]) c WHERE c NOT IN (SELECT code FROM esr.deanery)", &[&codes])
        .await
        .map_err(|e| Error::database("reading the deaneries", e))?;
    let unknown: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("unknown deanery {}", unknown.join(", "))))
    }
}

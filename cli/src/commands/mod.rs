//! The commands, one module each. A command checks its input first (dates against today, with
//! the flag named), so bad input is reported as itself before anything is touched; those that
//! need the database then connect through `Here`.

pub mod esr;
pub mod graph;
pub mod invoke;
pub mod logins;
pub mod migrate;
pub mod opensearch_access;
pub mod pause;
pub mod preflight;
pub mod run;
pub mod seed;
pub mod status;
pub mod watchdog;

use chrono::{NaiveDate, Utc};
use clap::builder::TypedValueParser;
use serde_json::Value;
use shared::context::Context;
use shared::db::Session;
use shared::Error;
use tis_sync::InProcessRunner;

/// How a command failed: with one error (reported as one line), or with runs that failed (each
/// reported already, as it happened).
pub enum Failure {
    Error(Error),
    /// A failure that is not the library's, said in one line.
    Message(String),
    Runs,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Error(error)
    }
}

impl From<sync_core::InvalidInput> for Failure {
    fn from(invalid: sync_core::InvalidInput) -> Self {
        Failure::Error(invalid.into())
    }
}

/// What a command prints on stdout: JSON for scripts, or text (a picture or table of the graph).
pub enum Output {
    Json(Value),
    Text(String),
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Json(value) => write!(f, "{value}"),
            Output::Text(text) => write!(f, "{}", text.trim_end()),
        }
    }
}

pub type Outcome = Result<Output, Failure>;

/// What the commands that touch the database share: the context the settings describe, a
/// runner that runs follow-ups in this process, and one connection made up front (an
/// unreachable database is one clear error, not a retry storm).
pub struct Here {
    pub context: Context,
    pub runner: InProcessRunner,
    pub session: Session,
}

impl Here {
    pub async fn connect() -> Result<Here, Error> {
        let context = Context::from_env(None).await?;
        let runner = InProcessRunner::new(context.runner().await?);
        let session = runner.runner().database().connect("tis-sync:cli").await?;
        Ok(Here { context, runner, session })
    }
}

/// The date given with `flag`, or today (UTC) when none is; one more than 31 days from today
/// only with `allow_flag`.
fn date_or_today(flag: &str, date: Option<NaiveDate>, allowed: bool, allow_flag: &str) -> Result<NaiveDate, Error> {
    let today = Utc::now().date_naive();
    match date {
        None => Ok(today),
        Some(date) => {
            sync_core::date::check_distance(flag, date, today, allowed, allow_flag)?;
            Ok(date)
        }
    }
}

/// `--as-of`, checked against `--allow-distant-as-of`.
pub fn as_of_date(date: Option<NaiveDate>, allowed: bool) -> Result<NaiveDate, Error> {
    date_or_today("--as-of", date, allowed, "--allow-distant-as-of")
}

/// `--date`, checked against `--allow-distant-date`.
pub fn run_date(date: Option<NaiveDate>, allowed: bool) -> Result<NaiveDate, Error> {
    date_or_today("--date", date, allowed, "--allow-distant-date")
}

/// A date in input (YYYY-MM-DD), read by core's one date parser; its message names the flag.
#[derive(Clone)]
pub struct DateParser;

impl TypedValueParser for DateParser {
    type Value = NaiveDate;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<NaiveDate, clap::Error> {
        let flag = arg.and_then(|a| a.get_long()).map(|long| format!("--{long}")).unwrap_or_else(|| "date".into());
        sync_core::date::parse_date(&flag, &value.to_string_lossy()).map_err(|invalid| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{invalid}\n")).with_cmd(cmd)
        })
    }
}

/// A time for people: UTC, to the second.
pub fn at(time: Option<chrono::DateTime<Utc>>) -> String {
    time.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// A table for people, on stderr: columns aligned, no borders (stdout is the JSON).
pub fn table<const N: usize>(header: [&str; N]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING).set_header(header);
    // Each line starts with its first cell (a job's name), two spaces between columns.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

//! `tis-sync esr ...`: the ESR exporter's commands, as its functions run them.

use chrono::NaiveDate;
use serde_json::json;
use shared::esr::dispatch::DispatchRequest;
use shared::esr::intake::{self, IntakeMessage, IntakeOutcome};
use shared::Error;
use sync_core::esr::{Command as EsrExport, Kind};

use super::{run_date, DateParser, Here, Outcome, Output};

#[derive(clap::Subcommand)]
pub enum Esr {
    /// Process one export command, exactly as the queue consumer would.
    Export {
        #[arg(long)]
        deanery: String,
        /// Run date (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
        date: Option<NaiveDate>,
        /// Allow a --date more than 31 days from today.
        #[arg(long)]
        allow_distant_date: bool,
        #[arg(long, value_enum, default_value_t = Kind::App)]
        kind: Kind,
        /// Make a further file today for records still waiting.
        #[arg(long)]
        force: bool,
    },
    /// Send export commands to the queue, as the daily schedule does (all active deaneries
    /// unless some are named).
    Dispatch {
        #[arg(long = "deanery")]
        deaneries: Vec<String>,
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
        date: Option<NaiveDate>,
        /// Allow a --date more than 31 days from today.
        #[arg(long)]
        allow_distant_date: bool,
        #[arg(long, value_enum, default_value_t = Kind::App)]
        kind: Kind,
        #[arg(long)]
        force: bool,
    },
    /// Take in records generated upstream: one JSON message per line on stdin.
    Intake,
    /// Once, at the cutover from the old exporter: the next file of the kind carries N,
    /// continuing its counter (refused if that would go backwards).
    Sequence {
        #[arg(long, value_enum, default_value_t = Kind::App)]
        kind: Kind,
        #[arg(long, value_name = "N")]
        continue_from: i64,
    },
}

impl Esr {
    pub async fn execute(self) -> Outcome {
        let value = match self {
            Esr::Export { deanery, date, allow_distant_date, kind, force } => {
                let date = run_date(date, allow_distant_date)?;
                let here = Here::connect().await?;
                let command = EsrExport {
                    deanery: deanery.to_uppercase(),
                    date,
                    kind,
                    force,
                    // Handled here, once: nothing redelivers it, so a fresh identity is its own.
                    command_id: Some(format!("cli:{}", uuid::Uuid::new_v4())),
                };
                let file = here.context.exporter()?.export(&command).await?;
                let verb = if file.created { "wrote" } else { "found the day's file" };
                eprintln!("{verb} {} ({} records) -> s3://{}", file.file_name, file.records, file.s3_key);
                serde_json::to_value(file).expect("files serialize")
            }
            Esr::Dispatch { deaneries, date, allow_distant_date, kind, force } => {
                let date = run_date(date, allow_distant_date)?;
                let here = Here::connect().await?;
                let request = DispatchRequest {
                    deaneries: (!deaneries.is_empty()).then(|| deaneries.iter().map(|d| d.to_uppercase()).collect()),
                    date,
                    kind,
                    force,
                    identity: None,
                };
                let dispatched = here.context.dispatcher()?.dispatch(&request).await?;
                eprintln!("sent {} export command(s) to {}", dispatched.commands.len(), dispatched.queue_url);
                serde_json::to_value(dispatched).expect("dispatches serialize")
            }
            Esr::Intake => {
                let here = Here::connect().await?;
                let mut counts = std::collections::BTreeMap::<&str, u64>::new();
                for (n, line) in std::io::stdin().lines().enumerate() {
                    let line = line.map_err(|e| Error::InvalidInput(format!("reading stdin: {e}")))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let message =
                        IntakeMessage::parse(&line).map_err(|e| Error::InvalidInput(format!("line {}: {e}", n + 1)))?;
                    let outcome = intake::apply(&here.session.client, &message).await?;
                    *counts.entry(outcome_name(outcome)).or_default() += 1;
                }
                eprintln!("intake: {counts:?}");
                json!(counts)
            }
            Esr::Sequence { kind, continue_from } => {
                let mut here = Here::connect().await?;
                let numbers = shared::esr::continue_numbers_from(&mut here.session.client, kind, continue_from).await?;
                eprintln!("the next {kind} file carries {} (the last was {})", numbers.next, numbers.previous_last);
                serde_json::to_value(numbers).expect("numbers serialize")
            }
        };
        Ok(Output::Json(value))
    }
}

fn outcome_name(outcome: IntakeOutcome) -> &'static str {
    match outcome {
        IntakeOutcome::Inserted => "inserted",
        IntakeOutcome::Updated => "updated",
        IntakeOutcome::Ignored => "ignored",
        IntakeOutcome::Outdated => "outdated",
    }
}

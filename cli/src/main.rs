//! `tis-sync`: runs the same code the Lambda functions run, in-process, for local work, tests and
//! operations. Machine output on stdout (one JSON object per command); progress and errors on
//! stderr; exit status 0 only on success.

use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use shared::config::Settings;
use shared::jobs::JobName;
use shared::runner::Runner;
use shared::{context, graph, ledger, migrate, seed, Error};

#[derive(Parser)]
#[command(name = "tis-sync", version, about = "TIS nightly sync jobs and ESR exporter, run locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply all database migrations (idempotent).
    Migrate,
    /// Run one job, then (unless --no-follow-ups) what the job graph says comes after it.
    Run {
        /// Job name, e.g. person-owner-rebuild.
        job: String,
        /// Business date of the run (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<String>,
        /// Do not run the job's follow-ups afterwards.
        #[arg(long)]
        no_follow_ups: bool,
    },
    /// Run the whole nightly job graph in dependency order.
    Nightly {
        /// Business date of the runs (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<String>,
    },
    /// The run ledger: last run of each job, running now, durations, rows, errors.
    Status,
    /// Fill the tcs tables with reproducible synthetic data (replaces what they hold).
    Seed {
        #[arg(long, default_value_t = 1000)]
        persons: i64,
        #[arg(long, default_value_t = 1)]
        seed: i64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init_cli();
    let cli = Cli::parse();
    match execute(cli.command).await {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        // Failed runs were reported one line each already.
        Err(Error::JobsFailed(_)) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> Result<Value, Error> {
    // Check the arguments before touching the database: bad input is reported as itself.
    match &command {
        Command::Run { job, as_of, .. } => {
            job.parse::<JobName>()?;
            parse_as_of(as_of.as_deref())?;
        }
        Command::Nightly { as_of } => {
            parse_as_of(as_of.as_deref())?;
        }
        _ => {}
    }
    let settings = Settings::from_env()?;
    let runner = context::runner(&settings).await?.following_up_in_process();
    // One connection up front: an unreachable database is one clear error, not a retry storm.
    let mut session = runner.database().connect("tis-sync:cli").await?;
    match command {
        Command::Migrate => {
            let applied = migrate::migrate(&mut session.client).await?;
            let applied_text = if applied.is_empty() { "none (up to date)".to_string() } else { applied.join(", ") };
            eprintln!("migrations applied: {applied_text}");
            Ok(json!({ "applied": applied }))
        }
        Command::Run { job, as_of, no_follow_ups } => {
            let job: JobName = job.parse()?;
            let jobs = if no_follow_ups { vec![job] } else { graph::downstream(job) };
            run(&runner, &jobs, parse_as_of(as_of.as_deref())?, !no_follow_ups).await
        }
        Command::Nightly { as_of } => run(&runner, &graph::nightly_order(), parse_as_of(as_of.as_deref())?, true).await,
        Command::Status => {
            let statuses = ledger::status(&session.client).await?;
            print_status_table(&statuses);
            Ok(json!({ "jobs": statuses }))
        }
        Command::Seed { persons, seed } => {
            let report = seed::seed(&mut session.client, persons, seed).await?;
            for (table, rows) in &report.tables {
                eprintln!("seeded tcs.{table:<22} {rows:>10} rows");
            }
            Ok(serde_json::to_value(report).expect("seed report serializes"))
        }
    }
}

fn parse_as_of(as_of: Option<&str>) -> Result<NaiveDate, Error> {
    match as_of {
        None => Ok(Utc::now().date_naive()),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|e| Error::InvalidInput(format!("--as-of '{text}' is not a date in YYYY-MM-DD form ({e})"))),
    }
}

/// Runs `jobs` in order in this process, printing progress; fails if any run failed or had to
/// be skipped, after printing one line per failure.
async fn run(runner: &Runner, jobs: &[JobName], as_of: NaiveDate, follow_ups: bool) -> Result<Value, Error> {
    let names: Vec<&str> = jobs.iter().map(|j| j.as_str()).collect();
    eprintln!("running for {as_of}: {}", names.join(" -> "));
    let report = runner.run_in_process(jobs, as_of, follow_ups).await;
    for summary in &report.runs {
        eprintln!(
            "{:<38} {:<10} {:>8} ms {:>9} rows  {}",
            summary.job.as_str(),
            json!(summary.status).as_str().unwrap_or_default(),
            summary.duration_ms,
            summary.rows,
            summary.warnings.join("; ")
        );
    }
    for (job, reason) in &report.skipped {
        eprintln!("{:<38} skipped    {reason}", job.as_str());
    }
    for (_, error) in &report.failed {
        eprintln!("error: {error}");
    }
    let output = serde_json::to_value(&report).expect("the report serializes");
    if report.all_succeeded() {
        Ok(output)
    } else {
        println!("{output}");
        Err(Error::JobsFailed(report.failed.len() + report.skipped.len()))
    }
}

fn print_status_table(statuses: &[ledger::JobStatus]) {
    eprintln!("{:<38} {:<9} {:<10} {:<11} {:>9} {:>10}  error", "job", "running", "last", "as of", "ms", "rows");
    for status in statuses {
        let last = status.last_run.as_ref();
        eprintln!(
            "{:<38} {:<9} {:<10} {:<11} {:>9} {:>10}  {}",
            status.job.as_str(),
            if status.running_now { "yes" } else { "no" },
            last.map(|r| r.status.as_str()).unwrap_or("never"),
            last.map(|r| r.as_of.to_string()).unwrap_or_default(),
            last.and_then(|r| r.duration_ms()).map(|d| d.to_string()).unwrap_or_default(),
            last.and_then(|r| r.rows).map(|r| r.to_string()).unwrap_or_default(),
            last.and_then(|r| r.error.as_deref()).unwrap_or(""),
        );
    }
}

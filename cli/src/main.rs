//! `tis-sync`: runs the same code the Lambda functions run, in-process, for local work, tests and
//! operations. Machine output on stdout (one JSON object per command); progress and errors on
//! stderr; exit status 0 only on success. Each command is a module of `commands`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

use commands::{
    esr, graph, invoke, logins, migrate, opensearch_access, pause, preflight, run, seed, status, watchdog, Failure,
};

#[derive(Parser)]
#[command(name = "tis-sync", version, about = "TIS nightly sync jobs and ESR exporter, run locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the project's database migrations (idempotent), after checking that every TCS
    /// table and column the jobs use exists.
    Migrate(migrate::Migrate),
    /// The job graph: each job, its schedule (heads) and its follow-ups, in dependency order.
    /// JSON is what the demo and scripts read instead of a copy; Mermaid (the README's diagram)
    /// and DOT draw it; Markdown is the runbook's table of what follows what.
    Graph(graph::Graph),
    /// Give every function a database login of its own (a member of the role the migrations
    /// made for it, with a new password) and write it to the function's secret,
    /// `<secret-prefix><function>`; sync-migrate's secret gets the login this runs as (the
    /// owner). Run after `migrate`; running it again renews the passwords (not the owner's).
    Logins(logins::Logins),
    /// Run one job, then (unless --no-follow-ups) what the job graph says comes after it.
    Run(run::Run),
    /// Run the whole nightly job graph in dependency order.
    Nightly(run::Nightly),
    /// Pause a job: its schedule, its predecessors' success and the watchdog no longer start it
    /// (a run started by hand still runs).
    Pause(pause::Pause),
    /// Resume a paused job.
    Resume(pause::Resume),
    /// The run ledger (last run of each job, running now, durations, rows, errors) and the ESR
    /// exporter (today's files per deanery, records waiting, dead-letter queue depth).
    Status,
    /// The run ledger's history, newest first: each run's trigger, as-of date, status, start,
    /// duration, rows and error.
    Runs(status::Runs),
    /// What the 07:00 watchdog does: find missed or failed runs for the date and run them again
    /// (here, in this process); report overdue ESR records and missing files.
    Watchdog(watchdog::Watchdog),
    /// Fill the tcs tables with reproducible synthetic data (replaces what they hold).
    Seed(seed::Seed),
    /// Invoke a deployed function with an event from a file, as the console's Test button does,
    /// and print its answer: events/ holds one file per console action of the runbook.
    Invoke(invoke::Invoke),
    /// After every deploy: invoke the deployed sync-preflight, which checks from inside every
    /// path the functions need (secrets, database roles and grants over TLS, AWS services, the
    /// search domain, schedules, concurrency, TCS tables), and show its checks, each failure with
    /// its fix. Fails when one fails.
    Preflight(preflight::Preflight),
    /// What to apply on the search domain (not the stack's) for the deployed names: its access
    /// policy's statements and, with fine-grained access control, each function's role and
    /// mapping. The stack's OpenSearchAccessCommand output is this command, filled in.
    OpensearchAccess(opensearch_access::OpenSearchAccess),
    /// The ESR exporter.
    #[command(subcommand)]
    Esr(esr::Esr),
}

#[tokio::main]
async fn main() -> ExitCode {
    tis_sync::progress::init();
    let result = match Cli::parse().command {
        Command::Migrate(command) => command.execute().await,
        Command::Graph(command) => Ok(command.execute()),
        Command::Logins(command) => command.execute().await,
        Command::Run(command) => command.execute().await,
        Command::Nightly(command) => command.execute().await,
        Command::Pause(command) => command.execute().await,
        Command::Resume(command) => command.execute().await,
        Command::Status => status::execute().await,
        Command::Runs(command) => command.execute().await,
        Command::Watchdog(command) => command.execute().await,
        Command::Seed(command) => command.execute().await,
        Command::Invoke(command) => command.execute().await,
        Command::OpensearchAccess(command) => command.execute(),
        Command::Preflight(command) => command.execute().await,
        Command::Esr(command) => command.execute().await,
    };
    match result {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        // Failed runs were reported one line each already.
        Err(Failure::Runs) => ExitCode::FAILURE,
        Err(Failure::Error(error)) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
        Err(Failure::Message(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

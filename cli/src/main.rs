//! `tis-sync`: runs the same code the Lambda functions run, in-process, for local work, tests and
//! operations. Machine output on stdout (one JSON object per command); progress and errors on
//! stderr; exit status 0 only on success.

use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use shared::context::Context;
use shared::esr::dispatch::DispatchRequest;
use shared::esr::intake::{self, IntakeMessage, IntakeOutcome};
use shared::runner::Runner;
use shared::status::{self, SystemStatus};
use shared::watchdog::Watchdog;
use shared::{ledger, logins, migrate, Error};
use sync_core::esr::{Command as EsrExport, Kind};
use sync_core::graph;
use sync_core::{Function, JobName, Trigger};
use tis_sync::{picture, progress, InProcess, RunHere, Step};
use tracing::Instrument;
use tracing_indicatif::span_ext::IndicatifSpanExt;

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
    Migrate {
        /// Create the TCS tables first where they are missing: for a local or test database,
        /// never one of TCS's.
        #[arg(long)]
        tcs_fixture: bool,
    },
    /// The job graph: each job, its schedule (heads) and its follow-ups, in dependency order.
    /// JSON is what the demo and scripts read instead of a copy; Mermaid (the README's diagram)
    /// and DOT draw it.
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Json)]
        format: GraphFormat,
    },
    /// Give every function a database login of its own (a member of the role the migrations
    /// made for it, with a new password) and write it to the function's secret,
    /// `<secret-prefix><function>`; sync-migrate's secret gets the login this runs as (the
    /// owner). Run after `migrate`; running it again renews the passwords (not the owner's).
    Logins {
        /// The template's DatabaseSecretPrefix, e.g. tis-sync/prod/database/.
        #[arg(long)]
        secret_prefix: String,
        /// Tells these logins from another environment's in the same Postgres cluster
        /// (roles are cluster-wide): the login of esr-intake is tis_sync_esr_intake_<environment>.
        #[arg(long)]
        environment: String,
        /// The host the functions connect to, when it is not the one DATABASE_URL names (for
        /// example when this runs through a tunnel).
        #[arg(long)]
        secret_host: Option<String>,
        #[arg(long)]
        secret_port: Option<u16>,
    },
    /// Run one job, then (unless --no-follow-ups) what the job graph says comes after it.
    Run {
        #[arg(value_parser = job_parser())]
        job: JobName,
        /// Business date of the run (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
        as_of: Option<NaiveDate>,
        /// Allow an --as-of more than 31 days from today.
        #[arg(long)]
        allow_distant_as_of: bool,
        /// Do not run the job's follow-ups afterwards.
        #[arg(long)]
        no_follow_ups: bool,
    },
    /// Run the whole nightly job graph in dependency order.
    Nightly {
        /// Business date of the runs (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
        as_of: Option<NaiveDate>,
        /// Allow an --as-of more than 31 days from today.
        #[arg(long)]
        allow_distant_as_of: bool,
    },
    /// Pause a job: its schedule, its predecessors' success and the watchdog no longer start it
    /// (a run started by hand still runs).
    Pause {
        #[arg(value_parser = job_parser())]
        job: JobName,
        /// Why, for the people who see it paused.
        #[arg(long)]
        reason: String,
    },
    /// Resume a paused job.
    Resume {
        #[arg(value_parser = job_parser())]
        job: JobName,
    },
    /// The run ledger (last run of each job, running now, durations, rows, errors) and the ESR
    /// exporter (today's files per deanery, records waiting, dead-letter queue depth).
    Status,
    /// The run ledger's history, newest first: each run's trigger, as-of date, status, start,
    /// duration, rows and error.
    Runs {
        /// Only this job's runs (default: every job's).
        #[arg(value_parser = job_parser())]
        job: Option<JobName>,
        /// How many runs.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        last: i64,
    },
    /// What the 07:00 watchdog does: find missed or failed runs for the date and run them again
    /// (here, in this process); report overdue ESR records and missing files.
    Watchdog {
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
        as_of: Option<NaiveDate>,
        /// Allow an --as-of more than 31 days from today.
        #[arg(long)]
        allow_distant_as_of: bool,
    },
    /// Fill the tcs tables with reproducible synthetic data (replaces what they hold).
    Seed {
        /// `tis`: the TIS-scale shape of performance.md (300,000 persons, 2 million placements,
        /// 40,000 ESR records waiting); `small`: 1,000 persons.
        #[arg(long, value_parser = ["small", "tis"], conflicts_with = "persons")]
        scale: Option<String>,
        #[arg(long, default_value_t = 1000)]
        persons: i64,
        #[arg(long, default_value_t = 1)]
        seed: i64,
    },
    /// Invoke a deployed function with an event from a file, as the console's Test button does,
    /// and print its answer: events/ holds one file per console action of the runbook.
    Invoke {
        #[arg(value_parser = function_parser())]
        function: Function,
        /// The event, a JSON file (for example events/job/as-of.json).
        #[arg(long, value_name = "FILE")]
        event: std::path::PathBuf,
        /// What precedes each function's name: `<stack>-` (default: JOB_FUNCTION_PREFIX).
        #[arg(long, value_name = "PREFIX")]
        function_prefix: Option<String>,
    },
    /// The ESR exporter.
    #[command(subcommand)]
    Esr(EsrCommand),
}

#[derive(Subcommand)]
enum EsrCommand {
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
        #[arg(long, default_value = "app", value_parser = kind_parser())]
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
        #[arg(long, default_value = "app", value_parser = kind_parser())]
        kind: Kind,
        #[arg(long)]
        force: bool,
    },
    /// Take in records generated upstream: one JSON message per line on stdin.
    Intake,
    /// Once, at the cutover from the old exporter: the next file of the kind carries N,
    /// continuing its counter (refused if that would go backwards).
    Sequence {
        #[arg(long, default_value = "app", value_parser = kind_parser())]
        kind: Kind,
        #[arg(long, value_name = "N")]
        continue_from: i64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    progress::init();
    let cli = Cli::parse();
    match execute(cli.command).await {
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

/// How a command failed: with one error (reported as one line), or with runs that failed or
/// were skipped (each reported already, as it happened).
enum Failure {
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

async fn execute(command: Command) -> Result<Output, Failure> {
    // clap has parsed the arguments; what needs today's date is checked before touching the
    // database, so bad input is reported as itself.
    match &command {
        Command::Run { as_of, allow_distant_as_of, .. }
        | Command::Nightly { as_of, allow_distant_as_of }
        | Command::Watchdog { as_of, allow_distant_as_of } => {
            as_of_date(*as_of, *allow_distant_as_of)?;
        }
        Command::Esr(
            EsrCommand::Export { date, allow_distant_date, .. } | EsrCommand::Dispatch { date, allow_distant_date, .. },
        ) => {
            run_date(*date, *allow_distant_date)?;
        }
        Command::Invoke { function, event, function_prefix } => {
            // Needs AWS (or the local emulator, through AWS_ENDPOINT_URL), not the database.
            return Ok(Output::Json(invoke(*function, event, function_prefix.clone()).await?));
        }
        Command::Graph { format } => {
            // Needs nothing but the code.
            return Ok(match format {
                GraphFormat::Json => Output::Json(json!({ "jobs": graph::GRAPH })),
                GraphFormat::Mermaid => Output::Text(picture::mermaid()),
                GraphFormat::Dot => Output::Text(picture::dot()),
            });
        }
        _ => {}
    }
    let context = Context::from_env(None).await?;
    let runner = context.runner().await?.following_up_in_process();
    // One connection up front: an unreachable database is one clear error, not a retry storm.
    let mut session = runner.database().connect("tis-sync:cli").await?;
    let value = match command {
        Command::Graph { .. } | Command::Invoke { .. } => unreachable!("answered above, without a database"),
        Command::Migrate { tcs_fixture } => {
            let tcs = if tcs_fixture { migrate::TcsTables::Fixture } else { migrate::TcsTables::Existing };
            let applied = migrate::migrate(&mut session.client, tcs).await?;
            let applied_text = if applied.is_empty() { "none (up to date)".to_string() } else { applied.join(", ") };
            eprintln!("migrations applied: {applied_text}");
            Ok(json!({ "applied": applied }))
        }
        Command::Logins { secret_prefix, environment, secret_host, secret_port } => {
            let config = runner.database().config();
            let endpoint = logins::Endpoint {
                host: secret_host.unwrap_or_else(|| first_host(&config)),
                port: secret_port.or_else(|| config.get_ports().first().copied()).unwrap_or(5432),
                dbname: config.get_dbname().unwrap_or("postgres").to_string(),
            };
            // sync-migrate applies the migrations as the owner this runs as.
            let owner = logins::Owner {
                username: config.get_user().unwrap_or_default().to_string(),
                password: config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()).ok_or_else(|| {
                    Error::Config("DATABASE_URL has no password: sync-migrate's secret needs the owner's".into())
                })?,
            };
            let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
            let secrets = aws_sdk_secretsmanager::Client::new(&aws);
            let issued =
                logins::issue_all(&mut session.client, &secrets, &secret_prefix, &environment, &endpoint, owner)
                    .await?;
            for login in &issued {
                eprintln!("{}: login {} in secret {}", login.function, login.login, login.secret);
            }
            Ok(json!({ "logins": issued }))
        }
        Command::Run { job, as_of, allow_distant_as_of, no_follow_ups } => {
            let jobs = if no_follow_ups { vec![job] } else { graph::downstream(job) };
            run(&runner, &jobs, as_of_date(as_of, allow_distant_as_of)?, !no_follow_ups).await
        }
        Command::Nightly { as_of, allow_distant_as_of } => {
            run(&runner, &graph::nightly_order(), as_of_date(as_of, allow_distant_as_of)?, true).await
        }
        Command::Pause { job, reason } => {
            let pause = ledger::pause(&session.client, job, reason.trim()).await?;
            eprintln!("{} paused: {}", pause.job, pause.reason);
            Ok(serde_json::to_value(pause).expect("pauses serialize"))
        }
        Command::Resume { job } => {
            let ended = ledger::resume(&session.client, job).await?;
            eprintln!("{job} {}", if ended.is_some() { "resumed" } else { "was not paused" });
            Ok(json!({ "job": job, "paused": false, "pause": ended }))
        }
        Command::Status => {
            let depth = context.dead_letter_depth().await?;
            let search = status::search_status(context.search().await).await;
            let status = status::status(&session.client, Utc::now().date_naive(), depth, search).await?;
            print_status_table(&status);
            Ok(serde_json::to_value(status).expect("status serializes"))
        }
        Command::Runs { job, last } => {
            let runs = ledger::history(&session.client, job, last).await?;
            print_runs_table(&runs);
            Ok(json!({ "runs": runs }))
        }
        Command::Watchdog { as_of, allow_distant_as_of } => {
            let catch_up = RunHere(&runner);
            let watchdog = Watchdog {
                db: &context.database,
                events: &context.events,
                catch_up: &catch_up,
                metrics: None,
                dispatches: context.dispatches()?,
                jobs: context.deployed_jobs(),
            };
            let report = watchdog.check(as_of_date(as_of, allow_distant_as_of)?, Utc::now()).await?;
            for check in &report.jobs {
                eprintln!(
                    "{:<38} {:<8} {}",
                    check.job.as_str(),
                    check.state,
                    [check.reason.as_deref(), check.action.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" -> ")
                );
            }
            for o in &report.esr_overdue {
                eprintln!(
                    "ESR {} {}: {} record(s) left behind, the earliest starting {}: re-send {} forced",
                    o.deanery, o.kind, o.records, o.earliest_start_date, o.resend_run_date
                );
            }
            for m in &report.esr_missing_files {
                eprintln!("ESR {} {}: no file for {}", m.deanery, m.kind, m.run_date);
            }
            for f in &report.esr_not_uploaded {
                eprintln!(
                    "ESR {} {}: {} recorded at {} but never uploaded",
                    f.deanery, f.kind, f.file_name, f.created_at
                );
            }
            eprintln!("{}", report.summary);
            Ok(serde_json::to_value(report).expect("reports serialize"))
        }
        Command::Seed { scale, persons, seed } => {
            let persons = if scale.as_deref() == Some("tis") { seed::TIS_PERSONS } else { persons };
            let spinner = progress::spinner(&format!("seeding {persons} persons"));
            let report = seed::seed_reporting(&mut session.client, persons, seed, &mut |table, rows| {
                progress::line(&format!("seeded {table:<28} {rows:>10} rows"));
                spinner.pb_set_message(&format!("seeded {table}"));
            })
            .await?;
            drop(spinner);
            Ok(serde_json::to_value(report).expect("seed report serializes"))
        }
        Command::Esr(command) => Ok(esr(&context, &mut session.client, command).await?),
    };
    value.map(Output::Json)
}

async fn esr(context: &Context, client: &mut tokio_postgres::Client, command: EsrCommand) -> Result<Value, Error> {
    match command {
        EsrCommand::Export { deanery, date, allow_distant_date, kind, force } => {
            let command = EsrExport {
                deanery: deanery.to_uppercase(),
                date: run_date(date, allow_distant_date)?,
                kind,
                force,
                // Handled here, once: nothing redelivers it, so a fresh identity is its own.
                command_id: Some(format!("cli:{}", uuid::Uuid::new_v4())),
            };
            let file = context.exporter()?.export(&command).await?;
            let verb = if file.created { "wrote" } else { "found the day's file" };
            eprintln!("{verb} {} ({} records) -> s3://{}", file.file_name, file.records, file.s3_key);
            Ok(serde_json::to_value(file).expect("files serialize"))
        }
        EsrCommand::Dispatch { deaneries, date, allow_distant_date, kind, force } => {
            let request = DispatchRequest {
                deaneries: (!deaneries.is_empty()).then(|| deaneries.iter().map(|d| d.to_uppercase()).collect()),
                date: run_date(date, allow_distant_date)?,
                kind,
                force,
                identity: None,
            };
            let dispatched = context.dispatcher()?.dispatch(&request).await?;
            eprintln!("sent {} export command(s) to {}", dispatched.commands.len(), dispatched.queue_url);
            Ok(serde_json::to_value(dispatched).expect("dispatches serialize"))
        }
        EsrCommand::Intake => {
            let mut counts = std::collections::BTreeMap::<&str, u64>::new();
            for (n, line) in std::io::stdin().lines().enumerate() {
                let line = line.map_err(|e| Error::InvalidInput(format!("reading stdin: {e}")))?;
                if line.trim().is_empty() {
                    continue;
                }
                let message =
                    IntakeMessage::parse(&line).map_err(|e| Error::InvalidInput(format!("line {}: {e}", n + 1)))?;
                let outcome = intake::apply(client, &message).await?;
                *counts.entry(outcome_name(outcome)).or_default() += 1;
            }
            eprintln!("intake: {counts:?}");
            Ok(json!(counts))
        }
        EsrCommand::Sequence { kind, continue_from } => {
            let numbers = shared::esr::continue_numbers_from(client, kind, continue_from).await?;
            eprintln!("the next {kind} file carries {} (the last was {})", numbers.next, numbers.previous_last);
            Ok(serde_json::to_value(numbers).expect("numbers serialize"))
        }
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

fn as_of_date(date: Option<NaiveDate>, allowed: bool) -> Result<NaiveDate, Error> {
    date_or_today("--as-of", date, allowed, "--allow-distant-as-of")
}

fn run_date(date: Option<NaiveDate>, allowed: bool) -> Result<NaiveDate, Error> {
    date_or_today("--date", date, allowed, "--allow-distant-date")
}

/// Invokes `<prefix><function>` with the event in `path` and waits for its answer: the answer,
/// or the function's error as one line.
async fn invoke(function: Function, path: &std::path::Path, prefix: Option<String>) -> Result<Value, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::InvalidInput(format!("--event {}: {e}", path.display())))?;
    let event: Value = serde_json::from_str(&text)
        .map_err(|e| Error::InvalidInput(format!("--event {} is not JSON: {e}", path.display())))?;
    let prefix = prefix.or_else(|| std::env::var("JOB_FUNCTION_PREFIX").ok()).ok_or_else(|| {
        Error::InvalidInput("name the functions' prefix (<stack>-): --function-prefix or JOB_FUNCTION_PREFIX".into())
    })?;
    let name = format!("{prefix}{function}");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let answer = aws_sdk_lambda::Client::new(&aws)
        .invoke()
        .function_name(&name)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .map_err(|e| Error::Invoke { function: name.clone(), reason: shared::error::Cause::aws(e) })?;
    let body = answer.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
    let answer_value: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    match answer.function_error() {
        None => Ok(answer_value),
        // The answer is the function's own error object ({"errorType", "errorMessage"}).
        Some(kind) => Err(Failure::Message(format!("{name} answered with an error ({kind}): {answer_value}"))),
    }
}

/// The functions by name, as `job_parser` does for jobs.
fn function_parser() -> impl TypedValueParser<Value = Function> {
    let names: Vec<&'static str> = Function::all().map(Function::name).collect();
    PossibleValuesParser::new(names).map(|name| name.parse::<Function>().expect("one of the names just listed"))
}

/// The jobs by name: `--help` lists them, and clap refuses any other with the list.
fn job_parser() -> impl TypedValueParser<Value = JobName> {
    PossibleValuesParser::new(JobName::ALL.map(JobName::as_str))
        .map(|name| name.parse::<JobName>().expect("one of the names just listed"))
}

/// The ESR kinds of file, as `job_parser` does for jobs.
fn kind_parser() -> impl TypedValueParser<Value = Kind> {
    PossibleValuesParser::new(Kind::ALL.map(Kind::as_str))
        .map(|name| name.parse::<Kind>().expect("one of the names just listed"))
}

/// A date in input (YYYY-MM-DD), read by core's one date parser; its message names the flag.
#[derive(Clone)]
struct DateParser;

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

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Json,
    Mermaid,
    Dot,
}

/// What a command prints on stdout: JSON for scripts, or text (a picture of the graph).
enum Output {
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

/// Runs `jobs` in order in this process, printing progress; fails if any run failed or had to
/// be skipped, after printing one line per failure.
async fn run(runner: &Runner, jobs: &[JobName], as_of: NaiveDate, follow_ups: bool) -> Result<Value, Failure> {
    let names: Vec<&str> = jobs.iter().map(|j| j.as_str()).collect();
    eprintln!("running for {as_of}: {}", names.join(" -> "));
    let bar = progress::bar(&format!("as of {as_of}"), jobs.len() as u64);
    let report = runner
        .run_chain_observed(jobs, Trigger::Manual, as_of, follow_ups, &mut |step| match step {
            Step::Starting(job) => bar.pb_set_message(job.as_str()),
            Step::Ran(summary) => {
                progress::line(&format!(
                    "{:<38} {:<10} {:>8} ms {:>9} rows  {}",
                    summary.job.as_str(),
                    json!(summary.status).as_str().unwrap_or_default(),
                    summary.duration_ms,
                    summary.rows,
                    summary.warnings.join("; ")
                ));
                bar.pb_inc(1);
            }
            Step::Skipped(job, reason) => {
                progress::line(&format!("{:<38} skipped    {reason}", job.as_str()));
                bar.pb_inc(1);
            }
            Step::Failed(job, _) => {
                progress::line(&format!("{:<38} failed", job.as_str()));
                bar.pb_inc(1);
            }
        })
        .instrument(bar.clone())
        .await;
    drop(bar);
    for (_, error) in &report.failed {
        eprintln!("error: {error}");
    }
    let output = serde_json::to_value(&report).expect("the report serializes");
    if report.all_succeeded() {
        Ok(output)
    } else {
        println!("{output}");
        Err(Failure::Runs)
    }
}

fn print_status_table(status: &SystemStatus) {
    print_jobs_table(&status.jobs);
    eprintln!();
    eprintln!(
        "ESR {:<6} {:<36} {:>7} {:<36} {:>7}",
        "", "app file today", "waiting", "notification file today", "waiting"
    );
    for d in &status.esr.deaneries {
        let file = |f: &Option<(String, i32)>| {
            f.as_ref().map(|(name, n)| format!("{name} ({n})")).unwrap_or_else(|| "-".into())
        };
        eprintln!(
            "    {:<6} {:<36} {:>7} {:<36} {:>7}",
            d.deanery,
            file(&d.app_file),
            d.app_waiting,
            file(&d.notification_file),
            d.notification_waiting
        );
    }
    if let Some(depth) = status.esr.dead_letter_depth {
        eprintln!("ESR commands in the dead-letter queue: {depth}");
    }
    if let Some(search) = &status.search {
        eprintln!();
        match (&search.domain, &search.error) {
            (Some(d), _) => eprintln!(
                "search domain {}: {}, engine {}",
                d.name,
                d.busy().unwrap_or_else(|| "not processing".into()),
                d.engine_version.as_deref().unwrap_or("unknown")
            ),
            (None, Some(error)) => eprintln!("search: {error}"),
            (None, None) => eprintln!("search: a self-managed server (OPENSEARCH_URL), no control plane"),
        }
        for a in &search.aliases {
            match (&a.index, &a.error) {
                (_, Some(error)) => eprintln!("  alias {:<10} {error}", a.alias),
                (Some(index), None) => {
                    eprintln!("  alias {:<10} -> {index}, {} documents", a.alias, a.documents.unwrap_or(0))
                }
                (None, None) => eprintln!("  alias {:<10} does not exist yet", a.alias),
            }
        }
    }
}

/// A time for people: UTC, to the second.
fn at(time: Option<chrono::DateTime<Utc>>) -> String {
    time.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

fn print_jobs_table(statuses: &[ledger::JobStatus]) {
    eprintln!(
        "{:<38} {:<7} {:<10} {:<10} {:<19} {:>9} {:>9}  {:<19} {:<10}  error",
        "job", "running", "last", "as of", "started (UTC)", "ms", "rows", "last success (UTC)", "live as of"
    );
    for status in statuses {
        let last = status.last_run.as_ref();
        let running = match (&status.paused, status.running_now) {
            (_, true) => "yes",
            (Some(_), false) => "paused",
            (None, false) => "no",
        };
        eprintln!(
            "{:<38} {:<7} {:<10} {:<10} {:<19} {:>9} {:>9}  {:<19} {:<10}  {}",
            status.job.as_str(),
            running,
            last.map(|r| r.status.as_str()).unwrap_or("never"),
            last.map(|r| r.as_of.to_string()).unwrap_or_default(),
            at(last.map(|r| r.started_at)),
            last.and_then(|r| r.duration_ms).map(|d| d.to_string()).unwrap_or_default(),
            last.and_then(|r| r.rows).map(|r| r.to_string()).unwrap_or_default(),
            at(status.last_success.as_ref().and_then(|r| r.finished_at)),
            status.live_as_of.map(|d| d.to_string()).unwrap_or_default(),
            last.and_then(|r| r.error.as_deref()).unwrap_or(""),
        );
    }
}

fn print_runs_table(runs: &[ledger::RunRecord]) {
    eprintln!(
        "{:<19} {:<38} {:<10} {:<10} {:<10} {:>9} {:>9} {:>8}  error",
        "started (UTC)", "job", "trigger", "as of", "status", "ms", "rows", "attempts"
    );
    for run in runs {
        eprintln!(
            "{:<19} {:<38} {:<10} {:<10} {:<10} {:>9} {:>9} {:>8}  {}",
            at(Some(run.started_at)),
            run.job.as_str(),
            run.trigger.as_str(),
            run.as_of,
            run.status.as_str(),
            run.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            run.rows.map(|r| r.to_string()).unwrap_or_default(),
            run.attempts,
            run.error.as_deref().unwrap_or(""),
        );
    }
}

/// The first TCP host of a connection config (the one the CLI connected to).
fn first_host(config: &tokio_postgres::Config) -> String {
    config
        .get_hosts()
        .iter()
        .find_map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => Some(name.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .unwrap_or_else(|| "localhost".into())
}

//! The Lambda side of every function: build the dependencies once at init, then answer each
//! event with the library. A function's `main.rs` only names what it serves.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::context::Context;
use crate::db::Database;
use crate::deadline::Deadline;
use crate::emf::MetricsSink;
use crate::error::Error;
use crate::esr::dispatch::{DispatchRequest, Dispatched, Dispatcher};
use crate::esr::export::Exporter;
use crate::esr::intake::{self, IntakeMessage};
use crate::esr::Command;
use crate::functions::Function;
use crate::invocation::JobInput;
use crate::jobs::JobName;
use crate::ledger::{self, Pause};
use crate::runner::{RunSummary, Runner};
use crate::sqs_batch;
use crate::status::SystemStatus;
use crate::watchdog::{CatchUp, Watchdog, WatchdogReport};

/// What every function does first: telemetry, then its dependencies, reaching the database as
/// its own role.
async fn init(function: Function) -> Result<Context, Error> {
    crate::telemetry::init_lambda();
    Context::from_env(Some(function)).await
}

/// Serves a job function until the Lambda runtime stops the process.
pub async fn serve_job(job: JobName) -> Result<(), lambda_runtime::Error> {
    let runner = init(Function::Job(job)).await?.runner()?.with_metrics(MetricsSink::Stdout);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&runner, job, event))).await
}

/// What a job function answers: a run's summary, or the job's pause state.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum JobAnswer {
    Run(RunSummary),
    Pause(PauseState),
}

impl JobAnswer {
    pub fn run(self) -> Option<RunSummary> {
        match self {
            JobAnswer::Run(summary) => Some(summary),
            JobAnswer::Pause(_) => None,
        }
    }
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseState {
    pub job: JobName,
    pub paused: bool,
    /// The pause now in force, or the one just ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
}

/// Handles one event: parses it (console, schedule, follow-up, pause or resume) and acts.
pub async fn handle(runner: &Runner, job: JobName, event: LambdaEvent<Value>) -> Result<JobAnswer, Error> {
    let (payload, context) = event.into_parts();
    let input = crate::invocation::parse(job, payload, Utc::now().date_naive()).inspect_err(|e| {
        tracing::error!(job = %job, request_id = %context.request_id, error = %e, "rejected the event");
    })?;
    let mut request = match input {
        JobInput::Run(request) => request,
        JobInput::Pause(reason) => {
            let session = runner.database().connect("tis-sync:pause").await?;
            let pause = ledger::pause(&session.client, job, &reason).await?;
            tracing::warn!(job = %job, reason = %pause.reason, "paused: schedules, follow-up events and the watchdog will not start it");
            return Ok(JobAnswer::Pause(PauseState { job, paused: true, pause: Some(pause) }));
        }
        JobInput::Resume => {
            let session = runner.database().connect("tis-sync:pause").await?;
            let ended = ledger::resume(&session.client, job).await?;
            tracing::warn!(job = %job, "resumed");
            return Ok(JobAnswer::Pause(PauseState { job, paused: false, pause: ended }));
        }
    };
    // A chain's first run is correlated by the invocation that started it.
    request.correlation_id.get_or_insert_with(|| context.request_id.clone());
    // Lambda's deadline is always ahead of the invocation it comes with. One already past on
    // arrival is not a deadline (a context built by hand has 0; `cargo lambda watch` sends a
    // constant): say so and run without one, as an unparseable scheduled time is treated.
    if context.deadline() > std::time::SystemTime::now() {
        request.deadline = Some(Deadline::before(context.deadline()));
    } else {
        tracing::warn!(
            deadline_ms = context.deadline,
            "the invocation's deadline had passed when it arrived: running without one"
        );
    }
    runner.run(request).await.map(JobAnswer::Run)
}

/// esr-export: consumes the command queue.
pub async fn serve_esr_export() -> Result<(), lambda_runtime::Error> {
    let exporter = init(Function::EsrExport).await?.exporter()?.with_metrics(MetricsSink::Stdout);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| handle_export_commands(&exporter, event))).await
}

/// Handles a batch of export commands; the failed ones are reported for SQS to deliver again.
pub async fn handle_export_commands(
    exporter: &Exporter,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    sqs_batch::process(event.payload, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let command = Command::parse(body, Utc::now().date_naive())?.delivered_as(message.message_id.as_deref());
        exporter.export(&command).await.map(|_| ())
    })
    .await
}

/// esr-export-dispatch: the daily schedules and operators' console invocations.
pub async fn serve_esr_dispatch() -> Result<(), lambda_runtime::Error> {
    let dispatcher = init(Function::EsrExportDispatch).await?.dispatcher()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle_dispatch(&dispatcher, event))).await
}

pub async fn handle_dispatch(dispatcher: &Dispatcher, event: LambdaEvent<Value>) -> Result<Dispatched, Error> {
    let request = DispatchRequest::parse(event.payload, Utc::now().date_naive())?;
    dispatcher.dispatch(&request).await
}

/// sync-watchdog: the 07:00 schedule and the console.
pub async fn serve_watchdog() -> Result<(), lambda_runtime::Error> {
    let context = init(Function::SyncWatchdog).await?;
    let invoker = context.function_invoker()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle_watchdog(&context, &invoker, event))).await
}

pub async fn handle_watchdog<C: CatchUp + Sync>(
    context: &Context,
    catch_up: &C,
    event: LambdaEvent<Value>,
) -> Result<WatchdogReport, Error> {
    let as_of = crate::invocation::parse_watchdog(event.payload, Utc::now().date_naive())?;
    let watchdog =
        Watchdog { db: &context.database, events: &context.events, catch_up, metrics: Some(&MetricsSink::Stdout) };
    watchdog.check(as_of, Utc::now()).await
}

/// sync-status: the console's view of the ledger and the exporter.
pub async fn serve_status() -> Result<(), lambda_runtime::Error> {
    let context = init(Function::SyncStatus).await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| handle_status(&context))).await
}

pub async fn handle_status(context: &Context) -> Result<SystemStatus, Error> {
    let session = context.database.connect("tis-sync:status").await?;
    crate::status::status(&session.client, Utc::now().date_naive(), context.dead_letter_depth().await?).await
}

/// esr-intake: records generated upstream.
pub async fn serve_esr_intake() -> Result<(), lambda_runtime::Error> {
    let database = init(Function::EsrIntake).await?.database;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| handle_intake(&database, event))).await
}

pub async fn handle_intake(database: &Database, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    sqs_batch::process(event.payload, |message| async move {
        let record = IntakeMessage::parse(message.body.as_deref().unwrap_or_default())?;
        let session = database.connect("tis-sync:esr-intake").await?;
        intake::apply(&session.client, &record).await.map(|_| ())
    })
    .await
}

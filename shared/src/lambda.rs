//! The Lambda side of every function: build the dependencies once at init, then answer each
//! event with the library. A function's `main.rs` only names what it serves.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::context::Context;
use crate::db::Database;
use crate::error::Error;
use crate::esr::dispatch::{DispatchRequest, Dispatched, Dispatcher};
use crate::esr::export::Exporter;
use crate::esr::intake::{self, IntakeMessage};
use crate::esr::Command;
use crate::jobs::JobName;
use crate::runner::{RunSummary, Runner};
use crate::sqs_batch;

async fn init() -> Result<Context, Error> {
    crate::telemetry::init_lambda();
    Context::from_env().await
}

/// Serves a job function until the Lambda runtime stops the process.
pub async fn serve_job(job: JobName) -> Result<(), lambda_runtime::Error> {
    let runner = init().await?.runner()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&runner, job, event))).await
}

/// Handles one event: parses it (console, schedule or follow-up shape) and runs the job.
pub async fn handle(runner: &Runner, job: JobName, event: LambdaEvent<Value>) -> Result<RunSummary, Error> {
    let (payload, context) = event.into_parts();
    let mut request = crate::invocation::parse(job, payload, Utc::now().date_naive()).inspect_err(|e| {
        tracing::error!(job = %job, request_id = %context.request_id, error = %e, "rejected the event");
    })?;
    // A chain's first run is correlated by the invocation that started it.
    request.correlation_id.get_or_insert_with(|| context.request_id.clone());
    runner.run(request).await
}

/// esr-export: consumes the command queue.
pub async fn serve_esr_export() -> Result<(), lambda_runtime::Error> {
    let exporter = init().await?.exporter()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| handle_export_commands(&exporter, event))).await
}

/// Handles a batch of export commands; the failed ones are reported for SQS to deliver again.
pub async fn handle_export_commands(
    exporter: &Exporter,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    sqs_batch::process(event.payload, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let command = Command::parse(body, Utc::now().date_naive())?;
        exporter.export(&command).await.map(|_| ())
    })
    .await
}

/// esr-export-dispatch: the daily schedules and operators' console invocations.
pub async fn serve_esr_dispatch() -> Result<(), lambda_runtime::Error> {
    let dispatcher = init().await?.dispatcher()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle_dispatch(&dispatcher, event))).await
}

pub async fn handle_dispatch(dispatcher: &Dispatcher, event: LambdaEvent<Value>) -> Result<Dispatched, Error> {
    let request = DispatchRequest::parse(event.payload, Utc::now().date_naive())?;
    dispatcher.dispatch(&request).await
}

/// esr-intake: records generated upstream.
pub async fn serve_esr_intake() -> Result<(), lambda_runtime::Error> {
    let database = init().await?.database;
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

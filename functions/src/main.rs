//! Every function of the stack is this one binary: template.yaml gives each function its name
//! in `TIS_SYNC_FUNCTION`, and the match below is the list of functions and their handlers.
//! Each builds at init exactly what it needs (a setting it needs and lacks stops it here, named)
//! and answers every event with its handler in the library; sync-preflight's probe, whatever
//! the function, with its own checks (`probed`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, LambdaEvent};
use serde_json::Value;

use functions::{
    handle, handle_dispatch, handle_export_commands, handle_intake, handle_migrate, handle_preflight, handle_status,
    handle_watchdog, init, probed,
};
use shared::emf::MetricsSink;
use sync_core::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (function, context) = init().await?;
    let context = &context;
    match function {
        // The nightly jobs: schedule, predecessor's Job Succeeded, watchdog or console; every
        // start goes through the one runner (ledger, lock, deadline, retries, events).
        Function::Job(job) => {
            let runner = context.runner().await?.with_metrics(MetricsSink::Stdout);
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |event| handle(&runner, job, event))
            }))
            .await
        }
        // The daily ESR schedules and operators: one export command per deanery to the queue.
        Function::EsrExportDispatch => {
            let dispatcher = context.dispatcher()?;
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |event| handle_dispatch(&dispatcher, event))
            }))
            .await
        }
        // The export command queue: each command makes (or finishes) one deanery's file.
        Function::EsrExport => {
            let exporter = context.exporter()?.with_metrics(MetricsSink::Stdout);
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |event: LambdaEvent<SqsEvent>| {
                    handle_export_commands(&exporter, event)
                })
            }))
            .await
        }
        // ESR records generated upstream, one SQS message each.
        Function::EsrIntake => {
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |event: LambdaEvent<SqsEvent>| handle_intake(&context.database, event))
            }))
            .await
        }
        // After the nightly window and in the afternoon: starts what a night missed, reports
        // ESR records overdue and files missing.
        Function::SyncWatchdog => {
            let invoker = context.function_invoker()?;
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |event| handle_watchdog(context, &invoker, event))
            }))
            .await
        }
        // The console's read-only view of the ledger, the exporter and the search side.
        Function::SyncStatus => {
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |_: LambdaEvent<Value>| handle_status(context))
            }))
            .await
        }
        // The project's migrations, as the owner of its schemas: the stack's Migrations
        // resource on every deploy, or the console.
        Function::SyncMigrate => {
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |event| handle_migrate(&context.database, event))
            }))
            .await
        }
        // After every deploy (console {}; `tis-sync preflight`): every path the functions need.
        Function::SyncPreflight => {
            run(service_fn(|event: LambdaEvent<Value>| {
                probed(context, function, event, |_: LambdaEvent<Value>| handle_preflight(context))
            }))
            .await
        }
    }
}

//! esr-export: consumes the ESR export command queue. Each command makes (or finishes) one
//! deanery's file for a date (shared/src/esr/export.rs); a failed command goes back to the queue
//! alone (partial batch response) and, after five receives, to the dead-letter queue.

use aws_lambda_events::event::sqs::SqsEvent;
use functions::{handle_export_commands, init};
use lambda_runtime::{service_fn, LambdaEvent};
use shared::emf::MetricsSink;
use sync_core::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let exporter = init(Function::EsrExport).await?.exporter()?.with_metrics(MetricsSink::Stdout);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| handle_export_commands(&exporter, event))).await
}

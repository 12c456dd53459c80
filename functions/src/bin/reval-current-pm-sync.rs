//! reval-current-pm-sync: sends the revalidation service the persons whose programme membership started on the date or ended the day before, for every date since its last
//! success, as JSON arrays of id strings, to TIS's RabbitMQ (REVAL_BROKER_URL) or an SQS queue (REVAL_QUEUE_URL). Started by
//! its schedule (template.yaml), the watchdog, or an operator from the console; every start goes
//! through the one runner (ledger, lock, deadline, retries, events).

use functions::{handle, init};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shared::emf::MetricsSink;
use sync_core::Function;
use sync_core::JobName;

const JOB: JobName = JobName::RevalCurrentPmSync;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let runner = init(Function::Job(JOB)).await?.runner().await?.with_metrics(MetricsSink::Stdout);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&runner, JOB, event))).await
}

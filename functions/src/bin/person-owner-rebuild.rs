//! person-owner-rebuild: who owns each trainee: replaces tcs.person_owner with the ownership
//! cascade (shared/src/jobs/person_owner_rebuild.rs). Started by its schedule or its predecessors'
//! Job Succeeded (template.yaml), the watchdog, or an operator from the console; every start goes
//! through the one runner (ledger, lock, deadline, retries, events).

use functions::{handle, init};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shared::emf::MetricsSink;
use sync_core::Function;
use sync_core::JobName;

const JOB: JobName = JobName::PersonOwnerRebuild;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let runner = init(Function::Job(JOB)).await?.runner().await?.with_metrics(MetricsSink::Stdout);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&runner, JOB, event))).await
}
